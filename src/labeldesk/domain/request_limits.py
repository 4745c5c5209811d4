"""Limits every request obeys, whatever its RPC. Pure rules over the request, no I/O.

- No text holds a NUL character (``\\u0000``): PostgreSQL cannot store one, so both databases
  refuse it the same way, as bad input naming the field (ids, names, metadata keys and values ...).
- An annotation (any ``Data``) has at most :data:`MAX_REGIONS` regions and a polygon at most
  :data:`MAX_POLYGON_POINTS` points: one huge polygon would hold the write lock for seconds.

:func:`check_message` walks a protobuf request, descending only into message types that can hold
text or a limited list (a polygon's points are counted, never visited), so the walk stays cheap
for large batches. :func:`check_json` does the same for plain JSON bodies (the staged API).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from labeldesk.domain import errors

MAX_REGIONS = 1_000
MAX_POLYGON_POINTS = 10_000

#: (message full name, repeated field) → the most items it may hold, and what they are called
LIMITS: Mapping[tuple[str, str], tuple[int, str]] = {
    ("clarifai.api.Data", "regions"): (MAX_REGIONS, "regions per annotation"),
    ("clarifai.api.Polygon", "points"): (MAX_POLYGON_POINTS, "points per polygon"),
}

_STRING = FieldDescriptor.TYPE_STRING


def nul_error(where: str) -> errors.ApiError:
    return errors.invalid(
        f"{where}: contains a NUL character (\\u0000), which labeldesk does not store",
        "remove the NUL characters from the text",
    )


def _limit_error(where: str, count: int, limit: int, what: str) -> errors.ApiError:
    return errors.invalid(
        f"{where}: {count} items; at most {limit} {what} are accepted",
        "split the shape or the annotation into smaller ones",
    )


_WORTH: dict[str, bool] = {}
_LIMITED: dict[str, bool] = {}


def _worth_visiting(descriptor: Descriptor) -> bool:
    """Whether a message of this type can hold text or a limited list, at any depth."""
    return _reaches(descriptor, _WORTH, _holds_text_or_limit)


def _reaches_limit(descriptor: Descriptor) -> bool:
    """Whether a message of this type can hold a limited list, at any depth."""
    return _reaches(descriptor, _LIMITED, _holds_limit)


def _reaches(descriptor: Descriptor, known: dict[str, bool], marks: Callable[[Descriptor], bool]) -> bool:
    found = known.get(descriptor.full_name)
    if found is None:
        known.update(_reachability(descriptor, marks))
        found = known[descriptor.full_name]
    return found


def _holds_text_or_limit(d: Descriptor) -> bool:
    return any(fd.type == _STRING or (d.full_name, fd.name) in LIMITS for fd in d.fields)


def _holds_limit(d: Descriptor) -> bool:
    return any((d.full_name, fd.name) in LIMITS for fd in d.fields)


def _reachability(root: Descriptor, marks: Callable[[Descriptor], bool]) -> dict[str, bool]:
    """For every message type reachable from ``root``: can it reach a type that ``marks``?"""
    types: dict[str, Descriptor] = {}
    stack = [root]
    while stack:
        d = stack.pop()
        if d.full_name not in types:
            types[d.full_name] = d
            stack.extend(fd.message_type for fd in d.fields if fd.message_type is not None)
    users: dict[str, set[str]] = {name: set() for name in types}  # type -> the types holding it
    marked: list[str] = []
    for name, d in types.items():
        for fd in d.fields:
            if fd.message_type is not None:
                users[fd.message_type.full_name].add(name)
        if marks(d):
            marked.append(name)
    worth = dict.fromkeys(types, False)
    while marked:
        name = marked.pop()
        if not worth[name]:
            worth[name] = True
            marked.extend(users[name])
    return worth


def check_message(message: Message, where: str = "") -> None:
    """Raise 11102 naming the first field that holds a NUL or exceeds a limit.

    First the message's wire bytes are searched for a zero byte (in C): a NUL in any text is a
    zero byte there, so without one no text holds a NUL and only the list limits are left, which
    :func:`_within_limits` checks skipping every message too small to hold a list over its limit.
    Zero bytes also come from numbers (a float ``1.0``, ``0`` with explicit presence) and raw
    bytes; then a walk looks at every text (no field paths: formatting them cost more than the
    checks, for every field of every request). Only when a problem is found does a second walk
    name it.

    A request carrying raw bytes (PostModelOutputs or PostInputs with images inline) is walked
    without serializing what holds them (:func:`_holds_bulk`): protobuf serialized 32 images of
    200 kB at ~300 MB/s, once for the request and twice more per image, 37 ms of a gRPC batch."""
    if _holds_bulk(message, 4):
        ok = _clean(message, bulky=True)
    else:
        wire = message.SerializeToString()
        ok = _clean(message) if _may_hold_nul(wire) else _within_limits(message, wire)
    if not ok:
        _name_problem(message, where)


_BULK_BYTES = 16 * 1024
_BYTES = FieldDescriptor.TYPE_BYTES


def _holds_bulk(message: Message, depth: int) -> bool:
    """Whether a bytes field over 16 kB is set in ``message``, or ``depth`` levels down following
    singular messages and the first item of lists: a cheap probe that only chooses how
    :func:`check_message` looks (both ways check everything)."""
    for fd, value in message.ListFields():
        if fd.type == _BYTES:
            if (sum(map(len, value)) if fd.is_repeated else len(value)) > _BULK_BYTES:
                return True
        elif depth and fd.message_type is not None and not fd.message_type.GetOptions().map_entry:
            item = (value[0] if len(value) else None) if fd.is_repeated else value
            if item is not None and _holds_bulk(item, depth - 1):
                return True
    return False


#: a float field's ``1.0`` on the wire (concept values, box edges): the usual zero bytes
_ONE_F32 = b"\x00\x00\x80\x3f"


def _may_hold_nul(wire: bytes) -> bool:
    """Whether some text of the message serialized as ``wire`` may hold a NUL: whether a zero
    byte is left once every ``00 00 80 3f`` (a float ``1.0``) is taken out. Taking them out
    never hides a NUL of a text: a text is valid UTF-8, where no ``00`` is followed by ``80``,
    so such a sequence can overlap a text only by the text's last one or two bytes being
    ``00``; the bytes after a text start a field's tag, and the tag would then be ``00``
    (field 0, invalid) or ``80 3f`` (field 1008, which no Clarifai message has:
    ``tests/unit/test_request_limits.py`` checks)."""
    return b"\x00" in wire and b"\x00" in wire.replace(_ONE_F32, b"")


#: a list over any limit takes at least this many bytes (each item at least a tag and a length)
_SMALLEST_OVER_LIMIT = 2 * (min(limit for limit, _ in LIMITS.values()) + 1)


def _within_limits(message: Message, wire: bytes | None = None) -> bool:
    """Whether no limited list of ``message``, at any depth, holds more than its limit.
    ``wire``: the message's bytes when the caller has them. A message too small to hold a list
    over a limit is done at once; otherwise, when the longest length-delimited record of its
    bytes (:func:`_longest_record`) is that small, no nested message can hold one, and only the
    message's own lists are counted: the sizes of 128 annotations or inputs are read off the
    request's bytes instead of each being measured (``ByteSize`` serializes the item again)
    and visited."""
    if (message.ByteSize() if wire is None else len(wire)) < _SMALLEST_OVER_LIMIT:
        return True
    longest = -1 if wire is None else _longest_record(wire)
    nested = not 0 <= longest < _SMALLEST_OVER_LIMIT
    owner = message.DESCRIPTOR
    for fd, value in message.ListFields():
        if fd.message_type is None:
            continue
        limit = LIMITS.get((owner.full_name, fd.name), (-1, ""))[0]
        if 0 <= limit < len(value):
            return False
        if not nested or not _reaches_limit(fd.message_type):
            continue
        if fd.message_type.GetOptions().map_entry:
            if not all(_within_limits(item) for item in value.values()):
                return False
        elif fd.is_repeated:
            if not all(_within_limits(item) for item in value):
                return False
        elif not _within_limits(value):
            return False
    return True


def _longest_record(wire: bytes) -> int:
    """The length of the longest length-delimited record (a nested message, a list item, a
    text) at the top level of the message serialized as ``wire``; -1 when the bytes do not
    parse as records (then the caller measures instead)."""
    i, n, longest = 0, len(wire), 0
    try:
        while i < n:
            kind = wire[i] & 7
            while wire[i] & 0x80:  # the tag's varint
                i += 1
            i += 1
            if kind == 2:
                size, shift = 0, 0
                while True:
                    byte = wire[i]
                    i += 1
                    size |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                if size > longest:
                    longest = size
                i += size
            elif kind == 0:
                while wire[i] & 0x80:
                    i += 1
                i += 1
            elif kind in (1, 5):
                i += 8 if kind == 1 else 4
            else:  # groups: no Clarifai message has them
                return -1
    except IndexError:
        return -1
    return longest if i == n else -1


_STRINGS, _MAP, _LIST, _ONE, _SKIP = range(5)
_PLANS: dict[FieldDescriptor, tuple[int, int, bool]] = {}


def _plan(owner: Any, fd: FieldDescriptor) -> tuple[int, int, bool]:
    """How :func:`_clean` treats a field: its kind, the most items of a limited list (-1: no
    limit), and whether its messages are worth visiting."""
    plan = _PLANS.get(fd)
    if plan is None:
        limit = LIMITS.get((owner.full_name, fd.name), (-1, ""))[0]
        worth = fd.message_type is not None and _worth_visiting(fd.message_type)
        if fd.type == _STRING:
            kind = _STRINGS
        elif fd.message_type is None:
            kind = _SKIP
        elif fd.message_type.GetOptions().map_entry:
            kind = _MAP
        elif fd.is_repeated:
            kind = _LIST if limit >= 0 or worth else _SKIP
        else:
            kind = _ONE if worth else _SKIP
        plan = _PLANS[fd] = (kind, limit, worth)
    return plan


def _clean(message: Message, seen: dict[tuple[Any, bytes], bool] | None = None, bulky: bool = False) -> bool:
    """Whether no field of ``message`` holds a NUL or exceeds a limit (no paths built).

    A singular nested message (an annotation's ``data``, a region's ``region_info``) is looked
    at through its wire bytes first (:func:`_clean_once`), and ``seen`` remembers the verdict
    by type and bytes: a batch often repeats the same data (the same concepts, the same shape),
    and identical bytes hold identical text, so each distinct one is walked once per request.
    The items of lists are walked directly (an annotation or an input differs from the next
    one at least by its id). ``bulky``: nested messages are walked too (the request carries large bytes,
    :func:`check_message`)."""
    if seen is None:
        seen = {}
    owner = message.DESCRIPTOR
    for fd, value in message.ListFields():
        kind, limit, worth = _PLANS.get(fd) or _plan(owner, fd)
        if kind == _STRINGS:
            if any("\x00" in text for text in value) if fd.is_repeated else "\x00" in value:
                return False
        elif kind == _ONE:
            if not _clean_once(value, seen, bulky):
                return False
        elif kind == _LIST:
            if 0 <= limit < len(value) or (worth and not all(_clean(item, seen, bulky) for item in value)):
                return False
        elif kind == _MAP and not _clean_map(fd, value):
            return False
    return True


def _clean_once(message: Message, seen: dict[tuple[Any, bytes], bool], bulky: bool = False) -> bool:
    """:func:`_clean` of a nested message, looked at through its wire bytes first: without a
    zero byte it holds no NUL (only its lists are left to count), and bytes already judged in
    this request are not walked again."""
    if bulky:  # walked: serializing would copy the bytes (more than once, level by level)
        return _clean(message, seen, bulky)
    wire = message.SerializeToString()
    if not _may_hold_nul(wire):
        return _within_limits(message, wire)
    key = (message.DESCRIPTOR, wire)
    verdict = seen.get(key)
    if verdict is None:
        verdict = seen[key] = _clean(message, seen)
    return verdict


def _clean_map(fd: FieldDescriptor, value: Any) -> bool:
    entry = fd.message_type
    assert entry is not None
    key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
    if key_fd.type == _STRING and any("\x00" in key for key in value):
        return False
    if value_fd.type == _STRING:
        return not any("\x00" in text for text in value.values())
    if value_fd.message_type is not None and _worth_visiting(value_fd.message_type):
        return all(_clean(item) for item in value.values())
    return True


def _name_problem(message: Message, where: str) -> None:
    """Raise the error for the first problem of ``message`` (:func:`check_message` found one)."""
    descriptor = message.DESCRIPTOR
    for fd, value in message.ListFields():
        path = f"{where}.{fd.name}" if where else fd.name
        if fd.type == _STRING:
            _check_strings(value if fd.is_repeated else (value,), path, fd.is_repeated)
            continue
        if fd.message_type is None:
            continue
        if fd.message_type.GetOptions().map_entry:
            _check_map(fd, value, path)
            continue
        if fd.is_repeated:
            limit = LIMITS.get((descriptor.full_name, fd.name))
            if limit is not None and len(value) > limit[0]:
                raise _limit_error(path, len(value), *limit)
            if _worth_visiting(fd.message_type):
                for i, item in enumerate(value):
                    check_message(item, f"{path}[{i}]")
        elif _worth_visiting(fd.message_type):
            check_message(value, path)


def _check_strings(values: Any, path: str, indexed: bool) -> None:
    for i, text in enumerate(values):
        if "\x00" in text:
            raise nul_error(f"{path}[{i}]" if indexed else path)


def _check_map(fd: FieldDescriptor, value: Any, path: str) -> None:
    entry = fd.message_type
    assert entry is not None
    key_fd, value_fd = entry.fields_by_name["key"], entry.fields_by_name["value"]
    for key in value:
        where = f"{path}[{key!r}]"
        if key_fd.type == _STRING and "\x00" in key:
            raise nul_error(f"{path} (a key)")
        if value_fd.type == _STRING:
            _check_strings((value[key],), where, False)
        elif value_fd.message_type is not None and _worth_visiting(value_fd.message_type):
            check_message(value[key], where)


def check_json(value: Any, where: str = "body") -> None:
    """Raise 11102 naming the first string (or object key) of a JSON value that holds a NUL."""
    if isinstance(value, str):
        if "\x00" in value:
            raise nul_error(where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and "\x00" in key:
                raise nul_error(f"{where} (a key)")
            check_json(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_json(item, f"{where}[{i}]")
