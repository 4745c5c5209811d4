"""JSON -> proto for the REST transport, including what the official JSON client really sends, and
round trips through the printer."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from clarifai_grpc.channel.custom_converters.custom_message_to_dict import protobuf_to_dict
from clarifai_grpc.channel.grpc_json_channel import GRPCJSONChannel, _pick_proper_endpoint
from clarifai_grpc.channel.http_client import HttpClient
from clarifai_grpc.grpc.api import resources_pb2, service_pb2
from clarifai_grpc.grpc.api.status import status_code_pb2, status_pb2
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.errors import ApiError
from labeldesk.transport.convert.json_parse import build_request, parse_json_body
from labeldesk.transport.rest.routes import RouteMatch, Router, compile_routes
from labeldesk.wire.printer import message_to_json, message_to_json_bytes
from tests.protos import annotation, f32, ids, structs

SERVICE = service_pb2.DESCRIPTOR.services_by_name["V2"]
ROUTER: Router = compile_routes(SERVICE, ())
BASE_URL = "http://testserver"
CLIENT_RESOURCES = GRPCJSONChannel(session=None, base_url=BASE_URL).name_to_resources


def route(http_method: str, path: str) -> RouteMatch:
    match = ROUTER.match(http_method, path)
    assert match is not None, f"{http_method} {path}"
    return match


def body_of(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def parse_query(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


# =============================================================================================
# build_request: query string
# =============================================================================================


def test_query_string_the_way_the_client_sends_it() -> None:
    query = (
        "user_app_id.user_id=alice&user_app_id.app_id=app1"
        "&page=2&per_page=5&ids=a&ids=b&list_all_annotations=True"
    )
    request = build_request(route("GET", "/v2/annotations"), parse_query(query), b"")
    assert request == service_pb2.ListAnnotationsRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="alice", app_id="app1"),
        page=2,
        per_page=5,
        ids=["a", "b"],
        list_all_annotations=True,
    )


def test_query_dotted_paths_into_nested_messages() -> None:
    match = route("POST", "/v2/annotations/searches")
    request = build_request(match, parse_query("pagination.page=2&pagination.per_page=50"), b"")
    assert request == service_pb2.PostAnnotationsSearchesRequest(
        pagination=service_pb2.Pagination(page=2, per_page=50)
    )


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("list_all_annotations=True", True),
        ("list_all_annotations=true", True),
        ("list_all_annotations=1", True),
        ("list_all_annotations=False", False),
        ("list_all_annotations=false", False),
        ("list_all_annotations=0", False),
        ("list_all_annotations=", False),  # empty: not given
    ],
)
def test_query_booleans(query: str, expected: bool) -> None:
    request = build_request(route("GET", "/v2/annotations"), parse_query(query), b"")
    assert request.list_all_annotations is expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("worker_user_ids=a&worker_user_ids=b", ["a", "b"]),
        ("worker_user_ids=a,b", ["a", "b"]),
        ("worker_user_ids=a,b&worker_user_ids=c", ["a", "b", "c"]),
        ("worker_user_ids=a,,b,", ["a", "b"]),
        ("worker_user_ids=", []),
    ],
)
def test_query_repeated_strings(query: str, expected: list[str]) -> None:
    request = build_request(route("GET", "/v2/tasks"), parse_query(query), b"")
    assert list(request.worker_user_ids) == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["INPUT_SOURCE_TYPE_NOT_SET", "0", "all_inputs", "ALL_INPUTS", "1"])
def test_query_enums_by_name_or_number(value: str) -> None:
    request = build_request(route("GET", "/v2/tasks"), [("input_source_type", value)], b"")
    expected = resources_pb2.TaskInputSource.TaskInputSourceType.Value(
        "ALL_INPUTS" if value.upper() in ("ALL_INPUTS", "1") else "INPUT_SOURCE_TYPE_NOT_SET"
    )
    assert request.input_source_type == expected  # type: ignore[attr-defined]


def test_query_repeated_message_by_dotted_key_or_json() -> None:
    query = [("statuses.code", "ANNOTATION_SUCCESS"), ("statuses.code", "24151")]
    request = build_request(route("GET", "/v2/annotations"), query, b"")
    assert [s.code for s in request.statuses] == [  # type: ignore[attr-defined]
        status_code_pb2.ANNOTATION_SUCCESS,
        status_code_pb2.ANNOTATION_PENDING,
    ]
    as_json = [("statuses", '{"code": "ANNOTATION_SUCCESS"}')]
    request = build_request(route("GET", "/v2/annotations"), as_json, b"")
    assert [s.code for s in request.statuses] == [status_code_pb2.ANNOTATION_SUCCESS]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("path", "query", "read"),
    [
        ("/v2/annotations", [("statuses", "ANNOTATION_PENDING")], lambda m: [s.code for s in m.statuses]),
        ("/v2/annotations", [("statuses", "24151")], lambda m: [s.code for s in m.statuses]),
        ("/v2/annotations", [("statuses", "annotation_pending")], lambda m: [s.code for s in m.statuses]),
        ("/v2/inputs", [("status", "ANNOTATION_PENDING")], lambda m: [m.status.code]),
    ],
)
def test_query_message_with_a_leading_enum_takes_the_enum_alone(
    path: str, query: list[tuple[str, str]], read: Any
) -> None:
    """``statuses=X`` is ``statuses.code=X``: the message's first field is an enum, so a bare
    value can only mean that enum (grpc-gateway needs the dotted key; this is a superset)."""
    assert read(build_request(route("GET", path), query, b"")) == [status_code_pb2.ANNOTATION_PENDING]


def test_query_visibility_by_its_enum() -> None:
    request = build_request(route("GET", "/v2/models"), [("visibility", "PUBLIC")], b"")
    assert request.visibility.gettable == resources_pb2.Visibility.PUBLIC  # type: ignore[attr-defined]


def test_query_unknown_keys_are_ignored() -> None:
    query = [("nope", "1"), ("user_app_id.nope", "x"), ("ids.deeper", "y"), ("ids", "a")]
    request = build_request(route("GET", "/v2/annotations"), query, b"")
    assert request == service_pb2.ListAnnotationsRequest(ids=["a"], user_app_id=resources_pb2.UserAppIDSet())


def test_query_json_names_are_accepted() -> None:
    request = build_request(route("GET", "/v2/annotations"), [("listAllAnnotations", "true")], b"")
    assert request.list_all_annotations is True  # type: ignore[attr-defined]


# =============================================================================================
# build_request: body, and the order body < query < path
# =============================================================================================


def test_path_params_fill_nested_fields_and_win() -> None:
    match = route("GET", "/v2/users/me/apps/a1/tasks/t1")
    query = [("user_app_id.user_id", "alice"), ("user_app_id.app_id", "other"), ("task_id", "t9")]
    request = build_request(match, query, b"")
    assert request == service_pb2.GetTaskRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="me", app_id="a1"), task_id="t1"
    )


def test_body_then_query_then_path() -> None:
    match = route("POST", "/v2/users/u1/apps/a1/annotations/searches")
    body = body_of(
        {"user_app_id": {"user_id": "body", "app_id": "body"}, "pagination": {"page": 1, "per_page": 9}}
    )
    request = build_request(match, [("pagination.page", "3")], body)
    assert request == service_pb2.PostAnnotationsSearchesRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="u1", app_id="a1"),
        pagination=service_pb2.Pagination(page=3, per_page=9),
    )


def test_query_replaces_a_list_from_the_body() -> None:
    match = route("DELETE", "/v2/inputs")
    request = build_request(match, [("ids", "q1")], body_of({"ids": ["b1", "b2"]}))
    assert list(request.ids) == ["q1"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"tasks": [{"worker": {"strategy": "FULL"}}]}, resources_pb2.TaskWorker.FULL),
        ({"tasks": [{"worker": {"strategy": 3}}]}, resources_pb2.TaskWorker.FULL),
        ({"tasks": [{"worker": {"strategy": "3"}}]}, resources_pb2.TaskWorker.FULL),
        ({"tasks": [{"worker": {"strategy": 3.0}}]}, resources_pb2.TaskWorker.FULL),
        ({"tasks": [{"worker": {"strategy": "full"}}]}, resources_pb2.TaskWorker.FULL),
        ({"tasks": [{"worker": {"strategy": 2}}]}, resources_pb2.TaskWorker.PARTITIONED),
    ],
)
def test_body_enums_by_name_or_number(body: dict[str, Any], expected: int) -> None:
    request = build_request(route("POST", "/v2/tasks"), [], body_of(body))
    assert request.tasks[0].worker.strategy == expected  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), ("True", True), ("true", True), ("1", True), (1, True), (False, False), ("False", False)],
)
def test_body_booleans(value: Any, expected: bool) -> None:
    match = route("POST", "/v2/users/u/apps/a/tasks")
    request = build_request(match, [], body_of({"tasks": [{"delete_previous_annotations": value}]}))
    assert request.tasks[0].delete_previous_annotations is expected  # type: ignore[attr-defined]


def test_body_tolerates_the_usual_liberties() -> None:
    body = {
        "user_app_id": {"user_id": "u", "app_id": "a"},  # repeated although the path has it
        "unknownField": {"deep": [1, 2]},
        "tasks": [
            {
                "id": "t1",
                "conceptIds": "only-one",  # camelCase JSON name, and a bare value for a list
                "sample_ms": "1500",  # number as a string
                "review": {"strategy": "CONSENSUS", "consensus_strategy_info": {"approval_threshold": None}},
                "metadata": {"anything": {"goes": [1, "two", None, True]}},
            }
        ],
    }
    request = build_request(route("POST", "/v2/users/u/apps/a/tasks"), [], body_of(body))
    task = request.tasks[0]  # type: ignore[attr-defined]
    assert list(task.concept_ids) == ["only-one"]
    assert task.sample_ms == 1500
    assert task.review.strategy == resources_pb2.TaskReview.CONSENSUS
    assert task.review.HasField("consensus_strategy_info")
    assert message_to_json(task.metadata) == {"anything": {"goes": [1, "two", None, True]}}


def test_struct_fields_take_any_object_verbatim() -> None:
    info = {"frame": 3, "nested": {"list": [{"a": 1.5}], "flag": False}, "empty": {}}
    body = {"annotations": [{"input_id": "i1", "annotation_info": info}]}
    request = build_request(route("POST", "/v2/annotations"), [], body_of(body))
    annotation = request.annotations[0]  # type: ignore[attr-defined]
    assert message_to_json(annotation)["annotation_info"] == info


def test_concept_value_defaults_to_one_when_omitted_like_the_client_parser() -> None:
    body = {"annotations": [{"data": {"concepts": [{"id": "cat"}, {"id": "dog", "value": 0}]}}]}
    request = build_request(route("POST", "/v2/annotations"), [], body_of(body))
    concepts = request.annotations[0].data.concepts  # type: ignore[attr-defined]
    assert [c.value for c in concepts] == [1.0, 0.0]


@pytest.mark.parametrize("body", [b"", b"   ", b"\n"])
def test_empty_body_is_an_empty_request(body: bytes) -> None:
    assert build_request(route("POST", "/v2/tasks"), [], body) == service_pb2.PostTasksRequest()


def test_json_body_on_delete_with_empty_body_spec() -> None:
    match = route("DELETE", "/v2/users/u/apps/a/inputs/in1")
    assert match.body == ""
    request = build_request(match, [], body_of({"user_app_id": {"user_id": "x", "app_id": "y"}}))
    assert request == service_pb2.DeleteInputRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="u", app_id="a"), input_id="in1"
    )


@pytest.mark.parametrize("body", [b'{"ids": ["a"]}', b"not json", b"[1, 2]"])
def test_get_with_a_body_is_tolerated(body: bytes) -> None:
    request = build_request(route("GET", "/v2/annotations"), [("ids", "q")], body)
    assert list(request.ids) == ["q"]  # type: ignore[attr-defined]


def test_body_spec_naming_a_field_puts_the_body_there() -> None:
    match = RouteMatch(
        method=SERVICE.methods_by_name["PostTasks"], path_params={}, http_method="POST", body="tasks"
    )
    request = build_request(match, [], body_of([{"id": "t1"}, {"id": "t2"}]))
    assert [t.id for t in request.tasks] == ["t1", "t2"]  # type: ignore[attr-defined]


# =============================================================================================
# build_request / parse_json_body: errors
# =============================================================================================


@pytest.mark.parametrize(
    ("http_method", "path", "query", "body", "code", "fragment"),
    [
        ("POST", "/v2/tasks", [], b'{"tasks": [', errors.BAD_REQUEST_FORMAT, "line 1, column 12"),
        ("POST", "/v2/tasks", [], b'{\n  "tasks": [}\n', errors.BAD_REQUEST_FORMAT, "line 2, column 13"),
        ("POST", "/v2/tasks", [], b"[]", errors.BAD_REQUEST_FORMAT, "must be a JSON object"),
        ("POST", "/v2/tasks", [], b'"tasks"', errors.BAD_REQUEST_FORMAT, "got a string"),
        ("POST", "/v2/tasks", [], b'{"a": "\xff"}', errors.BAD_REQUEST_FORMAT, "not valid UTF-8"),
        (
            "POST",
            "/v2/tasks",
            [],
            b'{"tasks": [{"worker": {"strategy": "FOO"}}]}',
            errors.INVALID_REQUEST,
            "field 'tasks[0].worker.strategy': expected one of WORKER_STRATEGY_NOT_SET, PARTITIONED, FULL, "
            "DYNAMIC (or its number), got 'FOO'",
        ),
        (
            "POST",
            "/v2/tasks",
            [],
            b'{"tasks": [{"worker": {"strategy": 99}}]}',
            errors.INVALID_REQUEST,
            "got 99",
        ),
        (
            "POST",
            "/v2/annotations/searches",
            [("pagination.per_page", "abc")],
            b"",
            errors.INVALID_REQUEST,
            "field 'pagination.per_page': expected an integer, got 'abc'",
        ),
        (
            "POST",
            "/v2/annotations/searches",
            [],
            b'{"pagination": {"per_page": -1}}',
            errors.INVALID_REQUEST,
            "field 'pagination.per_page': expected an integer between 0 and 4294967295",
        ),
        (
            "POST",
            "/v2/annotations/searches",
            [],
            b'{"pagination": {"per_page": 1.5}}',
            errors.INVALID_REQUEST,
            "expected an integer, got 1.5",
        ),
        (
            "POST",
            "/v2/tasks",
            [],
            b'{"tasks": "t1"}',
            errors.INVALID_REQUEST,
            "'tasks[0]': expected an object",
        ),
        ("POST", "/v2/tasks", [], b'{"tasks": [{"id": ["x"]}]}', errors.INVALID_REQUEST, "'tasks[0].id'"),
        (
            "POST",
            "/v2/users/u/apps/a/tasks",
            [],
            b'{"tasks": [{"delete_previous_annotations": "maybe"}]}',
            errors.INVALID_REQUEST,
            "expected true or false, got 'maybe'",
        ),
        (
            "POST",
            "/v2/annotations",
            [],
            b'{"annotations": [{"annotation_info": [1]}]}',
            errors.INVALID_REQUEST,
            "field 'annotations[0].annotation_info': expected an object",
        ),
        (
            "POST",
            "/v2/annotations",
            [],
            b'{"annotations": [{"created_at": "yesterday"}]}',
            errors.INVALID_REQUEST,
            "field 'annotations[0].created_at': expected an RFC 3339 timestamp",
        ),
        (
            "POST",
            "/v2/inputs",
            [],
            b'{"inputs": [{"data": {"image": {"base64": "***"}}}]}',
            errors.INVALID_REQUEST,
            "field 'inputs[0].data.image.base64': expected base64-encoded data",
        ),
        (
            "GET",
            "/v2/annotations",
            [("statuses", "code")],  # what requests makes of the client's [{"code": ...}]
            b"",
            errors.INVALID_REQUEST,
            "send 'statuses.code=VALUE' once per element",
        ),
        (
            "GET",
            "/v2/tasks",
            [("per_page", "ten")],
            b"",
            errors.INVALID_REQUEST,
            "field 'per_page': expected an integer, got 'ten'",
        ),
    ],
)
def test_errors_name_the_field_and_the_fix(
    http_method: str, path: str, query: list[tuple[str, str]], body: bytes, code: int, fragment: str
) -> None:
    with pytest.raises(ApiError) as caught:
        build_request(route(http_method, path), query, body)
    assert caught.value.code == code
    assert fragment in caught.value.description


def test_oneof_alternatives_are_refused() -> None:
    body = {
        "annotations": [{"data": {"regions": [{"region_info": {}}]}, "worker": {"user": {}, "model": {}}}]
    }
    with pytest.raises(ApiError, match="alternatives"):
        build_request(route("POST", "/v2/annotations"), [], body_of(body))


def test_deeply_nested_json_is_a_clean_error() -> None:
    body = b'{"metadata": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ApiError) as caught:
        build_request(route("POST", "/v2/tasks"), [], body)
    assert caught.value.code == errors.BAD_REQUEST_FORMAT


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", {}),
        (b"{}", {}),
        (b'{"a": [1, {"b": null}]}', {"a": [1, {"b": None}]}),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),
    ],
)
def test_parse_json_body(body: bytes, expected: dict[str, Any]) -> None:
    assert parse_json_body(body) == expected


@pytest.mark.parametrize(
    ("body", "fragment"), [(b"{", "line 1, column 2"), (b"1", "got a number"), (b"null", "null")]
)
def test_parse_json_body_errors(body: bytes, fragment: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json_body(body)
    assert caught.value.code == errors.BAD_REQUEST_FORMAT
    assert fragment in caught.value.description


# =============================================================================================
# Round trips: our own output, and what the real client sends
# =============================================================================================

_text = st.text(max_size=20)


@st.composite
def _input(draw: st.DrawFn) -> resources_pb2.Input:
    data = resources_pb2.Data(
        image=resources_pb2.Image(url=draw(_text), allow_duplicate_url=draw(st.booleans())),
        concepts=[resources_pb2.Concept(id=c, value=draw(f32)) for c in draw(st.lists(ids, max_size=3))],
    )
    if draw(st.booleans()):
        data.metadata.CopyFrom(draw(structs()))
    return resources_pb2.Input(id=draw(ids), data=data, dataset_ids=draw(st.lists(ids, max_size=2)))


_user_app = st.builds(resources_pb2.UserAppIDSet, user_id=ids, app_id=ids)
_post_inputs = st.builds(
    service_pb2.PostInputsRequest, user_app_id=_user_app, inputs=st.lists(_input(), max_size=3)
)
_statuses = st.lists(
    st.builds(
        status_pb2.Status,
        code=st.sampled_from([status_code_pb2.ANNOTATION_SUCCESS, status_code_pb2.ANNOTATION_PENDING]),
    ),
    max_size=2,
)
_list_annotations = st.builds(
    service_pb2.ListAnnotationsRequest,
    user_app_id=_user_app,
    ids=st.lists(ids, max_size=3),
    input_ids=st.lists(ids, max_size=3),
    user_ids=st.lists(ids, max_size=2),
    list_all_annotations=st.booleans(),
    return_model_output=st.booleans(),
    page=st.integers(0, 2**32 - 1),
    per_page=st.integers(0, 1000),
    task_id=st.one_of(st.just(""), ids),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=st.one_of(_post_inputs, _list_annotations.map(lambda r: _with_statuses(r))))
def test_round_trip_through_our_json(request: Message) -> None:
    """What message_to_json writes, build_request reads back unchanged (as a JSON body)."""
    method = {
        "PostInputsRequest": SERVICE.methods_by_name["PostInputs"],
        "ListAnnotationsRequest": SERVICE.methods_by_name["ListAnnotations"],
    }[request.DESCRIPTOR.name]
    match = RouteMatch(method=method, path_params={}, http_method="POST", body="*")
    assert build_request(match, [], message_to_json_bytes(request)) == request


def _with_statuses(request: service_pb2.ListAnnotationsRequest) -> service_pb2.ListAnnotationsRequest:
    request.statuses.add(code=status_code_pb2.ANNOTATION_AWAITING_REVIEW)
    return request


def client_sends(request: Message, rpc: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """Exactly what clarifai-grpc's JSON channel puts on the wire for ``request``."""
    _, resources = CLIENT_RESOURCES[f"/clarifai.api.V2/{rpc}"]
    params = protobuf_to_dict(request, use_integers_for_enums=False, ignore_show_empty=True)
    url, http_method, url_fields = _pick_proper_endpoint(resources, params)
    for field in url_fields:
        params.pop(field, None)
    if http_method == "GET":
        prepared = requests.Request(
            "GET", url, params=HttpClient(None, "key")._encode_get_params(params)
        ).prepare()
        body = b""
    else:
        prepared = requests.Request(http_method, url, data=json.dumps(params)).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body or b""
    assert prepared.url is not None
    parts = urlsplit(prepared.url)
    return http_method, parts.path, parse_qsl(parts.query, keep_blank_values=True), body


