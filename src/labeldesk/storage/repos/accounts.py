"""Users, apps, keys and collaborators: the rows behind authentication and app ownership."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from labeldesk.domain import errors
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.repos import secrets as server_secrets

TOKEN_BYTES = 16
PUBLIC_ID_CHARS = 12
KEY_HASH_SECRET = "key-hash"


def new_token() -> str:
    """A fresh secret: 32 hex characters, as Clarifai's keys look."""
    return secrets.token_hex(TOKEN_BYTES)


def public_id(token: str) -> str:
    """The key's public id: the first characters of its token, shown in listings instead of it."""
    return token[:PUBLIC_ID_CHARS]


def hash_token(secret: bytes, token: str) -> str:
    """The stored form of a token: HMAC-SHA256 under the server's ``key-hash`` secret (hex)."""
    return hmac.new(secret, token.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def get_user(conn: Connection, user_id: str) -> Row[Any] | None:
    return conn.execute(select(t.users).where(t.users.c.id == user_id)).first()


def get_user_by_email(conn: Connection, email: str) -> Row[Any] | None:
    return conn.execute(select(t.users).where(func.lower(t.users.c.email) == email.lower())).first()


def insert_user(conn: Connection, user_id: str, email: str | None = None) -> None:
    if get_user(conn, user_id) is not None:
        raise errors.ApiError(errors.DUPLICATE_KEY, f"user '{user_id}' already exists", "pick another id")
    if email and get_user_by_email(conn, email) is not None:
        raise errors.ApiError(errors.DUPLICATE_KEY, f"email '{email}' is already used by another user")
    conn.execute(insert(t.users).values(id=user_id, email=email or None, created_at=utcnow()))


def set_user_email(conn: Connection, user_id: str, email: str | None) -> None:
    conn.execute(update(t.users).where(t.users.c.id == user_id).values(email=email or None))


def insert_key(
    conn: Connection,
    user_id: str,
    kind: str,
    app_pk: int | None = None,
    scopes: Sequence[str] = ("All",),
    description: str = "",
) -> str:
    """Store a new key (its hash and public id, never the token); answer the token, once."""
    secret = server_secrets.get_or_create(conn, KEY_HASH_SECRET)
    while True:
        token = new_token()
        taken = conn.execute(select(t.keys.c.id).where(t.keys.c.id == public_id(token))).first()
        if taken is None:
            break
    conn.execute(
        insert(t.keys).values(
            id=public_id(token),
            secret_hash=hash_token(secret, token),
            kind=kind,
            user_id=user_id,
            app_pk=app_pk,
            scopes=list(scopes),
            description=description,
            created_at=utcnow(),
        )
    )
    return token


def key_hash_secret(conn: Connection) -> bytes | None:
    """The server's key-hashing secret; None while no key was ever made (nothing to find)."""
    return server_secrets.get(conn, KEY_HASH_SECRET)


def key_by_token(conn: Connection, token: str, secret: bytes) -> Row[Any] | None:
    """The key whose token this is (one indexed lookup of its hash), or None."""
    return conn.execute(_KEY_BY_HASH, {"hash": hash_token(secret, token)}).first()


# Every call authenticates: the statements of that path are built once (docs/performance.md).
_KEY_BY_HASH = select(t.keys).where(t.keys.c.secret_hash == bindparam("hash"))


def key_with_app(conn: Connection, token: str, secret: bytes, owner_id: str, app_id: str) -> Row[Any] | None:
    """:func:`key_by_token` and, in the same query, app ``app_id`` of ``owner_id`` (empty: the key's
    own user) as ``a_pk``/``a_id``/``a_owner`` and the key user's collaborator scopes on it as
    ``c_user``/``c_scopes`` (all None when there is no such app / collaboration)."""
    return conn.execute(
        _KEY_WITH_APP, {"hash": hash_token(secret, token), "owner": owner_id, "app": app_id}
    ).first()


_KEY_APP = t.apps.alias("key_app")
_KEY_COLLAB = t.collaborators.alias("key_collab")
_KEY_WITH_APP = (
    select(
        t.keys,
        _KEY_APP.c.pk.label("a_pk"),
        _KEY_APP.c.id.label("a_id"),
        _KEY_APP.c.user_id.label("a_owner"),
        _KEY_COLLAB.c.user_id.label("c_user"),
        _KEY_COLLAB.c.scopes.label("c_scopes"),
    )
    .select_from(
        t.keys.outerjoin(
            _KEY_APP,
            (
                _KEY_APP.c.user_id
                == func.coalesce(func.nullif(bindparam("owner", type_=String), ""), t.keys.c.user_id)
            )
            & (_KEY_APP.c.id == bindparam("app", type_=String)),
        ).outerjoin(
            _KEY_COLLAB, (_KEY_COLLAB.c.app_pk == _KEY_APP.c.pk) & (_KEY_COLLAB.c.user_id == t.keys.c.user_id)
        )
    )
    .where(t.keys.c.secret_hash == bindparam("hash"))
)


def _key_filter(conn: Connection, user_id: str, key_id: str) -> Any:
    """The user's key named by its public id or by its token."""
    secret = key_hash_secret(conn)
    named = t.keys.c.id == key_id
    if secret is not None:
        named = named | (t.keys.c.secret_hash == hash_token(secret, key_id))
    return (t.keys.c.user_id == user_id) & named


def _keys_with_app() -> Select[Any]:
    return select(t.keys, t.apps.c.id.label("app_id")).select_from(
        t.keys.outerjoin(t.apps, t.apps.c.pk == t.keys.c.app_pk)
    )


def list_keys(conn: Connection, user_id: str, app_pk: int | None = None) -> list[Row[Any]]:
    """The user's keys (only those of app ``app_pk`` if given), oldest first."""
    q = _keys_with_app().where(t.keys.c.user_id == user_id)
    if app_pk is not None:
        q = q.where(t.keys.c.app_pk == app_pk)
    return list(conn.execute(q.order_by(t.keys.c.created_at, t.keys.c.id)))


def get_key(conn: Connection, user_id: str, key_id: str) -> Row[Any] | None:
    """The user's key named by its public id (or its token), with its app's id."""
    return conn.execute(_keys_with_app().where(_key_filter(conn, user_id, key_id))).first()


def update_key(conn: Connection, pk: str, **values: Any) -> None:
    conn.execute(update(t.keys).where(t.keys.c.id == pk).values(**values))


def delete_key(conn: Connection, user_id: str, key_id: str) -> bool:
    res = conn.execute(delete(t.keys).where(_key_filter(conn, user_id, key_id)))
    return bool(res.rowcount)


def get_app(conn: Connection, owner_id: str, app_id: str) -> Row[Any] | None:
    return conn.execute(_APP, {"owner": owner_id, "app": app_id}).first()


_APP = select(t.apps).where(t.apps.c.user_id == bindparam("owner"), t.apps.c.id == bindparam("app"))


def get_app_by_pk(conn: Connection, pk: int) -> Row[Any]:
    return conn.execute(_APP_BY_PK, {"pk": pk}).one()


_APP_BY_PK = select(t.apps).where(t.apps.c.pk == bindparam("pk", type_=Integer))


def insert_app(conn: Connection, owner_id: str, app_id: str, **values: Any) -> int:
    if get_app(conn, owner_id, app_id) is not None:
        raise errors.ApiError(
            errors.DUPLICATE_KEY, f"app '{app_id}' of user '{owner_id}' already exists", "pick another app id"
        )
    ts = utcnow()
    res = conn.execute(
        insert(t.apps).values(user_id=owner_id, id=app_id, created_at=ts, modified_at=ts, **values)
    )
    pk = res.inserted_primary_key
    assert pk is not None
    return int(pk[0])


def apps_of(conn: Connection, user_id: str, offset: int, limit: int) -> list[Row[Any]]:
    """Apps the user owns or collaborates on, oldest first."""
    collab = select(t.collaborators.c.app_pk).where(t.collaborators.c.user_id == user_id)
    q = (
        select(t.apps)
        .where((t.apps.c.user_id == user_id) | t.apps.c.pk.in_(collab))
        .order_by(t.apps.c.pk)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q))


