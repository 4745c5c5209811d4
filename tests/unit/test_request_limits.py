"""The limits every request obeys: no NUL in any text, capped regions and polygon points."""

from __future__ import annotations

from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api import service_pb2 as s
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.request_limits import (
    MAX_POLYGON_POINTS,
    MAX_REGIONS,
    _longest_record,
    check_json,
    check_message,
)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    md = struct_pb2.Struct()
    md.update(value)
    return md


def _polygon(points: int) -> r.Region:
    return r.Region(region_info=r.RegionInfo(polygon=r.Polygon(points=[r.Point(row=0.5)] * points)))


def _where(check: Any, value: Any) -> str | None:
    try:
        check(value)
    except errors.ApiError as e:
        assert e.code == errors.INVALID_REQUEST
        return e.description.split(":")[0]
    return None


@pytest.mark.parametrize(
    ("request_", "where"),
    [
        (s.PostInputsRequest(inputs=[r.Input(id="fine", data=r.Data(metadata=_struct({"a": "b"})))]), None),
        (s.PostInputsRequest(inputs=[r.Input(id="a\x00")]), "inputs[0].id"),
        (
            s.PostInputsRequest(inputs=[r.Input(), r.Input(dataset_ids=["d", "\x00"])]),
            "inputs[1].dataset_ids[1]",
        ),
        (
            s.PostInputsRequest(inputs=[r.Input(data=r.Data(metadata=_struct({"k": "\x00"})))]),
            "inputs[0].data.metadata.fields['k'].string_value",
        ),
        (
            s.PostInputsRequest(
                inputs=[r.Input(data=r.Data(metadata=_struct({"k": {"deep": ["x", "\x00"]}})))]
            ),
            "inputs[0].data.metadata.fields['k'].struct_value.fields['deep'].list_value.values[1].string_value",
        ),
        (
            s.PostInputsRequest(inputs=[r.Input(data=r.Data(metadata=_struct({"k\x00": 1})))]),
            "inputs[0].data.metadata.fields (a key)",
        ),
        (s.GetInputRequest(input_id="\x00"), "input_id"),
        (
            s.PostInputsRequest(inputs=[r.Input(data=r.Data(image=r.Image(base64=b"\x00\x00")))]),
            None,
        ),  # bytes
        (
            s.PostAnnotationsRequest(
                annotations=[r.Annotation(data=r.Data(regions=[r.Region()] * MAX_REGIONS))]
            ),
            None,
        ),
        (
            s.PostAnnotationsRequest(
                annotations=[r.Annotation(data=r.Data(regions=[r.Region()] * (MAX_REGIONS + 1)))]
            ),
            "annotations[0].data.regions",
        ),
        (
            s.PostAnnotationsRequest(
                annotations=[r.Annotation(data=r.Data(regions=[_polygon(MAX_POLYGON_POINTS)]))]
            ),
            None,
        ),
        (
            s.PostAnnotationsRequest(
                annotations=[
                    r.Annotation(data=r.Data(regions=[r.Region(), _polygon(MAX_POLYGON_POINTS + 1)]))
                ]
            ),
            "annotations[0].data.regions[1].region_info.polygon.points",
        ),
        (
            s.PostInputsRequest(
                inputs=[r.Input(data=r.Data(frames=[r.Frame(data=r.Data(regions=[_polygon(10**4 + 1)]))]))]
            ),
            "inputs[0].data.frames[0].data.regions[0].region_info.polygon.points",
        ),
    ],
)
def test_check_message(request_: Message, where: str | None) -> None:
    assert _where(check_message, request_) == where


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"comment": "fine", "items": [{"a": 1}, None, True]}, None),
        ({"comment": "a\x00b"}, "body.comment"),
        ({"items": [{"x": "ok"}, {"x": "\x00"}]}, "body.items[1].x"),
        ({"k\x00": 1}, "body (a key)"),
    ],
)
def test_check_json(body: Any, where: str | None) -> None:
    assert _where(check_json, body) == where


texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=8)


