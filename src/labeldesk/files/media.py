"""Checks and thumbnails of posted bytes — pure functions (Pillow in memory), no I/O.

An image must be one Pillow decodes completely, within the size and pixel limits; it is kept
as posted (``orig``) plus two thumbnails whose longer side is at most :data:`THUMB_SIDES` pixels
(JPEG, or PNG when the image has transparency), turned upright by its EXIF orientation as a
browser shows the original. Video and audio bytes are kept as posted; their content type is
recognised from their first bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass, field

from PIL import Image, ImageOps

ORIG = "orig"
#: thumbnail size name -> the longest side in pixels
THUMB_SIDES: dict[str, int] = {"tiny": 64, "small": 256}
#: more pixels than this is refused (a "decompression bomb": small file, huge bitmap)
MAX_PIXELS = 100_000_000
KINDS = ("image", "video", "audio")
ORIENTATION = 0x0112  # the EXIF tag


class MediaError(ValueError):
    """Bytes that cannot be hosted: ``str(e)`` says why, ``hint`` what to send instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Variant:
    data: bytes
    content_type: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Prepared:
    """What to store for one posted file: the original and its thumbnails, and what it is."""

    kind: str
    content_type: str
    sha256: str
    size: int
    format: str = ""
    color_mode: str = ""
    variants: dict[str, Variant] = field(default_factory=dict)

    @property
    def orig(self) -> Variant:
        return self.variants[ORIG]


def prepare(kind: str, data: bytes, max_bytes: int, thumbnails: bool = True) -> Prepared:
    """Check ``data`` posted as ``data.<kind>.base64`` and make what is stored of it. With
    ``thumbnails`` False (bulk imports) an image's thumbnails are only planned: their variants
    carry sizes and content types but no bytes, made on first request by :func:`thumbnails_of`."""
    if kind not in KINDS:
        raise ValueError(f"unknown media kind {kind!r}")
    if not data:
        raise MediaError("the bytes are empty")
    if len(data) > max_bytes:
        raise MediaError(
            f"the file has {len(data):,} bytes; at most {max_bytes:,} are accepted "
            "(LABELDESK_MAX_UPLOAD_BYTES on the server)"
        )
    digest = hashlib.sha256(data).hexdigest()
    if kind == "image":
        return _image(data, digest, thumbnails)
    content_type = _sniff(kind, data)
    return Prepared(kind, content_type, digest, len(data), variants={ORIG: Variant(data, content_type)})


def _image(data: bytes, digest: str, make_thumbnails: bool = True) -> Prepared:
    img, upright, fmt, content_type, (width, height) = _decoded(data)
    thumbs = _thumbnails(upright) if make_thumbnails else _planned(upright)
    variants = {ORIG: Variant(data, content_type, width, height), **{n: thumbs[n] for n in THUMB_SIDES}}
    return Prepared("image", content_type, digest, len(data), fmt, img.mode, variants)


def thumbnails_of(data: bytes) -> dict[str, Variant]:
    """The thumbnails of an image's bytes (checked before): the ones :func:`prepare` planned."""
    return _thumbnails(_decoded(data)[1])


def _decoded(data: bytes) -> tuple[Image.Image, Image.Image, str, str, tuple[int, int]]:
    """The image decoded (checking every byte), upright, its format, content type and the size
    a browser shows it at."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            if img.width * img.height > MAX_PIXELS:
                raise MediaError(
                    f"the image has {img.width}x{img.height} pixels; at most {MAX_PIXELS:,} are accepted"
                )
            fmt = img.format or ""
            content_type = Image.MIME.get(fmt, "application/octet-stream")
            width, height = img.size
            # JPEG only: decode at 1/2..1/8 scale, still reading (and so checking) every byte
            img.draft("RGB", (max(THUMB_SIDES.values()),) * 2)
            img.load()
    except MediaError:
        raise
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        raise MediaError(
            f"the bytes are not an image that can be read ({type(e).__name__}: {str(e)[:120]})",
            "send JPEG, PNG, GIF, WebP, BMP or TIFF bytes, base64-encoded",
        ) from e
    if img.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8):  # shown turned by 90 degrees
        width, height = height, width
    upright = ImageOps.exif_transpose(img) or img
    return img, upright, fmt, content_type, (width, height)


def _by_side() -> list[tuple[str, int]]:
    return sorted(THUMB_SIDES.items(), key=lambda kv: -kv[1])  # each from the larger one


def _thumbnails(upright: Image.Image) -> dict[str, Variant]:
    thumbs: dict[str, Variant] = {}
    source = upright
    for name, side in _by_side():
        source, thumbs[name] = _thumbnail(source, side)
    return thumbs


def _planned(upright: Image.Image) -> dict[str, Variant]:
    """The thumbnails :func:`_thumbnails` would make, without their bytes."""
    content_type = "image/png" if _transparent(upright) else "image/jpeg"
    size, out = upright.size, {}
    for name, side in _by_side():
        size = fitted(size, side)
        out[name] = Variant(b"", content_type, *size)
    return out


def fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    """The size ``Image.thumbnail((side, side))`` gives an image of ``size`` (Pillow's rule)."""
    w, h = size
    if side >= w and side >= h:
        return size
    aspect, x, y = w / h, side, side
    if x / y >= aspect:
        x = max(min(math.floor(y * aspect), math.ceil(y * aspect), key=lambda n: abs(aspect - n / y)), 1)
    else:
        y = max(
            min(
                math.floor(x / aspect),
                math.ceil(x / aspect),
                key=lambda n: 0 if n == 0 else abs(aspect - x / n),
            ),
            1,
        )
    return x, y


def _transparent(img: Image.Image) -> bool:
    return img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)


def _thumbnail(img: Image.Image, side: int) -> tuple[Image.Image, Variant]:
    """The image shrunk to fit ``side`` (never enlarged), and its encoding."""
    thumb = img.copy()
    thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if _transparent(thumb):
        thumb.convert("RGBA").save(out, "PNG", optimize=True)
        content_type = "image/png"
    else:
        thumb.convert("RGB").save(out, "JPEG", quality=85)
        content_type = "image/jpeg"
    return thumb, Variant(out.getvalue(), content_type, thumb.width, thumb.height)


def _sniff(kind: str, data: bytes) -> str:
    """The content type of video or audio bytes, from their signature (else a generic one)."""
    head = data[:16]
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if kind == "audio" or brand.startswith(b"M4A"):
            return "audio/mp4"
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return f"{kind}/webm"
    if head.startswith(b"OggS"):
        return f"{kind}/ogg"
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    return "application/octet-stream"
