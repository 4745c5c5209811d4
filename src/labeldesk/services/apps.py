"""Apps, keys, collaborators and users: PostApps, GetApp, ListApps, PostKeys, ListKeys,
PostCollaborators, ListCollaborators, DeleteCollaborators ..."""

from __future__ import annotations

from datetime import timezone
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_pb2
from sqlalchemy import Connection, Row

from labeldesk.domain import errors, scopes
from labeldesk.services import registry as rpc
from labeldesk.services.auth import APP_KEY, PAT
from labeldesk.services.common import (
    check_id,
    dict_to_struct,
    page_of,
    require_unique,
    struct_to_dict,
    timestamp,
)
from labeldesk.services.context import RequestContext
from labeldesk.storage.repos import accounts


def app_proto(row: Row[Any]) -> resources_pb2.App:
    app = resources_pb2.App(
        id=row.id,
        name=row.name or row.id,
        user_id=row.user_id,
        description=row.description,
        default_language=row.default_language,
        sample_ms=row.sample_ms,
        created_at=timestamp(row.created_at),
        modified_at=timestamp(row.modified_at),
    )
    dict_to_struct(row.metadata, app.metadata)
    return app


def _patched_app(conn: Connection, app_pk: int, a: resources_pb2.App) -> resources_pb2.App:
    """Apply the fields given (name, description, metadata, default language) to one app."""
    values: dict[str, Any] = {}
    if a.name:
        values["name"] = a.name
    if a.description:
        values["description"] = a.description
    if a.default_language:
        values["default_language"] = a.default_language
    if a.metadata.fields:
        values["metadata"] = struct_to_dict(a.metadata)
    accounts.update_app(conn, app_pk, **values)
    return app_proto(accounts.get_app_by_pk(conn, app_pk))


def _owner(ctx: RequestContext, user_id: str) -> str:
    """The user a user-level call acts for: only the caller themself ('me' or their id)."""
    if user_id in ("", "me", ctx.caller_id):
        return ctx.caller_id
    raise errors.ApiError(
        errors.DOES_NOT_EXIST,
        f"you ('{ctx.caller_id}') cannot act for user '{user_id}'",
        "use 'me' or your own user id in user_app_id.user_id",
    )


