"""Inputs leaving and re-joining a task's source, through the official client on both channels:
an input taken out of the task's dataset (or no longer matching its saved search) keeps its
started work, its other seats are dropped, an expired DYNAMIC lease on it is not taken over, a
rejection of its work does not re-open it, and when it comes back the source rescan refills its
seats to exactly ``workers_per_input`` (the rules: ``domain/assignment_source.py``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from clarifai_grpc.grpc.api import resources_pb2 as r
from clarifai_grpc.grpc.api.status import status_code_pb2 as sc
from sqlalchemy import select

from labeldesk.app import RunningServer
from labeldesk.storage import tables as t
from tests.api.test_assignments import (  # noqa: F401 - fast_server/fast_stub are fixtures used here
    LEASE,
    A,
    Team,
    _leave,
    _rejoin,
    _struct,
    dynamic,
    fast_server,
    fast_stub,
    inputs,
    make_team,
    partitioned,
)
from tests.helpers import AppFixture, ok

X = inputs(6)
#: PARTITIONED shares are binomial over random worker ids: with 6 inputs one of two workers gets all
#: of them 1 time in 32; with 24, 1 in 8 million
XL = inputs(24)


@dataclass(frozen=True)
class Fast:
    """The server with short leases that rescans sources on every LABEL_START, and its stub on the
    test's channel."""

    server: RunningServer
    stub: Any


@pytest.fixture
def fast(request: pytest.FixtureRequest) -> Fast:
    return Fast(request.getfixturevalue("fast_server"), request.getfixturevalue("fast_stub"))


def _seats(server: RunningServer, team: Team, input_id: str) -> list[tuple[str, int, bool]]:
    """(worker or OPEN placeholder, status, off_source) of every seat of the input in the team's task,
    read from the database the server writes."""
    ta, tasks, ins = t.task_assignments.c, t.tasks.c, t.inputs.c
    q = (
        select(ta.worker_id, ta.status, ta.off_source)
        .join(t.tasks, tasks.pk == ta.task_pk)
        .join(t.inputs, ins.pk == ta.input_pk)
        .join(t.apps, t.apps.c.pk == tasks.app_pk)
        .where(
            t.apps.c.user_id == team.app.user_id,
            t.apps.c.id == team.app.app_id,
            tasks.id == team.task_id,
            ins.id == input_id,
        )
        .order_by(ta.pk)
    )
    with server.app.db.read() as conn:
        return [(w, int(s), bool(o)) for w, s, o in conn.execute(q)]


def _worker(strategy: str, k: int) -> Callable[[list[str]], dict[str, Any]]:
    if strategy == "FULL":
        return lambda users: {"strategy": "FULL", "user_ids": users}
    if strategy == "DYNAMIC":
        return lambda users: dynamic(users, k=k)
    return lambda users: partitioned(users, k=k)


def _team_on_dataset(
    stub: Any, app: AppFixture, worker: Callable[[list[str]], dict[str, Any]], **task: Any
) -> Team:
    team = make_team(stub, app, n_workers=3)
    ok(team.call("PostDatasets", datasets=[r.Dataset(id="ds"), r.Dataset(id="other")]))
    team.add_inputs(*X, dataset="ds")
    team.create(worker(team.workers), input_source={"type": "DATASET", "id": "ds"}, **task)
    return team


# ------------------------------------------------------------------ a. back in the dataset: refilled


@pytest.mark.parametrize(("strategy", "k"), [("FULL", 3), ("PARTITIONED", 2), ("DYNAMIC", 2)])
def test_an_input_back_in_the_dataset_gets_its_dropped_seats_refilled(
    stub: Any, fast: Fast, app: AppFixture, strategy: str, k: int
) -> None:
    team = _team_on_dataset(fast.stub, app, _worker(strategy, k))
    a = team.workers[0]
    started = team.start(a)
    x = started[0]  # a has begun x; its other seats are not begun
    assert len(_seats(fast.server, team, x)) == k
    _leave(team, "DeleteDatasetInputs", x)
    kept = _seats(fast.server, team, x)
    assert [(w, off) for w, _, off in kept] == [(a, True)], "only a's started seat stays, marked"
    _rejoin(team, x)
    done = team.drain(*team.workers)  # the fast server rescans on every LABEL_START
    seats = _seats(fast.server, team, x)
    assert len(seats) == k, "exactly workers_per_input seats again"
    assert not any(off for _, _, off in seats)
    assert len({w for w, _, _ in seats}) == k, "k distinct workers"
    per_input = Counter(i for ids in done.values() for i in ids)
    assert per_input[x] == k and x in done[a], "a finished x, k-1 others labelled it"
    assert all(per_input[i] == k for i in X if i != x)


# ----------------------------------------------------------------------- b. no takeover off source


