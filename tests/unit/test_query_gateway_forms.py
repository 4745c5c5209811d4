"""Every GET route reads every query form grpc-gateway reads: a scalar field by its name (and its
JSON name), a repeated scalar by repeated keys, an enum by name or by number, a field of a singular
message by a dotted key. Swept over the whole V2 service, so a new route or field is covered the
day the proto brings it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clarifai_grpc.grpc.api import service_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from labeldesk.transport.convert.json_parse import build_request
from labeldesk.transport.rest.routes import RouteMatch, compile_routes
from labeldesk.wire.descriptors import FD, INT_RANGES

ROUTER = compile_routes(service_pb2.DESCRIPTOR.services_by_name["V2"], ())
GET_ROUTES = {b.method.name: b for b in ROUTER.bindings() if b.http_method == "GET" and ROUTER.is_routable(b)}


def scalar_sample(fd: FieldDescriptor) -> tuple[list[str], object] | None:
    """Query text(s) for one value of ``fd`` and the value the message must then hold."""
    if fd.type == FD.TYPE_STRING:
        return ["x-1"], "x-1"
    if fd.type == FD.TYPE_BOOL:
        return ["true"], True
    if fd.type in INT_RANGES:
        return ["7"], 7
    if fd.type in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
        return ["0.5"], 0.5
    if fd.type == FD.TYPE_ENUM:
        assert fd.enum_type is not None
        last = fd.enum_type.values[-1]
        return [last.name], last.number
    return None


def leaves(descriptor: Descriptor, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, FieldDescriptor]]:
    """Dotted paths to scalar fields reachable through singular, non-well-known messages."""
    for fd in descriptor.fields:
        path = f"{prefix}{fd.name}"
        if fd.message_type is None:
            yield path, fd
        elif not fd.is_repeated and depth < 2 and not fd.message_type.full_name.startswith("google."):
            yield from leaves(fd.message_type, path + ".", depth + 1)


def read(message: Message, path: str) -> object:
    value: object = message
    for part in path.split("."):
        value = getattr(value, part)
    return list(value) if not isinstance(value, (str, bytes, int, float, bool)) else value  # type: ignore[call-overload]


def cases() -> Iterator[tuple[str, str, FieldDescriptor]]:
    for name, binding in sorted(GET_ROUTES.items()):
        path_vars = set(binding.field_paths)
        for path, fd in leaves(binding.method.input_type):
            if path not in path_vars and scalar_sample(fd) is not None:
                yield name, path, fd


CASES = list(cases())


def match_for(rpc: str) -> RouteMatch:
    binding = GET_ROUTES[rpc]
    return RouteMatch(
        method=binding.method, path_params={}, http_method="GET", body="", template=binding.template
    )


def test_the_sweep_covers_the_service() -> None:
    assert len(GET_ROUTES) > 100 and len(CASES) > 500


@pytest.mark.parametrize(("rpc", "path", "fd"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES])
def test_every_get_field_reads_the_gateway_forms(rpc: str, path: str, fd: FieldDescriptor) -> None:
    sample = scalar_sample(fd)
    assert sample is not None
    texts, value = sample
    match = match_for(rpc)
    if fd.is_repeated:
        request = build_request(match, [(path, texts[0]), (path, texts[0])], b"")
        assert read(request, path) == [value, value]
        return
    assert read(build_request(match, [(path, texts[0])], b""), path) == value
    if fd.type == FD.TYPE_ENUM:  # the same value by number
        assert read(build_request(match, [(path, str(value))], b""), path) == value
    camel = ".".join([*path.split(".")[:-1], fd.json_name])
    assert read(build_request(match, [(camel, texts[0])], b""), path) == value
