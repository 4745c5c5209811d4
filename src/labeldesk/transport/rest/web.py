"""The browser workbench: serves the built single-page app (``src/labeldesk/web/``) at ``/``.

The app's own screens live at a few client-side paths (``/work``, ``/label/...``, ...); a full page
load of any of them answers ``index.html`` and the app's router takes over. Nothing here shadows the
APIs: ``/v2/...``, ``/api/v2/...`` and ``/files/...`` are never client paths, and an unknown path
outside the client prefixes still gets the Clarifai-shaped 404 of the REST endpoint.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent.parent / "web"

# Client-side routes of the app (kept in step with frontend/src/router.ts).
CLIENT_PREFIXES = ("signin", "work", "label", "review", "stages", "console")

# The bundle has fixed file names (so the committed build is byte-stable): browsers must revalidate.
NO_CACHE = {"Cache-Control": "no-cache"}


def _index(web_dir: Path) -> Route:
    async def index(_request: Request) -> Response:
        page = web_dir / "index.html"
        if not page.is_file():
            return PlainTextResponse(
                "The web app is not built: run `npm ci && npm run build` in frontend/.", status_code=503
            )
        return FileResponse(page, media_type="text/html", headers=NO_CACHE)

    return Route("/", index, methods=["GET", "HEAD"])


class _Assets(StaticFiles):
    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers.update(NO_CACHE)
        return response


def web_routes(web_dir: Path = WEB_DIR) -> list[BaseRoute]:
    """``/`` and the client paths answer the app's page; ``/assets`` its scripts and styles."""
    index = _index(web_dir)
    routes: list[BaseRoute] = [index]
    for prefix in CLIENT_PREFIXES:
        routes.append(Route(f"/{prefix}", index.endpoint, methods=["GET", "HEAD"]))
        routes.append(Route(f"/{prefix}/{{rest:path}}", index.endpoint, methods=["GET", "HEAD"]))
    routes.append(Mount("/assets", app=_Assets(directory=web_dir / "assets", check_dir=False)))
    return routes
