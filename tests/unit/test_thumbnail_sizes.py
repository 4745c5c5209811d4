"""Planned thumbnail sizes (imports make thumbnails on first request) are the sizes Pillow's
``Image.thumbnail`` gives, so the ``hosted_image_info`` stored at import is what is later served."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from labeldesk.files.media import fitted


@given(st.integers(1, 3000), st.integers(1, 3000), st.sampled_from([64, 256]))
def test_fitted_is_pillows_thumbnail_size(w: int, h: int, side: int) -> None:
    img = Image.new("1", (w, h))
    img.thumbnail((side, side))
    assert fitted((w, h), side) == img.size