@given(st.lists(texts, max_size=4), st.dictionaries(texts, texts, max_size=3), texts)
def test_refused_exactly_when_some_text_holds_a_nul(
    ids: list[str], metadata: dict[str, str], name: str
) -> None:
    request = s.PostInputsRequest(
        inputs=[
            r.Input(id=i, data=r.Data(metadata=_struct(metadata), concepts=[r.Concept(name=name)]))
            for i in ids
        ]
    )
    has_nul = bool(ids) and any("\x00" in t for t in [*ids, *metadata, *metadata.values(), name])
    assert (_where(check_message, request) is not None) == has_nul
    as_json = {"ids": ids, "metadata": metadata, "name": name}
    in_json = any("\x00" in t for t in [*ids, *metadata, *metadata.values(), name])
    assert (_where(check_json, as_json) is not None) == in_json


@given(st.integers(min_value=0, max_value=MAX_REGIONS + 3), st.integers(min_value=0, max_value=3))
def test_regions_are_refused_exactly_past_the_limit(regions: int, annotations: int) -> None:
    request = s.PostAnnotationsRequest(
        annotations=[r.Annotation(data=r.Data(regions=[r.Region()] * regions)) for _ in range(annotations)]
    )
    assert (_where(check_message, request) is not None) == (regions > MAX_REGIONS and annotations > 0)


@given(
    st.integers(min_value=0, max_value=MAX_REGIONS + 3),
    st.integers(min_value=MAX_POLYGON_POINTS - 2, max_value=MAX_POLYGON_POINTS + 2),
    st.sampled_from(["r", "r\x00"]),
)
def test_limits_hold_when_no_byte_is_zero(regions: int, points: int, rid: str) -> None:
    """Regions with ids and points away from zero serialize without a zero byte: the check's
    shortcut (no text can hold a NUL) must still count every list."""
    polygon = r.Region(
        id="p", region_info=r.RegionInfo(polygon=r.Polygon(points=[r.Point(row=0.1, col=0.2)] * points))
    )
    request = s.PostInputsRequest(
        inputs=[
            r.Input(id="a", data=r.Data(frames=[r.Frame(data=r.Data(regions=[r.Region(id=rid)] * regions))])),
            r.Input(id="b", data=r.Data(regions=[polygon])),
        ]
    )
    assert (rid == "r" and regions > 0) or b"\x00" in request.SerializeToString()
    where = _where(check_message, request)
    if regions > MAX_REGIONS:
        assert where == "inputs[0].data.frames[0].data.regions"
    elif regions and rid != "r":
        assert where == "inputs[0].data.frames[0].data.regions[0].id"
    elif points > MAX_POLYGON_POINTS:
        assert where == "inputs[1].data.regions[0].region_info.polygon.points"
    else:
        assert where is None


@given(
    st.lists(st.sampled_from(["cat", "c\x00t", "dog"]), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=MAX_REGIONS + 2),
    st.sampled_from([0.0, 1.0]),
)
def test_repeated_data_is_judged_by_its_own_text(names: list[str], regions: int, value: float) -> None:
    """A batch repeating the same data (and data that differ only in one concept name, with and
    without zero bytes from the values): each annotation is refused exactly when its own text
    holds a NUL or its own list is over the limit, never by the verdict on another one."""
    request = s.PostAnnotationsRequest(
        annotations=[
            r.Annotation(
                input_id="in",
                data=r.Data(
                    concepts=[r.Concept(id="c", name=name, value=value)],
                    regions=[r.Region(data=r.Data(concepts=[r.Concept(id="c", name=name, value=value)]))]
                    + [r.Region()] * (regions if n == len(names) - 1 else 0),
                ),
            )
            for n, name in enumerate(names)
        ]
    )
    bad = [n for n, name in enumerate(names) if "\x00" in name]
    where = _where(check_message, request)
    if bad:
        assert where == f"annotations[{bad[0]}].data.concepts[0].name"
    elif regions + 1 > MAX_REGIONS:
        assert where == f"annotations[{len(names) - 1}].data.regions"
    else:
        assert where is None


