"""labeldesk's own operational routes: ``/healthz`` (the process answers), ``/readyz`` (the
database answers and is migrated), ``/metrics`` (Prometheus) and ``/openapi.json``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from labeldesk.ops.metrics import CONTENT_TYPE, Metrics
from labeldesk.ops.readiness import check
from labeldesk.storage.engine import Database
from labeldesk.storage.migrate import head_revision


def _status(code: int, description: str) -> dict[str, Any]:
    return {"status": {"code": code, "description": description}}


def ops_routes(db: Database, metrics: Metrics, openapi: Callable[[], dict[str, Any]]) -> list[BaseRoute]:
    head = head_revision(db)
    document: dict[str, Any] = {}

    def healthz(_request: Request) -> Response:
        return JSONResponse(_status(sc.SUCCESS, "Ok"))

    async def readyz(_request: Request) -> Response:
        ready = await run_in_threadpool(check, db, head)
        if ready.ready:
            return JSONResponse(_status(sc.SUCCESS, ready.detail))
        return JSONResponse(_status(sc.TRY_AGAIN, ready.detail), status_code=503)

    async def metrics_route(_request: Request) -> Response:
        text = await run_in_threadpool(metrics.exposition)
        if text is None:  # a worker process whose first process did not answer: no partial counts
            detail = "the server's first process did not answer with every process's metrics; scrape again"
            return JSONResponse(_status(sc.TRY_AGAIN, detail), status_code=503)
        return Response(text, media_type=CONTENT_TYPE)

    def openapi_route(_request: Request) -> Response:
        if not document:
            document.update(openapi())
        return JSONResponse(document)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        Route("/openapi.json", openapi_route, methods=["GET"]),
    ]
