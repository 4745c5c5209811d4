"""One transaction and one error path for every call (services/dispatch.py, storage/engine.py,
services/failures.py), on the test database (SQLite, or PostgreSQL in CI): a read RPC cannot write,
a write RPC commits, a constraint violation is DATABASE_CONSTRAINT_VIOLATED, anything unexpected is
the one "internal error" naming its req_id."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import Connection, insert, select

from labeldesk.domain import errors
from labeldesk.services import registry as rpc
from labeldesk.services.auth import Authenticator
from labeldesk.services.dispatch import Dispatcher
from labeldesk.storage import tables as t
from labeldesk.storage.clock import utcnow
from labeldesk.storage.engine import Database, after_commit
from labeldesk.storage.repos import accounts
from tests.helpers import AppFixture, unique


def _add_user(conn: Connection, user_id: str) -> None:
    accounts.insert_user(conn, user_id)


def _add_user_unchecked(conn: Connection, user_id: str) -> None:
    """An insert the database itself refuses when the id is taken."""
    conn.execute(insert(t.users).values(id=user_id, created_at=utcnow()))


class Probe:
    """Handlers that write, whatever the kind they are registered with."""

    @rpc.read("GetConcept")
    def get_concept(self, conn: Connection, ctx: Any, request: s.GetConceptRequest) -> Any:
        _add_user(conn, request.concept_id)
        return s.SingleConceptResponse()

    @rpc.write("PostConcepts")
    def post_concepts(self, conn: Connection, ctx: Any, request: s.PostConceptsRequest) -> Any:
        _add_user(conn, request.concepts[0].id)
        return s.MultiConceptResponse()

    @rpc.write("PatchConcepts")
    def patch_concepts(self, conn: Connection, ctx: Any, request: s.PatchConceptsRequest) -> Any:
        _add_user_unchecked(conn, request.concepts[0].id)
        _add_user_unchecked(conn, request.concepts[0].id)
        return s.MultiConceptResponse()

    @rpc.read("ListConcepts")
    def list_concepts(self, conn: Connection, ctx: Any, request: Any) -> Any:
        raise RuntimeError("a bug")

    def __init__(self) -> None:
        #: what the after-commit effects saw: (model id, was its user committed when it ran)
        self.effects: list[tuple[str, bool]] = []
        self.db: Database | None = None

    def _effect(self, user_id: str) -> None:
        assert self.db is not None
        self.effects.append((user_id, _exists(self.db, user_id)))

    @rpc.write("PostModels")
    def post_models(self, conn: Connection, ctx: Any, request: s.PostModelsRequest) -> Any:
        user_id = request.models[0].id
        after_commit(conn, lambda: 1 / 0)  # a failing effect: logged, the others still run
        after_commit(conn, lambda: self._effect(user_id))
        _add_user(conn, user_id)
        return s.MultiModelResponse()

    @rpc.write("PatchModels")
    def patch_models(self, conn: Connection, ctx: Any, request: s.PatchModelsRequest) -> Any:
        user_id = request.models[0].id
        after_commit(conn, lambda: self._effect(user_id))
        _add_user(conn, user_id)
        raise errors.invalid("refused after writing")


@pytest.fixture
def probe(app: AppFixture) -> Dispatcher:
    service = Probe()
    service.db = app.server.app.db
    return Dispatcher(app.server.app.db, [service], Authenticator())


def _probe_service(dispatcher: Dispatcher) -> Probe:
    service = dispatcher.registry["PostModels"].handler.__self__  # type: ignore[attr-defined]
    assert isinstance(service, Probe)
    return service


def _exists(db: Database, user_id: str) -> bool:
    with db.read() as conn:
        return conn.execute(select(t.users.c.id).where(t.users.c.id == user_id)).first() is not None


def test_a_write_rpc_commits_and_a_read_rpc_cannot_write(probe: Dispatcher, app: AppFixture) -> None:
    key = f"Key {app.pat}"
    written, refused = unique("w"), unique("r")
    resp = probe.call(
        "PostConcepts", s.PostConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id=written)]), key
    )
    assert resp.status.code == sc.SUCCESS and _exists(probe.db, written)
    resp = probe.call("GetConcept", s.GetConceptRequest(user_app_id=app.uai, concept_id=refused), key)
    assert resp.status.code == sc.INTERNAL_SERVER_ISSUE and not _exists(probe.db, refused)


def test_after_commit_effects_run_once_committed_and_never_after_a_rollback(
    probe: Dispatcher, app: AppFixture
) -> None:
    key, service = f"Key {app.pat}", _probe_service(probe)
    kept, refused = unique("kept"), unique("refused")
    resp = probe.call("PostModels", s.PostModelsRequest(user_app_id=app.uai, models=[r.Model(id=kept)]), key)
    assert resp.status.code == sc.SUCCESS, resp.status
    assert service.effects == [(kept, True)]  # after the commit: another connection sees the row
    resp = probe.call(
        "PatchModels", s.PatchModelsRequest(user_app_id=app.uai, models=[r.Model(id=refused)]), key
    )
    assert resp.status.code == sc.CONN_INVALID_REQUEST and "refused after writing" in resp.status.description
    assert service.effects == [(kept, True)] and not _exists(probe.db, refused)


def test_every_registered_write_rpc_gets_a_write_transaction(server: Any) -> None:
    dispatcher = server.app.dispatcher
    for name, reg in dispatcher.registry.items():
        assert dispatcher.routes[name].writes is reg.writes, name
        assert dispatcher.routes[name].handler == reg.handler


def test_a_constraint_violation_is_one_code_and_nothing_is_written(
    probe: Dispatcher, app: AppFixture
) -> None:
    dup = unique("dup")
    resp = probe.call(
        "PatchConcepts",
        s.PatchConceptsRequest(user_app_id=app.uai, concepts=[r.Concept(id=dup)]),
        f"Key {app.pat}",
    )
    assert resp.status.code == sc.DATABASE_CONSTRAINT_VIOLATED
    assert "nothing was written" in resp.status.description and resp.status.req_id
    assert not _exists(probe.db, dup)


def test_the_database_translates_its_errors_in_one_place(app: AppFixture) -> None:
    db = app.server.app.db
    dup = unique("dup")
    with pytest.raises(errors.ApiError) as e, db.write() as conn:
        _add_user_unchecked(conn, dup)
        _add_user_unchecked(conn, dup)
    assert e.value.code == errors.CONSTRAINT_VIOLATED
    assert "UNIQUE" in e.value.details.upper() or "DUPLICATE" in e.value.details.upper()
    assert not _exists(db, dup)


def test_an_unexpected_failure_is_the_one_internal_error(
    probe: Dispatcher, app: AppFixture, caplog: pytest.LogCaptureFixture
) -> None:
    resp = probe.call("ListConcepts", s.ListConceptsRequest(user_app_id=app.uai), f"Key {app.pat}")
    assert resp.status.code == sc.INTERNAL_SERVER_ISSUE
    assert resp.status.description == "internal error: the request was not carried out"
    assert resp.status.details == f"report req_id {resp.status.req_id} to the server's operator"
    assert f"internal error in ListConcepts (req_id {resp.status.req_id})" in caplog.text
    assert "RuntimeError: a bug" in caplog.text
