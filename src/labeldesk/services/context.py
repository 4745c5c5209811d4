"""Who is calling, on which app, with which rights: built once per request by the authenticator."""

from __future__ import annotations

from dataclasses import dataclass, field

from labeldesk.files.signing import FileLinks


@dataclass(frozen=True)
class AppRef:
    pk: int
    id: str
    owner_id: str


@dataclass(frozen=True)
class RequestContext:
    caller_id: str
    app: AppRef | None
    scopes: frozenset[str] = field(default_factory=lambda: frozenset({"All"}))
    key_kind: str = "personal_access_token"
    req_id: str = ""
    #: how this caller reaches hosted files (signed ``/files`` URLs); None without a transport
    files: FileLinks | None = None
    #: what the RPC's ``<method>_prepare`` made of the request before the transaction, if any
    prepared: object = None

    @property
    def is_owner(self) -> bool:
        return self.app is not None and self.app.owner_id == self.caller_id

    def require_app(self) -> AppRef:
        """The app of this call (authentication guarantees it for app-level RPCs)."""
        if self.app is None:  # pragma: no cover - guarded by the authenticator
            raise RuntimeError("app-level service method called without an app")
        return self.app
