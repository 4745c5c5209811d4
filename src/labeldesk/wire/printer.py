"""Protobuf -> JSON: how every message looks as JSON, in REST responses and in the renderings
stored with annotation rows (so what is stored cannot depend on the transport).

:func:`message_to_json` is one recursive walk over ``ListFields()`` with a per-descriptor plan
computed once. Beyond the set fields it emits only the defaults clients rely on: the fields
Clarifai marks ``cl_show_if_empty`` (``Concept.value``, ``BoundingBox`` coordinates, ``Point``...),
``status.code``/``description``, count fields, and every list of the top-level message. Emitting
``Concept.value`` is not cosmetic: the official client's parser fills a missing ``value`` with
``cl_default_float`` (1.0), so an omitted 0 would read back as 1.
"""

from __future__ import annotations

import base64
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from clarifai_grpc.grpc.api.utils import extensions_pb2
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from labeldesk.wire.descriptors import FD, FLOAT32, FLOAT_TYPES, INT_RANGES, WRAPPERS, is_map, message_type

__all__ = [
    "NESTED_JSON_FORMAT",
    "datetime_json",
    "float32_json",
    "message_to_json",
    "message_to_json_bytes",
    "nested_json_bytes",
    "plain_struct_json",
]

_STATUS = "clarifai.api.status.Status"

_F32_FORMATS = ("%.6g", "%.7g", "%.8g", "%.9g")
_Converter = Callable[[Any], Any]
_Default = Callable[[Message], Any]


def _float32(value: float) -> float | str:
    """The shortest decimal that reads back as the same 32-bit float (0.7, not 0.699999988)."""
    if value.is_integer():
        return value
    if value - value != 0.0:  # NaN or +-Infinity
        return _float64(value)
    pack, unpack = FLOAT32.pack, FLOAT32.unpack
    for fmt in _F32_FORMATS:
        rounded = float(fmt % value)
        if unpack(pack(rounded))[0] == value:
            return rounded
    return value


float32_json = _float32
"""How a ``float`` field's value is rendered (for renderings built without the printer)."""


def _float64(value: float) -> float | str:
    if value - value == 0.0:
        return value
    if value != value:
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _number(number: float) -> float | int | str:
    """A ``google.protobuf.Value`` number: 3, not 3.0, for curl users; -0.0 keeps its sign."""
    if number.is_integer() and abs(number) < 2**53 and math.copysign(1.0, number) > 0:
        return int(number)
    return _float64(number)


def _bytes(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _map_key(key: Any) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def _timestamp(msg: Any) -> str:
    """RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, like ``Timestamp.ToJsonString`` but
    several times faster (responses carry two timestamps per annotation)."""
    seconds, nanos = msg.seconds, msg.nanos
    try:
        tm = time.gmtime(seconds)
    except (OverflowError, OSError, ValueError):
        return str(msg.ToJsonString())
    return _rfc3339(f"{tm[0]:04d}-{tm[1]:02d}-{tm[2]:02d}T{tm[3]:02d}:{tm[4]:02d}:{tm[5]:02d}", nanos)


def datetime_json(dt: datetime) -> str:
    """A stored time as :func:`_timestamp` renders its Timestamp (naive times are UTC)."""
    if dt.tzinfo is not None and dt.utcoffset():
        dt = dt.astimezone(timezone.utc)
    text = f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}"
    return _rfc3339(text, dt.microsecond * 1000)


def _rfc3339(text: str, nanos: int) -> str:
    """``text`` (date and time to the second) with the fraction ``Timestamp.ToJsonString`` shows."""
    if nanos == 0:
        return text + "Z"
    if nanos % 1_000_000 == 0:
        return f"{text}.{nanos // 1_000_000:03d}Z"
    if nanos % 1_000 == 0:
        return f"{text}.{nanos // 1_000:06d}Z"
    return f"{text}.{nanos:09d}Z"


@dataclass(frozen=True)
class _Plan:
    fields: dict[FieldDescriptor, tuple[str, _Converter | None]]
    """Per field: its JSON key and converter (``None``: the Python value is already JSON)."""
    nested_defaults: tuple[tuple[str, _Default], ...]
    """Fields emitted when unset wherever the message appears."""
    top_defaults: tuple[tuple[str, _Default], ...]
    """Same, plus what only the response message itself must show (lists, status, counts)."""


def _is_count_message(descriptor: Descriptor) -> bool:
    return "Count" in descriptor.name


