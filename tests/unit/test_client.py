"""The CLI's client of a server, without a server: what an upload packs (a folder into a zip with
images stored and annotations deflated; an archive as it is), and the URLs it accepts and builds."""

from __future__ import annotations

import socket
import tarfile
import zipfile
from pathlib import Path

import pytest

from labeldesk.client import rest, upload
from labeldesk.client.archive import archive_of, is_archive
from labeldesk.client.rest import ApiStatusError, RemoteError, check_base_url, with_format


def test_a_folder_is_packed_into_a_temporary_zip_with_images_stored(tmp_path: Path) -> None:
    src = tmp_path / "coco"
    (src / "images" / "sub").mkdir(parents=True)
    (src / "annotations.json").write_text('{"images": []}' * 50)
    (src / "images" / "b.PNG").write_bytes(b"\x89PNG" * 100)
    (src / "images" / "sub" / "a.jpg").write_bytes(b"\xff\xd8" * 100)
    with archive_of(src) as archive:
        assert archive.name == "coco.zip" and archive.parent != src.parent
        with zipfile.ZipFile(archive) as z:
            kinds = {i.filename: i.compress_type for i in z.infolist()}
            assert z.read("images/sub/a.jpg") == b"\xff\xd8" * 100
    assert kinds == {
        "annotations.json": zipfile.ZIP_DEFLATED,
        "images/b.PNG": zipfile.ZIP_STORED,
        "images/sub/a.jpg": zipfile.ZIP_STORED,
    }
    assert not archive.exists()  # removed once sent


def test_one_file_is_packed_alone_and_an_archive_goes_as_it_is(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text('{"image": "https://example.com/a.png"}\n')
    with archive_of(data) as archive, zipfile.ZipFile(archive) as z:
        assert z.namelist() == ["data.jsonl"]
    tgz = tmp_path / "set.TGZ"
    with tarfile.open(tgz, "w:gz") as t:
        t.add(data, "data.jsonl")
    for name in ("set.TGZ", "a.tar.gz", "a.tar", "a.zip"):
        ready = tmp_path / name
        if not ready.exists():
            ready.write_bytes(b"x")
        assert is_archive(ready)
        with archive_of(ready) as archive:
            assert archive == ready
    assert not is_archive(data) and not is_archive(tmp_path)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("http://localhost:8080/", "http://localhost:8080"),
        ("https://labels.example.com", "https://labels.example.com"),
        ("localhost:8080", None),
        ("ftp://host", None),
        ("http://", None),
        ("", None),
    ],
)
def test_the_server_must_be_an_http_url(server: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(RemoteError, match="is not a URL like http://localhost:8080"):
            check_base_url(server)
    else:
        assert check_base_url(server) == expected


@pytest.mark.parametrize(
    ("url", "fmt", "expected"),
    [
        ("file:///srv/coco", "coco", "file:///srv/coco?format=coco"),
        ("file:///srv/coco", "", "file:///srv/coco"),
        ("file:///srv/coco?format=yolo", "coco", "file:///srv/coco?format=yolo"),
        ("file:///srv/a?x=1", "voc", "file:///srv/a?x=1&format=voc"),
    ],
)
def test_a_data_source_names_its_format_in_the_url(url: str, fmt: str, expected: str) -> None:
    assert with_format(url, fmt) == expected


def test_a_refused_key_points_at_where_keys_come_from() -> None:
    assert str(ApiStatusError(11008, "API key invalid")).endswith(
        "check --key (or LABELDESK_KEY / CLARIFAI_PAT)"
    )
    assert str(ApiStatusError(11102, "bad", "fix it")) == "bad (fix it)"
    assert str(ApiStatusError(99999999, "")) == "99999999"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_calls_safe_to_repeat_are_sent_again_while_the_server_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(rest.time, "sleep", waits.append)
    remote = rest.Remote(f"http://127.0.0.1:{_closed_port()}", "key", "u", "a")
    with pytest.raises(rest.TransientError, match="cannot reach"):
        remote.get_inputs_add_job("job")
    assert waits == [1.0, 2.0, 4.0, 8.0]  # ATTEMPTS tries, the waits doubling
    waits.clear()
    with pytest.raises(rest.TransientError, match="cannot reach"):
        remote.post_uploads("a.zip", 10)  # a POST is sent once: it might have been carried out
    assert waits == []


def test_an_unfinished_upload_is_forgotten_with_one_try(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clean-up after a failed upload does not make the user wait through the retries again."""
    waits: list[float] = []
    monkeypatch.setattr(rest.time, "sleep", waits.append)
    remote = rest.Remote(f"http://127.0.0.1:{_closed_port()}", "key", "u", "a")
    upload._forget(remote, "up-1")  # unreachable: swallowed, the server's sweep will remove it
    assert waits == []
    with pytest.raises(rest.TransientError):
        remote.delete_uploads(["up-1"])  # a DELETE of its own is retried as before
    assert waits == [1.0, 2.0, 4.0, 8.0]
