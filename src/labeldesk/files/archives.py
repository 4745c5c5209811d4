"""Unpacking an uploaded archive (zip, tar, tar.gz) into a folder, safely.

:func:`extract` reads each member's name and kind, asks :mod:`labeldesk.domain.archive_safety`
where it may go (or refuses the whole archive), and copies the bytes while counting them against
the caps. Links that stay within the archive are unpacked as copies of their target (so nothing
in the folder points anywhere). The caller removes the folder when it is done with it, also
after an :class:`ArchiveError`.
"""

from __future__ import annotations

import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from labeldesk.domain import archive_safety as rules
from labeldesk.domain.archive_safety import Budget, Limits, Member, UnsafeArchive

COPY_BUFFER = 1 << 20
SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz")

Opener = Callable[[], IO[bytes]]


class ArchiveError(Exception):
    """The archive cannot be unpacked (not an archive, broken, or unsafe); the message says why."""


def _zip_members(z: zipfile.ZipFile) -> Iterator[tuple[Member, Opener]]:
    for info in z.infolist():
        mode = info.external_attr >> 16
        kind = rules.FILE
        link = ""
        if info.is_dir():
            kind = rules.DIR
        elif stat.S_ISLNK(mode):
            kind, link = rules.SYMLINK, z.read(info).decode("utf-8", "replace")
        elif mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            kind = rules.OTHER

        def opener(i: zipfile.ZipInfo = info) -> IO[bytes]:
            return z.open(i)

        yield Member(info.filename, kind, link=link), opener


def _tar_members(t: tarfile.TarFile) -> Iterator[tuple[Member, Opener]]:
    for info in t:
        kind = (
            rules.FILE
            if info.isreg()
            else rules.DIR
            if info.isdir()
            else rules.SYMLINK
            if info.issym()
            else rules.HARDLINK
            if info.islnk()
            else rules.OTHER
        )

        def opener(i: tarfile.TarInfo = info) -> IO[bytes]:
            f = t.extractfile(i)
            assert f is not None, "a regular member has bytes"
            return f

        yield Member(info.name, kind, link=info.linkname), opener


def kind_of(archive: Path) -> str:
    """ "zip", "tar" (also compressed) or "" for a file that is neither."""
    if zipfile.is_zipfile(archive):
        return "zip"
    return "tar" if tarfile.is_tarfile(archive) else ""


@contextmanager
def _members(archive: Path, name: str) -> Iterator[Iterator[tuple[Member, Opener]]]:
    kind = kind_of(archive)
    if kind == "zip":
        with zipfile.ZipFile(archive) as z:
            yield _zip_members(z)
    elif kind == "tar":
        with tarfile.open(archive, "r:*") as t:
            yield _tar_members(t)
    else:
        raise ArchiveError(f"{name} is not a zip or tar archive")


def _copy(source: IO[bytes], target: Path, budget: Budget) -> None:
    with target.open("wb") as out:
        while chunk := source.read(COPY_BUFFER):
            budget.add_bytes(len(chunk))
            out.write(chunk)


def extract(
    archive: Path,
    dest: Path,
    limits: Limits,
    name: str = "the archive",
    on_file: Callable[[int], None] | None = None,
) -> Path:
    """Unpack ``archive`` (called ``name`` in messages) into the empty folder ``dest``; answer the
    folder to import: ``dest``, or the archive's single top folder inside it. ``on_file(n)`` is
    called every 1,000 files (progress, and a chance to stop)."""
    budget = Budget(limits)
    files: list[str] = []
    try:
        with _members(archive, name) as members:
            for member, open_member in members:
                path = rules.destination(member)
                if path is None:
                    continue
                target = dest / path
                if member.kind == rules.DIR:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if member.kind in (rules.SYMLINK, rules.HARDLINK):
                    source = dest / rules.link_target(member, path)
                    if not source.is_file():
                        continue  # a link to a folder or to nothing: no data
                    budget.add_file()
                    with source.open("rb") as f:
                        _copy(f, target, budget)
                else:
                    budget.add_file()
                    with open_member() as f:
                        _copy(f, target, budget)
                files.append(path)
                if on_file is not None and len(files) % 1000 == 0:
                    on_file(len(files))
    except UnsafeArchive as e:
        raise ArchiveError(str(e)) from e
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, UnicodeDecodeError) as e:
        raise ArchiveError(f"{name} is a broken archive: {e}") from e
    except OSError as e:
        raise ArchiveError(f"{name} cannot be unpacked: {e.strerror or e}") from e
    if not files:
        raise ArchiveError(f"{name} holds no files")
    top = rules.top_folder(files)
    return dest / top if top else dest
