"""``GET /exports/{app}/{key}?exp=…&sig=…``: a dataset version archive, for anyone holding a URL
signed by this server (PutDatasetVersionExports answers it). A refused URL answers 403 and a
missing archive 404, both with the Clarifai error body."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from labeldesk.domain import errors
from labeldesk.services.export_links import ROUTE, ExportLinks
from labeldesk.transport.rest.app import proto_response


def _error(code: int, description: str, details: str = "") -> Response:
    status = status_pb2.Status(code=code, description=description, details=details)
    return proto_response(status_pb2.BaseResponse(status=status))


def _chunks(f: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := f.read(1 << 20):
            yield chunk
    finally:
        f.close()


def export_routes(links: ExportLinks) -> list[BaseRoute]:
    async def serve_archive(request: Request) -> Response:
        app, key = request.path_params["app"], request.path_params["key"]
        why = links.check(app, key, request.query_params.get("exp", ""), request.query_params.get("sig", ""))
        if why:
            return _error(
                status_code_pb2.CONN_INSUFFICIENT_SCOPES,
                f"this export URL is {why}",
                "export URLs are signed and short-lived: call PutDatasetVersionExports again for a fresh url",
            )
        try:
            path = links.local_path(app, key)
            stream = None if path is not None else links.open(app, key)
        except ValueError:
            path, stream = None, None
        if path is not None:
            return FileResponse(path, media_type="application/zip", filename=key)
        if stream is None:
            return _error(errors.DOES_NOT_EXIST, f"no export archive {app}/{key}", "its version was deleted")
        return StreamingResponse(
            _chunks(stream),
            media_type="application/zip",
            headers={"content-disposition": f'attachment; filename="{key}"'},
        )

    return [Route(ROUTE + "/{app}/{key}", serve_archive, methods=["GET", "HEAD"])]
