"""The pure parts of hosted files: URL signing and expiry, checks and thumbnails of posted bytes,
and the local blob store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from labeldesk.files import media
from labeldesk.files.signing import UrlSigner, expiry
from labeldesk.files.store import LocalDirStore, check_name

SECRET = b"s" * 32


def encoded(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **params)
    return out.getvalue()


# ------------------------------------------------------------------ signing


@given(st.floats(min_value=0, max_value=4e9), st.integers(min_value=1, max_value=10**6))
def test_a_url_lives_at_least_its_ttl_and_at_most_an_eighth_longer(now: float, ttl: int) -> None:
    exp = expiry(now, ttl)
    assert now + ttl <= exp <= now + ttl + max(1, ttl // 8)


@given(st.floats(min_value=0, max_value=4e9))
def test_a_zero_ttl_url_is_expired_when_made(now: float) -> None:
    assert expiry(now, 0) <= now


def test_urls_made_within_one_step_are_identical() -> None:
    signer = UrlSigner(SECRET, 3600)  # step 450 s
    assert signer.query("7", "k", now=1000.0) == signer.query("7", "k", now=1349.0)
    assert signer.query("7", "k", now=1000.0) != signer.query("7", "k", now=1351.0)


def _parts(query: str) -> tuple[str, str]:
    fields = dict(kv.split("=", 1) for kv in query.split("&"))
    return fields["exp"], fields["sig"]


@given(app=st.from_regex(r"[0-9]{1,6}", fullmatch=True), key=st.from_regex(r"[0-9a-f]{32}", fullmatch=True))
def test_a_signed_url_checks_and_any_change_is_refused(app: str, key: str) -> None:
    signer = UrlSigner(SECRET, 60)
    exp, sig = _parts(signer.query(app, key, now=1000.0))
    assert signer.check(app, key, exp, sig, now=1000.0) == ""
    assert signer.check(app, key, exp, sig, now=float(exp)) == "expired"
    assert signer.check(app + "1", key, exp, sig, now=1000.0) == "altered"
    assert signer.check(app, key[::-1] + "x", exp, sig, now=1000.0) == "altered"
    assert signer.check(app, key, str(int(exp) + 1), sig, now=1000.0) == "altered"
    assert signer.check(app, key, "soon", sig, now=1000.0) == "altered"
    assert UrlSigner(b"t" * 32, 60).check(app, key, exp, sig, now=1000.0) == "altered"


def test_links_compose_as_clarifai_hosted_urls() -> None:
    links = UrlSigner(SECRET, 60).links("http://h:1/")
    assert links.prefix == "http://h:1/files"
    assert links.url("3", "abc", "tiny").startswith("http://h:1/files/tiny/3/abc?exp=")
    assert links.suffix("3", "abc").startswith("3/abc?exp=")


# ------------------------------------------------------------------ media


def test_an_image_is_kept_as_posted_with_two_thumbnails() -> None:
    data = encoded(Image.new("RGB", (1000, 500), "red"), "JPEG")
    p = media.prepare("image", data, 10**7)
    assert p.orig.data == data and (p.content_type, p.format, p.size) == ("image/jpeg", "JPEG", len(data))
    sizes = {name: (v.width, v.height, v.content_type) for name, v in p.variants.items()}
    assert sizes == {
        "orig": (1000, 500, "image/jpeg"),
        "tiny": (64, 32, "image/jpeg"),
        "small": (256, 128, "image/jpeg"),
    }
    assert Image.open(io.BytesIO(p.variants["small"].data)).size == (256, 128)


def test_small_images_are_not_enlarged_and_transparency_stays_png() -> None:
    p = media.prepare("image", encoded(Image.new("RGBA", (40, 20), (0, 0, 0, 0)), "PNG"), 10**7)
    assert {n: (v.width, v.height, v.content_type) for n, v in p.variants.items()} == {
        "orig": (40, 20, "image/png"),
        "tiny": (40, 20, "image/png"),
        "small": (40, 20, "image/png"),
    }


def test_exif_orientation_turns_sizes_and_thumbnails_upright() -> None:
    img = Image.new("RGB", (300, 100), "blue")
    exif = img.getexif()
    exif[media.ORIENTATION] = 6  # shown rotated by 90 degrees
    p = media.prepare("image", encoded(img, "JPEG", exif=exif), 10**7)
    assert (p.orig.width, p.orig.height) == (100, 300)
    assert (p.variants["small"].width, p.variants["small"].height) == (85, 256)


@pytest.mark.parametrize(
    ("data", "limit", "message"),
    [
        (b"", 100, "empty"),
        (b"plain text, not a picture", 100, "not an image"),
        (encoded(Image.new("RGB", (64, 64)), "PNG")[:-30], 10**6, "not an image"),  # truncated
        (encoded(Image.new("RGB", (64, 64)), "PNG"), 50, "at most 50 are accepted"),
        (encoded(Image.new("1", (12_000, 9_000)), "PNG"), 10**7, "pixels"),
    ],
)
def test_bad_images_are_refused_with_the_reason(data: bytes, limit: int, message: str) -> None:
    with pytest.raises(media.MediaError, match=message):
        media.prepare("image", data, limit)


@pytest.mark.parametrize(
    ("kind", "head", "content_type"),
    [
        ("video", b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        ("video", b"\x00\x00\x00\x14ftypqt  ", "video/quicktime"),
        ("audio", b"\x00\x00\x00\x18ftypM4A ", "audio/mp4"),
        ("video", b"\x1a\x45\xdf\xa3", "video/webm"),
        ("audio", b"OggS", "audio/ogg"),
        ("audio", b"RIFF\x00\x00\x00\x00WAVE", "audio/wav"),
        ("video", b"RIFF\x00\x00\x00\x00AVI ", "video/x-msvideo"),
        ("audio", b"fLaC", "audio/flac"),
        ("audio", b"ID3\x04", "audio/mpeg"),
        ("video", b"something else", "application/octet-stream"),
    ],
)
def test_video_and_audio_are_kept_with_their_content_type(kind: str, head: bytes, content_type: str) -> None:
    p = media.prepare(kind, head + bytes(20), 10**6)
    assert (p.content_type, list(p.variants)) == (content_type, ["orig"])


# ------------------------------------------------------------------ store


def test_local_store_puts_opens_and_deletes(tmp_path: Path) -> None:
    store = LocalDirStore(tmp_path)
    store.put("7", "abc", b"bytes", "image/png")
    store.put("7", "abc", b"newer", "image/png")  # replacing is atomic
    f = store.open("7", "abc")
    assert f is not None
    with f:
        assert f.read() == b"newer"
    assert store.local_path("7", "abc") == tmp_path / "7" / "ab" / "abc"
    assert store.open("8", "abc") is None and store.local_path("8", "abc") is None
    assert store.direct_url("7", "abc", 60) is None
    store.delete("7", "abc")
    store.delete("7", "abc")  # a missing blob is no error
    assert store.open("7", "abc") is None
    assert [p.name for p in (tmp_path / "7" / "ab").iterdir()] == []  # no temporary files left


@pytest.mark.parametrize("name", ["", "..", "../etc", "a/b", "a\\b", ".hidden", "x" * 200, "a..b"])
def test_blob_names_cannot_leave_the_store(name: str) -> None:
    with pytest.raises(ValueError):
        check_name(name)
