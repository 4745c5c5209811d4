"""Which members of an uploaded archive may be unpacked, and where. Pure rules, no I/O.

An archive comes from a client, so its member names are not trusted:

- an absolute name (``/etc/passwd``, ``C:\\x``) or one with a ``..`` step is refused (zip slip);
- a link (symbolic or hard) is followed only within the archive: one whose target leaves the
  archive's folder is refused, one that stays inside is unpacked as a copy of its target;
- devices, pipes and sockets are refused (only files and folders are data);
- the members together may hold at most :attr:`Limits.max_files` files and
  :attr:`Limits.max_bytes` bytes (a zip bomb stops at the cap, counted as bytes are written);
- macOS's ``__MACOSX/`` folder and ``._*`` resource forks are skipped (they are not data).

:func:`destination` answers where a member goes (a relative POSIX path that never leaves the
target folder) and :class:`Budget` counts files and bytes; ``files/archives.py`` does the
reading and writing.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

FILE, DIR, SYMLINK, HARDLINK, OTHER = "file", "dir", "symlink", "hardlink", "other"
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchive(ValueError):
    """The archive cannot be unpacked safely; the message names the member and the rule."""


@dataclass(frozen=True)
class Member:
    name: str  # as stored in the archive
    kind: str = FILE  # FILE, DIR, SYMLINK, HARDLINK or OTHER
    link: str = ""  # a link's target as stored


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_files: int


def _steps(name: str) -> list[str]:
    return [s for s in name.replace("\\", "/").split("/") if s not in ("", ".")]


def relative_path(name: str) -> str:
    """``name`` as a relative POSIX path inside the target ("" for the target itself), or
    :class:`UnsafeArchive` when it is absolute or climbs out with ``..``."""
    if "\x00" in name:
        raise UnsafeArchive(f"archive member {name!r} has a NUL character in its name")
    plain = name.replace("\\", "/")
    if plain.startswith("/") or _DRIVE.match(plain):
        raise UnsafeArchive(f"archive member {name!r} has an absolute path: members must be relative")
    steps = _steps(name)
    if ".." in steps:
        raise UnsafeArchive(f"archive member {name!r} leaves the archive's folder ('..' in its path)")
    return "/".join(steps)


def skipped(path: str) -> bool:
    """Members that are not data: macOS's ``__MACOSX/`` folder and ``._*`` resource forks."""
    steps = path.split("/")
    return steps[0] == "__MACOSX" or steps[-1].startswith("._")


def link_target(member: Member, path: str) -> str:
    """The relative path a link ``member`` (unpacked at ``path``) points to, or
    :class:`UnsafeArchive` when the target leaves the archive's folder. A symbolic link's target
    is relative to the link's folder; a hard link's (tar) to the archive's root."""
    link = member.link.replace("\\", "/")
    if link.startswith("/") or _DRIVE.match(link):
        raise _outside(member)
    base = posixpath.dirname(path) if member.kind == SYMLINK else ""
    joined = posixpath.normpath(posixpath.join(base, link)) if link else ""
    if not joined or joined == "." or joined == ".." or joined.startswith("../"):
        raise _outside(member)
    return joined


def _outside(member: Member) -> UnsafeArchive:
    return UnsafeArchive(f"archive member {member.name!r} is a link to {member.link!r}, outside the archive")


def destination(member: Member) -> str | None:
    """Where ``member`` is unpacked (relative to the target), or None when it is skipped;
    :class:`UnsafeArchive` when it may not be unpacked at all."""
    path = relative_path(member.name)
    if member.kind == OTHER:
        raise UnsafeArchive(f"archive member {member.name!r} is a device, pipe or socket, not a file")
    if not path or skipped(path):
        return None
    if member.kind in (SYMLINK, HARDLINK):
        link_target(member, path)
    return path


class Budget:
    """Counts the files and bytes unpacked so far against :class:`Limits`."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise UnsafeArchive(
                f"the archive holds more than {self.limits.max_files:,} files, the most this server unpacks"
            )

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_bytes:
            raise UnsafeArchive(
                f"the archive unpacks to more than {self.limits.max_bytes:,} bytes, the most this server "
                "unpacks (LABELDESK_MAX_EXTRACTED_BYTES)"
            )


def top_folder(paths: list[str]) -> str:
    """The one folder every unpacked path is in ("" when there is none): an archive of a
    dataset folder (``coco/annotations.json`` ...) is imported from inside that folder."""
    firsts = {p.split("/", 1)[0] for p in paths}
    if len(firsts) != 1 or not any("/" in p for p in paths):
        return ""
    (first,) = firsts
    return first if all(p == first or p.startswith(first + "/") for p in paths) else ""
