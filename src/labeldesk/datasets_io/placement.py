"""Putting exported images in place: each local image copied (or symbolically linked) into the
export's image folder as ``<input id><suffix>``; URL inputs keep their URL. Sizes the pixel
formats (COCO, VOC) need and the input does not record are read from the image (Pillow)."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlparse

from labeldesk.datasets_io.records import Record

_SIGNATURES = (
    (b"\x89PNG", ".png"),
    (b"\xff\xd8", ".jpg"),
    (b"GIF8", ".gif"),
    (b"RIFF", ".webp"),
    (b"BM", ".bmp"),
)


def file_name(r: Record) -> str:
    path = urlparse(r.source).path if r.is_url else r.source
    suffix = os.path.splitext(path)[1].lower() or _sniffed(r)
    return f"{r.input_id}{suffix}"


def _sniffed(r: Record) -> str:
    """The suffix of a local file without one (a blob) from its first bytes; else .jpg."""
    if r.is_url or not r.source:
        return ".jpg"
    try:
        with open(r.source, "rb") as f:
            head = f.read(8)
    except OSError:
        return ".jpg"
    return next((suffix for magic, suffix in _SIGNATURES if head.startswith(magic)), ".jpg")


def place(r: Record, folder: Path, copy: bool) -> str:
    """Put ``r``'s image in ``folder`` (when it is a local file); answer its file name."""
    name = file_name(r)
    if not r.is_url and r.source:
        target = folder / name
        if target.exists() or target.is_symlink():
            target.unlink()
        if copy:
            shutil.copyfile(r.source, target)
        else:
            target.symlink_to(os.path.abspath(r.source))
    return name


def with_size(r: Record) -> Record:
    """``r`` with its width and height, read from the image file when not recorded."""
    if (r.width and r.height) or r.is_url or not r.source:
        return r
    from PIL import Image

    with Image.open(r.source) as im:
        return replace(r, width=im.width, height=im.height)