class AppsService:
    @rpc.user_level
    @rpc.write("PostApps")
    def post_apps(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostAppsRequest
    ) -> service_pb2.MultiAppResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        if not req.apps:
            raise errors.invalid("apps: give at least one app to create")
        ids = [check_id("app", a.id, f"apps[{i}].id") for i, a in enumerate(req.apps)]
        require_unique("app", ids, "apps")
        out = service_pb2.MultiAppResponse()
        for app, app_id in zip(req.apps, ids):
            pk = accounts.insert_app(
                conn,
                owner,
                app_id,
                name=app.name or app_id,
                description=app.description,
                default_language=app.default_language or "en",
                sample_ms=app.sample_ms,
                metadata=struct_to_dict(app.metadata),
            )
            out.apps.append(app_proto(accounts.get_app_by_pk(conn, pk)))
        return out

    @rpc.read("GetApp")
    def get_app(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetAppRequest
    ) -> service_pb2.SingleAppResponse:
        return service_pb2.SingleAppResponse(
            app=app_proto(accounts.get_app_by_pk(conn, ctx.require_app().pk))
        )

    @rpc.user_level
    @rpc.read("ListApps")
    def list_apps(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAppsRequest
    ) -> service_pb2.MultiAppResponse:
        if ctx.app is not None and ctx.key_kind == APP_KEY:
            return service_pb2.MultiAppResponse(apps=[app_proto(accounts.get_app_by_pk(conn, ctx.app.pk))])
        owner = _owner(ctx, req.user_app_id.user_id)
        page = page_of(req.page, req.per_page)
        rows = accounts.apps_of(conn, owner, page.offset, page.per_page)
        return service_pb2.MultiAppResponse(apps=[app_proto(r) for r in rows])

    @rpc.user_level
    @rpc.write("PatchApps")
    def patch_apps(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchAppsRequest
    ) -> service_pb2.MultiAppResponse:
        """As the official client sends it: ``PATCH /v2/users/{user_id}/apps`` naming the apps by
        id in the body (a PAT needs no app in user_app_id; an app key patches its own app)."""
        owner = ctx.app.owner_id if ctx.app else _owner(ctx, req.user_app_id.user_id)
        if not req.apps:
            raise errors.invalid(
                "apps: give the apps to change", '{"apps": [{"id": "my-app", "name": "..."}]}'
            )
        out = service_pb2.MultiAppResponse()
        for i, a in enumerate(req.apps):
            if ctx.app is not None and a.id and a.id != ctx.app.id:
                raise errors.invalid(
                    f"apps[{i}].id: '{a.id}' is not the app of this request ('{ctx.app.id}')"
                )
            app_id = a.id or (ctx.app.id if ctx.app else "")
            row = accounts.get_app(conn, owner, app_id) if app_id else None
            if row is None:
                raise errors.not_found("app", f"{owner}/{app_id}")
            if ctx.caller_id != owner:
                raise errors.ApiError(errors.INSUFFICIENT_SCOPES, "only the app owner may change an app")
            out.apps.append(_patched_app(conn, row.pk, a))
        return out

    @rpc.write("PatchApp")
    def patch_app(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchAppRequest
    ) -> service_pb2.SingleAppResponse:
        """The singular form the ``clarifai`` SDK's ``User.patch_app`` calls."""
        app = ctx.require_app()
        _only_owner(ctx, "change an app")
        if req.app.id and req.app.id != app.id:
            raise errors.invalid(f"app.id: '{req.app.id}' is not the app of this request ('{app.id}')")
        return service_pb2.SingleAppResponse(app=_patched_app(conn, app.pk, req.app))

    @rpc.write("DeleteApp")
    def delete_app(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteAppRequest
    ) -> status_pb2.BaseResponse:
        _only_owner(ctx, "delete an app")
        accounts.delete_app(conn, ctx.require_app().pk)
        return status_pb2.BaseResponse()

    # --- keys -----------------------------------------------------------------------------
    # Only a personal access token manages keys. A listing shows each key's public id (the
    # token's first characters), never the token: that is answered once, by PostKeys.

    @rpc.user_level
    @rpc.write("PostKeys")
    def post_keys(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostKeysRequest
    ) -> service_pb2.MultiKeyResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        if not req.keys:
            raise errors.invalid("keys: give at least one key to create")
        out = service_pb2.MultiKeyResponse()
        for i, k in enumerate(req.keys):
            kind = PAT if k.type in ("personal_access_token", "pat") else APP_KEY
            app_pk: int | None = None
            if kind == APP_KEY:
                if len(k.apps) != 1:
                    raise errors.invalid(
                        f"keys[{i}].apps: an app key belongs to exactly one app; name it in apps[0].id",
                        "or set type 'personal_access_token' for a key that works on all your apps",
                    )
                app_row = accounts.get_app(conn, k.apps[0].user_id or owner, k.apps[0].id)
                if app_row is None or app_row.user_id != owner:
                    raise errors.not_found("app", k.apps[0].id)
                app_pk = app_row.pk
            wanted = _grantable(ctx, list(k.scopes) or [scopes.ALL], f"keys[{i}].scopes")
            token = accounts.insert_key(conn, owner, kind, app_pk, wanted, k.description)
            key = _key_proto(accounts.get_key(conn, owner, token), owner)
            key.id = token  # the only time the token is shown
            out.keys.append(key)
        return out

    @rpc.user_level
    @rpc.read("ListKeys")
    def list_keys(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListKeysRequest
    ) -> service_pb2.MultiKeyResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        return _key_page(accounts.list_keys(conn, owner), owner, req.page, req.per_page)

    @rpc.read("ListAppKeys")
    def list_app_keys(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListAppKeysRequest
    ) -> service_pb2.MultiKeyResponse:
        app = ctx.require_app()
        _only_owner(ctx, "list an app's keys")
        return _key_page(accounts.list_keys(conn, app.owner_id, app.pk), app.owner_id, req.page, req.per_page)

    @rpc.user_level
    @rpc.read("GetKey")
    def get_key(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.GetKeyRequest
    ) -> service_pb2.SingleKeyResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        return service_pb2.SingleKeyResponse(key=_key_proto(_existing_key(conn, owner, req.key_id), owner))

    @rpc.user_level
    @rpc.write("PatchKeys")
    def patch_keys(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchKeysRequest
    ) -> service_pb2.MultiKeyResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        if req.action not in ("", "overwrite", "merge"):
            raise errors.invalid(f"action: '{req.action}' is not supported", "use 'overwrite' or 'merge'")
        if not req.keys:
            raise errors.invalid("keys: give at least one key to change (keys[].id)")
        out = service_pb2.MultiKeyResponse()
        for i, k in enumerate(req.keys):
            row = _existing_key(conn, owner, k.id, f"keys[{i}].id")
            values: dict[str, Any] = {}
            if k.description or req.action == "overwrite":
                values["description"] = k.description
            if k.scopes:
                values["scopes"] = _grantable(ctx, list(k.scopes), f"keys[{i}].scopes")
            if k.HasField("expires_at"):
                values["expires_at"] = k.expires_at.ToDatetime(timezone.utc)
            if values:
                accounts.update_key(conn, row.id, **values)
            out.keys.append(_key_proto(accounts.get_key(conn, owner, row.id), owner))
        return out

    @rpc.user_level
    @rpc.write("DeleteKey")
    def delete_key(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteKeyRequest
    ) -> status_pb2.BaseResponse:
        owner = _owner(ctx, req.user_app_id.user_id)
        if not req.key_id or not accounts.delete_key(conn, owner, req.key_id):
            raise errors.not_found("key", _shown(req.key_id))
        return status_pb2.BaseResponse()

    # --- collaborators --------------------------------------------------------------------

    @rpc.write("PostCollaborators")
    def post_collaborators(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PostCollaboratorsRequest
    ) -> service_pb2.MultiCollaboratorsResponse:
        app = ctx.require_app()
        _only_owner(ctx, "add collaborators")
        if not req.collaborators:
            raise errors.invalid(
                "collaborators: give at least one collaborator (user.id or user.primary_email)"
            )
        user_ids = [self._collaborator_user(conn, i, c) for i, c in enumerate(req.collaborators)]
        require_unique("user", user_ids, "collaborators")
        existing = accounts.members(conn, app.pk, app.owner_id)
        for i, uid in enumerate(user_ids):
            if uid in existing:
                what = "the app owner" if uid == app.owner_id else "already a collaborator"
                raise errors.ApiError(errors.DUPLICATE_KEY, f"collaborators[{i}]: user '{uid}' is {what}")
        wanted = [
            _scope_names(list(c.scopes), f"collaborators[{i}].scopes")
            for i, c in enumerate(req.collaborators)
        ]
        for c, uid, granted in zip(req.collaborators, user_ids, wanted):
            accounts.insert_collaborator(conn, app.pk, c.id or uid, uid, granted)
        rows = [r for r in accounts.collaborators_of(conn, app.pk) if r.user_id in set(user_ids)]
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[_collab_proto(r, app.id, app.owner_id) for r in rows]
        )

    def _collaborator_user(self, conn: Connection, i: int, c: resources_pb2.Collaborator) -> str:
        if c.user.id:
            if accounts.get_user(conn, c.user.id) is None:
                raise errors.ApiError(
                    errors.DOES_NOT_EXIST,
                    f"collaborators[{i}].user.id: user '{c.user.id}' does not exist",
                    "create the user first: labeldesk users create ID",
                )
            return str(c.user.id)
        if c.user.primary_email:
            row = accounts.get_user_by_email(conn, c.user.primary_email)
            if row is None:
                raise errors.ApiError(
                    errors.DOES_NOT_EXIST,
                    f"collaborators[{i}].user.primary_email: no user has email '{c.user.primary_email}'",
                )
            return str(row.id)
        raise errors.invalid(f"collaborators[{i}]: set user.id or user.primary_email")

    @rpc.write("PatchCollaborators")
    def patch_collaborators(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.PatchCollaboratorsRequest
    ) -> service_pb2.MultiCollaboratorsResponse:
        """Change collaborators' scopes (``action`` overwrite: the scopes given replace theirs)."""
        app = ctx.require_app()
        _only_owner(ctx, "change collaborators")
        if req.action not in ("", "overwrite"):
            raise errors.invalid(
                f"action: '{req.action[:32]}' is not supported",
                "use 'overwrite' (the scopes given replace theirs)",
            )
        if not req.collaborators:
            raise errors.invalid(
                "collaborators: give at least one collaborator (id or user.id) and its scopes"
            )
        current = accounts.collaborators_of(conn, app.pk)
        by_key = {r.id: r.user_id for r in current} | {r.user_id: r.user_id for r in current}
        changes: dict[str, list[str]] = {}
        for i, c in enumerate(req.collaborators):
            uid = by_key.get(c.id or c.user.id)
            if uid is None:
                raise errors.not_found("collaborator", c.id or c.user.id or "(no id given)")
            changes[uid] = _scope_names(list(c.scopes), f"collaborators[{i}].scopes")
        for uid, granted in changes.items():
            accounts.set_collaborator_scopes(conn, app.pk, uid, granted)
        rows = [r for r in accounts.collaborators_of(conn, app.pk) if r.user_id in changes]
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[_collab_proto(r, app.id, app.owner_id) for r in rows]
        )

    @rpc.read("ListCollaborators")
    def list_collaborators(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.ListCollaboratorsRequest
    ) -> service_pb2.MultiCollaboratorsResponse:
        app = ctx.require_app()
        page = page_of(req.page, req.per_page)
        rows = accounts.collaborators_of(conn, app.pk, page.offset, page.per_page)
        owner_row = accounts.get_user(conn, app.owner_id)
        return service_pb2.MultiCollaboratorsResponse(
            collaborators=[_collab_proto(r, app.id, app.owner_id) for r in rows],
            app_owner=resources_pb2.User(
                id=app.owner_id, primary_email=(owner_row.email or "") if owner_row else ""
            ),
        )

    @rpc.write("DeleteCollaborators")
    def delete_collaborators(
        self, conn: Connection, ctx: RequestContext, req: service_pb2.DeleteCollaboratorsRequest
    ) -> status_pb2.BaseResponse:
        app = ctx.require_app()
        _only_owner(ctx, "remove collaborators")
        collaborators = accounts.collaborators_of(conn, app.pk)
        by_id = {r.id: r.user_id for r in collaborators}
        by_email = {(r.email or "").lower(): r.user_id for r in collaborators if r.email}
        user_ids: list[str] = []
        for cid in req.collaborator_ids:
            uid = by_id.get(cid) or (cid if cid in by_id.values() else None)
            if uid is None:
                raise errors.not_found("collaborator", cid)
            user_ids.append(uid)
        for email in req.user_emails:
            if email.lower() not in by_email:
                raise errors.not_found("collaborator with email", email)
            user_ids.append(by_email[email.lower()])
        if not user_ids:
            raise errors.invalid("give collaborator_ids or user_emails of the collaborators to remove")
        accounts.delete_collaborators(conn, app.pk, user_ids)
        return status_pb2.BaseResponse()


