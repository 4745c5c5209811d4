"""A server interceptor that times every gRPC call and hands it to the
:class:`~labeldesk.ops.observe.Observer` with the answer's Clarifai status and ``req_id``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc

from labeldesk.ops.observe import Observer


class ObserveInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        #: the wrapped handler of each method, made once (gRPC asks for it on every call)
        self._wrapped: dict[tuple[str, Any], Any] = {}

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        key = (details.method, handler.unary_unary)
        wrapped = self._wrapped.get(key)
        if wrapped is None:
            wrapped = self._wrapped[key] = self._wrap(str(details.method), handler)
        return wrapped

    def _wrap(self, method: str, handler: Any) -> Any:
        rpc = method.rsplit("/", 1)[-1]
        inner = handler.unary_unary
        observer = self.observer

        def observed(request: Any, context: grpc.ServicerContext) -> Any:
            started = time.perf_counter()
            code: int | str = "INTERNAL"
            req_id = ""
            try:
                response = inner(request, context)
                status = getattr(response, "status", None)
                if status is not None:
                    code, req_id = status.code, status.req_id
                return response
            finally:
                observer.record("grpc", rpc, code, time.perf_counter() - started, req_id)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
