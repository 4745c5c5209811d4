"""JSON <-> protobuf for the REST transport.

Reading (:func:`build_request`) is deliberately tolerant, because the official JSON client and curl
users send things ``json_format.ParseDict`` rejects: booleans as ``"True"``, enums as numbers,
numbers as strings, ``user_app_id`` repeated in body and query. It is also precise when it must
refuse: every error is an :class:`~labeldesk.domain.errors.ApiError` naming the field path and what
to send instead, never a raw exception.

Writing (:func:`message_to_json`) is one recursive walk over ``ListFields()`` with a per-descriptor
plan computed once. Beyond the set fields it emits only the defaults clients rely on: the fields
Clarifai marks ``cl_show_if_empty`` (``Concept.value``, ``BoundingBox`` coordinates, ``Point``...),
``status.code``/``description``, count fields, and every list of the top-level message. Emitting
``Concept.value`` is not cosmetic: the official client's parser fills a missing ``value`` with
``cl_default_float`` (1.0), so an omitted 0 would read back as 1.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson
from clarifai_grpc.grpc.api.utils import extensions_pb2
from google.protobuf import json_format, message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from labeldesk.domain import errors
from labeldesk.domain.errors import ApiError

if TYPE_CHECKING:
    from labeldesk.transport.rest.routes import RouteMatch

__all__ = [
    "NESTED_JSON_FORMAT",
    "build_request",
    "datetime_json",
    "message_to_json",
    "message_to_json_bytes",
    "nested_json_bytes",
    "parse_json_body",
    "plain_struct_json",
]

logger = logging.getLogger(__name__)

FD = FieldDescriptor
_INT_RANGES: dict[int, tuple[int, int]] = {
    **dict.fromkeys((FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((FD.TYPE_UINT32, FD.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((FD.TYPE_UINT64, FD.TYPE_FIXED64), (0, 2**64 - 1)),
}
_FLOAT_TYPES = (FD.TYPE_FLOAT, FD.TYPE_DOUBLE)
_F32 = struct.Struct("<f")
_WRAPPERS = frozenset(
    f"google.protobuf.{name}Value"
    for name in ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes")
)
# Well-known types whose JSON form is a plain string/number, so a query value can carry them.
_QUERY_SCALAR_WKT = _WRAPPERS | {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Value",
}
_STATUS = "clarifai.api.status.Status"
_ENUM_LISTING_LIMIT = 20


# =============================================================================================
# Reading: bytes -> dict
# =============================================================================================


def parse_json_body(body: bytes) -> dict[str, Any]:
    """Decode a request body that must be a JSON object; an empty body is ``{}``.

    Shared by every REST route (also non-Clarifai ones) so all of them refuse bad input with the
    same 11100 CONN_BAD_REQUEST_FORMAT shape and a line/column to look at.
    """
    if not body.strip():
        return {}
    parsed = _loads(body)
    if not isinstance(parsed, dict):
        raise ApiError(
            errors.BAD_REQUEST_FORMAT,
            f"request body must be a JSON object ({{...}}), got {_json_kind(parsed)}",
        )
    return parsed


def _loads(body: bytes) -> Any:
    """``json.loads`` with errors a client can act on (where the syntax error is)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(
            errors.BAD_REQUEST_FORMAT, f"request body is not valid UTF-8 (bad byte at offset {exc.start})"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            errors.BAD_REQUEST_FORMAT,
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        ) from None
    except RecursionError:
        raise ApiError(errors.BAD_REQUEST_FORMAT, "request body is nested too deeply") from None


