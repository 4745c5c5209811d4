"""API keys and personal access tokens are stored hashed; each gets a public id.

Before this revision a key's token was its primary key, in plain text, and ``ListKeys`` showed it.
Now the ``keys`` table keeps ``secret_hash``, the token's HMAC-SHA256 under the server secret
``key-hash`` (made here if the database has none), behind a unique index so authentication stays
one indexed lookup; ``id`` becomes the public id, the token's first 12 characters (a random one
for a token shorter than 24 characters). Existing tokens keep working unchanged.

Downgrading cannot bring the tokens back (they are not kept anywhere), so it deletes every key;
make new ones with ``labeldesk users create`` / ``labeldesk keys create`` afterwards.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SECRET_NAME = "key-hash"
PUBLIC_ID_CHARS = 12

_secrets = sa.table(
    "server_secrets",
    sa.column("name", sa.String),
    sa.column("value", sa.LargeBinary),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_keys = sa.table("keys", sa.column("id", sa.String), sa.column("secret_hash", sa.String))


def _secret(conn: sa.Connection) -> bytes:
    found = conn.execute(sa.select(_secrets.c.value).where(_secrets.c.name == SECRET_NAME)).scalar()
    if found is not None:
        return bytes(found)
    value = secrets.token_bytes(32)
    conn.execute(
        sa.insert(_secrets).values(name=SECRET_NAME, value=value, created_at=datetime.now(timezone.utc))
    )
    return value


def upgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table("keys") as batch:
        batch.add_column(sa.Column("secret_hash", sa.String(64), nullable=True))
    secret = _secret(conn)
    tokens = [str(t) for t in conn.execute(sa.select(_keys.c.id)).scalars()]
    taken: set[str] = set()
    for token in tokens:
        public = token[:PUBLIC_ID_CHARS] if len(token) >= 2 * PUBLIC_ID_CHARS else ""
        while not public or public in taken:
            public = secrets.token_hex(PUBLIC_ID_CHARS // 2)
        taken.add(public)
        digest = hmac.new(secret, token.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()
        conn.execute(sa.update(_keys).where(_keys.c.id == token).values(id=public, secret_hash=digest))
    with op.batch_alter_table("keys") as batch:
        batch.alter_column("secret_hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_keys_secret_hash", ["secret_hash"])


def downgrade() -> None:
    op.execute(sa.delete(_keys))
    with op.batch_alter_table("keys") as batch:
        batch.drop_constraint("uq_keys_secret_hash", type_="unique")
        batch.drop_column("secret_hash")
