"""Operator actions that are not Clarifai RPCs (the CLI's users/apps/keys/init/demo)."""

from __future__ import annotations

from collections.abc import Sequence

from clarifai_grpc.grpc.api import resources_pb2
from google.protobuf import struct_pb2

from labeldesk.domain import errors
from labeldesk.services.auth import APP_KEY, PAT
from labeldesk.services.common import check_id
from labeldesk.storage.engine import Database
from labeldesk.storage.repos import accounts


def _required_id(kind: str, value: str) -> str:
    if not value:
        raise errors.invalid(f"a {kind} id is required")
    return check_id(kind, value, f"{kind} id")


def create_user(db: Database, user_id: str, email: str | None = None) -> str:
    """Create a user; answer a new personal access token for them."""
    user_id = _required_id("user", user_id)
    with db.write() as conn:
        accounts.insert_user(conn, user_id, email)
        return accounts.insert_key(conn, user_id, PAT, description="created by labeldesk users create")


def ensure_user(db: Database, user_id: str, email: str | None = None) -> str:
    """Create the user if needed; answer a new personal access token either way."""
    user_id = _required_id("user", user_id)
    with db.write() as conn:
        if accounts.get_user(conn, user_id) is None:
            accounts.insert_user(conn, user_id, email)
        return accounts.insert_key(conn, user_id, PAT, description="created by labeldesk init")


def create_app(db: Database, user_id: str, app_id: str, name: str = "") -> int:
    app_id = _required_id("app", app_id)
    with db.write() as conn:
        if accounts.get_user(conn, user_id) is None:
            raise errors.not_found("user", user_id)
        return accounts.insert_app(conn, user_id, app_id, name=name or app_id)


def ensure_app(db: Database, user_id: str, app_id: str) -> int:
    with db.write() as conn:
        row = accounts.get_app(conn, user_id, app_id)
        if row is not None:
            return int(row.pk)
    return create_app(db, user_id, app_id)


def create_app_key(db: Database, user_id: str, app_id: str, scopes: Sequence[str] = ("All",)) -> str:
    with db.write() as conn:
        row = accounts.get_app(conn, user_id, app_id)
        if row is None:
            raise errors.not_found("app", f"{user_id}/{app_id}")
        return accounts.insert_key(
            conn, user_id, APP_KEY, row.pk, list(scopes) or ["All"], "created by labeldesk keys create"
        )


def add_collaborator(db: Database, owner_id: str, app_id: str, user_id: str) -> None:
    with db.write() as conn:
        row = accounts.get_app(conn, owner_id, app_id)
        if row is None:
            raise errors.not_found("app", f"{owner_id}/{app_id}")
        if accounts.get_user(conn, user_id) is None:
            raise errors.not_found("user", user_id)
        if not accounts.is_member(conn, row.pk, owner_id, user_id):
            accounts.insert_collaborator(conn, row.pk, user_id, user_id, ["All"])


def demo_metadata(**values: str) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(values)
    return s


DEMO_CONCEPTS = ("cat", "dog", "tree", "water")
DEMO_IMAGES = (
    ("metro-north", "https://samples.clarifai.com/metro-north.jpg", "street"),
    ("puppy", "https://samples.clarifai.com/puppy.jpeg", "animals"),
    ("wedding", "https://samples.clarifai.com/wedding.jpg", "people"),
    ("dog-tiff", "https://samples.clarifai.com/dog.tiff", "animals"),
    ("featured-1", "https://samples.clarifai.com/featured-models/general-elephants.jpg", "animals"),
    ("featured-2", "https://samples.clarifai.com/featured-models/travel-beach.jpg", "landscape"),
)


def demo_inputs() -> list[resources_pb2.Input]:
    return [
        resources_pb2.Input(
            id=iid,
            data=resources_pb2.Data(image=resources_pb2.Image(url=url), metadata=demo_metadata(group=group)),
        )
        for iid, url, group in DEMO_IMAGES
    ]
