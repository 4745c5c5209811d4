"""The REST route compiler against the real V2 service descriptor of clarifai-grpc."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from clarifai_grpc.grpc.api import service_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from labeldesk.transport.rest.routes import (
    Binding,
    Router,
    Variable,
    _parse_template,
    _rank,
    compile_routes,
)
from tests.helpers import best_time

SERVICE = service_pb2.DESCRIPTOR.services_by_name["V2"]
IMPLEMENTED = frozenset(
    {"GetTask", "ListTasks", "PostTasks", "PutTaskAssignments", "GetInput", "ListInputs", "PostInputs"}
)
APP = "/v2/users/u1/apps/a1"
NODEPOOL = "/v2/users/{user_app_id.user_id}/compute_clusters/{compute_cluster_id}/nodepools/{nodepool_id}"
RUNNERS = NODEPOOL + "/runners"
RUNNER_LOGS = RUNNERS + "/{runner_id}/{log_type}/logs"
VERSION_LOGS = (
    "/v2/users/{user_app_id.user_id}/compute_clusters/{compute_cluster_user_id}/{compute_cluster_id}"
    "/nodepools/{nodepool_id}/versions/{model_version_id}/{log_type}/logs"
)
# The only duplicate routes in clarifai-grpc 12.6: (HTTP method, template, winner, loser).
EXPECTED_COLLISIONS = {
    ("POST", RUNNERS, "PostRunners", "PatchRunners"),
    ("GET", RUNNER_LOGS, "ListLogEntries", "StreamLogEntries"),
    ("GET", VERSION_LOGS, "ListLogEntries", "StreamLogEntries"),
    ("GET", "/v2/pipelines", "ListPipelines", "PostPipelines"),
}


@pytest.fixture(scope="module")
def router() -> Router:
    return compile_routes(SERVICE, IMPLEMENTED)


def test_counts_every_binding(router: Router) -> None:
    bindings = router.bindings()
    assert len(bindings) == 467
    assert len({b.method.name for b in bindings}) == len(SERVICE.methods) == 273


@pytest.mark.parametrize(
    ("http_method", "path", "rpc", "params"),
    [
        # literal segments outrank variables ...
        ("GET", "/v2/inputs/status", "GetInputCount", {}),
        ("GET", "/v2/inputs/in1", "GetInput", {"input_id": "in1"}),
        ("DELETE", "/v2/inputs/annotations", "DeleteAnnotations", {}),
        ("DELETE", "/v2/inputs/in1", "DeleteInput", {"input_id": "in1"}),
        (
            "GET",
            f"{APP}/concepts/status",
            "GetConceptCounts",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1"},
        ),
        (
            "GET",
            f"{APP}/concepts/c1",
            "GetConcept",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1", "concept_id": "c1"},
        ),
        # ... but only among routes for the request's HTTP method (no GET /v2/inputs/annotations)
        ("GET", "/v2/inputs/annotations", "GetInput", {"input_id": "annotations"}),
        # task routes
        (
            "GET",
            "/v2/users/me/apps/a1/tasks/t1",
            "GetTask",
            {"user_app_id.user_id": "me", "user_app_id.app_id": "a1", "task_id": "t1"},
        ),
        ("GET", "/v2/tasks", "ListTasks", {}),
        ("GET", "/v2/tasks/t1", "GetTask", {"task_id": "t1"}),
        ("POST", "/v2/tasks", "PostTasks", {}),
        (
            "PUT",
            f"{APP}/tasks/t1/assignments",
            "PutTaskAssignments",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1", "task_id": "t1"},
        ),
        (
            "GET",
            f"{APP}/tasks/t1/annotations/count",
            "GetTaskAnnotationCount",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1", "task_id": "t1"},
        ),
        ("GET", "/v2/tasks/t1/annotations/count", "GetTaskAnnotationCount", {"task_id": "t1"}),
        ("GET", "/v2/tasks/t1/inputs/count", "GetTaskInputCount", {"task_id": "t1"}),
        (
            "GET",
            f"{APP}/tasks/t1/inputs/samples",
            "GetInputSamples",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1", "task_id": "t1"},
        ),
        ("GET", "/v2/tasks/t1/inputs/samples", "GetInputSamples", {"task_id": "t1"}),
        (
            "PATCH",
            f"{APP}/task/t1/annotations/status",
            "PatchAnnotationsStatus",
            {"user_app_id.user_id": "u1", "user_app_id.app_id": "a1", "task_id": "t1"},
        ),
        # nested path fields other than user_app_id
        ("GET", "/v2/cloud_providers/aws/regions", "ListCloudRegions", {"cloud_provider.id": "aws"}),
        # tolerance: trailing slash, query string, percent-decoding after splitting, method case
        ("GET", "/v2/tasks/", "ListTasks", {}),
        ("GET", "/v2/tasks/t1/?x=1", "GetTask", {"task_id": "t1"}),
        ("GET", "/v2/inputs/a%2Fb", "GetInput", {"input_id": "a/b"}),
        ("GET", "/v2/inputs/caf%C3%A9%20x", "GetInput", {"input_id": "café x"}),
        ("get", "/v2/tasks", "ListTasks", {}),
    ],
)
def test_match(router: Router, http_method: str, path: str, rpc: str, params: dict[str, str]) -> None:
    match = router.match(http_method, path)
    assert match is not None, f"{http_method} {path} did not match"
    assert match.method.name == rpc
    assert match.path_params == params
    assert match.http_method == http_method.upper()
    assert match.implemented == (rpc in IMPLEMENTED)


@pytest.mark.parametrize(
    ("http_method", "path"),
    [
        ("GET", "/v2/nothing-here"),
        ("GET", "/"),
        ("GET", "v2/tasks"),  # not an absolute path
        ("GET", "/v2//tasks"),  # an empty segment never fills a variable
        ("PUT", "/v2/tasks/t1/assignments"),  # PutTaskAssignments has only the long route
        ("PUT", "/v2/tasks"),  # right path, wrong method
    ],
)
def test_no_match(router: Router, http_method: str, path: str) -> None:
    assert router.match(http_method, path) is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v2/tasks", {"GET", "POST", "PATCH", "DELETE"}),
        ("/v2/tasks/t1", {"GET"}),
        (f"{APP}/tasks/t1/assignments", {"GET", "PUT"}),  # ListTaskAssignments + PutTaskAssignments
        ("/v2/inputs/annotations", {"GET", "DELETE"}),  # GetInput's variable + the DELETE literal
        ("/v2/nothing-here", set()),
    ],
)
def test_allowed_methods(router: Router, path: str, expected: set[str]) -> None:
    """Empty means 404; otherwise a request with another method is a 405 listing these."""
    assert router.allowed_methods(path) == expected


def test_body_spec_is_exposed(router: Router) -> None:
    post = router.match("POST", "/v2/tasks")
    get = router.match("GET", "/v2/tasks")
    assert post is not None and post.body == "*"
    assert get is not None and get.body == ""
    assert post.template == "/v2/tasks"


def test_collisions_are_few_and_known(router: Router) -> None:
    found = {
        (c.winner.http_method, c.winner.template, c.winner.method.name, c.loser.method.name)
        for c in router.collisions()
    }
    assert found == EXPECTED_COLLISIONS
    for collision in router.collisions():
        assert not router.is_routable(collision.loser)
        assert router.is_routable(collision.winner)


def test_implemented_methods_win_collisions() -> None:
    router = compile_routes(SERVICE, {"PatchRunners", "PostPipelines"})
    runners = router.match("POST", "/v2/users/u/compute_clusters/c/nodepools/n/runners")
    pipelines = router.match("GET", "/v2/pipelines")
    assert runners is not None and runners.method.name == "PatchRunners"
    assert pipelines is not None and pipelines.method.name == "PostPipelines"


def test_collision_resolution_is_deterministic() -> None:
    first = [(c.winner.order, c.loser.order) for c in compile_routes(SERVICE, IMPLEMENTED).collisions()]
    second = [(c.winner.order, c.loser.order) for c in compile_routes(SERVICE, IMPLEMENTED).collisions()]
    assert first == second


def test_unknown_implemented_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="NoSuchRpc"):
        compile_routes(SERVICE, {"GetTask", "NoSuchRpc"})


@pytest.mark.parametrize(
    ("template", "segments"),
    [
        ("/v2/tasks", ("v2", "tasks")),
        ("/v2/tasks/{task_id}", ("v2", "tasks", Variable("task_id"))),
        ("/v2/x/{a.b}/y", ("v2", "x", Variable("a.b"), "y")),
        ("/v2/x/{a=*}", ("v2", "x", Variable("a"))),
    ],
)
def test_parse_template(template: str, segments: tuple[object, ...]) -> None:
    assert _parse_template(template, "test") == segments


@pytest.mark.parametrize(
    "template", ["/v2/{name=**}", "/v2/{name=things/*}", "/v2/x:verb", "v2/x", "/v2/a{b}"]
)
def test_parse_template_rejects_what_the_protos_do_not_use(template: str) -> None:
    with pytest.raises(ValueError, match=r"unsupported|must start"):
        _parse_template(template, "test")


def test_no_binding_uses_multi_segment_variables(router: Router) -> None:
    assert all("=" not in b.template and "*" not in b.template for b in router.bindings())


# --- every binding, checked against a brute-force oracle --------------------------------------


def _fill(binding: Binding) -> tuple[str, dict[str, str]]:
    values = {path: f"val{i}" for i, path in enumerate(binding.field_paths)}
    parts = [values[s.field_path] if isinstance(s, Variable) else s for s in binding.segments]
    return "/" + "/".join(parts), values


def _specificity(binding: Binding) -> tuple[int, ...]:
    return tuple(1 if isinstance(s, Variable) else 0 for s in binding.segments)


def _oracle(bindings: Sequence[Binding], http_method: str, segments: Sequence[str]) -> Binding | None:
    """Linear scan over decoded segments: the most specific template (literal before variable,
    left to right), then the collision rank."""
    candidates = [
        b
        for b in bindings
        if b.http_method == http_method
        and len(b.segments) == len(segments)
        and all(
            (isinstance(t, Variable) and s != "") or t == s for t, s in zip(b.segments, segments, strict=True)
        )
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda b: (_specificity(b), _rank(b, IMPLEMENTED)))


def test_every_binding_matches_back(router: Router) -> None:
    losers = {id(c.loser): c.winner for c in router.collisions()}
    for binding in router.bindings():
        path, values = _fill(binding)
        match = router.match(binding.http_method, path)
        assert match is not None, binding.template
        expected = losers.get(id(binding), binding)
        assert match.method.full_name == expected.method.full_name, (binding.template, match)
        assert match.template == expected.template
        assert match.body == expected.body
        if expected is binding:
            assert match.path_params == values


def test_every_binding_agrees_with_the_oracle(router: Router) -> None:
    bindings = router.bindings()
    for binding in bindings:
        path, _ = _fill(binding)
        best = _oracle(bindings, binding.http_method, path.strip("/").split("/"))
        match = router.match(binding.http_method, path)
        assert best is not None and match is not None
        assert (match.method.full_name, match.template) == (best.method.full_name, best.template)


ROUTER = compile_routes(SERVICE, IMPLEMENTED)
_LITERALS = sorted({s for b in ROUTER.bindings() for s in b.segments if isinstance(s, str)})


@st.composite
def _near_miss_paths(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A real binding's path with some variables filled by literals of other routes and some
    literals swapped for ids: exactly where literal-vs-variable precedence matters."""
    binding = draw(st.sampled_from(ROUTER.bindings()))
    http_method = draw(st.sampled_from([binding.http_method, "GET", "DELETE"]))
    segments = []
    for segment in binding.segments:
        if isinstance(segment, Variable):
            segments.append(
                draw(st.one_of(st.sampled_from(_LITERALS), st.sampled_from(["me", "x1", "a%2Fb"])))
            )
        else:
            segments.append(draw(st.sampled_from([segment, segment, segment, "x1"])))
    return http_method, segments


@settings(max_examples=500, deadline=None)
@given(case=_near_miss_paths())
def test_router_agrees_with_the_oracle_on_near_misses(case: tuple[str, list[str]]) -> None:
    http_method, segments = case
    match = ROUTER.match(http_method, "/" + "/".join(segments))
    decoded = [s.replace("%2F", "/") for s in segments]  # decoding happens per segment, after splitting
    best = _oracle(ROUTER.bindings(), http_method, decoded)
    if best is None:
        assert match is None
        return
    assert match is not None
    assert (match.method.full_name, match.template) == (best.method.full_name, best.template)
    captured = [d for t, d in zip(best.segments, decoded, strict=True) if isinstance(t, Variable)]
    assert match.path_params == dict(zip(best.field_paths, captured, strict=True))


def test_matching_is_fast(router: Router) -> None:
    """A trie lookup, not a scan: generous bound, about 100x what a laptop needs."""
    paths = [_fill(b)[0] for b in router.bindings()]
    methods = [b.http_method for b in router.bindings()]

    def match_all() -> None:
        for method, path in zip(methods, paths, strict=True):
            router.match(method, path)

    assert best_time(match_all) / len(paths) < 500e-6