def _json_kind(value: Any) -> str:
    """Name a JSON value's type the way a client author thinks of it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# =============================================================================================
# Reading: dict -> message
# =============================================================================================


@dataclass(frozen=True)
class _Source:
    """Where values come from; decides merge semantics and how errors say where to look."""

    where: str
    replace_lists: bool
    """Later sources (query, path) replace a list set by an earlier one instead of appending."""
    apply_default_floats: bool
    """Fill ``cl_default_float`` fields a JSON object omits, exactly as the official client does."""


_BODY = _Source("request body", replace_lists=False, apply_default_floats=True)
_QUERY = _Source("query string", replace_lists=True, apply_default_floats=False)
_PATH = _Source("URL path", replace_lists=True, apply_default_floats=False)


@dataclass(frozen=True)
class _MessageInfo:
    by_key: dict[str, FieldDescriptor]
    """Fields by proto name and by lowerCamelCase JSON name."""
    default_floats: tuple[tuple[FieldDescriptor, float], ...]


@functools.cache
def _info(descriptor: Descriptor) -> _MessageInfo:
    by_key: dict[str, FieldDescriptor] = {}
    for fd in descriptor.fields:
        by_key.setdefault(fd.json_name, fd)
    for fd in descriptor.fields:
        by_key[fd.name] = fd
    defaults = tuple(
        (fd, float(fd.GetOptions().Extensions[extensions_pb2.cl_default_float]))
        for fd in descriptor.fields
        if fd.GetOptions().Extensions[extensions_pb2.cl_default_float]
    )
    return _MessageInfo(by_key, defaults)


def _is_map(fd: FieldDescriptor) -> bool:
    return fd.message_type is not None and fd.message_type.GetOptions().map_entry


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: Any) -> str:
    """A short rendering of a bad value for an error message."""
    text = f"'{value}'" if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _bad(path: str, expected: str, value: Any, source: _Source) -> ApiError:
    return errors.invalid(
        f"field '{path}': expected {expected}, got {_show(value)}", f"in the {source.where}"
    )


def build_request(match: RouteMatch, query: Sequence[tuple[str, str]], body: bytes) -> Message:
    """The RPC's request proto from a REST call: JSON body, then query string, then path params.

    Later sources win (a path value overrides the same field in the body), matching grpc-gateway
    and the official client, which repeats ``user_app_id`` everywhere. Any failure is an
    :class:`ApiError`; unexpected exceptions are converted too, so the transport never answers 500
    for a request it merely failed to read.
    """
    descriptor = match.method.input_type
    request = message_factory.GetMessageClass(descriptor)()
    try:
        obj = _body_object(match, body)
        if obj:
            _merge_object(obj, request, "", _BODY)
        if query:
            _merge_object(_query_tree(descriptor, query), request, "", _QUERY)
        if match.path_params:
            path_items = [(key, [value]) for key, value in match.path_params.items()]
            _merge_object(_tree(descriptor, path_items), request, "", _PATH)
    except ApiError:
        raise
    except RecursionError:
        raise ApiError(errors.BAD_REQUEST_FORMAT, "request is nested too deeply") from None
    except Exception as exc:  # the safety net promised above; logged, since it may be our bug
        logger.warning("unexpected error reading a %s request", match.method.name, exc_info=True)
        raise errors.invalid(
            f"could not read the request for {match.method.name}: {exc}", type(exc).__name__
        ) from exc
    return request


def _body_object(match: RouteMatch, body: bytes) -> dict[str, Any]:
    """The JSON body as an object to merge at the request's root (``{}`` when there is none).

    The body is read whatever the binding's body spec says (the official client sends a JSON body
    on DELETE bindings whose spec is ``""``). A GET body has no defined meaning in HTTP: it is used
    when it is a JSON object and ignored otherwise, never an error.
    """
    if not body or not body.strip():
        return {}
    if match.http_method == "GET":
        try:
            parsed = _loads(body)
        except ApiError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    if match.body not in ("", "*"):
        return {match.body: _loads(body)}
    return parse_json_body(body)


def _merge_object(obj: Mapping[str, Any], msg: Message, path: str, source: _Source) -> None:
    """Merge one JSON object into ``msg``; unknown keys are ignored, ``null`` means "not given"."""
    info = _info(msg.DESCRIPTOR)
    chosen_oneofs: dict[str, str] = {}
    for key, value in obj.items():
        fd = info.by_key.get(key)
        if fd is None:
            continue
        field_path = _join(path, fd.name)
        if value is None:
            if not fd.is_repeated and _message_name(fd) == "google.protobuf.Value":
                getattr(msg, fd.name).null_value = struct_pb2.NULL_VALUE
            continue
        oneof = fd.containing_oneof
        if oneof is not None:
            other = chosen_oneofs.setdefault(oneof.name, fd.name)
            if other != fd.name:
                raise errors.invalid(
                    f"fields '{_join(path, other)}' and '{field_path}' are alternatives "
                    f"(one of '{oneof.name}'); give only one",
                    f"in the {source.where}",
                )
        _set_field(msg, fd, value, field_path, source)
    if source.apply_default_floats:
        for fd, default in info.default_floats:
            if fd.name not in obj and fd.json_name not in obj:
                setattr(msg, fd.name, default)


def _message_type(fd: FieldDescriptor) -> Descriptor:
    """The message type of a field known to be a message (or map) field."""
    message = fd.message_type
    if message is None:
        raise TypeError(f"{fd.full_name} is not a message field")
    return message


def _message_name(fd: FieldDescriptor) -> str:
    return fd.message_type.full_name if fd.message_type is not None else ""


def _set_field(msg: Message, fd: FieldDescriptor, value: Any, path: str, source: _Source) -> None:
    if _is_map(fd):
        _set_map(getattr(msg, fd.name), fd, value, path, source)
    elif fd.is_repeated:
        _set_repeated(getattr(msg, fd.name), fd, value, path, source)
    elif fd.message_type is not None:
        _parse_message_value(value, getattr(msg, fd.name), path, source)
    else:
        converted = _scalar(fd, value, path, source)
        try:
            setattr(msg, fd.name, converted)
        except (TypeError, ValueError, OverflowError) as exc:
            raise _bad(path, f"a valid {_TYPE_WORDS.get(fd.type, 'value')} ({exc})", value, source) from None


def _set_repeated(container: Any, fd: FieldDescriptor, value: Any, path: str, source: _Source) -> None:
    """A list; a single value is taken as a one-element list (curl users forget the brackets)."""
    items = value if isinstance(value, list) else [value]
    if source.replace_lists:
        del container[:]
    if fd.message_type is not None:
        for i, item in enumerate(items):
            if item is not None:
                _parse_message_value(item, container.add(), f"{path}[{i}]", source)
        return
    converted = [
        _scalar(fd, item, f"{path}[{i}]", source) for i, item in enumerate(items) if item is not None
    ]
    try:
        container.extend(converted)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _bad(path, f"a list of valid values ({exc})", value, source) from None


def _set_map(container: Any, fd: FieldDescriptor, value: Any, path: str, source: _Source) -> None:
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)
    if source.replace_lists:
        container.clear()
    entry = _message_type(fd)
    key_fd = entry.fields_by_name["key"]
    value_fd = entry.fields_by_name["value"]
    for raw_key, item in value.items():
        item_path = f"{path}.{raw_key}"
        key = _scalar(key_fd, raw_key, item_path, source)
        if item is None:
            continue
        if value_fd.message_type is not None:
            _parse_message_value(item, container[key], item_path, source)
        else:
            container[key] = _scalar(value_fd, item, item_path, source)


def _parse_message_value(value: Any, sub: Message, path: str, source: _Source) -> None:
    """A JSON value into a sub-message: well-known types have their own JSON forms."""
    wkt = _WKT_PARSERS.get(sub.DESCRIPTOR.full_name)
    if wkt is not None:
        sub.SetInParent()
        wkt(value, sub, path, source)
        return
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)
    sub.SetInParent()
    _merge_object(value, sub, path, source)


# --- scalars ---------------------------------------------------------------------------------

_TYPE_WORDS = {
    FD.TYPE_BOOL: "boolean",
    FD.TYPE_STRING: "string",
    FD.TYPE_BYTES: "base64 string",
    FD.TYPE_FLOAT: "number",
    FD.TYPE_DOUBLE: "number",
    FD.TYPE_ENUM: "enum value",
    **dict.fromkeys(_INT_RANGES, "integer"),
}


def _scalar(fd: FieldDescriptor, value: Any, path: str, source: _Source) -> Any:
    """Convert one JSON (or query-string) value for a scalar field, tolerating string forms."""
    kind = fd.type
    if kind == FD.TYPE_STRING:
        return _to_string(value, path, source)
    if kind == FD.TYPE_ENUM:
        enum = fd.enum_type
        assert enum is not None
        return _to_enum(enum, value, path, source)
    if kind == FD.TYPE_BOOL:
        return _to_bool(value, path, source)
    if kind in _FLOAT_TYPES:
        return _to_float(value, kind == FD.TYPE_FLOAT, path, source)
    if kind == FD.TYPE_BYTES:
        return _to_bytes(value, path, source)
    low, high = _INT_RANGES[kind]
    return _to_int(value, low, high, path, source)


def _to_string(value: Any, path: str, source: _Source) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return json.dumps(value)
    raise _bad(path, "a string", value, source)


_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


def _to_bool(value: Any, path: str, source: _Source) -> bool:
    """JSON booleans, plus what the official client sends in query strings (``str(True)``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    elif isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _bad(path, "true or false", value, source)


def _to_int(value: Any, low: int, high: int, path: str, source: _Source) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        number = _int_from_text(value.strip())
    if number is None:
        raise _bad(path, "an integer", value, source)
    if not low <= number <= high:
        raise _bad(path, f"an integer between {low} and {high}", value, source)
    return number


def _int_from_text(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        as_float = float(text)
    except ValueError:
        return None
    return int(as_float) if as_float.is_integer() else None


def _to_float(value: Any, single: bool, path: str, source: _Source) -> float:
    number: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None:
        raise _bad(path, "a number", value, source)
    if single and not _fits_float32(number):
        raise _bad(path, "a number within the 32-bit float range", value, source)
    return number


def _fits_float32(number: float) -> bool:
    """False when a finite double becomes infinite as a float (3.4028235e38 still fits)."""
    try:
        _F32.pack(number)
    except OverflowError:
        return False
    return True


def _to_bytes(value: Any, path: str, source: _Source) -> bytes:
    """Base64, standard or URL-safe alphabet, padding optional (as ``json_format`` accepts)."""
    if isinstance(value, str):
        text = value.strip().replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _bad(path, "base64-encoded data", value, source)


@dataclass(frozen=True)
class _EnumInfo:
    by_name: dict[str, int]
    by_upper_name: dict[str, int]
    numbers: frozenset[int]
    listing: str


@functools.cache
def _enum_info(enum: EnumDescriptor) -> _EnumInfo:
    names = [v.name for v in enum.values]
    listing = ", ".join(names[:_ENUM_LISTING_LIMIT])
    if len(names) > _ENUM_LISTING_LIMIT:
        listing += f", ... ({len(names)} names)"
    by_name = {v.name: v.number for v in enum.values}
    return _EnumInfo(
        by_name=by_name,
        by_upper_name={name.upper(): number for name, number in by_name.items()},
        numbers=frozenset(v.number for v in enum.values),
        listing=listing,
    )


def _to_enum(enum: EnumDescriptor, value: Any, path: str, source: _Source) -> int:
    """An enum by name (case-insensitive), by number, or by a number written as a string."""
    info = _enum_info(enum)
    number: int | None = None
    if isinstance(value, str):
        text = value.strip()
        number = info.by_name.get(text, info.by_upper_name.get(text.upper()))
        if number is None and text.lstrip("-").isdigit():
            number = int(text)
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or number not in info.numbers:
        raise _bad(path, f"one of {info.listing} (or its number)", value, source)
    return number


# --- well-known types --------------------------------------------------------------------------


def _parse_with_json_format(value: Any, sub: Message, path: str, source: _Source) -> None:
    try:
        json_format.ParseDict(value, sub)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise errors.invalid(f"field '{path}': {exc}", f"in the {source.where}") from None


def _parse_struct(value: Any, sub: Message, path: str, source: _Source) -> None:
    """Any JSON object, verbatim (``metadata``, ``annotation_info``...)."""
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)
    _parse_with_json_format(value, sub, path, source)


def _parse_list_value(value: Any, sub: Message, path: str, source: _Source) -> None:
    _parse_with_json_format(value if isinstance(value, list) else [value], sub, path, source)


def _parse_any_object(value: Any, sub: Message, path: str, source: _Source) -> None:
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)
    _parse_with_json_format(value, sub, path, source)