def delete_app(conn: Connection, pk: int) -> None:
    conn.execute(delete(t.apps).where(t.apps.c.pk == pk))


def update_app(conn: Connection, pk: int, **values: Any) -> None:
    conn.execute(update(t.apps).where(t.apps.c.pk == pk).values(modified_at=utcnow(), **values))


def collaborators_of(conn: Connection, app_pk: int, offset: int = 0, limit: int = 1000) -> list[Row[Any]]:
    q = (
        select(t.collaborators, t.users.c.email)
        .select_from(t.collaborators.join(t.users, t.users.c.id == t.collaborators.c.user_id))
        .where(t.collaborators.c.app_pk == app_pk)
        .order_by(t.collaborators.c.created_at, t.collaborators.c.user_id)
        .offset(offset)
        .limit(limit)
    )
    return list(conn.execute(q))


def is_member(conn: Connection, app_pk: int, owner_id: str, user_id: str) -> bool:
    """Owner or collaborator: who may work on the app's tasks."""
    if user_id == owner_id:
        return True
    q = select(t.collaborators.c.user_id).where(
        t.collaborators.c.app_pk == app_pk, t.collaborators.c.user_id == user_id
    )
    return conn.execute(q).first() is not None


def collaborator_scopes(conn: Connection, app_pk: int, user_id: str) -> list[str] | None:
    """The scopes the owner gave collaborator ``user_id`` on the app; None if not a collaborator."""
    row = conn.execute(_COLLABORATOR_SCOPES, {"app_pk": app_pk, "user": user_id}).first()
    return None if row is None else list(row.scopes or [])


_COLLABORATOR_SCOPES = select(t.collaborators.c.scopes).where(
    t.collaborators.c.app_pk == bindparam("app_pk"), t.collaborators.c.user_id == bindparam("user")
)


def members(conn: Connection, app_pk: int, owner_id: str) -> set[str]:
    q = select(t.collaborators.c.user_id).where(t.collaborators.c.app_pk == app_pk)
    return {owner_id, *conn.execute(q).scalars()}


def insert_collaborator(
    conn: Connection, app_pk: int, collab_id: str, user_id: str, scopes: list[str]
) -> None:
    conn.execute(
        insert(t.collaborators).values(
            id=collab_id, app_pk=app_pk, user_id=user_id, scopes=scopes, created_at=utcnow()
        )
    )


def set_collaborator_scopes(conn: Connection, app_pk: int, user_id: str, scopes: list[str]) -> None:
    c = t.collaborators.c
    conn.execute(
        update(t.collaborators).where(c.app_pk == app_pk, c.user_id == user_id).values(scopes=scopes)
    )


def delete_collaborators(conn: Connection, app_pk: int, user_ids: Sequence[str]) -> int:
    res = conn.execute(
        delete(t.collaborators).where(
            t.collaborators.c.app_pk == app_pk, t.collaborators.c.user_id.in_(user_ids)
        )
    )
    return int(res.rowcount)