def _always_nested(descriptor: Descriptor, fd: FieldDescriptor) -> bool:
    """Emit this field even when unset, wherever its message appears?

    Mirrors Clarifai's own printer (``cl_show_if_empty`` on non-oneof scalars and lists), plus
    ``status.code``/``description`` and the numeric fields of ``*Count*`` messages.
    """
    if fd.containing_oneof is not None:
        return False
    singular_message = fd.message_type is not None and not fd.is_repeated
    if fd.GetOptions().Extensions[extensions_pb2.cl_show_if_empty] and not singular_message:
        return True
    if descriptor.full_name == _STATUS:
        return fd.name in ("code", "description")
    numeric = fd.type in INT_RANGES or fd.type in FLOAT_TYPES
    return _is_count_message(descriptor) and numeric and not fd.is_repeated


def _always_top(fd: FieldDescriptor) -> bool:
    """Extra fields of the top-level message: every list, the status and count sub-messages."""
    if fd.is_repeated:
        return True
    message = fd.message_type
    if message is None or fd.containing_oneof is not None:
        return False
    return message.full_name == _STATUS or _is_count_message(message)


class _Printer:
    """Message -> JSON-ready dict, with a plan per descriptor built on first use.

    The walk is the hot path of every list response, so it does as little per field as possible:
    one ``ListFields()`` per message, one dict lookup per set field, no call for values that are
    already JSON (strings, ints, bools, int64 as plain numbers).
    """

    def __init__(self, enums_as_ints: bool) -> None:
        self._enums_as_ints = enums_as_ints
        self._plans: dict[Descriptor, _Plan] = {}
        self._wkt: dict[str, _Converter] = {
            "google.protobuf.Timestamp": _timestamp,
            "google.protobuf.Duration": lambda m: m.ToJsonString(),
            "google.protobuf.FieldMask": lambda m: m.ToJsonString(),
            "google.protobuf.Struct": self._struct,
            "google.protobuf.Value": self._value,
            "google.protobuf.ListValue": lambda m: [self._value(v) for v in m.values],
            "google.protobuf.Empty": lambda m: {},
            "google.protobuf.Any": self._any,
        }

    def to_json(self, msg: Message) -> dict[str, Any]:
        descriptor: Any = msg.DESCRIPTOR
        wkt = self._wkt_converter(descriptor)
        if wkt is not None:  # a bare well-known type: a Struct is an object, a Timestamp is not
            result = wkt(msg)
            return result if isinstance(result, dict) else {"value": result}
        out = self._message(msg)
        for name, default in self._plan(descriptor).top_defaults:  # lists, status, counts
            if name not in out:
                out[name] = default(msg)
        return out

    def _message(self, msg: Message) -> dict[str, Any]:
        """One message as a dict: its set fields, then the defaults it must always show. The hot
        path of every list response: one ``ListFields()`` and one dict lookup per set field."""
        plan = self._plans.get(msg.DESCRIPTOR)  # type: ignore[arg-type]
        if plan is None:
            plan = self._plan(msg.DESCRIPTOR)
        fields = plan.fields
        out: dict[str, Any] = {}
        for fd, value in msg.ListFields():
            name, converter = fields[fd]
            out[name] = value if converter is None else converter(value)
        if plan.nested_defaults:
            for name, default in plan.nested_defaults:
                if name not in out:
                    out[name] = default(msg)
        return out

    def _wkt_converter(self, descriptor: Descriptor) -> _Converter | None:
        name = descriptor.full_name
        if name in WRAPPERS:
            inner = self._single(descriptor.fields_by_name["value"]) or _identity
            return lambda m: inner(m.value)
        return self._wkt.get(name)

    def _plan(self, descriptor: Any) -> _Plan:
        plan = self._plans.get(descriptor)
        if plan is not None:
            return plan
        fields = {fd: (fd.name, self._field(fd)) for fd in descriptor.fields}
        nested = [fd for fd in descriptor.fields if _always_nested(descriptor, fd)]
        top = nested + [fd for fd in descriptor.fields if fd not in nested and _always_top(fd)]
        plan = self._plans[descriptor] = _Plan(
            fields=fields,
            nested_defaults=tuple((fd.name, self._default(fd, fields[fd][1])) for fd in nested),
            top_defaults=tuple((fd.name, self._default(fd, fields[fd][1])) for fd in top),
        )
        return plan

    def _default(self, fd: FieldDescriptor, converter: _Converter | None) -> _Default:
        """How to render an unset always-emitted field (fresh containers every time)."""
        if fd.is_repeated:  # maps included
            return (lambda _m: {}) if is_map(fd) else (lambda _m: [])
        convert = converter or _identity
        if fd.message_type is not None:
            name = fd.name
            return lambda m: convert(getattr(m, name))
        constant = convert(fd.default_value)
        return lambda _m: constant

    def _field(self, fd: FieldDescriptor) -> _Converter | None:
        if is_map(fd):
            value_converter = self._single(message_type(fd).fields_by_name["value"]) or _identity
            return lambda m: {_map_key(k): value_converter(v) for k, v in m.items()}
        single = self._single(fd)
        if not fd.is_repeated:
            return single
        if single is None:
            return list
        return lambda items: [single(item) for item in items]

    def _single(self, fd: FieldDescriptor) -> _Converter | None:
        kind = fd.type
        if fd.message_type is not None:
            return self._wkt_converter(fd.message_type) or self._message
        if kind == FD.TYPE_ENUM:
            enum: Any = fd.enum_type
            if self._enums_as_ints or enum.full_name == STATUS_CODE_ENUM:
                return None
            names = {v.number: v.name for v in enum.values}
            return lambda number: names.get(number, number)
        if kind == FD.TYPE_FLOAT:
            return _float32
        if kind == FD.TYPE_DOUBLE:
            return _float64
        if kind == FD.TYPE_BYTES:
            return _bytes
        return None

    def _struct(self, msg: Any) -> dict[str, Any]:
        return {key: self._value(value) for key, value in msg.fields.items()}

    def _value(self, msg: Any) -> Any:
        kind = msg.WhichOneof("kind")
        if kind is None or kind == "null_value":
            return None
        if kind == "number_value":
            return _number(msg.number_value)
        if kind == "struct_value":
            return self._struct(msg.struct_value)
        if kind == "list_value":
            return [self._value(v) for v in msg.list_value.values]
        return getattr(msg, kind)

    def _any(self, msg: Any) -> Any:
        try:
            return json_format.MessageToDict(msg, preserving_proto_field_name=True)
        except (TypeError, KeyError, ValueError):  # type not in the pool: keep the raw payload
            return {"@type": msg.type_url, "value": _bytes(msg.value)}


