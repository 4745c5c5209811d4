"""The console's Apps & people screen in Chromium: a key created with chosen scopes shows its
secret once (then only its public id, with its scopes), and a collaborator added with chosen
scopes, changed, and removed — each step checked in what the server holds."""

from __future__ import annotations

import uuid
from typing import Any

from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from labeldesk.app import RunningServer
from labeldesk.services import admin
from tests.browser.scenario import Scenario, build_scenario, ok
from tests.browser.workbench import assert_controls_labelled, open_page, screenshot, sign_in


def _collaborators(sn: Scenario) -> dict[str, list[str]]:
    got = ok(sn.stub.ListCollaborators(s.ListCollaboratorsRequest(user_app_id=sn.uai), metadata=sn.meta()))
    return {c.user.id: list(c.scopes) for c in got.collaborators}


def test_key_secret_is_shown_once_and_collaborator_scopes_are_set_changed_removed(
    browser: Any, server: RunningServer, rest_stub: Any
) -> None:
    sn = build_scenario(server, rest_stub, uuid.uuid4().hex[:8], n_images=1)
    page = open_page(browser, server.base_url)
    sign_in(page, sn.owner, sn.owner_pat)
    page.goto(f"/console/{sn.owner}/{sn.app_id}/people")
    page.get_by_role("heading", name="Keys").wait_for()

    # a key that may only read inputs: the secret is shown once
    page.locator("input[name=key-description]").fill("read-only export")
    page.locator("input[name=key-scope][value=All]").uncheck()
    page.locator("input[name=key-scope][value='Inputs:Get']").check()
    page.get_by_role("button", name=f"Create key for {sn.app_id}").click()
    secret = page.get_by_test_id("new-secret").inner_text().strip()
    assert len(secret) >= 20
    row = page.locator("[data-testid=keys] li", has_text="read-only export")
    row.wait_for()
    assert row.get_by_test_id("scopes").inner_text().split() == ["Inputs:Get"]
    public_id = row.get_attribute("data-key")
    assert public_id and secret.startswith(public_id) and public_id != secret
    # the server holds it with that scope: the secret reads inputs and cannot add concepts
    meta = (("authorization", f"Key {secret}"),)
    ok(rest_stub.ListInputs(s.ListInputsRequest(), metadata=meta))
    denied = rest_stub.PostConcepts(s.PostConceptsRequest(concepts=[r.Concept(id="x")]), metadata=meta)
    assert denied.status.code == sc.CONN_INSUFFICIENT_SCOPES
    screenshot(page, "console-people-key")
    # once the page is left and opened again, only the public id is left
    page.reload()
    row.wait_for()
    assert page.get_by_test_id("new-secret").count() == 0
    assert secret not in page.content()
    assert public_id in page.content()

    # a collaborator with two scopes
    newcomer = f"nico-{sn.app_id}"
    nico = (
        ("authorization", f"Key {admin.create_user(server.app.db, newcomer, f'{newcomer}@example.com')}"),
    )
    add = page.get_by_role("form", name="Add collaborator")
    add.get_by_label("User id").fill(newcomer)
    add.locator("input[name=collab-scope][value=All]").uncheck()
    add.locator("input[name=collab-scope][value='Inputs:Get']").check()
    add.locator("input[name=collab-scope][value='Annotations:Add']").check()
    add.get_by_role("button", name="Add collaborator").click()
    item = page.locator(f"li[data-collaborator='{newcomer}']")
    item.get_by_test_id("scopes").filter(has_text="Annotations:Add").wait_for()
    assert item.get_by_test_id("scopes").inner_text().split() == ["Inputs:Get", "Annotations:Add"]
    assert _collaborators(sn)[newcomer] == ["Inputs:Get", "Annotations:Add"]
    # the scopes bound what their own key may do in this app
    ok(rest_stub.ListInputs(s.ListInputsRequest(user_app_id=sn.uai), metadata=nico))
    denied = rest_stub.ListTasks(s.ListTasksRequest(user_app_id=sn.uai), metadata=nico)
    assert denied.status.code == sc.CONN_INSUFFICIENT_SCOPES, denied.status

    # change: drop Annotations:Add, add Tasks:Get
    item.get_by_role("button", name="Change scopes").click()
    item.locator("input[name=edit-scope][value='Annotations:Add']").uncheck()
    item.locator("input[name=edit-scope][value='Tasks:Get']").check()
    screenshot(page, "console-people-scopes")
    item.get_by_role("button", name="Save scopes").click()
    item.get_by_test_id("scopes").filter(has_text="Tasks:Get").wait_for()
    assert item.get_by_test_id("scopes").inner_text().split() == ["Inputs:Get", "Tasks:Get"]
    assert _collaborators(sn)[newcomer] == ["Inputs:Get", "Tasks:Get"]
    ok(rest_stub.ListTasks(s.ListTasksRequest(user_app_id=sn.uai), metadata=nico))
    assert_controls_labelled(page)

    # remove
    item.get_by_role("button", name=f"Remove {newcomer}").click()
    item.wait_for(state="detached")
    assert newcomer not in _collaborators(sn)
    assert page.js_errors == [], page.js_errors
