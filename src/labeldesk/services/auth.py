"""Authentication and authorisation: key/PAT → RequestContext, or a Clarifai auth error.

- App keys are bound to one app: any ``user_app_id`` in the request must name that app.
- Personal access tokens act for their user on any app the user owns or collaborates on;
  app-level calls must then say which app (``user_app_id``), ``me`` meaning the caller.
- Scopes: ``All`` grants everything; otherwise ``<Resource>:<Verb>`` as in Clarifai
  (``Inputs:Add``, ``Tasks:Get`` ...): what each RPC needs is :mod:`labeldesk.domain.scopes`.
- Keys are found by the hash of their token (:mod:`labeldesk.storage.repos.accounts`).

What a key resolved to (its user, kind, scopes and the app it names) is remembered for
:data:`CACHE_SECONDS` by a SHA-256 of the presented ``Authorization`` value, so a busy client costs
one lookup per key and app every few seconds instead of one per call (docs/performance.md). The
scope check still runs per call, expiry is checked on every hit, failures are never remembered,
and any committed change to keys, apps, collaborators or users forgets everything at once
(:func:`labeldesk.storage.engine.account_generation`), whichever process or replica made it
(:mod:`labeldesk.storage.account_news`; on PostgreSQL :data:`CACHE_SECONDS` still bounds a
revocation while the listening connection is down) (docs/security.md).
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors, scopes
from labeldesk.files.signing import FileLinks
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.storage.clock import utcnow as now
from labeldesk.storage.engine import account_generation
from labeldesk.storage.repos import accounts

PAT = "personal_access_token"
APP_KEY = "app"
#: how long a resolved key is trusted without looking it up again (a change to accounts anywhere
#: takes effect at once: see the module doc; this bounds it when that news cannot be heard)
CACHE_SECONDS = 5.0
CACHE_MAX = 10_000
#: the scopes each RPC needs (pure, asked on every call)
_required_scopes = functools.lru_cache(maxsize=1024)(scopes.required_scopes)


@dataclass(frozen=True)
class _Known:
    """What one Authorization value (for one ``user_app_id``) resolved to, and until when."""

    generation: int
    until: float
    expires_at: datetime | None
    caller_id: str
    app: AppRef | None
    scopes: frozenset[str]
    key_kind: str


class KeyCache:
    """Bounded, short-lived memory of resolved keys, shared by both transports (see module doc)."""

    def __init__(self, seconds: float = CACHE_SECONDS, size: int = CACHE_MAX) -> None:
        self.seconds = seconds
        self.size = size
        self._known: dict[tuple[bytes, str, str], _Known] = {}
        self._lock = threading.Lock()

    @staticmethod
    def digest(authorization: str | None) -> bytes:
        return hashlib.sha256((authorization or "").encode("utf-8", "surrogateescape")).digest()

    def get(self, entry: tuple[bytes, str, str]) -> _Known | None:
        known = self._known.get(entry)
        if known is None or known.until < time.monotonic() or known.generation != account_generation():
            return None
        if known.expires_at is not None and known.expires_at.replace(tzinfo=timezone.utc) < now():
            return None  # looked up again: the lookup answers "expired"
        return known

    def put(self, entry: tuple[bytes, str, str], known: _Known) -> None:
        with self._lock:
            if len(self._known) >= self.size:
                t = time.monotonic()
                self._known = {k: v for k, v in self._known.items() if v.until > t}
                if len(self._known) >= self.size:
                    self._known.clear()
            self._known[entry] = known

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


def _deny_missing_key() -> errors.ApiError:
    return errors.ApiError(
        errors.KEY_INVALID,
        "API key or personal access token missing or invalid",
        "send the header (REST) or metadata (gRPC) 'Authorization: Key <your key or PAT>'; "
        "create one with 'labeldesk users create ID' or 'labeldesk keys create USER APP'",
    )


class Authenticator:
    """Turns the ``Authorization`` value plus the request's ``user_app_id`` into a context.

    Keeps the server's key-hashing secret once read: it never changes after it is made."""

    def __init__(self, cache: KeyCache | None = None) -> None:
        self._secret: bytes | None = None
        self.cache = cache if cache is not None else KeyCache()

    def known(self, authorization: str | None) -> bool:
        """True when the value named a valid, unexpired key a moment ago (no database needed)."""
        return self.cache.get((self.cache.digest(authorization), "", "\0key")) is not None

    def key(self, conn: Connection, authorization: str | None) -> Row[Any]:
        """The valid, unexpired key the ``Authorization`` value names, or KEY_INVALID.

        Cheap (one indexed lookup): the REST transport calls it before reading a request body."""
        generation = account_generation()
        token, secret = self._token(conn, authorization)
        key = _valid(accounts.key_by_token(conn, token, secret))
        until = time.monotonic() + self.cache.seconds
        known = _Known(generation, until, key.expires_at, key.user_id, None, frozenset(), key.kind)
        self.cache.put((self.cache.digest(authorization), "", "\0key"), known)
        return key

    def _token(self, conn: Connection, authorization: str | None) -> tuple[str, bytes]:
        token = _parse_authorization(authorization)
        if self._secret is None:
            self._secret = accounts.key_hash_secret(conn)
            if self._secret is None:  # no key was ever made
                raise _deny_missing_key()
        return token, self._secret

    def authenticate(
        self,
        conn: Connection,
        authorization: str | None,
        user_app_id: resources_pb2.UserAppIDSet | None,
        rpc: str,
        needs_app: bool,
        req_id: str = "",
        files: FileLinks | None = None,
        prepared: object = None,
    ) -> RequestContext:
        """The caller's context for ``rpc`` (``req_id``, ``files`` and ``prepared`` are copied
        into it), or the auth error."""
        want_user = (user_app_id.user_id if user_app_id else "") or ""
        want_app = (user_app_id.app_id if user_app_id else "") or ""
        entry = (self.cache.digest(authorization), want_user, want_app)
        known = self.cache.get(entry)
        if known is None:
            generation = account_generation()
            ctx, expires_at = self._resolve(conn, authorization, want_user, want_app)
            until = time.monotonic() + self.cache.seconds
            known = _Known(generation, until, expires_at, ctx.caller_id, ctx.app, ctx.scopes, ctx.key_kind)
            self.cache.put(entry, known)
        if known.key_kind != APP_KEY and known.app is None and needs_app:
            raise errors.invalid(
                f"{rpc} works on an app, but the request names none",
                "with a personal access token set user_app_id.user_id (or 'me') and user_app_id.app_id, "
                "or use an app-specific API key",
            )
        ctx = RequestContext(
            known.caller_id, known.app, known.scopes, known.key_kind, req_id, files, prepared
        )
        _check_scope(ctx, rpc)
        return ctx

    def _resolve(
        self, conn: Connection, authorization: str | None, want_user: str, want_app: str
    ) -> tuple[RequestContext, datetime | None]:
        """The caller, app and scopes the key and ``user_app_id`` come to (before the per-RPC
        checks), and when the key expires; or the auth error."""
        if not want_app:
            key = self.key(conn, authorization)
        else:  # the key, the app and the caller's collaboration on it in one query
            token, secret = self._token(conn, authorization)
            owner = "" if want_user in ("", "me") else want_user
            key = _valid(accounts.key_with_app(conn, token, secret, owner, want_app))
        held = frozenset(key.scopes or [scopes.ALL])
        if key.kind == APP_KEY:
            row = accounts.get_app_by_pk(conn, key.app_pk)
            app = AppRef(pk=row.pk, id=row.id, owner_id=row.user_id)
            if (want_app and want_app != app.id) or (want_user not in ("", "me", app.owner_id)):
                raise errors.ApiError(
                    errors.KEY_INVALID,
                    f"this API key belongs to app '{app.id}' of user '{app.owner_id}' and cannot be used "
                    f"for app '{want_app or app.id}' of user '{want_user or app.owner_id}'",
                    "use a key of that app, or a personal access token with user_app_id",
                )
            ctx = RequestContext(caller_id=key.user_id, app=app, scopes=held, key_kind=APP_KEY)
        else:
            app_ref: AppRef | None = None
            if want_app:
                owner = key.user_id if want_user in ("", "me") else want_user
                app_ref, held = _app_for_user(key, owner, want_app, held)
            ctx = RequestContext(caller_id=key.user_id, app=app_ref, scopes=held, key_kind=PAT)
        return ctx, key.expires_at


