"""Protobuf wire records assembled as bytes: for answers and stored data made of many similar
messages (PostAnnotations, PostInputs), concatenating the records of their fields and parsing
the result once, in C, costs far less than setting the fields one by one from Python.

Only length-delimited fields (strings, bytes, messages) are written this way; parsing the
concatenation merges repeated occurrences of a message field, so a message's fields may come
in any order and a message may be given in several records.
"""

from __future__ import annotations

from typing import Any


def varint(n: int) -> bytes:
    """``n`` (≥ 0) as a protobuf varint."""
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:  # most lengths of an answer's records: two bytes, without the loop
        return bytes((n & 0x7F | 0x80, n >> 7))
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def tag(descriptor: Any, name: str) -> bytes:
    """The wire tag of the length-delimited field ``name`` (string, bytes or message) of a
    message type."""
    return varint(descriptor.fields_by_name[name].number << 3 | 2)


def record(field_tag: bytes, payload: bytes) -> bytes:
    """One length-delimited field on the wire: tag, length, payload."""
    return field_tag + varint(len(payload)) + payload
