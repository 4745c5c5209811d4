"""The import's direct encoders against the messages they stand for: the same protobuf bytes as
``SerializeToString`` and the same stored JSON as ``stored_data`` (what PostAnnotations stores), for
any boxes, polygons, ids and concepts (zeros, -0.0, long ids and non-ASCII names included)."""

from __future__ import annotations

from clarifai_grpc.grpc.api import resources_pb2 as r
from hypothesis import given, settings
from hypothesis import strategies as st

from labeldesk.datasets_io.records import Box, Mask, Region
from labeldesk.services.annotation_views import stored_data
from labeldesk.services.import_encoding import input_data, region_proto, regions_data

unit = st.one_of(st.floats(min_value=0, max_value=1, allow_nan=False), st.sampled_from([0.0, -0.0, 1.0]))
names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=200)
boxes = st.builds(Box, unit, unit, unit, unit)
polygons = st.lists(st.tuples(unit, unit), min_size=3, max_size=5).map(tuple)
regions = st.builds(
    Region,
    concepts=st.lists(names, max_size=3).map(tuple),
    box=st.one_of(st.none(), boxes),
    polygon=st.one_of(st.just(()), polygons),
    id=st.one_of(st.just(""), names),
)


def reference(gs: list[Region]) -> dict[str, object]:
    return stored_data(r.Data(regions=[region_proto(g, n) for n, g in enumerate(gs)]))


@settings(max_examples=200, deadline=None)
@given(st.lists(regions, min_size=1, max_size=4))
def test_regions_encode_as_the_messages_do(gs: list[Region]) -> None:
    assert regions_data(gs) == reference(gs)


def test_a_zero_corner_box_renders_its_zeros_after_the_set_fields() -> None:
    g = Region(("cat",), box=Box(0.0, 0.25, 0.5, 1.0), id="7")
    got = regions_data([g])
    assert got == reference([g])
    box = b'{"left_col":0.25,"bottom_row":0.5,"right_col":1.0,"top_row":0.0}'
    assert b'"bounding_box":' + box in got["data_json"]


def test_long_and_multibyte_region_ids_encode_their_lengths() -> None:
    for rid in ("\U0001f600" * 40, "x" * 127, "x" * 128, "é" * 64, "\U0001f600" * 300):
        g = Region(("cat",), box=Box(0.1, 0.2, 0.3, 0.4), id=rid)
        assert regions_data([g]) == reference([g]), rid


def test_masks_go_through_the_messages() -> None:
    g = Region(("cat",), box=Box(0, 0, 1, 1), mask=Mask(2, 2, (1, 2, 1)))
    assert regions_data([g]) == reference([g])


@given(st.text(min_size=0, max_size=300), st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1))
def test_input_data_encodes_as_the_message_does(url: str, w: int, h: int) -> None:
    image = r.Image(url=url)
    if w or h:
        image.image_info.width, image.image_info.height = w, h
    assert input_data(url, w, h) == r.Data(image=image).SerializeToString()
