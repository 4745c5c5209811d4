"""Authentication and authorisation: key/PAT → RequestContext, or a Clarifai auth error.

- App keys are bound to one app: any ``user_app_id`` in the request must name that app.
- Personal access tokens act for their user on any app the user owns or collaborates on;
  app-level calls must then say which app (``user_app_id``), ``me`` meaning the caller.
- Scopes: ``All`` grants everything; otherwise ``<Resource>:<Verb>`` as in Clarifai
  (``Inputs:Add``, ``Tasks:Get`` ...), derived from the RPC name.
"""

from __future__ import annotations

import re
from datetime import timezone

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, select

from labeldesk.domain import errors
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow as now

PAT = "personal_access_token"
APP_KEY = "app"

_VERBS = {"Post": "Add", "Put": "Add", "Get": "Get", "List": "Get", "Patch": "Patch", "Delete": "Delete"}
_RESOURCES = (
    "Annotation",
    "Collaborator",
    "Concept",
    "Dataset",
    "Input",
    "Key",
    "App",
    "Search",
    "Task",
    "User",
)
_SPLIT = re.compile(r"^(Post|Put|Get|List|Patch|Delete)(?:Next)?([A-Z][a-z]+)")


def required_scope(rpc: str) -> str:
    """The Clarifai-style scope an RPC needs, e.g. PostInputs → ``Inputs:Add``."""
    m = _SPLIT.match(rpc)
    if not m:
        return "All"
    verb, noun = m.group(1), m.group(2)
    for r in _RESOURCES:
        if noun.startswith(r):
            return f"{r}s:{_VERBS[verb]}" if r != "Search" else f"Searches:{_VERBS[verb]}"
    return "All"


def _deny_missing_key() -> errors.ApiError:
    return errors.ApiError(
        errors.KEY_INVALID,
        "API key or personal access token missing or invalid",
        "send the header (REST) or metadata (gRPC) 'Authorization: Key <your key or PAT>'; "
        "create one with 'labeldesk users create ID' or 'labeldesk keys create USER APP'",
    )


class Authenticator:
    """Turns the ``Authorization`` value plus the request's ``user_app_id`` into a context."""

    def authenticate(
        self,
        conn: Connection,
        authorization: str | None,
        user_app_id: resources_pb2.UserAppIDSet | None,
        rpc: str,
        needs_app: bool,
    ) -> RequestContext:
        token = _parse_authorization(authorization)
        key = conn.execute(select(t.keys).where(t.keys.c.id == token)).first()
        if key is None:
            raise _deny_missing_key()
        if key.expires_at is not None and key.expires_at.replace(tzinfo=timezone.utc) < now():
            raise errors.ApiError(errors.KEY_INVALID, "this key has expired", "create a new key")
        scopes = frozenset(key.scopes or ["All"])
        want_user = (user_app_id.user_id if user_app_id else "") or ""
        want_app = (user_app_id.app_id if user_app_id else "") or ""
        if key.kind == APP_KEY:
            app = self._app_by_pk(conn, key.app_pk)
            if (want_app and want_app != app.id) or (want_user not in ("", "me", app.owner_id)):
                raise errors.ApiError(
                    errors.KEY_INVALID,
                    f"this API key belongs to app '{app.id}' of user '{app.owner_id}' and cannot be used "
                    f"for app '{want_app or app.id}' of user '{want_user or app.owner_id}'",
                    "use a key of that app, or a personal access token with user_app_id",
                )
            ctx = RequestContext(caller_id=key.user_id, app=app, scopes=scopes, key_kind=APP_KEY)
        else:
            app_ref: AppRef | None = None
            if want_app:
                owner = key.user_id if want_user in ("", "me") else want_user
                app_ref, scopes = self._app_for_user(conn, owner, want_app, key.user_id, scopes)
            elif needs_app:
                raise errors.invalid(
                    f"{rpc} works on an app, but the request names none",
                    "with a personal access token set user_app_id.user_id (or 'me') and user_app_id.app_id, "
                    "or use an app-specific API key",
                )
            ctx = RequestContext(caller_id=key.user_id, app=app_ref, scopes=scopes, key_kind=PAT)
        _check_scope(ctx, rpc)
        return ctx

    def _app_by_pk(self, conn: Connection, pk: int) -> AppRef:
        row = conn.execute(select(t.apps.c.pk, t.apps.c.id, t.apps.c.user_id).where(t.apps.c.pk == pk)).one()
        return AppRef(pk=row.pk, id=row.id, owner_id=row.user_id)

    def _app_for_user(
        self, conn: Connection, owner: str, app_id: str, caller: str, key_scopes: frozenset[str]
    ) -> tuple[AppRef, frozenset[str]]:
        row = conn.execute(
            select(t.apps.c.pk, t.apps.c.id, t.apps.c.user_id).where(
                t.apps.c.user_id == owner, t.apps.c.id == app_id
            )
        ).first()
        if row is not None:
            app = AppRef(pk=row.pk, id=row.id, owner_id=row.user_id)
            if caller == owner:
                return app, key_scopes
            collab = conn.execute(
                select(t.collaborators.c.scopes).where(
                    t.collaborators.c.app_pk == app.pk, t.collaborators.c.user_id == caller
                )
            ).first()
            if collab is not None:
                return app, _intersect(key_scopes, frozenset(collab.scopes or ["All"]))
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"app '{app_id}' of user '{owner}' does not exist or you ('{caller}') are not its owner "
            "or a collaborator",
            "check user_app_id, or ask the owner to add you with PostCollaborators",
        )


def _intersect(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    if "All" in a:
        return b
    if "All" in b:
        return a
    return a & b


def _check_scope(ctx: RequestContext, rpc: str) -> None:
    need = required_scope(rpc)
    if "All" in ctx.scopes or need in ctx.scopes:
        return
    raise errors.ApiError(
        errors.INSUFFICIENT_SCOPES,
        f"{rpc} needs the scope '{need}', which this key does not have",
        f"the key has: {', '.join(sorted(ctx.scopes)) or 'no scopes'}",
    )


def _parse_authorization(value: str | None) -> str:
    if not value:
        raise _deny_missing_key()
    parts = value.strip().split()
    if len(parts) == 2 and parts[0].lower() in ("key", "bearer"):
        return parts[1]
    if len(parts) == 1:
        return parts[0]
    raise _deny_missing_key()