def _rebuild(request: Message, rpc: str) -> Message:
    http_method, path, query, body = client_sends(request, rpc)
    match = ROUTER.match(http_method, path)
    assert match is not None, (http_method, path)
    assert match.method.name == rpc
    return build_request(match, query, body)


APP_IDS = resources_pb2.UserAppIDSet(user_id="alice", app_id="app1")


@pytest.mark.parametrize(
    ("rpc", "request_message"),
    [
        (
            "ListAnnotations",
            service_pb2.ListAnnotationsRequest(
                user_app_id=APP_IDS,
                ids=["a", "b"],
                list_all_annotations=True,
                page=2,
                per_page=50,
                task_id="t1",
            ),
        ),
        ("ListTasks", service_pb2.ListTasksRequest(worker_user_ids=["w1", "w2"], per_page=5)),  # short route
        ("GetTask", service_pb2.GetTaskRequest(user_app_id=APP_IDS, task_id="t 1")),
        (
            "GetTaskAnnotationCount",
            service_pb2.GetTaskCountRequest(user_app_id=APP_IDS, task_id="t1", user_ids=["u"]),
        ),
        (
            "GetInputSamples",
            service_pb2.GetInputSamplesRequest(user_app_id=APP_IDS, task_id="t1", user_ids=["u"]),
        ),
        (
            "PostAnnotations",
            service_pb2.PostAnnotationsRequest(
                user_app_id=APP_IDS, annotations=[annotation(0.0), annotation(1.0)]
            ),
        ),
        (
            "PostTasks",
            service_pb2.PostTasksRequest(
                user_app_id=APP_IDS,
                tasks=[
                    resources_pb2.Task(
                        id="t1",
                        type=resources_pb2.Task.CONCEPTS_CLASSIFICATION,
                        worker=resources_pb2.TaskWorker(
                            strategy=resources_pb2.TaskWorker.PARTITIONED, user_ids=["a"]
                        ),
                        review=resources_pb2.TaskReview(strategy=resources_pb2.TaskReview.CONSENSUS),
                        concept_ids=["cat"],
                    )
                ],
            ),
        ),
        ("DeleteInputs", service_pb2.DeleteInputsRequest(user_app_id=APP_IDS, ids=["i1", "i2"])),
        (
            "PutTaskAssignments",
            service_pb2.PutTaskAssignmentsRequest(
                user_app_id=APP_IDS, task_id="t1", action=service_pb2.LABEL_SUBMIT, input_id="in1"
            ),
        ),
        (
            "PatchAnnotationsStatus",
            service_pb2.PatchAnnotationsStatusRequest(
                user_app_id=APP_IDS,
                task_id="t1",
                user_ids=["u1"],
                status_code=status_code_pb2.ANNOTATION_SUCCESS,
                action="overwrite",
            ),
        ),
    ],
)
def test_rebuilds_exactly_what_the_official_client_sent(rpc: str, request_message: Message) -> None:
    assert _rebuild(request_message, rpc) == request_message


def test_client_without_user_id_gets_me_in_the_path() -> None:
    request = service_pb2.GetTaskRequest(user_app_id=resources_pb2.UserAppIDSet(app_id="app1"), task_id="t1")
    http_method, path, _, _ = client_sends(request, "GetTask")
    assert (http_method, path) == ("GET", "/v2/users/me/apps/app1/tasks/t1")
    assert _rebuild(request, "GetTask").user_app_id.user_id == "me"  # type: ignore[attr-defined]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_list_annotations)
def test_round_trip_through_the_client_query_string(request: service_pb2.ListAnnotationsRequest) -> None:
    assert _rebuild(request, "ListAnnotations") == request


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=_post_inputs)
def test_round_trip_through_the_client_json_body(request: service_pb2.PostInputsRequest) -> None:
    assert _rebuild(request, "PostInputs") == request
