"""Schemathesis over labeldesk's own ``GET /openapi.json``: every operation, a few derandomized
examples each (valid and invalid ones), sent with the owner's key to the owner's app; no answer may
be a 5xx other than the deliberate ones (501 for an unimplemented RPC, 503 "busy, retry")."""

from __future__ import annotations

from collections import Counter
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from labeldesk.app import RunningServer
from tests.helpers import AppFixture

POSITIVE_EXAMPLES = 3
NEGATIVE_EXAMPLES = 1
DELIBERATE = {501, 503}
# would remove the credentials or the app the rest of the run works in
SKIP = ("DeleteApp", "DeleteKey")


def test_openapi_document_lists_the_served_rpcs(server: RunningServer) -> None:
    doc = requests.get(f"{server.base_url}/openapi.json", timeout=30).json()
    assert doc["openapi"].startswith("3.")
    summaries = {op["summary"] for path in doc["paths"].values() for op in path.values()}
    assert server.app.dispatcher.implemented <= summaries
    post_inputs = doc["paths"]["/v2/users/{user_app_id_user_id}/apps/{user_app_id_app_id}/inputs"]["post"]
    body = post_inputs["requestBody"]["content"]["application/json"]["schema"]
    assert "inputs" in body["properties"] and "user_app_id" not in body["properties"]
    ok_schema = post_inputs["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"status", "inputs"} <= set(ok_schema["properties"])
    assert {"/healthz", "/readyz", "/metrics", "/openapi.json"} <= set(doc["paths"])
    delayed = doc["paths"]["/api/v2/clients/{clientId}/delayed_tasks"]["get"]["parameters"]
    assert {"clientId", "offset", "per_page"} <= {p["name"] for p in delayed}


def _aim(case: Any, app: AppFixture) -> None:
    """Point the case at the fixture's app and authenticate it there (over any generated header)."""
    params = case.path_parameters or {}
    key = app.app_key  # short routes: the app key names the app
    if case.path.startswith("/api/v2/"):
        key = app.pat  # the staged-workflow API acts for a user
    if "user_app_id_user_id" in params:
        params["user_app_id_user_id"] = app.user_id
        if "user_app_id_app_id" in params:
            params["user_app_id_app_id"] = app.app_id
        key = app.pat
    case.headers = {**(case.headers or {}), "Authorization": f"Key {key}"}


def test_fuzz_finds_no_server_errors(server: RunningServer, app: AppFixture, figures: Counter[str]) -> None:
    doc = requests.get(f"{server.base_url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(doc)
    statuses: Counter[int] = Counter()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if any(name == operation.definition.raw.get("summary") for name in SKIP):
            continue
        operations += 1
        for mode, examples in (
            (schemathesis.GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
            (schemathesis.GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES),
        ):

            @settings(
                max_examples=examples,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def send(case: Any) -> None:
                _aim(case, app)
                answer = case.call(base_url=server.base_url, timeout=30)
                statuses[answer.status_code] += 1
                if answer.status_code >= 500 and answer.status_code not in DELIBERATE:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {answer.status_code}: {answer.text[:300]}"
                    )

            send()
    figures["fuzz operations"] = operations
    figures["fuzz examples run"] = sum(statuses.values())
    print(f"fuzz: {operations} operations, {sum(statuses.values())} examples, HTTP statuses {dict(statuses)}")
    assert not failures, "\n".join(failures)
    assert statuses[200] > 0, "no example ever succeeded: the fuzz run is not reaching the handlers"