def _parse_timestamp(value: Any, sub: Message, path: str, source: _Source) -> None:
    """RFC 3339 text, or (tolerated) seconds since the epoch as a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        sub.FromNanoseconds(round(value * 1_000_000_000))  # type: ignore[attr-defined]
        return
    if isinstance(value, str):
        try:
            sub.FromJsonString(value.strip())  # type: ignore[attr-defined]
            return
        except ValueError:
            pass
    raise _bad(path, "an RFC 3339 timestamp like '2024-05-01T12:00:00Z'", value, source)


def _parse_duration(value: Any, sub: Message, path: str, source: _Source) -> None:
    """``"1.5s"``, or (tolerated) a number of seconds, also as text."""
    seconds: float | None = None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text[:-1] if text.endswith("s") else text)
        except ValueError:
            seconds = None
    if seconds is None or not math.isfinite(seconds):
        raise _bad(path, "a duration like '1.5s'", value, source)
    sub.FromNanoseconds(round(seconds * 1_000_000_000))  # type: ignore[attr-defined]


def _parse_field_mask(value: Any, sub: Message, path: str, source: _Source) -> None:
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        sub.paths.extend(value)  # type: ignore[attr-defined]
    elif isinstance(value, str):
        sub.FromJsonString(value)  # type: ignore[attr-defined]
    else:
        raise _bad(path, "a comma-separated list of field paths", value, source)


def _parse_wrapper(value: Any, sub: Message, path: str, source: _Source) -> None:
    """``BoolValue`` and friends: the bare value (``{"value": ...}`` is tolerated too)."""
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    inner: Any = sub.DESCRIPTOR.fields_by_name["value"]
    sub.value = _scalar(inner, value, path, source)  # type: ignore[attr-defined]


def _parse_empty(value: Any, sub: Message, path: str, source: _Source) -> None:
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)


_WktParser = Callable[[Any, Message, str, _Source], None]
_WKT_PARSERS: dict[str, _WktParser] = {
    "google.protobuf.Struct": _parse_struct,
    "google.protobuf.Value": _parse_with_json_format,
    "google.protobuf.ListValue": _parse_list_value,
    "google.protobuf.Any": _parse_any_object,
    "google.protobuf.Timestamp": _parse_timestamp,
    "google.protobuf.Duration": _parse_duration,
    "google.protobuf.FieldMask": _parse_field_mask,
    "google.protobuf.Empty": _parse_empty,
    **dict.fromkeys(_WRAPPERS, _parse_wrapper),
}


# --- query string and path -------------------------------------------------------------------


_SKIP = object()


def _query_tree(descriptor: Descriptor, query: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """Group repeated keys, then build the nested JSON-like object the query string describes."""
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        grouped.setdefault(key, []).append(value)
    return _tree(descriptor, list(grouped.items()))


def _tree(descriptor: Descriptor, items: Sequence[tuple[str, list[str]]]) -> dict[str, Any]:
    """``[("a.b", ["1"])]`` -> ``{"a": {"b": "1"}}``, resolving names against the descriptor."""
    tree: dict[str, Any] = {}
    for key, values in items:
        _insert(tree, descriptor, key.split("."), values, "")
    return tree


def _insert(
    tree: dict[str, Any], descriptor: Descriptor, parts: list[str], values: list[str], path: str
) -> None:
    """Place one dotted key's values; keys naming no field are ignored, as in a JSON body.

    A dotted key through a repeated message spreads its values over the elements:
    ``statuses.code=A&statuses.code=B`` is ``statuses: [{code: A}, {code: B}]``.
    """
    fd = _info(descriptor).by_key.get(parts[0])
    if fd is None:
        return
    field_path = _join(path, fd.name)
    rest = parts[1:]
    if not rest:
        leaf = _query_leaf(fd, values, field_path)
        if leaf is not _SKIP:
            tree[fd.name] = leaf
        return
    child = fd.message_type
    if child is None or _is_map(fd) or child.full_name in _WKT_PARSERS:
        return
    if fd.is_repeated:
        elements = tree.get(fd.name)
        if not isinstance(elements, list):
            elements = tree[fd.name] = []
        for i, value in enumerate(values):
            while len(elements) <= i:
                elements.append({})
            if isinstance(elements[i], dict):
                _insert(elements[i], child, rest, [value], f"{field_path}[{i}]")
        return
    node = tree.get(fd.name)
    if not isinstance(node, dict):
        node = tree[fd.name] = {}
    _insert(node, child, rest, values, field_path)


def _query_leaf(fd: FieldDescriptor, values: list[str], path: str) -> Any:
    """The value(s) of one query key for the field it names (``_SKIP`` for "not given")."""
    if fd.message_type is not None and (_is_map(fd) or fd.message_type.full_name not in _QUERY_SCALAR_WKT):
        parsed = [_query_json_object(fd, value, path) for value in values]
        return parsed if fd.is_repeated and not _is_map(fd) else parsed[-1]
    if fd.is_repeated:
        if fd.message_type is not None:
            return values
        # Repeated keys (ids=a&ids=b) and comma lists (ids=a,b) both work; ids never contain commas.
        return [part.strip() for value in values for part in value.split(",") if part.strip()]
    value = values[-1]
    if value == "" and fd.type not in (FD.TYPE_STRING, FD.TYPE_BYTES):
        return _SKIP
    return value


def _query_json_object(fd: FieldDescriptor, value: str, path: str) -> Any:
    """A message (or map) in a query string must be a JSON object; say how to send it otherwise."""
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    if not isinstance(parsed, dict):
        fields = _message_type(fd).fields
        first = fields[0].name if fields else "field"
        raise errors.invalid(
            f"field '{path}': a message cannot be given as '{value}' in the query string; "
            f"use dotted keys such as '{path}.{first}=...' or a JSON object",
            "in the query string",
        )
    return parsed


# =============================================================================================
# Writing: message -> dict
# =============================================================================================

_F32_FORMATS = ("%.6g", "%.7g", "%.8g", "%.9g")
_Converter = Callable[[Any], Any]
_Default = Callable[[Message], Any]


def _float32(value: float) -> float | str:
    """The shortest decimal that reads back as the same 32-bit float (0.7, not 0.699999988)."""
    if value.is_integer():
        return value
    if value - value != 0.0:  # NaN or +-Infinity
        return _float64(value)
    pack, unpack = _F32.pack, _F32.unpack
    for fmt in _F32_FORMATS:
        rounded = float(fmt % value)
        if unpack(pack(rounded))[0] == value:
            return rounded
    return value


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
    numeric = fd.type in _INT_RANGES or fd.type in _FLOAT_TYPES
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
        if name in _WRAPPERS:
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
            return (lambda _m: {}) if _is_map(fd) else (lambda _m: [])
        convert = converter or _identity
        if fd.message_type is not None:
            name = fd.name
            return lambda m: convert(getattr(m, name))
        constant = convert(fd.default_value)
        return lambda _m: constant

    def _field(self, fd: FieldDescriptor) -> _Converter | None:
        if _is_map(fd):
            value_converter = self._single(_message_type(fd).fields_by_name["value"]) or _identity
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
