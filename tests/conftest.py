"""Shared fixtures: one real labeldesk server per test session (REST + gRPC on free ports),
the official clarifai-grpc client on both of its channels, and small factories.

Set LABELDESK_TEST_DATABASE_URL to run the whole suite against PostgreSQL (``.ci/run`` does);
otherwise a fresh SQLite file is used. Tests isolate themselves by creating their own users and
apps with unique ids, so no test depends on another's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from clarifai_grpc.channel.clarifai_channel import ClarifaiChannel
from clarifai_grpc.grpc.api import resources_pb2, service_pb2_grpc
from hypothesis import settings as hypothesis_settings

from labeldesk.app import RunningServer, build
from labeldesk.config import Settings
from labeldesk.services import admin

TRANSPORTS = ["rest", "grpc"]

# Property tests in CI: the same examples on every run (derandomize), a fixed count and no
# per-example deadline on a loaded machine, so a red run reproduces locally with
# HYPOTHESIS_PROFILE=ci. `.ci/run` sets it; a plain `pytest` keeps hypothesis's random search.
hypothesis_settings.register_profile("ci", derandomize=True, max_examples=200, deadline=None, print_blob=True)
if os.environ.get("HYPOTHESIS_PROFILE") or os.environ.get("CI"):
    hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("LABELDESK_TEST_DATABASE_URL")
    if url:
        return url
    path: Path = tmp_path_factory.mktemp("db") / "labeldesk-test.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = replace(Settings.from_env(), blob_dir=str(tmp_path_factory.mktemp("blobs")))
    running = RunningServer(build(database_url, settings=settings), "127.0.0.1", 0, 0).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def rest_stub(server: RunningServer) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(ClarifaiChannel.get_json_channel(base_url=server.base_url))


@pytest.fixture(scope="session")
def grpc_stub(server: RunningServer) -> service_pb2_grpc.V2Stub:
    return service_pb2_grpc.V2Stub(
        ClarifaiChannel.get_insecure_grpc_channel(base="127.0.0.1", port=server.grpc_port)
    )


@pytest.fixture(params=TRANSPORTS)
def stub(request: pytest.FixtureRequest, rest_stub: Any, grpc_stub: Any) -> service_pb2_grpc.V2Stub:
    """The official client's stub, once over the JSON/REST channel and once over gRPC."""
    return rest_stub if request.param == "rest" else grpc_stub


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class AppFixture:
    """A user with an app: ids, the owner's PAT and an app key."""

    user_id: str
    app_id: str
    pat: str
    app_key: str
    server: RunningServer

    @property
    def uai(self) -> resources_pb2.UserAppIDSet:
        return resources_pb2.UserAppIDSet(user_id=self.user_id, app_id=self.app_id)

    @property
    def meta(self) -> tuple[tuple[str, str]]:
        """gRPC metadata authenticating as the owner (PAT)."""
        return (("authorization", f"Key {self.pat}"),)

    @property
    def key_meta(self) -> tuple[tuple[str, str]]:
        """gRPC metadata with the app-scoped key (no user_app_id needed)."""
        return (("authorization", f"Key {self.app_key}"),)

    def new_user(self, prefix: str = "user", collaborator: bool = True) -> tuple[str, tuple[tuple[str, str]]]:
        """Another user (by default a collaborator of this app): id and auth metadata."""
        uid = unique(prefix)
        pat = admin.create_user(self.server.app.db, uid, f"{uid}@example.com")
        if collaborator:
            admin.add_collaborator(self.server.app.db, self.user_id, self.app_id, uid)
        return uid, (("authorization", f"Key {pat}"),)


@pytest.fixture
def app(server: RunningServer) -> AppFixture:
    user_id, app_id = unique("owner"), unique("app")
    pat = admin.create_user(server.app.db, user_id, f"{user_id}@example.com")
    admin.create_app(server.app.db, user_id, app_id)
    key = admin.create_app_key(server.app.db, user_id, app_id)
    return AppFixture(user_id, app_id, pat, key, server)