def test_an_expired_dynamic_lease_on_a_removed_input_is_not_taken_over(
    stub: Any, fast: Fast, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = _team_on_dataset(fast.stub, app, _worker("DYNAMIC", 1))
    a, b, _ = team.workers
    assert team.start(a) == X
    _leave(team, "PatchInputs-remove", X[0])
    clock(LEASE + 1)  # every lease of a ran out
    assert sorted(team.start(b)) == X[1:], "b takes over a's expired leases, but not the removed input's"
    assert team.submit(a, X[0]).status.code == sc.TASK_ASSIGNMENT_SUCCESS, "the work stays a's"
    assert _seats(fast.server, team, X[0]) == [(a, sc.TASK_ASSIGNMENT_SUCCESS, True)]


def test_an_expired_lease_is_taken_over_again_once_the_input_is_back(
    stub: Any, fast: Fast, app: AppFixture, clock: Callable[[float], None]
) -> None:
    team = _team_on_dataset(fast.stub, app, _worker("DYNAMIC", 1))
    a, b, _ = team.workers
    assert team.start(a) == X
    _leave(team, "DeleteDatasetInputs", X[0])
    _rejoin(team, X[0])
    clock(LEASE + 1)
    assert sorted(team.start(b)) == X, "back in the dataset: its expired lease is free again"
    assert [w for w, _, _ in _seats(fast.server, team, X[0])] == [b]


# ----------------------------------------------------------------------- c. reject does not re-open


@pytest.mark.parametrize("strategy", ["DYNAMIC", "PARTITIONED"])
def test_rejecting_work_on_a_removed_input_does_not_reopen_it(
    stub: Any, fast: Fast, app: AppFixture, strategy: str
) -> None:
    review = {"strategy": "MANUAL", "manual_strategy_info": {"sample_percentage": 100}}
    team = _team_on_dataset(fast.stub, app, _worker(strategy, 1), review=review)
    handed = {w: team.start(w) for w in team.workers}
    a = max(team.workers, key=lambda w: len(handed[w]))  # PARTITIONED: whoever got two or more
    gone, stays = handed[a][:2]
    for i in (gone, stays):
        team.submit(a, i)
    _leave(team, "PatchInputs-overwrite", gone)
    rv = team.reviewer
    ok(team.put(rv, A.REVIEW_START))
    for i in (gone, stays):
        ok(team.put(rv, A.REVIEW_REJECT, input_id=i))
    assert [w for w, _, _ in _seats(fast.server, team, gone)] == [a], "no new seat for the removed input"
    assert len(_seats(fast.server, team, stays)) == 2, "the input in the dataset got a fresh seat"
    others = [w for w in team.workers if w != a]
    relabelled = [i for ids in team.drain(*others).values() for i in ids]
    assert gone not in relabelled and stays in relabelled


# ------------------------------------------------------------------ d. saved search stops matching


def _paint(team: Team, ids: list[str], color: str) -> None:
    """Set the inputs' metadata ``color`` (the saved search selects the red ones)."""
    painted = [r.Input(id=i, data=r.Data(metadata=_struct(color=color))) for i in ids]
    ok(team.call("PatchInputs", action="merge", inputs=painted))


@pytest.mark.parametrize(("strategy", "k"), [("DYNAMIC", 2), ("PARTITIONED", 1)])
def test_saved_search_inputs_that_stop_matching_leave_the_task(
    stub: Any, fast: Fast, app: AppFixture, strategy: str, k: int
) -> None:
    team = make_team(fast.stub, app, n_workers=2)
    a, b = team.workers
    team.add_inputs(*XL, color="red")
    reds = r.Query(filters=[r.Filter(input=r.Input(data=r.Data(metadata=_struct(color="red"))))])
    ok(team.call("PostSearches", searches=[r.Search(id="reds", save=True, query=reds)]))
    team.create(_worker(strategy, k)(team.workers), input_source={"type": "SAVED_SEARCH", "id": "reds"})
    mine = team.start(a)
    started = mine[0]
    unstarted = next(i for i in XL if i not in mine) if strategy == "PARTITIONED" else None
    blue = [started] + ([unstarted] if unstarted else [])
    _paint(team, blue, "blue")
    done = team.drain(b, a)
    assert started not in done[b] and (unstarted is None or unstarted not in done[b])
    assert started in done[a], "a's started work stays a's"
    assert [(w, off) for w, _, off in _seats(fast.server, team, started)] == [(a, True)]
    if unstarted:
        assert _seats(fast.server, team, unstarted) == [], "unstarted seats are dropped"
    # matching again: back in the task, refilled to workers_per_input
    _paint(team, blue, "red")
    again = team.drain(b, a)
    for i in blue:
        assert len(_seats(fast.server, team, i)) == k
    assert sorted(i for ids in again.values() for i in ids) == sorted(
        [started] * (k - 1) + ([unstarted] if unstarted else [])
    )
