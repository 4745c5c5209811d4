"""JSON -> protobuf for the REST transport: the request proto of a REST call.

Reading (:func:`build_request`) is deliberately tolerant, because the official JSON client and curl
users send things ``json_format.ParseDict`` rejects: booleans as ``"True"``, enums as numbers,
numbers as strings, ``user_app_id`` repeated in body and query. It is also precise when it must
refuse: every error is an :class:`~labeldesk.domain.errors.ApiError` naming the field path and what
to send instead, never a raw exception. Writing responses is :mod:`labeldesk.wire.printer`.
"""

from __future__ import annotations

import binascii
import functools
import json
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import pybase64
from clarifai_grpc.grpc.api.utils import extensions_pb2
from google.protobuf import json_format, message_factory, struct_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from labeldesk.domain import errors
from labeldesk.domain.errors import ApiError
from labeldesk.wire.descriptors import FD, FLOAT32, FLOAT_TYPES, INT_RANGES, WRAPPERS, is_map, message_type

if TYPE_CHECKING:
    from labeldesk.transport.rest.routes import RouteMatch

__all__ = ["build_request", "parse_json_body"]

logger = logging.getLogger(__name__)

# Well-known types whose JSON form is a plain string/number, so a query value can carry them.
_QUERY_SCALAR_WKT = WRAPPERS | {
    "google.protobuf.Timestamp",
    "google.protobuf.Duration",
    "google.protobuf.FieldMask",
    "google.protobuf.Value",
}
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


#: an integer orjson may not read exactly (2**64 has 20 digits)
_LONG_DIGITS = re.compile(rb"[0-9]{20}")


def _loads(body: bytes) -> Any:
    """``json.loads`` with errors a client can act on (where the syntax error is).

    orjson reads the body first (several times faster); whatever it refuses (a byte-order mark,
    NaN, lone surrogates, invalid UTF-8 or JSON) is read again by ``json``, which accepts the
    same documents it always did and names the problem when there is one. A body with a run of
    20 digits goes to ``json`` at once: orjson reads an integer past 64 bits as a float, where the
    field checks must see the exact integer to refuse it."""
    if _LONG_DIGITS.search(body) is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
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


def _message_name(fd: FieldDescriptor) -> str:
    return fd.message_type.full_name if fd.message_type is not None else ""


def _set_field(msg: Message, fd: FieldDescriptor, value: Any, path: str, source: _Source) -> None:
    if is_map(fd):
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
    entry = message_type(fd)
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
    **dict.fromkeys(INT_RANGES, "integer"),
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
    if kind in FLOAT_TYPES:
        return _to_float(value, kind == FD.TYPE_FLOAT, path, source)
    if kind == FD.TYPE_BYTES:
        return _to_bytes(value, path, source)
    low, high = INT_RANGES[kind]
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
        FLOAT32.pack(number)
    except OverflowError:
        return False
    return True


def _to_bytes(value: Any, path: str, source: _Source) -> bytes:
    """Base64, standard or URL-safe alphabet, padding optional (as ``json_format`` accepts)."""
    if isinstance(value, str):
        text = value.strip()
        if "-" in text or "_" in text:
            text = text.replace("-", "+").replace("_", "/")
        try:  # pybase64: SIMD, ~50x stdlib on the megabytes of images a PostModelOutputs carries
            return pybase64.b64decode(text + "=" * (-len(text) % 4), validate=True)
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


def _parse_object(value: Any, sub: Message, path: str, source: _Source) -> None:
    """A ``Struct`` (any JSON object, verbatim: ``metadata``, ``annotation_info``...) or an ``Any``
    (an object with its ``@type``)."""
    if not isinstance(value, dict):
        raise _bad(path, "an object", value, source)
    _parse_with_json_format(value, sub, path, source)


def _parse_list_value(value: Any, sub: Message, path: str, source: _Source) -> None:
    _parse_with_json_format(value if isinstance(value, list) else [value], sub, path, source)


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
    "google.protobuf.Struct": _parse_object,
    "google.protobuf.Value": _parse_with_json_format,
    "google.protobuf.ListValue": _parse_list_value,
    "google.protobuf.Any": _parse_object,
    "google.protobuf.Timestamp": _parse_timestamp,
    "google.protobuf.Duration": _parse_duration,
    "google.protobuf.FieldMask": _parse_field_mask,
    "google.protobuf.Empty": _parse_empty,
    **dict.fromkeys(WRAPPERS, _parse_wrapper),
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
    if child is None or is_map(fd) or child.full_name in _WKT_PARSERS:
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
    if fd.message_type is not None and (is_map(fd) or fd.message_type.full_name not in _QUERY_SCALAR_WKT):
        parsed = [_query_json_object(fd, value, path) for value in values]
        return parsed if fd.is_repeated and not is_map(fd) else parsed[-1]
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
    """A message (or map) in a query string: a JSON object, or, for a message whose first field
    is an enum (``Status``, ``Visibility``), that enum's name or number alone
    (``statuses=ANNOTATION_SUCCESS`` is ``statuses.code=ANNOTATION_SUCCESS``). Anything else is
    refused with the dotted keys to send instead."""
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, RecursionError):
        parsed = None
    if isinstance(parsed, dict):
        return parsed
    fields = message_type(fd).fields
    first = fields[0].name if fields else "field"
    names_a_field = not is_map(fd) and value.strip() in message_type(fd).fields_by_name
    if not is_map(fd) and fields and fields[0].type == FD.TYPE_ENUM and not names_a_field:
        return {first: value}
    hint = f"use dotted keys such as '{path}.{first}=...' or a JSON object"
    if names_a_field:
        # clarifai-grpc's JSON client turns a list of messages into its first key ("statuses=code"),
        # losing every value: say so, since the caller did nothing wrong in their own code.
        hint = (
            f"'{value}' is a field name, not a value (the clarifai-grpc JSON client sends this for a "
            f"list of messages in a GET and loses the values); send '{path}.{first}=VALUE' once per "
            f"element, or call over gRPC"
        )
    raise errors.invalid(
        f"field '{path}': a message cannot be given as '{value}' in the query string; {hint}",
        "in the query string",
    )