# Clarifai's REST API answers status codes as numbers ("code": 10000) while other enums are names;
# curl scripts written against Clarifai compare numbers, and the official client reads either.
STATUS_CODE_ENUM = "clarifai.api.status.StatusCode"


def _identity(value: Any) -> Any:
    return value


_PRINTERS = {False: _Printer(enums_as_ints=False), True: _Printer(enums_as_ints=True)}


def message_to_json(msg: Message, *, use_integers_for_enums: bool = False) -> dict[str, Any]:
    """A response (or any message) as a JSON-ready dict: proto field names, enum names, int64 as
    plain numbers, RFC 3339 timestamps, and the defaults clients rely on (see module docstring)."""
    return _PRINTERS[use_integers_for_enums].to_json(msg)


def message_to_json_bytes(msg: Message, *, use_integers_for_enums: bool = False) -> bytes:
    """:func:`message_to_json` encoded as compact UTF-8 JSON, ready for an HTTP body."""
    obj = message_to_json(msg, use_integers_for_enums=use_integers_for_enums)
    return orjson.dumps(obj)  # ~10x faster than json.dumps on list responses; NaN is already text


NESTED_JSON_FORMAT = 1
"""Version of what :func:`nested_json_bytes` produces. Renderings stored in the database carry it;
bump it whenever the printer's output for a message changes, and stored ones are re-rendered."""


def nested_json_bytes(msg: Message) -> bytes:
    """A message as it appears *inside* a response (no top-level defaults), encoded: what the
    printer emits for it wherever it is nested, ready to be spliced in with ``orjson.Fragment``."""
    return orjson.dumps(_PRINTERS[False]._message(msg))


def plain_struct_json(value: Any) -> Any:
    """Plain JSON values (a stored struct) as the printer renders them once put in a
    ``google.protobuf.Struct``: numbers become doubles, so 3 stays 3 but 2**60 turns into a float."""
    if isinstance(value, dict):
        return {str(k): plain_struct_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_struct_json(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    return _number(float(value))
