"""``GET /files/{size}/{app}/{key}?exp=…&sig=…``: the bytes of a hosted file, for anyone holding
a URL signed by this server (no Authorization header, so an ``<img>`` tag can load it).

A refused URL (altered, expired, another app's) answers 403 and a missing file 404, both with
the Clarifai error body. The answer may be cached by the browser until the URL expires.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from labeldesk.domain import errors
from labeldesk.files.signing import ROUTE
from labeldesk.services.hosting import Hosting
from labeldesk.transport.rest.responses import error_response


def file_routes(hosting: Hosting) -> list[BaseRoute]:
    async def serve_file(request: Request) -> Response:
        p, q = request.path_params, request.query_params
        try:
            opened = await run_in_threadpool(
                hosting.open_file, p["size"], p["app"], p["key"], q.get("exp", ""), q.get("sig", "")
            )
        except errors.ApiError as e:
            return error_response(e.code, e.description, e.details)
        headers = {
            "Cache-Control": f"private, max-age={opened.max_age}",
            "ETag": opened.etag,
            "X-Content-Type-Options": "nosniff",
        }
        if opened.path is not None:
            return FileResponse(opened.path, media_type=opened.content_type, headers=headers)
        return Response(opened.data, media_type=opened.content_type, headers=headers)

    return [Route(ROUTE + "/{size}/{app}/{key}", serve_file, methods=["GET", "HEAD"])]
