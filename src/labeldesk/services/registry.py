"""Explicit RPC registration: which service method serves which V2 RPC, and whether it writes.

A service method serves an RPC when it carries one of the decorators below, next to its
definition::

    from labeldesk.services import registry as rpc

    class InputsService:
        @rpc.read("GetInput")
        def get_input(self, conn, ctx, request): ...

        @rpc.write("PostInputs")
        def post_inputs(self, conn, ctx, request): ...

        @rpc.write("PostKeys")
        @rpc.user_level  # acts for the caller without an app
        def post_keys(self, conn, ctx, request): ...

- ``read`` runs the method in a read-only transaction, ``write`` in a write transaction (it
  decides, not the RPC's verb: ``ListNextTaskAssignments`` hands out work, so it is a write).
- The method keeps the RPC's snake_case name (``PostSearchesByID`` → ``post_searches_by_id``);
  its optional JSON twin ``<method>_json`` and ``<method>_prepare`` step (see
  :mod:`labeldesk.services.dispatch`) are found beside it.
- :func:`register` refuses to start, naming the culprits, when two methods claim one RPC, a name is
  not a unary V2 RPC, a method's name does not match its RPC, or a method is named after an RPC
  without being registered (a handler someone forgot to decorate would otherwise go unserved).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from clarifai_grpc.grpc.api import service_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from sqlalchemy import Connection

from labeldesk.services.context import RequestContext

V2: ServiceDescriptor = service_pb2.DESCRIPTOR.services_by_name["V2"]
Handler = Callable[[Connection, RequestContext, Any], Message]
JsonHandler = Callable[[Connection, RequestContext, Any], dict[str, Any]]
F = TypeVar("F", bound=Callable[..., Any])
JSON_SUFFIX = "_json"
PREPARE_SUFFIX = "_prepare"
#: ``<method>_prepare(request) -> object``: CPU work on the request alone, run before the transaction
Preparer = Callable[[Any], object]
_MARK = "__labeldesk_rpc__"
_USER_LEVEL = "__labeldesk_user_level__"


class Kind(str, enum.Enum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True)
class _Mark:
    rpc: str | None  # None: the RPC the method is named after (the old bare ``@writes``)
    kind: Kind


class RegistrationError(Exception):
    """The service methods do not register the RPCs consistently; the server does not start."""


def _marker(rpc: str | None, kind: Kind) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(fn, _MARK, _Mark(rpc, kind))
        return fn

    return mark


def read(rpc: str) -> Callable[[F], F]:
    """Register the method as the handler of ``rpc``, run in a read-only transaction."""
    return _marker(rpc, Kind.READ)


def write(rpc: str) -> Callable[[F], F]:
    """Register the method as the handler of ``rpc``, run in a write transaction."""
    return _marker(rpc, Kind.WRITE)


def writes(fn: F) -> F:
    """The old spelling: a write RPC named after the method (prefer ``@write("RpcName")``)."""
    return _marker(None, Kind.WRITE)(fn)


def user_level(fn: F) -> F:
    """Mark an RPC that acts for the caller without an app (PostApps, ListApps, keys ...)."""
    setattr(fn, _USER_LEVEL, True)
    return fn


_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake(name: str) -> str:
    """RPC name → service method name: PostSearchesByID → post_searches_by_id."""
    return _WORD.sub("_", name).lower()


def unary_methods() -> list[MethodDescriptor]:
    """The V2 RPCs a unary transport can serve (streaming ones are out of scope)."""
    return [m for m in V2.methods if not (m.client_streaming or m.server_streaming)]


@dataclass(frozen=True)
class Registration:
    rpc: str
    handler: Handler
    kind: Kind
    needs_app: bool
    json_handler: JsonHandler | None
    where: str  # Class.method, for messages
    prepare: Preparer | None = None

    @property
    def writes(self) -> bool:
        return self.kind is Kind.WRITE


def register(services: Iterable[object]) -> dict[str, Registration]:
    """RPC name → its registration, over every decorated method of ``services``; raises
    :class:`RegistrationError` listing every inconsistency (see the module doc)."""
    by_snake = {snake(m.name): m.name for m in unary_methods()}
    found: dict[str, Registration] = {}
    problems: list[str] = []
    for service in services:
        cls = type(service)
        for attr in sorted(dir(cls)):
            fn = getattr(cls, attr)
            mark: _Mark | None = getattr(fn, _MARK, None)
            where = f"{cls.__name__}.{attr}"
            if mark is None:
                if attr in by_snake and callable(fn):
                    problems.append(
                        f"{where} is named after {by_snake[attr]} but not registered: decorate it with "
                        f'@rpc.read("{by_snake[attr]}") or @rpc.write("{by_snake[attr]}")'
                    )
                continue
            rpc = mark.rpc or by_snake.get(attr, "")
            if rpc not in by_snake.values():
                problems.append(f"{where} registers '{mark.rpc or attr}', which is not a unary V2 RPC")
                continue
            if snake(rpc) != attr:
                problems.append(f"{where} registers {rpc}; name the method {snake(rpc)}")
                continue
            if rpc in found:
                problems.append(f"{rpc} is registered twice: by {found[rpc].where} and by {where}")
                continue
            found[rpc] = Registration(
                rpc=rpc,
                handler=getattr(service, attr),
                kind=mark.kind,
                needs_app=not getattr(fn, _USER_LEVEL, False),
                json_handler=getattr(service, attr + JSON_SUFFIX, None),
                where=where,
                prepare=getattr(service, attr + PREPARE_SUFFIX, None),
            )
    if problems:
        raise RegistrationError("the RPC registrations are inconsistent:\n  " + "\n  ".join(problems))
    return found
