"""PatchTasks pointing a task at another source treats the inputs the new source leaves out like
inputs that left the source (``services/source_switch.py``): their unstarted seats go, kept work is
marked off source, an expired DYNAMIC lease on them is not taken over; switching back brings them
back. Through the official client on both channels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc

from tests.api.test_assignments import (  # noqa: F401 - fast_server/fast_stub are fixtures used here
    LEASE,
    fast_server,
    fast_stub,
)
from tests.api.test_edge_sources import Fast, X, _seats, _team_on_dataset, _worker
from tests.helpers import AppFixture, ok

STAYING = X[2:]  # the inputs also in dataset "other"


@pytest.fixture
def fast(request: pytest.FixtureRequest) -> Fast:
    return Fast(request.getfixturevalue("fast_server"), request.getfixturevalue("fast_stub"))


def _fill_other(team: Any) -> None:
    members = [r.DatasetInput(input=r.Input(id=i)) for i in STAYING]
    ok(team.call("PostDatasetInputs", dataset_id="other", dataset_inputs=members))


def test_an_expired_dynamic_lease_outside_the_new_source_is_not_taken_over(
    stub: Any, fast: Fast, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = _team_on_dataset(fast.stub, app, _worker("DYNAMIC", 1))
    a, b, _ = team.workers
    assert team.start(a) == X
    _fill_other(team)
    ok(team.patch(input_source={"type": "DATASET", "id": "other"}))
    assert _seats(fast.server, team, X[0]) == [(a, sc.TASK_ASSIGNMENT_PENDING, True)]
    assert [off for _, _, off in _seats(fast.server, team, X[2])] == [False]
    clock(LEASE + 1)  # every lease of a ran out
    assert sorted(team.start(b)) == STAYING, "b takes over the expired leases in the new source only"
    assert team.submit(a, X[0]).status.code == sc.TASK_ASSIGNMENT_SUCCESS, "the work stays a's"
    assert _seats(fast.server, team, X[0]) == [(a, sc.TASK_ASSIGNMENT_SUCCESS, True)]
    ok(team.patch(input_source={"type": "DATASET", "id": "ds"}))  # back: no longer marked
    assert _seats(fast.server, team, X[0]) == [(a, sc.TASK_ASSIGNMENT_SUCCESS, False)]


@pytest.mark.parametrize("strategy", ["PARTITIONED", "FULL"])
def test_unstarted_seats_outside_the_new_source_are_dropped(
    stub: Any, fast: Fast, app: AppFixture, strategy: str
) -> None:
    k = 3 if strategy == "FULL" else 2
    team = _team_on_dataset(fast.stub, app, _worker(strategy, k))
    a = team.workers[0]
    started = team.start(a)
    _fill_other(team)
    ok(team.patch(input_source={"type": "DATASET", "id": "other"}))
    for input_id in X[:2]:
        seats = _seats(fast.server, team, input_id)
        expected = [(a, sc.TASK_ASSIGNMENT_PENDING, True)] if input_id in started else []
        assert seats == expected, "only a's started seat stays, marked off source"
    done = team.drain(*team.workers)
    labelled = {i for ids in done.values() for i in ids}
    assert labelled >= set(STAYING) and not labelled & set(X[:2]) - set(started)
