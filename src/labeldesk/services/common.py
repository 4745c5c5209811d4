"""Small helpers every service shares: ids, time, pagination, proto <-> JSON for Struct fields."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from google.protobuf import struct_pb2, timestamp_pb2

from labeldesk.domain import errors

T = TypeVar("T")

ID_RE = re.compile(r"^[A-Za-z0-9_\-.:@]{1,128}$")
MAX_PER_PAGE = 1000


def new_id() -> str:
    """A random version-4 UUID as 32 hex digits (``uuid.uuid4().hex``, without building a UUID
    object: PostAnnotations makes one per annotation and per region)."""
    b = bytearray(os.urandom(16))
    b[6] = b[6] & 0x0F | 0x40  # version 4
    b[8] = b[8] & 0x3F | 0x80  # RFC 4122 variant
    return b.hex()


def ordered_ids(n: int) -> list[str]:
    """``n`` new ids of 32 hex digits that sort by creation time: the time in milliseconds (12
    digits), then 80 random bits. For the ids of new rows that a unique index holds
    (annotations, inputs): ids made in the same moment sit side by side in the index, so a batch
    of 128 touches a few of its pages instead of 128 random ones (see docs/performance.md)."""
    head = f"{time.time_ns() // 1_000_000:012x}"[-12:]
    rand = os.urandom(10 * n).hex()
    return [head + rand[i : i + 20] for i in range(0, 20 * n, 20)]


def id_source(chunk: int = 128) -> Callable[[], str]:
    """A maker of :func:`ordered_ids` that draws them ``chunk`` at a time (one ``os.urandom``
    call per chunk instead of one per id): for the many ids one request makes."""
    pool: list[str] = []

    def make() -> str:
        if not pool:
            pool.extend(reversed(ordered_ids(chunk)))
        return pool.pop()

    return make


def check_id(kind: str, value: str, where: str = "id", make: Callable[[], str] = new_id) -> str:
    """Validate a client-supplied id; generate one (with ``make``) when it is empty."""
    if not value:
        return make()
    if not ID_RE.match(value):
        raise errors.invalid(
            f"{where}: '{value[:60]}' is not a valid {kind} id",
            "ids are 1-128 characters of letters, digits and _ - . : @",
        )
    return value


def require_unique(kind: str, ids: Sequence[str], where: str = "ids") -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise errors.invalid(f"{where}: {kind} id '{i}' appears more than once in the request")
        seen.add(i)


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def timestamp(dt: datetime | None) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp of a stored time (naive times are UTC, as SQLite returns them).

    Computed from the offset to the epoch: ~4x faster than ``Timestamp.FromDatetime``, and list
    responses carry two timestamps per item."""
    if dt is None:
        return timestamp_pb2.Timestamp()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - _EPOCH
    return timestamp_pb2.Timestamp(
        seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000
    )


def struct_to_dict(s: struct_pb2.Struct) -> dict[str, Any] | None:
    """A Struct as plain JSON values (None when empty, so empty metadata is stored as NULL)."""
    if not s.fields:
        return None
    return {key: _plain(value) for key, value in s.fields.items()}


def _plain(v: struct_pb2.Value) -> Any:
    kind = v.WhichOneof("kind")
    if kind == "struct_value":
        return {key: _plain(x) for key, x in v.struct_value.fields.items()}
    if kind == "list_value":
        return [_plain(x) for x in v.list_value.values]
    if kind == "null_value" or kind is None:
        return None
    return getattr(v, kind)


def dict_to_struct(d: dict[str, Any] | None, target: struct_pb2.Struct) -> None:
    if d:
        target.update(d)


@dataclass(frozen=True)
class Page:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def page_of(page: int, per_page: int, default_per_page: int = 128) -> Page:
    """Clarifai pagination: 1-based ``page``; ``per_page`` up to 1000; 0 means "not given"."""
    if per_page > MAX_PER_PAGE:
        raise errors.ApiError(
            errors.INVALID_REQUEST,
            f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}",
            "ask for fewer items per page and walk the pages with 'page'",
        )
    return Page(page=page or 1, per_page=per_page or default_per_page)


def batch_ids(
    kind: str, field: str, items: Sequence[Any], example: str = "", make: Callable[[], str] = new_id
) -> list[str]:
    """The ids of a batch of new resources: at least one item, valid and distinct ids
    (generated with ``make`` where empty). Field paths are formatted only for an error (a
    PostAnnotations or PostInputs of 128 would otherwise format 128 of them)."""
    if not items:
        raise errors.invalid(f"{field}: give at least one {kind}", example)
    ids = []
    for n, item in enumerate(items):
        value = item.id
        if not value:
            value = make()
        elif not ID_RE.match(value):
            check_id(kind, value, f"{field}[{n}].id")  # raises, naming the field
        ids.append(value)
    require_unique(kind, ids, field)
    return ids


def new_ids(
    kind: str,
    field: str,
    items: Sequence[Any],
    taken: Callable[[list[str]], Collection[str]],
    example: str = "",
) -> list[str]:
    """Validate the ids of a batch of new resources, all or nothing: at least one item, valid and
    distinct ids (generated where empty), none already used (``taken`` answers the used ones)."""
    ids = batch_ids(kind, field, items, example)
    clash = taken(ids)
    if clash:
        raise errors.ApiError(
            errors.DUPLICATE_KEY,
            f"{kind} id(s) {', '.join(repr(i) for i in list(clash)[:10])} already exist; nothing was created",
            "choose new ids, or leave id empty to have one generated",
        )
    return ids


def require_one(found: Mapping[str, T], kind: str, ident: str) -> T:
    """The row ``ident`` out of a by-id lookup, or the Clarifai "does not exist" error."""
    row = found.get(ident)
    if row is None:
        raise errors.not_found(kind, ident)
    return row


def by_id(rows: Iterable[T], key: Callable[[T], str]) -> dict[str, T]:
    return {key(r): r for r in rows}
