"""annotation_rules: table tests for validation and the three patch actions, and a property —
any sequence of merge / overwrite / remove keeps stored annotation data well-formed, and a patch
that is refused leaves the stored data untouched."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from clarifai_grpc.grpc.api.resources_pb2 import (
    BoundingBox,
    Concept,
    Data,
    Frame,
    FrameInfo,
    Point,
    Polygon,
    Region,
    RegionInfo,
)
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from hypothesis import example, given, settings
from hypothesis import strategies as st

from labeldesk.domain import annotation_rules as rules
from labeldesk.domain import errors
from labeldesk.services.common import check_id

NAMES = {"tree": "Tree", "water": "water", "bike": "bike", "apple": "apple"}
KNOWN = RegionInfo(bounding_box=BoundingBox(top_row=0.1, left_col=0.1, bottom_row=0.2, right_col=0.2))


def catalog(regions: dict[str, RegionInfo] | None = None) -> rules.Catalog:
    counter = itertools.count()

    def make_id(kind: str, value: str, where: str) -> str:
        return check_id(kind, value, where) if value else f"{kind}-{next(counter)}"

    return rules.Catalog(NAMES, {"known": KNOWN} if regions is None else regions, make_id)


def concepts(**values: float) -> list[Concept]:
    return [Concept(id=k, value=v) for k, v in values.items()]


def box(top: float, left: float, bottom: float, right: float, region_id: str = "", **values: float) -> Region:
    info = RegionInfo(
        bounding_box=BoundingBox(top_row=top, left_col=left, bottom_row=bottom, right_col=right)
    )
    return Region(id=region_id, region_info=info, data=Data(concepts=concepts(**values)))


def values(data: Data) -> dict[str, float]:
    return {c.id: c.value for c in data.concepts}


def refused(fn: Any, *args: Any) -> str:
    with pytest.raises(errors.ApiError) as info:
        fn(*args)
    return info.value.description


# ----------------------------------------------------------------------------- prepare


def test_prepare_fills_names_and_generates_ids() -> None:
    out = rules.prepare(
        Data(concepts=concepts(tree=1, water=0), regions=[box(0, 0, 0.5, 0.5, bike=1)]),
        "annotations[0].data",
        catalog(),
    )
    assert [(c.id, c.name, c.value) for c in out.concepts] == [("tree", "Tree", 1.0), ("water", "water", 0.0)]
    assert out.regions[0].id == "region-0" and out.regions[0].data.concepts[0].name == "bike"
    assert rules.problems(out, NAMES) == []


def test_prepare_takes_the_shape_of_a_known_region() -> None:
    out = rules.prepare(
        Data(regions=[Region(id="known", data=Data(concepts=concepts(tree=1)))]), "d", catalog()
    )
    assert out.regions[0].id == "known" and out.regions[0].region_info == KNOWN


def test_prepare_keeps_frames_and_other_fields() -> None:
    data = Data(
        frames=[Frame(frame_info=FrameInfo(index=2, time=80), data=Data(regions=[box(0, 0, 1, 1, tree=1)]))]
    )
    data.metadata.update({"source": "import"})
    out = rules.prepare(data, "d", catalog())
    assert out.frames[0].id == "frame-0" and out.frames[0].frame_info.time == 80
    assert out.frames[0].data.regions[0].id == "region-1"
    assert dict(out.metadata) == {"source": "import"}
    assert rules.concept_index(out) == [("tree", 1.0)]


@pytest.mark.parametrize(
    ("data", "texts"),
    [
        (Data(concepts=concepts(nope=1)), ["d.concepts[0].id", "nope"]),
        (Data(concepts=[Concept(value=1)]), ["d.concepts[0].id", "needs an id"]),
        (Data(concepts=concepts(tree=1.5)), ["d.concepts[0].value", "1.5"]),
        (Data(concepts=concepts(tree=-1)), ["d.concepts[0].value"]),
        (Data(concepts=[*concepts(tree=1), *concepts(tree=0)]), ["d.concepts[1].id", "more than once"]),
        (Data(regions=[box(0, 0, 1, 1.5, tree=1)]), ["d.regions[0].region_info.bounding_box", "right_col"]),
        (Data(regions=[box(0.5, 0, 0.5, 1, tree=1)]), ["d.regions[0].region_info.bounding_box", "top_row"]),
        (Data(regions=[box(0, 0, 1, 1)]), ["d.regions[0].data.concepts", "at least one concept"]),
        (Data(regions=[Region(data=Data(concepts=concepts(tree=1)))]), ["d.regions[0].region_info", "shape"]),
        (
            Data(regions=[Region(id="elsewhere", data=Data(concepts=concepts(tree=1)))]),
            ["d.regions[0].id", "elsewhere", "does not exist"],
        ),
        (
            Data(regions=[box(0, 0, 1, 1, "same", tree=1), box(0, 0, 1, 1, "same", tree=1)]),
            ["d.regions[1].id", "more than once"],
        ),
        (Data(regions=[box(0, 0, 1, 1, "bad id!", tree=1)]), ["d.regions[0].id", "not a valid region id"]),
        (
            Data(
                regions=[
                    Region(
                        region_info=RegionInfo(polygon=Polygon(points=[Point(row=0, col=0)])),
                        data=Data(concepts=concepts(tree=1)),
                    )
                ]
            ),
            ["d.regions[0].region_info.polygon", "at least 3 points"],
        ),
        (
            Data(
                regions=[
                    Region(
                        region_info=RegionInfo(point=Point(row=1.2, col=0.5)),
                        data=Data(concepts=concepts(tree=1)),
                    )
                ]
            ),
            ["d.regions[0].region_info.point", "row"],
        ),
        (
            Data(
                regions=[
                    Region(
                        region_info=KNOWN,
                        data=Data(concepts=concepts(tree=1), regions=[box(0, 0, 1, 1, tree=1)]),
                    )
                ]
            ),
            ["d.regions[0].data.regions", "cannot contain regions"],
        ),
        (
            Data(frames=[Frame(data=Data(frames=[Frame()]))]),
            ["d.frames[0].data.frames", "cannot contain frames"],
        ),
    ],
)
def test_prepare_refuses_naming_the_field(data: Data, texts: list[str]) -> None:
    message = refused(rules.prepare, data, "d", catalog())
    for text in texts:
        assert text in message


# ----------------------------------------------------------------------------- actions


STORED = rules.prepare(
    Data(
        concepts=concepts(tree=1, water=0),
        regions=[box(0, 0, 0.5, 0.5, "r1", bike=1, apple=1), box(0.5, 0.5, 1, 1, "r2", tree=1)],
    ),
    "d",
    catalog(),
)


def test_merge_updates_values_adds_concepts_and_regions() -> None:
    patch = Data(
        concepts=concepts(water=1, apple=0),
        regions=[
            Region(id="r1", data=Data(concepts=concepts(bike=0, tree=1))),
            box(0.2, 0.2, 0.3, 0.3, tree=1),
        ],
    )
    out = rules.apply("merge", STORED, patch, "d", catalog())
    assert values(out) == {"tree": 1.0, "water": 1.0, "apple": 0.0}
    assert [r.id for r in out.regions] == ["r1", "r2", "region-0"]
    assert values(out.regions[0].data) == {"bike": 0.0, "apple": 1.0, "tree": 1.0}
    assert out.regions[0].region_info == STORED.regions[0].region_info
    assert rules.problems(out, NAMES) == []


def test_merge_moves_a_region_given_with_a_new_shape() -> None:
    out = rules.merge(STORED, Data(regions=[box(0.1, 0.1, 0.2, 0.2, "r2")]), "d", catalog())
    assert out.regions[1].region_info.bounding_box.top_row == pytest.approx(0.1)
    assert values(out.regions[1].data) == {"tree": 1.0}


def test_overwrite_replaces_and_keeps_shapes_of_named_regions() -> None:
    out = rules.overwrite(
        STORED, Data(regions=[Region(id="r2", data=Data(concepts=concepts(bike=1)))]), "d", catalog({})
    )
    assert values(out) == {} and [r.id for r in out.regions] == ["r2"]
    assert out.regions[0].region_info == STORED.regions[1].region_info
    assert values(out.regions[0].data) == {"bike": 1.0}


def test_remove_drops_concepts_and_regions_left_without_concept() -> None:
    patch = Data(
        concepts=concepts(water=0, bike=1),
        regions=[
            Region(id="r1", data=Data(concepts=concepts(bike=1))),
            Region(id="r2", data=Data(concepts=concepts(tree=1))),
            Region(id="absent"),
        ],
    )
    out = rules.remove(STORED, patch, "d")
    assert values(out) == {"tree": 1.0}
    assert [r.id for r in out.regions] == ["r1"] and values(out.regions[0].data) == {"apple": 1.0}
    whole = rules.remove(STORED, Data(regions=[Region(id="r1")]), "d")
    assert [r.id for r in whole.regions] == ["r2"]
    assert "d.regions[0].id" in refused(rules.remove, STORED, Data(regions=[Region()]), "d")
    assert rules.is_empty(
        rules.remove(
            STORED, Data(concepts=concepts(tree=1, water=0), regions=[Region(id="r1"), Region(id="r2")]), "d"
        )
    )


def test_frames_merge_by_id_or_frame_info_and_go_when_emptied() -> None:
    stored = rules.prepare(
        Data(frames=[Frame(id="f1", frame_info=FrameInfo(index=1), data=Data(concepts=concepts(tree=1)))]),
        "d",
        catalog(),
    )
    merged = rules.merge(
        stored,
        Data(
            frames=[
                Frame(frame_info=FrameInfo(index=1), data=Data(concepts=concepts(bike=1))),
                Frame(frame_info=FrameInfo(index=2), data=Data(concepts=concepts(water=0))),
            ]
        ),
        "d",
        catalog(),
    )
    assert [(f.id, values(f.data)) for f in merged.frames] == [
        ("f1", {"tree": 1.0, "bike": 1.0}),
        ("frame-0", {"water": 0.0}),
    ]
    removed = rules.remove(
        merged,
        Data(frames=[Frame(id="f1", data=Data(concepts=concepts(tree=1, bike=1))), Frame(id="frame-0")]),
        "d",
    )
    assert list(removed.frames) == []


def test_concept_index_counts_a_concept_present_anywhere() -> None:
    data = Data(concepts=concepts(tree=0), regions=[box(0, 0, 1, 1, "a", tree=1, water=0)])
    assert dict(rules.concept_index(data)) == {"tree": 1.0, "water": 0.0}


def test_unknown_action() -> None:
    assert "'replace'" in refused(rules.apply, "replace", STORED, Data(), "d", catalog())
    with pytest.raises(errors.ApiError) as info:
        rules.check_action("replace")
    assert "overwrite" in info.value.details


# ----------------------------------------------------------------------------- statuses, annotation_info


def test_status_rules() -> None:
    assert rules.check_status(sc.ANNOTATION_PENDING, False, "a.status") == sc.ANNOTATION_PENDING
    assert (
        rules.check_status(sc.ANNOTATION_AWAITING_REVIEW, True, "a.status") == sc.ANNOTATION_AWAITING_REVIEW
    )
    with pytest.raises(errors.ApiError) as info:
        rules.check_status(sc.ANNOTATION_REVIEW_DENIED, False, "a.status")
    assert info.value.code == sc.ANNOTATION_PERMISSION_DENIED
    with pytest.raises(errors.ApiError) as info:
        rules.check_status(sc.SUCCESS, True, "annotations[1].status")
    assert (
        "annotations[1].status.code" in info.value.description and "ANNOTATION_PENDING" in info.value.details
    )


def test_task_id_and_annotation_info() -> None:
    assert rules.task_id_of({"task_id": "t"}, "", "a") == "t"
    assert rules.task_id_of(None, "t", "a") == "t"
    assert rules.task_id_of({"other": 1}, "", "a") is None
    assert "disagree" in refused(rules.task_id_of, {"task_id": "t"}, "u", "a")
    assert "must be a string" in refused(rules.task_id_of, {"task_id": 3}, "", "a")
    assert rules.patch_info({"a": 1}, {"b": 2}, "merge") == {"a": 1, "b": 2}
    assert rules.patch_info({"a": 1}, {"b": 2}, "overwrite") == {"b": 2}
    assert rules.patch_info({"a": 1, "b": 2}, {"b": None}, "remove") == {"a": 1}
    assert rules.patch_info({"a": 1}, {"a": 0}, "remove") is None
    assert rules.patch_info({"a": 1}, None, "overwrite") == {"a": 1}


# ----------------------------------------------------------------------------- property

POOL = [*NAMES, "unknown"]
coord = st.sampled_from([-0.1, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.1])
concept_lists = st.lists(
    st.builds(Concept, id=st.sampled_from(POOL), value=st.sampled_from([0.0, 1.0, 0.5, 2.0])), max_size=4
)
shapes = st.one_of(
    st.none(),
    st.builds(
        lambda top, left, bottom, right: RegionInfo(
            bounding_box=BoundingBox(top_row=top, left_col=left, bottom_row=bottom, right_col=right)
        ),
        coord,
        coord,
        coord,
        coord,
    ),
    st.lists(st.tuples(coord, coord), max_size=5).map(
        lambda pts: RegionInfo(polygon=Polygon(points=[Point(row=a, col=b) for a, b in pts]))
    ),
)


def _region(region_id: str, shape: RegionInfo | None, cs: list[Concept]) -> Region:
    region = Region(id=region_id, data=Data(concepts=cs))
    if shape is not None:
        region.region_info.CopyFrom(shape)
    return region


regions = st.builds(_region, st.sampled_from(["", "r1", "r2", "known", "bad id!"]), shapes, concept_lists)
inner = st.builds(lambda cs, rs: Data(concepts=cs, regions=rs), concept_lists, st.lists(regions, max_size=3))
frames = st.builds(
    lambda i, info, d: Frame(id=i, frame_info=FrameInfo(index=info), data=d),
    st.sampled_from(["", "f1", "f2"]),
    st.integers(0, 2),
    inner,
)
datas = st.builds(lambda d, fs: (d.frames.extend(fs), d)[1], inner, st.lists(frames, max_size=2))
steps = st.lists(st.tuples(st.sampled_from(rules.ACTIONS), datas), min_size=1, max_size=8)


def _frame_at(index: int) -> Data:
    return Data(frames=[Frame(frame_info=FrameInfo(index=index))])


@settings(max_examples=300, deadline=None)
@given(start=datas, steps=steps)
# two frames added without ids in two patches: the test's id source once restarted on every call
# and named both 'frame-0' (the server's ids are random; one source serves the whole sequence)
@example(start=Data(), steps=[(rules.MERGE, _frame_at(0)), (rules.MERGE, _frame_at(1))])
def test_any_sequence_of_patches_keeps_annotations_well_formed(
    start: Data, steps: list[tuple[str, Data]]
) -> None:
    ids = catalog()  # one id source for the whole sequence, as the server's
    try:
        stored = rules.prepare(start, "d", ids)
    except errors.ApiError:
        stored = Data()
    assert rules.problems(stored, NAMES) == []
    for action, patch in steps:
        before = stored.SerializeToString()
        try:
            result = rules.apply(action, stored, patch, "d", ids)
        except errors.ApiError as e:
            assert e.code == errors.INVALID_REQUEST and e.description.startswith("d")
            assert stored.SerializeToString() == before, "a refused patch must not touch the stored data"
            continue
        assert stored.SerializeToString() == before, "rules never modify their input"
        assert rules.problems(result, NAMES) == [], (action, patch, result)
        stored = result