@given(
    st.lists(st.sampled_from([0, 100, 20_000]), min_size=1, max_size=4),
    st.sampled_from(["in", "i\x00n"]),
    st.sampled_from(["https://x/a.png", "https://x/\x00.png", ""]),
    st.integers(min_value=MAX_REGIONS - 1, max_value=MAX_REGIONS + 1),
    st.integers(min_value=0, max_value=3),
)
def test_inline_image_bytes_are_walked_around_and_the_rest_checked(
    sizes: list[int], iid: str, url: str, regions: int, last: int
) -> None:
    """Requests with images inline (PostModelOutputs, PostInputs; over 16 kB each, first or
    not) are checked without serializing what holds the bytes: every text and list still is."""
    last = min(last, len(sizes) - 1)
    inputs = [
        r.Input(id="ok", data=r.Data(image=r.Image(base64=b"\x00\x01" * (size // 2), url="https://x/b.png")))
        for size in sizes
    ]
    inputs[last].id = iid
    inputs[last].data.image.url = url
    inputs[last].data.regions.extend([r.Region()] * regions)
    for request in (s.PostModelOutputsRequest(inputs=inputs), s.PostInputsRequest(inputs=inputs)):
        where = _where(check_message, request)
        if iid != "in":
            assert where == f"inputs[{last}].id"
        elif "\x00" in url:
            assert where == f"inputs[{last}].data.image.url"
        elif regions > MAX_REGIONS:
            assert where == f"inputs[{last}].data.regions"
        else:
            assert where is None


def test_no_message_has_field_1008() -> None:
    """``check_message`` takes the bytes of a float 1.0 (``00 00 80 3f``) out before looking for
    the zero byte of a NUL; that can hide a NUL only if ``80 3f`` (field 1008) can follow a text."""
    seen: set[str] = set()
    todo = [m.input_type for svc in s.DESCRIPTOR.services_by_name.values() for m in svc.methods]
    while todo:
        d = todo.pop()
        if d.full_name in seen:
            continue
        seen.add(d.full_name)
        assert all(f.number != 1008 for f in d.fields), d.full_name
        todo += [f.message_type for f in d.fields if f.message_type is not None]
    assert len(seen) > 100


@given(
    st.lists(st.tuples(texts, st.sampled_from([0.0, 1.0, 0.5]), st.sampled_from([0.5, 1.0])), max_size=4),
    texts,
)
def test_ones_beside_texts_neither_hide_nor_invent_a_nul(
    concepts: list[tuple[str, float, float]], rid: str
) -> None:
    """Texts ending in NULs right before a float 1.0 (a concept's name before its value, a
    region's id before its box): refused exactly when some text holds a NUL."""
    regions = [
        r.Region(
            id=rid + name,
            region_info=r.RegionInfo(
                bounding_box=r.BoundingBox(top_row=0.1, bottom_row=edge, right_col=edge)
            ),
            data=r.Data(concepts=[r.Concept(id="c", name=name, value=value)]),
        )
        for name, value, edge in concepts
    ]
    request = s.PostAnnotationsRequest(
        annotations=[
            r.Annotation(
                input_id="in",
                data=r.Data(
                    concepts=[r.Concept(id="c", name=n, value=v) for n, v, _ in concepts], regions=regions
                ),
            )
        ]
    )
    has_nul = any("\x00" in t for name, _, _ in concepts for t in (name, rid + name))
    assert (_where(check_message, request) is not None) == has_nul


@given(
    st.lists(
        st.tuples(
            st.text(max_size=300), st.integers(0, 3), st.floats(0.25, 1, width=32), st.integers(0, 2**31 - 1)
        ),
        max_size=6,
    ),
    st.text(max_size=20),
)
def test_the_longest_record_is_read_off_the_wire(items: list[tuple[str, int, float, int]], app: str) -> None:
    """``_longest_record``, which lets the limits skip visiting items too small to hold a list
    over a limit, is the size of the largest top-level record (varint, fixed and length-delimited
    fields mixed, lengths of one to three bytes)."""
    request = s.PostInputsRequest(
        user_app_id=r.UserAppIDSet(app_id=app),
        inputs=[
            r.Input(
                id=text * 60,
                data=r.Data(
                    regions=[r.Region(value=value)] * regions, image=r.Image(image_info=r.ImageInfo(width=n))
                ),
            )
            for text, regions, value, n in items
        ],
    )
    records = [m.ByteSize() for m in request.inputs] + [request.user_app_id.ByteSize()]
    assert _longest_record(request.SerializeToString()) == max(records)
    assert _longest_record(request.SerializeToString()[:-1]) == -1  # cut short
