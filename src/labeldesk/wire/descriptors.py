"""Facts about proto descriptors that reading and writing JSON both need."""

from __future__ import annotations

import struct

from google.protobuf.descriptor import Descriptor, FieldDescriptor

FD = FieldDescriptor
INT_RANGES: dict[int, tuple[int, int]] = {
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), (0, 2**64 - 1)),
}
"""The range of every integer field type."""
FLOAT_TYPES = (FD.TYPE_FLOAT, FD.TYPE_DOUBLE)
FLOAT32 = struct.Struct("<f")
WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
"""The wrapper well-known types, whose JSON form is their bare value."""


def is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def message_type(fd: FieldDescriptor) -> Descriptor:
    """The message type of a field known to be a message (or map) field."""
    message = fd.message_type
    if message is None:
        raise TypeError(f"{fd.full_name} is not a message field")
    return message
