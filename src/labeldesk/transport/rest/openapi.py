"""``GET /openapi.json``: an OpenAPI 3 document generated, like the router, from the protos.

Every routable ``google.api.http`` binding of an implemented RPC becomes an operation (path
variables as path parameters, the remaining scalar fields of a GET as query parameters, the rest
of the request message as the JSON body of other methods); request and response messages become
JSON schemas from their descriptors (proto field names, enums by name, well-known types by their
JSON form), inlined down to :data:`DEPTH` levels of nesting. labeldesk's own routes (health,
metrics, the staged-workflow API under ``/api/v2``) are listed too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from labeldesk.transport.rest.routes import Binding, Router, Variable

DEPTH = 3
Schema = dict[str, Any]

_SCALARS: dict[int, Schema] = {
    FieldDescriptor.TYPE_DOUBLE: {"type": "number"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number"},
    FieldDescriptor.TYPE_INT64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_FIXED64: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int32", "minimum": 0},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "integer", "format": "int64"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT64: {"type": "integer", "format": "int64"},
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array", "items": {}},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {"type": "string"},
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.FloatValue": {"type": "number"},
    "google.protobuf.DoubleValue": {"type": "number"},
    "google.protobuf.Int32Value": {"type": "integer", "format": "int32"},
    "google.protobuf.UInt32Value": {"type": "integer", "format": "int32", "minimum": 0},
    "google.protobuf.Int64Value": {"type": "integer", "format": "int64"},
    "google.protobuf.UInt64Value": {"type": "integer", "format": "int64", "minimum": 0},
    "google.protobuf.BoolValue": {"type": "boolean"},
    "google.protobuf.StringValue": {"type": "string"},
    "google.protobuf.BytesValue": {"type": "string", "format": "byte"},
}
STATUS_SCHEMA: Schema = {
    "type": "object",
    "properties": {
        "status": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "description": {"type": "string"},
                "details": {"type": "string"},
                "req_id": {"type": "string"},
            },
        }
    },
}


def field_schema(fd: FieldDescriptor, depth: int) -> Schema:
    """The JSON schema of one field (a map is an object, a repeated field an array)."""
    if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
        value = fd.message_type.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single(value, depth)}
    single = _single(fd, depth)
    return {"type": "array", "items": single} if fd.is_repeated else single


def _single(fd: FieldDescriptor, depth: int) -> Schema:
    if fd.enum_type is not None:
        return {"type": "string", "enum": [v.name for v in fd.enum_type.values]}
    if fd.message_type is not None:
        return message_schema(fd.message_type, depth - 1)
    return dict(_SCALARS[fd.type])


def message_schema(message: Descriptor, depth: int = DEPTH, skip: Iterable[str] = ()) -> Schema:
    """The message as a JSON object schema; below ``depth`` levels only ``type: object``."""
    known = _WELL_KNOWN.get(message.full_name)
    if known is not None:
        return dict(known)
    schema: Schema = {"type": "object", "title": message.name}
    if depth <= 0:
        return schema
    skipped = set(skip)
    schema["properties"] = {
        fd.name: field_schema(fd, depth) for fd in message.fields if fd.name not in skipped
    }
    return schema


def _param_name(field_path: str) -> str:
    return field_path.replace(".", "_")


def _path(binding: Binding) -> str:
    parts = [f"{{{_param_name(s.field_path)}}}" if isinstance(s, Variable) else s for s in binding.segments]
    return "/" + "/".join(parts)


def _query_parameters(message: Descriptor, taken: set[str]) -> list[Schema]:
    """A GET's top-level scalar and enum fields (repeated ones as repeated keys)."""
    params = []
    for fd in message.fields:
        if fd.name in taken or (fd.message_type is not None and fd.message_type.full_name not in _WELL_KNOWN):
            continue
        params.append({"name": fd.name, "in": "query", "required": False, "schema": field_schema(fd, 1)})
    return params


def operation(binding: Binding) -> Schema:
    method = binding.method
    request = method.input_type
    path_params = [
        {"name": _param_name(p), "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for p in binding.field_paths
    ]
    # the top-level fields the path fills completely (user_app_id.* counts as filling user_app_id)
    taken = {p.split(".")[0] for p in binding.field_paths}
    op: Schema = {
        "operationId": f"{method.name}_{binding.order}",
        "summary": method.name,
        "tags": [method.name],
        "parameters": path_params,
        "responses": {
            "200": {
                "description": f"{method.output_type.name} (status.code 10000)",
                "content": {"application/json": {"schema": message_schema(method.output_type)}},
            },
            "default": {
                "description": "the same message with only its status filled (a Clarifai error)",
                "content": {"application/json": {"schema": STATUS_SCHEMA}},
            },
        },
    }
    if binding.http_method == "GET":
        op["parameters"] = path_params + _query_parameters(request, taken)
    elif binding.body:
        body = (
            message_schema(request, skip=taken)
            if binding.body == "*"
            else field_schema(request.fields_by_name[binding.body], DEPTH)
        )
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


_PATH_VARIABLE = re.compile(r"{([^}]+)}")


NUMBER_QUERY = frozenset({"page", "per_page", "offset", "limit"})


def _own_operation(method: str, path: str, summary: str, query: Iterable[str] = ()) -> Schema:
    op: Schema = {
        "operationId": f"{method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
        "summary": summary,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in _PATH_VARIABLE.findall(path)
        ]
        + [
            {
                "name": name,
                "in": "query",
                "required": False,
                "schema": {"type": "integer"} if name in NUMBER_QUERY else {"type": "string"},
            }
            for name in sorted(query)
        ],
        "responses": {"default": {"description": "JSON", "content": {"application/json": {"schema": {}}}}},
    }
    if method in ("POST", "PUT", "PATCH"):
        body = {"type": "object", "additionalProperties": True}
        op["requestBody"] = {"required": False, "content": {"application/json": {"schema": body}}}
    return op


OWN_ROUTES = (
    ("GET", "/healthz", "the process answers"),
    ("GET", "/readyz", "the database answers and its schema is current"),
    ("GET", "/openapi.json", "this document"),
)


def openapi_document(
    router: Router,
    implemented: Iterable[str],
    staged: Iterable[tuple[str, str, Iterable[str]]] = (),
    version: str = "",
) -> Schema:
    """The document for every routable binding of an ``implemented`` RPC plus labeldesk's routes."""
    served = set(implemented)
    paths: dict[str, dict[str, Schema]] = {}
    for binding in router.bindings():
        if binding.method.name in served and router.is_routable(binding):
            paths.setdefault(_path(binding), {})[binding.http_method.lower()] = operation(binding)
    for method, path, summary in OWN_ROUTES:
        paths.setdefault(path, {})[method.lower()] = _own_operation(method, path, summary)
    paths.setdefault("/metrics", {})["get"] = {
        "operationId": "get_metrics",
        "summary": "Prometheus metrics",
        "responses": {"200": {"description": "text exposition format", "content": {"text/plain": {}}}},
    }
    for method, path, query in staged:
        paths.setdefault(path, {})[method.lower()] = _own_operation(method, path, "staged workflow", query)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "labeldesk",
            "version": version or "0",
            "description": "The Clarifai v2 RPCs labeldesk serves over REST, generated from the protos' "
            "google.api.http bindings, plus labeldesk's own routes.",
        },
        "components": {
            "securitySchemes": {
                "clarifaiKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'Key <token>': an app key or a personal access token",
                }
            }
        },
        "security": [{"clarifaiKey": []}],
        "paths": dict(sorted(paths.items())),
    }
