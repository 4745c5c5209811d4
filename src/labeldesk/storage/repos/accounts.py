"""Users, apps, keys and collaborators: the rows behind authentication and app ownership."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from labeldesk.domain import errors
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow


def new_token() -> str:
    return secrets.token_hex(16)


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
    token: str | None = None,
) -> str:
    token = token or new_token()
    conn.execute(
        insert(t.keys).values(
            id=token,
            kind=kind,
            user_id=user_id,
            app_pk=app_pk,
            scopes=list(scopes),
            description=description,
            created_at=utcnow(),
        )
    )
    return token


def list_keys(conn: Connection, user_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(t.keys, t.apps.c.id.label("app_id"))
            .select_from(t.keys.outerjoin(t.apps, t.apps.c.pk == t.keys.c.app_pk))
            .where(t.keys.c.user_id == user_id)
            .order_by(t.keys.c.created_at)
        )
    )


def delete_key(conn: Connection, user_id: str, key_id: str) -> bool:
    res = conn.execute(delete(t.keys).where(t.keys.c.user_id == user_id, t.keys.c.id == key_id))
    return bool(res.rowcount)


def get_app(conn: Connection, owner_id: str, app_id: str) -> Row[Any] | None:
    return conn.execute(select(t.apps).where(t.apps.c.user_id == owner_id, t.apps.c.id == app_id)).first()


def get_app_by_pk(conn: Connection, pk: int) -> Row[Any]:
    return conn.execute(select(t.apps).where(t.apps.c.pk == pk)).one()


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


def delete_collaborators(conn: Connection, app_pk: int, user_ids: Sequence[str]) -> int:
    res = conn.execute(
        delete(t.collaborators).where(
            t.collaborators.c.app_pk == app_pk, t.collaborators.c.user_id.in_(user_ids)
        )
    )
    return int(res.rowcount)
