"""Archive safety rules (pure) and unpacking (on a temporary folder): which members are refused
with which message, where accepted ones go, the caps, and the single top folder."""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import archive_safety as rules
from labeldesk.domain.archive_safety import Budget, Limits, Member, UnsafeArchive
from labeldesk.files import archives

LIMITS = Limits(max_bytes=1000, max_files=3)


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        (Member("a/b.jpg"), "a/b.jpg"),
        (Member("./a//b.jpg"), "a/b.jpg"),
        (Member("a\\b.jpg"), "a/b.jpg"),
        (Member("a/", rules.DIR), "a"),
        (Member("./", rules.DIR), None),
        (Member("__MACOSX/a/._b.jpg"), None),
        (Member("a/._b.jpg"), None),
        (Member("a/link", rules.SYMLINK, link="b.jpg"), "a/link"),
        (Member("a/link", rules.SYMLINK, link="../c/b.jpg"), "a/link"),
        (Member("a/hard", rules.HARDLINK, link="a/b.jpg"), "a/hard"),
    ],
)
def test_safe_members_go_below_the_target(member: Member, expected: str | None) -> None:
    assert rules.destination(member) == expected


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (Member("/etc/passwd"), "archive member '/etc/passwd' has an absolute path"),
        (Member("C:\\x.jpg"), "has an absolute path"),
        (Member("../x"), "archive member '../x' leaves the archive's folder ('..' in its path)"),
        (Member("a/../../x"), "leaves the archive's folder"),
        (Member("a\\..\\..\\x"), "leaves the archive's folder"),
        (Member("a\x00b"), "has a NUL character"),
        (
            Member("a/l", rules.SYMLINK, link="/etc/passwd"),
            "'a/l' is a link to '/etc/passwd', outside the archive",
        ),
        (Member("a/l", rules.SYMLINK, link="../../x"), "is a link to '../../x', outside the archive"),
        (Member("a/l", rules.SYMLINK, link=".."), "outside the archive"),
        (Member("a/h", rules.HARDLINK, link="../x"), "outside the archive"),
        (
            Member("dev/null", rules.OTHER),
            "archive member 'dev/null' is a device, pipe or socket, not a file",
        ),
    ],
)
def test_unsafe_members_are_refused_with_the_rule_they_break(member: Member, message: str) -> None:
    with pytest.raises(UnsafeArchive, match=re.escape(message)):
        rules.destination(member)


@given(st.text(alphabet=st.sampled_from(list("ab./\\:C\x00")), max_size=24), st.text(max_size=12))
def test_no_member_name_or_link_ever_escapes_the_target(name: str, link: str) -> None:
    for kind in (rules.FILE, rules.SYMLINK, rules.HARDLINK):
        try:
            path = rules.destination(Member(name, kind, link=link))
        except UnsafeArchive:
            continue
        if path is None:
            continue
        target = posixpath.normpath(posixpath.join("/target", path))
        assert target.startswith("/target/") and "\\" not in path and "\x00" not in path
        if kind != rules.FILE:
            source = posixpath.normpath(
                posixpath.join("/target", rules.link_target(Member(name, kind, link=link), path))
            )
            assert source.startswith("/target/")


def test_the_budget_stops_at_the_caps() -> None:
    budget = Budget(LIMITS)
    for _ in range(3):
        budget.add_file()
    with pytest.raises(UnsafeArchive, match="more than 3 files"):
        budget.add_file()
    budget.add_bytes(1000)
    with pytest.raises(UnsafeArchive, match="unpacks to more than 1,000 bytes"):
        budget.add_bytes(1)


@pytest.mark.parametrize(
    ("paths", "top"),
    [
        (["coco/annotations.json", "coco/images/a.png"], "coco"),
        (["annotations.json", "images/a.png"], ""),
        (["data.jsonl"], ""),
        (["a/x", "b/y"], ""),
    ],
)
def test_a_single_top_folder_is_stepped_into(paths: list[str], top: str) -> None:
    assert rules.top_folder(paths) == top


def _zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def test_extract_unpacks_into_the_top_folder_and_copies_links_inside(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        info = tarfile.TarInfo("ds/a.txt")
        info.size = 2
        t.addfile(info, io.BytesIO(b"hi"))
        link = tarfile.TarInfo("ds/b.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "a.txt"
        t.addfile(link)
    archive = tmp_path / "ds.tgz"
    archive.write_bytes(buf.getvalue())
    (tmp_path / "out").mkdir()
    root = archives.extract(archive, tmp_path / "out", LIMITS, "ds.tgz")
    assert root == tmp_path / "out" / "ds"
    assert (root / "b.txt").read_bytes() == b"hi" and not (root / "b.txt").is_symlink()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"a": b"1", "b": b"2", "c": b"3", "d": b"4"}, "holds more than 3 files"),
        ({"big": bytes(1001)}, "unpacks to more than 1,000 bytes"),
        ({"../evil": b"x"}, "leaves the archive's folder"),
        ({"__MACOSX/._a": b"x"}, "a.zip holds no files"),
    ],
)
def test_extract_refuses_archives_over_the_caps_or_unsafe(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    (tmp_path / "out").mkdir()
    with pytest.raises(archives.ArchiveError, match=re.escape(message)):
        archives.extract(_zip(tmp_path, members), tmp_path / "out", LIMITS, "a.zip")
    assert not (tmp_path / "evil").exists()


def test_a_file_that_is_no_archive_is_named(tmp_path: Path) -> None:
    path = tmp_path / "x.zip"
    path.write_text("hello")
    with pytest.raises(archives.ArchiveError, match=re.escape("x.zip is not a zip or tar archive")):
        archives.extract(path, tmp_path, LIMITS, "x.zip")
