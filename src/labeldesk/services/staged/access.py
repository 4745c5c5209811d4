"""Who calls and what they may see: the caller's key (the same :class:`Authenticator` as every
Clarifai RPC), the dataset or task they name, the client's apps they own or collaborate on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors
from labeldesk.domain import stages as st
from labeldesk.services.auth import APP_KEY, Authenticator
from labeldesk.services.context import AppRef, RequestContext
from labeldesk.services.staged.model import READ_RPC, Caller, Scope, WorkflowSettings, conflict, forbidden
from labeldesk.storage.repos import accounts
from labeldesk.storage.repos import staged as repo


class Access:
    def __init__(self, auth: Authenticator) -> None:
        self.auth = auth

    def who(self, conn: Connection, caller: Caller, rpc: str) -> RequestContext:
        return self.auth.authenticate(conn, caller.authorization, None, rpc, needs_app=False)

    def on_app(self, conn: Connection, caller: Caller, app: AppRef, rpc: str) -> RequestContext:
        uai = resources_pb2.UserAppIDSet(user_id=app.owner_id, app_id=app.id)
        return self.auth.authenticate(conn, caller.authorization, uai, rpc, needs_app=True)

    def visible_apps(self, conn: Connection, who: RequestContext, client_id: str | None) -> list[AppRef]:
        """Apps the caller owns or collaborates on (an app key: its app), of ``client_id`` if given."""
        if who.key_kind == APP_KEY:
            apps = [who.require_app()]
        else:
            apps = [AppRef(r.pk, r.id, r.user_id) for r in accounts.apps_of(conn, who.caller_id, 0, 100_000)]
        return [a for a in apps if not client_id or a.owner_id == client_id]

    def dataset(
        self, conn: Connection, caller: Caller, dataset_id: str, client_id: str | None, rpc: str
    ) -> Scope:
        who = self.who(conn, caller, rpc)
        client = who.caller_id if client_id == "me" else client_id
        apps = self.visible_apps(conn, who, client)
        row = self.single_dataset(
            conn,
            dataset_id,
            repo.datasets_named(conn, dataset_id, [a.pk for a in apps]),
            who.caller_id,
            client,
        )
        app = AppRef(row.app_pk, row.app_id, row.owner_id)
        ctx = self.on_app(conn, caller, app, rpc)
        stored = repo.ensure_settings(conn, row.pk, app.pk, [s.to_json() for s in st.default_stages()])
        return Scope(ctx, app, row.pk, row.id, WorkflowSettings.from_row(stored))

    def single_dataset(
        self, conn: Connection, dataset_id: str, rows: Sequence[Row[Any]], caller_id: str, client: str | None
    ) -> Row[Any]:
        if not rows:
            of_client = f" of client '{client}'" if client else ""
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"dataset '{dataset_id}' does not exist in any app{of_client} that you ('{caller_id}') "
                "own or collaborate on",
                "check the dataset id and the key; create datasets with PostDatasets",
            )
        owners = sorted({r.owner_id for r in rows})
        if len(owners) > 1:
            raise conflict(
                f"dataset id '{dataset_id}' exists for several clients ({', '.join(owners)})",
                "add ?client_id=<owner user id> to the URL to say which",
            )
        same = repo.datasets_named(conn, dataset_id, repo.app_pks_of_owner(conn, owners[0]))
        if len(same) > 1:
            raise conflict(
                f"dataset id '{dataset_id}' is used by {len(same)} apps of client '{owners[0]}' "
                f"({', '.join(sorted(r.app_id for r in same))}); the staged API finds a dataset by its id, "
                "which must be unique per client",
                "rename one of them: create a dataset with another id in one app, add its inputs "
                "(PostDatasetInputs) and delete the old dataset",
            )
        return rows[0]

    def task(self, conn: Connection, caller: Caller, task_id: str, rpc: str) -> tuple[Scope, Row[Any]]:
        """The task and its dataset scope; a task the caller cannot see does not exist for them."""
        self.who(conn, caller, rpc)
        row = repo.task_by_id(conn, task_id)
        missing = errors.not_found("task", task_id)
        if row is None:
            raise missing
        app = AppRef(row.app_pk, row.app_id, row.owner_id)
        try:
            ctx = self.on_app(conn, caller, app, rpc)
        except errors.ApiError as e:
            if e.code in (errors.DOES_NOT_EXIST, errors.KEY_INVALID):
                raise missing from None
            raise
        stored = repo.settings(conn, row.dataset_pk)
        assert stored is not None
        return Scope(ctx, app, row.dataset_pk, row.dataset_id, WorkflowSettings.from_row(stored)), row

    def client_apps(
        self, conn: Connection, caller: Caller, client_id: str, app_id: str | None = None
    ) -> tuple[str, list[AppRef]]:
        """The client's apps the caller may read tasks of (collaborator scopes respected); only
        ``app_id`` when given."""
        who = self.who(conn, caller, READ_RPC)
        client = who.caller_id if client_id == "me" else client_id
        apps = []
        for app in self.visible_apps(conn, who, client):
            if app_id and app.id != app_id:
                continue
            try:
                self.on_app(conn, caller, app, READ_RPC)
            except errors.ApiError:
                continue
            apps.append(app)
        if not apps:
            which = f"app '{app_id}'" if app_id else "app"
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"client '{client}' has no {which} that you ('{who.caller_id}') own or collaborate on",
                "clientId is the user id of the apps' owner",
            )
        return client, apps

    def user_of_client(
        self, conn: Connection, caller: Caller, client: str, apps: Sequence[AppRef], email: str | None
    ) -> Row[Any]:
        if not email:
            me = accounts.get_user(conn, self.who(conn, caller, READ_RPC).caller_id)
            if me is None or not me.email:
                raise errors.invalid(
                    "email: give the email of the user whose tasks to list", "?email=a@example.com"
                )
            email = me.email
        user = accounts.get_user_by_email(conn, email)
        if user is None or not any(accounts.is_member(conn, a.pk, a.owner_id, user.id) for a in apps):
            raise errors.ApiError(
                errors.DOES_NOT_EXIST,
                f"no user with email '{email}' is visible to client '{client}'",
                "a user is visible when they own or collaborate on one of the client's apps",
            )
        return user


def member_by_email(conn: Connection, app: AppRef, email: str, where: str) -> Row[Any]:
    user = accounts.get_user_by_email(conn, email)
    if user is None or not accounts.is_member(conn, app.pk, app.owner_id, user.id):
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{where}: no user with email '{email}' is visible to client '{app.owner_id}'",
            f"a user is visible when they own app '{app.id}' or collaborate on it: create them with "
            f"'labeldesk users create ID --email {email}' and add them with PostCollaborators",
        )
    return user


def require_owner(scope: Scope, what: str) -> None:
    if not scope.ctx.is_owner:
        raise forbidden(
            f"only the owner of app '{scope.app.id}' ('{scope.app.owner_id}') can {what}",
            f"you are '{scope.ctx.caller_id}'; use the owner's key",
        )