def _valid(key: Row[Any] | None) -> Row[Any]:
    """The key if it exists and has not expired, else KEY_INVALID."""
    if key is None:
        raise _deny_missing_key()
    if key.expires_at is not None and key.expires_at.replace(tzinfo=timezone.utc) < now():
        raise errors.ApiError(errors.KEY_INVALID, "this key has expired", "create a new key")
    return key


def _app_for_user(
    key: Row[Any], owner: str, app_id: str, key_scopes: frozenset[str]
) -> tuple[AppRef, frozenset[str]]:
    """The app a personal access token names and the scopes it has there, from the row of
    :func:`~labeldesk.storage.repos.accounts.key_with_app`."""
    caller = key.user_id
    if key.a_pk is not None:
        app = AppRef(pk=key.a_pk, id=key.a_id, owner_id=key.a_owner)
        if caller == owner:
            return app, key_scopes
        if key.c_user is not None:
            return app, scopes.intersect(key_scopes, frozenset(key.c_scopes or [scopes.ALL]))
    raise errors.ApiError(
        errors.DOES_NOT_EXIST,
        f"app '{app_id}' of user '{owner}' does not exist or you ('{caller}') are not its owner "
        "or a collaborator",
        "check user_app_id, or ask the owner to add you with PostCollaborators",
    )


def _check_scope(ctx: RequestContext, rpc: str) -> None:
    if ctx.key_kind == APP_KEY and rpc in scopes.PAT_ONLY:
        raise errors.ApiError(
            errors.INSUFFICIENT_SCOPES,
            f"an app key cannot call {rpc}: only a personal access token manages keys and apps",
            "use a personal access token (labeldesk users create, or PostKeys with type "
            "'personal_access_token')",
        )
    lacking = scopes.missing(ctx.scopes, _required_scopes(rpc))
    if not lacking:
        return
    needs = ", ".join(f"'{s}'" for s in _required_scopes(rpc))
    raise errors.ApiError(
        errors.INSUFFICIENT_SCOPES,
        f"{rpc} needs the scopes {needs}; this key lacks {', '.join(repr(s) for s in lacking)}",
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