def _collab_proto(r: Row[Any], app_id: str, owner_id: str) -> resources_pb2.Collaborator:
    return resources_pb2.Collaborator(
        id=r.id,
        app=resources_pb2.App(id=app_id, user_id=owner_id),
        user=resources_pb2.User(id=r.user_id, primary_email=r.email or ""),
        scopes=list(r.scopes or []),
        created_at=timestamp(r.created_at),
    )


def _scope_names(wanted: list[str], where: str) -> list[str]:
    """A collaborator's scopes: well-formed names, ``All`` when none are given."""
    for j, name in scopes.bad_names(wanted):
        raise errors.invalid(
            f"{where}[{j}]: '{name[:64]}' is not a scope",
            "scopes are 'All', '<Resource>:<Verb>' such as 'Inputs:Get', or a word such as 'Predict'",
        )
    return wanted or [scopes.ALL]


def _grantable(ctx: RequestContext, wanted: list[str], where: str) -> list[str]:
    """``wanted`` if the calling key may put these scopes on a key: well-formed, and a subset of
    its own (a key never makes a stronger key)."""
    _scope_names(wanted, where)
    lacking = scopes.ungrantable(ctx.scopes, wanted)
    if lacking:
        raise errors.ApiError(
            errors.INSUFFICIENT_SCOPES,
            f"{where}: this key cannot grant {', '.join(repr(s) for s in lacking)}: a key may only create "
            "keys whose scopes are a subset of its own",
            f"the key has: {', '.join(sorted(ctx.scopes)) or 'no scopes'}",
        )
    return wanted


