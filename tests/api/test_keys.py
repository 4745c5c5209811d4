"""Key management through the official client on both channels: only a personal access token
manages keys, a listing never shows a token again, tokens are stored hashed, and a key creates
only keys weaker than or equal to itself."""

from __future__ import annotations

from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import text

from tests.helpers import AppFixture, fails, ok

ME = r.UserAppIDSet(user_id="me")


def _meta(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Key {token}"),)


def _new_pat(stub: Any, meta: Any, scopes: list[str] | None = None, description: str = "") -> str:
    key = r.Key(type="personal_access_token", description=description, scopes=scopes or ["All"])
    return str(ok(stub.PostKeys(s.PostKeysRequest(user_app_id=ME, keys=[key]), metadata=meta)).keys[0].id)


def _listed_ids(stub: Any, meta: Any) -> set[str]:
    return {k.id for k in ok(stub.ListKeys(s.ListKeysRequest(user_app_id=ME), metadata=meta)).keys}


def test_an_app_key_cannot_manage_keys(stub: Any, app: AppFixture) -> None:
    calls = {
        "ListKeys": lambda: stub.ListKeys(s.ListKeysRequest(), metadata=app.key_meta),
        "GetKey": lambda: stub.GetKey(s.GetKeyRequest(key_id=app.pat[:12]), metadata=app.key_meta),
        "DeleteKey": lambda: stub.DeleteKey(s.DeleteKeyRequest(key_id=app.pat[:12]), metadata=app.key_meta),
        "DeleteKey by token": lambda: stub.DeleteKey(
            s.DeleteKeyRequest(key_id=app.pat), metadata=app.key_meta
        ),
        "PostKeys": lambda: stub.PostKeys(
            s.PostKeysRequest(keys=[r.Key(type="personal_access_token", scopes=["All"])]),
            metadata=app.key_meta,
        ),
        "PatchKeys": lambda: stub.PatchKeys(
            s.PatchKeysRequest(action="overwrite", keys=[r.Key(id=app.pat[:12], scopes=["Keys:Get"])]),
            metadata=app.key_meta,
        ),
    }
    for name, call in calls.items():
        resp = call()
        assert resp.status.code == sc.CONN_INSUFFICIENT_SCOPES, (name, resp.status)
        assert "personal access token" in resp.status.description, name
    # the owner's PAT is untouched and still works
    ok(stub.ListApps(s.ListAppsRequest(user_app_id=ME), metadata=app.meta))
    assert app.pat[:12] in _listed_ids(stub, app.meta)


def test_a_listing_never_shows_a_token(stub: Any, app: AppFixture) -> None:
    token = _new_pat(stub, app.meta, description="second")
    ok(stub.ListApps(s.ListAppsRequest(user_app_id=ME), metadata=_meta(token)))
    ids = _listed_ids(stub, app.meta)
    assert ids == {app.pat[:12], app.app_key[:12], token[:12]}
    assert not ids & {app.pat, app.app_key, token}
    app_keys = ok(stub.ListAppKeys(s.ListAppKeysRequest(user_app_id=app.uai), metadata=app.meta)).keys
    assert [(k.id, k.apps[0].id) for k in app_keys] == [(app.app_key[:12], app.app_id)]
    got = ok(stub.GetKey(s.GetKeyRequest(user_app_id=ME, key_id=token[:12]), metadata=app.meta)).key
    assert (got.id, got.type, got.description) == (token[:12], "personal_access_token", "second")
    patched = ok(
        stub.PatchKeys(
            s.PatchKeysRequest(
                user_app_id=ME, action="merge", keys=[r.Key(id=token[:12], description="renamed")]
            ),
            metadata=app.meta,
        )
    ).keys
    assert [(k.id, k.description) for k in patched] == [(token[:12], "renamed")]
    ok(stub.DeleteKey(s.DeleteKeyRequest(user_app_id=ME, key_id=token[:12]), metadata=app.meta))
    gone = stub.ListApps(s.ListAppsRequest(user_app_id=ME), metadata=_meta(token))
    fails(gone, sc.CONN_KEY_INVALID)
    missing = stub.GetKey(s.GetKeyRequest(user_app_id=ME, key_id=token), metadata=app.meta)
    fails(missing, sc.CONN_DOES_NOT_EXIST, token[:12])
    assert token not in missing.status.description + missing.status.details


def test_a_key_can_be_deleted_by_its_token(stub: Any, app: AppFixture) -> None:
    token = _new_pat(stub, app.meta)
    ok(stub.DeleteKey(s.DeleteKeyRequest(user_app_id=ME, key_id=token), metadata=app.meta))
    assert token[:12] not in _listed_ids(stub, app.meta)


def test_another_users_key_cannot_be_seen_or_deleted(stub: Any, app: AppFixture) -> None:
    _, stranger = app.new_user("stranger", collaborator=False)
    for key_id in (app.pat[:12], app.pat):
        fails(
            stub.GetKey(s.GetKeyRequest(user_app_id=ME, key_id=key_id), metadata=stranger),
            sc.CONN_DOES_NOT_EXIST,
        )
        fails(
            stub.DeleteKey(s.DeleteKeyRequest(user_app_id=ME, key_id=key_id), metadata=stranger),
            sc.CONN_DOES_NOT_EXIST,
        )
    ok(stub.ListApps(s.ListAppsRequest(user_app_id=ME), metadata=app.meta))


def test_tokens_are_stored_hashed(stub: Any, app: AppFixture) -> None:
    token = _new_pat(stub, app.meta)
    with app.server.app.db.read() as conn:
        rows = [tuple(str(v) for v in row) for row in conn.execute(text("select * from keys"))]
    stored = " ".join(" ".join(row) for row in rows)
    for secret in (app.pat, app.app_key, token):
        assert secret[:12] in stored
        assert secret not in stored, "a token is in the database in plain text"


def test_a_key_creates_only_keys_within_its_own_scopes(stub: Any, app: AppFixture) -> None:
    weak = _new_pat(stub, app.meta, scopes=["Keys:Add", "Keys:Get", "Keys:Patch", "Inputs:Get"])
    for wanted in (["All"], [], ["Inputs:Get", "Inputs:Add"]):
        key = r.Key(type="personal_access_token", scopes=wanted)
        resp = stub.PostKeys(s.PostKeysRequest(user_app_id=ME, keys=[key]), metadata=_meta(weak))
        fails(resp, sc.CONN_INSUFFICIENT_SCOPES, "keys[0].scopes", "subset")
        app_key = r.Key(scopes=wanted, apps=[r.App(id=app.app_id, user_id=app.user_id)])
        resp = stub.PostKeys(s.PostKeysRequest(user_app_id=ME, keys=[app_key]), metadata=_meta(weak))
        fails(resp, sc.CONN_INSUFFICIENT_SCOPES, "keys[0].scopes")
    assert len(_listed_ids(stub, app.meta)) == 3, "nothing was created"
    weaker = _new_pat(stub, _meta(weak), scopes=["Inputs:Get", "Keys:Add"])
    widen = r.Key(id=weaker[:12], scopes=["All"])
    resp = stub.PatchKeys(
        s.PatchKeysRequest(user_app_id=ME, action="overwrite", keys=[widen]), metadata=_meta(weak)
    )
    fails(resp, sc.CONN_INSUFFICIENT_SCOPES, "keys[0].scopes")
    bad = r.Key(type="personal_access_token", scopes=["Inputs:Get", "inputs get"])
    fails(
        stub.PostKeys(s.PostKeysRequest(user_app_id=ME, keys=[bad]), metadata=app.meta),
        sc.CONN_INVALID_REQUEST,
        "keys[0].scopes[1]",
    )


def _app_key(stub: Any, app: AppFixture, scopes: list[str]) -> tuple[tuple[str, str]]:
    key = r.Key(scopes=scopes, apps=[r.App(id=app.app_id, user_id=app.user_id)])
    return _meta(
        ok(stub.PostKeys(s.PostKeysRequest(user_app_id=ME, keys=[key]), metadata=app.meta)).keys[0].id
    )


def test_task_work_rpcs_need_the_task_scopes(stub: Any, app: AppFixture) -> None:
    """GetInputSamples reads a task (Tasks:Get); ListNextTaskAssignments hands out work (Tasks:Add)."""
    samples = s.GetInputSamplesRequest(task_id="t-none")
    inputs_only = _app_key(stub, app, ["Inputs:Get"])
    fails(stub.GetInputSamples(samples, metadata=inputs_only), sc.CONN_INSUFFICIENT_SCOPES, "'Tasks:Get'")
    with_tasks = _app_key(stub, app, ["Inputs:Get", "Tasks:Get"])
    assert stub.GetInputSamples(samples, metadata=with_tasks).status.code != sc.CONN_INSUFFICIENT_SCOPES
    work = s.ListNextTaskAssignmentsRequest(task_id="t-none")
    fails(stub.ListNextTaskAssignments(work, metadata=with_tasks), sc.CONN_INSUFFICIENT_SCOPES, "'Tasks:Add'")
    worker = _app_key(stub, app, ["Inputs:Get", "Tasks:Get", "Tasks:Add"])
    assert stub.ListNextTaskAssignments(work, metadata=worker).status.code != sc.CONN_INSUFFICIENT_SCOPES


def test_a_deleted_or_narrowed_key_stops_working_at_once_though_keys_are_cached(
    stub: Any, app: AppFixture
) -> None:
    """The server remembers resolved keys for a few seconds (docs/security.md): a change made
    through this server must still take effect on the very next call."""
    token = _new_pat(stub, app.meta)
    get_app = s.GetAppRequest(user_app_id=app.uai)
    for _ in range(3):  # resolved, then served from memory
        ok(stub.GetApp(get_app, metadata=_meta(token)))
    patch = r.Key(id=token[:12], scopes=["Keys:Get"])
    ok(
        stub.PatchKeys(
            s.PatchKeysRequest(user_app_id=ME, action="overwrite", keys=[patch]), metadata=app.meta
        )
    )
    fails(stub.GetApp(get_app, metadata=_meta(token)), sc.CONN_INSUFFICIENT_SCOPES, "Apps:Get")
    ok(stub.DeleteKey(s.DeleteKeyRequest(user_app_id=ME, key_id=token), metadata=app.meta))
    fails(stub.GetApp(get_app, metadata=_meta(token)), sc.CONN_KEY_INVALID)
    fails(stub.ListKeys(s.ListKeysRequest(user_app_id=ME), metadata=_meta(token)), sc.CONN_KEY_INVALID)