def _shown(key_id: str) -> str:
    """A key id as error messages may quote it: never more than a public id's worth of a token."""
    return key_id[: accounts.PUBLIC_ID_CHARS]


def _existing_key(conn: Connection, owner: str, key_id: str, where: str = "key_id") -> Row[Any]:
    row = accounts.get_key(conn, owner, key_id) if key_id else None
    if row is None:
        raise errors.ApiError(
            errors.DOES_NOT_EXIST,
            f"{where}: you have no key '{_shown(key_id)}'",
            "ListKeys shows the ids of your keys",
        )
    return row


def _key_proto(row: Row[Any] | None, owner: str) -> resources_pb2.Key:
    """A stored key as Clarifai's ``Key``, named by its public id."""
    assert row is not None
    key = resources_pb2.Key(
        id=row.id,
        type=row.kind,
        description=row.description,
        scopes=list(row.scopes or []),
        created_at=timestamp(row.created_at),
    )
    if row.expires_at is not None:
        key.expires_at.CopyFrom(timestamp(row.expires_at))
    if row.app_id:
        key.apps.add(id=row.app_id, user_id=owner)
    return key


def _key_page(rows: list[Row[Any]], owner: str, page: int, per_page: int) -> service_pb2.MultiKeyResponse:
    p = page_of(page, per_page)
    return service_pb2.MultiKeyResponse(
        keys=[_key_proto(r, owner) for r in rows[p.offset : p.offset + p.per_page]]
    )


def _only_owner(ctx: RequestContext, what: str) -> None:
    if not ctx.is_owner:
        raise errors.ApiError(
            errors.INSUFFICIENT_SCOPES,
            f"only the app owner may {what}",
            f"you are '{ctx.caller_id}', a collaborator",
        )
