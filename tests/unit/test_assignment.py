"""Assignment rules: validation tables, small exact plans, and properties of the planner.

Tolerance for realised shares (``test_realised_shares_follow_targets``). Each input's workers
come from its own blake2b digest, so -- modelling the hash as a random oracle -- worker *i* is
picked for each input independently with probability exactly ``q_i / 2**64`` (``p_i`` to
within ``2**-64``; ``test_inclusion_probability_is_exact_on_a_grid`` checks that part without
any randomness). Its count over ``N`` inputs is then Binomial(``N``, ``p``), with standard
deviation ``sigma = sqrt(p(1-p)/N)`` for the realised fraction. We allow

    eps = 4 * sigma + 0.01

Bernstein's inequality, ``P(|X/N - p| >= eps) <= 2 exp(-N eps^2 / (2 p(1-p) + 2 eps / 3))``,
bounds a single check's failure probability by 2.9e-5 for every ``p`` in (0, 1) and every
``N >= 2000`` (worst near ``p ~ 0.01``; about 1e-6 near ``p = 0.5``); and the examples are
derandomised, so the test is reproducible rather than flaky.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from contextlib import AbstractContextManager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.assignment import (
    PartitionPlanner,
    choose_replacements,
    expected_shares,
    plan_full,
    plan_input,
    plan_inputs,
    target_fractions,
    validate_partition,
)

S = 1 << 64
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STATS = settings(
    max_examples=12, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

# --------------------------------------------------------------------------- strategies

worker_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
weight_values = st.one_of(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0.01, max_value=1000.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def partitions(draw: st.DrawFn, min_workers: int = 1, max_workers: int = 8) -> tuple[dict[str, float], int]:
    """(weights, k) with 1 <= k <= number of workers."""
    ids = draw(st.lists(worker_ids, min_size=min_workers, max_size=max_workers, unique=True))
    weights = {w: draw(weight_values) for w in ids}
    k = draw(st.integers(min_value=1, max_value=len(ids)))
    return weights, k


salts = st.text(max_size=20)
input_id_lists = st.lists(st.text(min_size=1, max_size=16), min_size=1, max_size=60, unique=True)


def realised(plan: dict[str, tuple[str, ...]]) -> Counter[str]:
    return Counter(w for workers in plan.values() for w in workers)


# --------------------------------------------------------------------------- validation


def _raises_invalid(fragment: str) -> AbstractContextManager[pytest.ExceptionInfo[errors.ApiError]]:
    return pytest.raises(errors.ApiError, match=fragment)


@pytest.mark.parametrize(
    ("worker_list", "weights", "k", "weighted", "fragment"),
    [
        ([], None, 1, False, "worker.user_ids is empty"),
        (["a", ""], None, 1, False, "empty user id"),
        (["a", "b", "a", "b", "a"], None, 1, False, "lists 'a', 'b' more than once"),
        (["a", "b"], None, 0, False, r"from 1 to 2 .*got 0"),
        (["a", "b"], None, 3, False, r"from 1 to 2 .*got 3"),
        (["a", "b"], None, -1, False, "from 1 to 2"),
        (["a", "b"], None, True, False, "from 1 to 2"),
        (["a", "b"], None, 1.5, False, "from 1 to 2"),
        (["a", "b"], {"a": 1, "b": 1, "c": 1}, 1, True, "weights for 'c', who are not in worker.user_ids"),
        (["a", "b"], {"zed": 1}, 1, False, "weights for 'zed'"),  # typo reported for EVENLY too
        (["a", "b"], {"a": 0, "b": 1}, 1, True, "weight of worker 'a' must be a positive finite number"),
        (["a", "b"], {"a": -3, "b": 1}, 1, True, "'a' must be a positive finite number; got -3"),
        (["a", "b"], {"a": math.nan, "b": 1}, 1, True, "'a' must be a positive"),
        (["a", "b"], {"a": math.inf, "b": 1}, 1, True, "'a' must be a positive"),
        (["a", "b"], {"a": "90", "b": 1}, 1, True, "got '90'"),
        (["a", "b"], {"a": True, "b": 1}, 1, True, "got True"),
        (["a", "b"], {"a": None, "b": 1}, 1, True, "got None"),
        (["a", "b", "c"], {"a": 1}, 1, True, "no weight for 'b', 'c': type WEIGHTED needs"),
        (["a", "b"], None, 1, True, "no weight for 'a', 'b'"),
        (["a", "b"], {}, 1, True, "or use type EVENLY"),
        (["a", "b"], {"a": 1e300, "b": 1e-300}, 1, True, "too small"),
    ],
)
def test_validate_partition_rejects(
    worker_list: list[str], weights: dict[str, object] | None, k: int, weighted: bool, fragment: str
) -> None:
    with _raises_invalid(fragment) as info:
        validate_partition(worker_list, weights, k, weighted)
    assert info.value.code == errors.INVALID_REQUEST


@pytest.mark.parametrize(
    ("worker_list", "weights", "k", "weighted", "expected"),
    [
        (["u1", "u2"], {"u1": 90, "u2": 10}, 1, True, {"u1": 0.9, "u2": 0.1}),
        (["u1", "u2"], {"u1": 9, "u2": 1}, 1, True, {"u1": 0.9, "u2": 0.1}),
        (["u1", "u2", "u3"], {"u1": 1, "u2": 1, "u3": 2}, 2, True, {"u1": 0.25, "u2": 0.25, "u3": 0.5}),
        (["b", "a"], None, 2, False, {"b": 0.5, "a": 0.5}),
        (["b", "a"], {"a": 7}, 1, False, {"b": 0.5, "a": 0.5}),  # EVENLY ignores weight values
        (["solo"], {"solo": 0.001}, 1, True, {"solo": 1.0}),
    ],
)
def test_validate_partition_normalises(
    worker_list: list[str],
    weights: dict[str, object] | None,
    k: int,
    weighted: bool,
    expected: dict[str, float],
) -> None:
    result = validate_partition(worker_list, weights, k, weighted)
    assert list(result) == worker_list  # keyed in the order given
    assert result == pytest.approx(expected)
    assert math.fsum(result.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("weights", "k", "fragment"),
    [
        ({}, 1, "empty"),
        ({"a": 1}, 0, "from 1 to 1"),
        ({"a": 1, "b": 1}, 3, "from 1 to 2"),
        ({"a": 0.0}, 1, "positive finite"),
        ({"a": math.inf}, 1, "positive finite"),
    ],
)
def test_target_fractions_rejects(weights: dict[str, float], k: int, fragment: str) -> None:
    with _raises_invalid(fragment):
        target_fractions(weights, k)
    with _raises_invalid(fragment):
        plan_input("salt", "input", weights, k)


# --------------------------------------------------------------------------- targets (water-filling)


@pytest.mark.parametrize(
    ("weights", "k", "expected"),
    [
        ({"a": 90, "b": 10}, 1, {"a": 0.9, "b": 0.1}),
        ({"a": 9, "b": 1}, 1, {"a": 0.9, "b": 0.1}),
        ({"a": 90, "b": 10}, 2, {"a": 1.0, "b": 1.0}),  # the cap binds: both get every input
        ({"a": 90, "b": 5, "c": 5}, 2, {"a": 1.0, "b": 0.5, "c": 0.5}),
        # a: 3*5/10 = 1.5 -> 1; then b: 2*3/5 = 1.2 -> 1; then c, d share the last 1
        ({"a": 5, "b": 3, "c": 1, "d": 1}, 3, {"a": 1.0, "b": 1.0, "c": 0.5, "d": 0.5}),
        ({"a": 1, "b": 1, "c": 1}, 2, {"a": 2 / 3, "b": 2 / 3, "c": 2 / 3}),
        ({"a": 2, "b": 1, "c": 1}, 2, {"a": 1.0, "b": 0.5, "c": 0.5}),  # exactly at the cap
        ({"a": 1, "b": 1, "c": 1, "d": 1, "e": 6}, 2, {"a": 0.25, "b": 0.25, "c": 0.25, "d": 0.25, "e": 1.0}),
    ],
)
def test_target_fractions_table(weights: dict[str, float], k: int, expected: dict[str, float]) -> None:
    assert target_fractions(weights, k) == pytest.approx(expected)
    assert expected_shares(weights, k) == target_fractions(weights, k)


@FAST
@given(partitions())
def test_water_filling_properties(case: tuple[dict[str, float], int]) -> None:
    weights, k = case
    p = target_fractions(weights, k)
    assert math.fsum(p.values()) == pytest.approx(k)
    assert all(0 < v <= 1 for v in p.values())
    capped = [w for w in p if p[w] == 1.0]
    free = [w for w in p if p[w] < 1.0]
    # uncapped workers split the remaining mass in proportion to their weights ...
    if free:
        mass, total = k - len(capped), math.fsum(weights[w] for w in free)
        for w in free:
            assert p[w] == pytest.approx(mass * weights[w] / total)
        # ... and a capped worker is never lighter than an uncapped one
        if capped:
            assert min(weights[w] for w in capped) >= max(weights[w] for w in free) * (1 - 1e-9)
    # relative weights: scaling changes nothing
    assert target_fractions({w: v * 7 for w, v in weights.items()}, k) == pytest.approx(p)


# --------------------------------------------------------------------------- small exact plans

GOLDEN = [
    # Pins the hash layout: a change here re-plans new inputs differently across a release.
    ("task-1", "in-1", {"a": 1, "b": 1}, 1, ("a",)),
    ("task-1", "in-2", {"a": 1, "b": 1}, 1, ("b",)),
    ("task-1", "in-1", {"a": 1, "b": 1, "c": 1, "d": 1}, 2, ("a", "d")),
    ("t", "x", {"alice": 90, "bob": 10}, 1, ("alice",)),
    ("t", "y", {"alice": 5, "bob": 3, "carol": 1, "dave": 1}, 3, ("alice", "bob", "carol")),
    ("", "", {"a": 1, "b": 2, "c": 3}, 2, ("a", "c")),
]


@pytest.mark.parametrize(("salt", "input_id", "weights", "k", "expected"), GOLDEN)
def test_golden_plans(
    salt: str, input_id: str, weights: dict[str, float], k: int, expected: tuple[str, ...]
) -> None:
    assert plan_input(salt, input_id, weights, k) == expected


@pytest.mark.parametrize(
    ("weights", "k", "expected"),
    [
        ({"solo": 3}, 1, ("solo",)),
        ({"b": 1, "a": 1, "c": 1}, 3, ("a", "b", "c")),  # k == n is FULL
        ({"a": 90, "b": 10}, 2, ("a", "b")),  # water-filled to FULL
        ({"a": 5, "b": 3, "c": 1, "d": 1}, 2, None),  # checked below: a always present
    ],
)
def test_small_plans(weights: dict[str, float], k: int, expected: tuple[str, ...] | None) -> None:
    plan = plan_inputs("salt", [f"i{n}" for n in range(200)], weights, k)
    for workers in plan.values():
        if expected is not None:
            assert workers == expected
        else:
            assert "a" in workers and len(workers) == 2  # a's target is min(1, 2*5/10) = 1


def test_plan_full() -> None:
    assert plan_full(["b", "a", "b"]) == ("a", "b")
    assert plan_full([]) == ()


def test_cap_90_10_with_two_workers_per_input() -> None:
    plan = plan_inputs("task", (f"img-{n}" for n in range(1000)), {"a": 90, "b": 10}, 2)
    assert set(plan.values()) == {("a", "b")}


# --------------------------------------------------------------------------- plan properties


@FAST
@given(partitions(), salts, input_id_lists)
def test_exactly_k_distinct_workers(case: tuple[dict[str, float], int], salt: str, ids: list[str]) -> None:
    weights, k = case
    plan = plan_inputs(salt, ids, weights, k)
    assert set(plan) == set(ids)
    for workers in plan.values():
        assert len(workers) == k
        assert len(set(workers)) == k
        assert set(workers) <= set(weights)
        assert list(workers) == sorted(workers)
    capped = {w for w, p in target_fractions(weights, k).items() if p == 1.0}
    assert all(capped <= set(workers) for workers in plan.values())


@FAST
@given(partitions(), salts, input_id_lists)
def test_plan_is_deterministic(case: tuple[dict[str, float], int], salt: str, ids: list[str]) -> None:
    weights, k = case
    plan = plan_inputs(salt, ids, weights, k)
    # order of inputs, order of weights in the mapping, batch vs single call: all irrelevant
    shuffled_ids = list(reversed(ids))
    items = list(weights.items())
    reordered = dict(reversed(items))
    assert plan_inputs(salt, shuffled_ids, reordered, k) == plan
    for input_id in ids[:5]:
        assert plan_input(salt, input_id, weights, k) == plan[input_id]
    # integer scaling keeps ratios exact, so the plan is identical
    assert plan_inputs(salt, ids, {w: v * 4 for w, v in weights.items()}, k) == plan


@FAST
@given(partitions(), salts, input_id_lists, input_id_lists)
def test_adding_inputs_moves_nothing(
    case: tuple[dict[str, float], int], salt: str, old: list[str], new: list[str]
) -> None:
    weights, k = case
    before = plan_inputs(salt, old, weights, k)
    after = plan_inputs(salt, [*new, *old], weights, k)  # new ones even come first
    assert {i: after[i] for i in old} == before


@FAST
@given(partitions(min_workers=3), st.floats(min_value=0.01, max_value=1000.0), st.data())
def test_changing_one_weight_only_renormalises_the_others(
    case: tuple[dict[str, float], int], new_weight: float, data: st.DataObject
) -> None:
    """What holds when worker j's weight changes: every other worker's target moves only
    through renormalisation (and possibly the cap): two uncapped workers keep the ratio of
    their weights, before and after. Existing inputs are not re-planned by the service (see
    choose_replacements), so nothing else is promised about them."""
    weights, k = case
    j = data.draw(st.sampled_from(sorted(weights)))
    changed = {**weights, j: new_weight}
    before, after = target_fractions(weights, k), target_fractions(changed, k)
    others = [w for w in weights if w != j]
    for a, b in itertools.combinations(others, 2):
        for p in (before, after):
            if p[a] < 1 and p[b] < 1:
                assert p[a] / p[b] == pytest.approx(weights[a] / weights[b])
    # the sum is still k, and the plan still respects it
    assert math.fsum(after.values()) == pytest.approx(k)
    for workers in plan_inputs("s", [f"i{n}" for n in range(50)], changed, k).values():
        assert len(set(workers)) == k


@FAST
@given(partitions(max_workers=6), salts, st.integers(min_value=0, max_value=255))
def test_inclusion_probability_is_exact_on_a_grid(
    case: tuple[dict[str, float], int], salt: str, layout: int
) -> None:
    """Sweep the hash point over M evenly spaced values for one layout: a worker's hit set is a
    circular arc of length q_i <= S, which holds q_i*M/S +- 1 grid points, so the grid share
    is within 1/M of the target -- no sampling noise involved."""
    weights, k = case
    planner = PartitionPlanner(salt, weights, k)
    m = 2000
    hits: Counter[str] = Counter()
    for n in range(m):
        workers = planner.select((2 * n + 1) * S // (2 * m), layout)
        assert len(set(workers)) == k
        hits.update(workers)
    for w, p in planner.targets.items():
        assert abs(hits[w] / m - p) <= 1 / m + 1e-12


@STATS
@given(partitions(), salts, st.integers(min_value=2000, max_value=5000))
def test_realised_shares_follow_targets(case: tuple[dict[str, float], int], salt: str, n: int) -> None:
    weights, k = case
    plan = plan_inputs(salt, (f"input-{i}" for i in range(n)), weights, k)
    counts = realised(plan)
    for w, p in target_fractions(weights, k).items():
        eps = 4 * math.sqrt(p * (1 - p) / n) + 0.01
        assert abs(counts[w] / n - p) <= eps, (w, p, counts[w] / n, eps)
        assert counts[w] <= n  # never twice on one input, so at most 1/k of all assignments


def test_pairs_vary_between_inputs() -> None:
    """With one fixed layout, 4 equal workers and k=2 would only ever form 2 of the 6 pairs."""
    n = 3000
    plan = plan_inputs("consensus", (f"i{i}" for i in range(n)), dict.fromkeys("abcd", 1.0), 2)
    pairs = Counter(plan.values())
    assert len(pairs) == 6
    for count in pairs.values():
        assert 0.12 <= count / n <= 0.22  # 1/6 each in expectation


def test_salt_separates_tasks() -> None:
    ids = [f"i{i}" for i in range(400)]
    weights = dict.fromkeys("abcde", 1.0)
    one, two = plan_inputs("task-1", ids, weights, 1), plan_inputs("task-2", ids, weights, 1)
    same = sum(one[i] == two[i] for i in ids)
    assert same < 0.35 * len(ids)  # ~1/5 expected: independent plans


# --------------------------------------------------------------------------- replacements


@FAST
@given(
    partitions(min_workers=2),
    st.data(),
    st.integers(min_value=0, max_value=4),
)
def test_replacements_never_a_holder_nor_a_removed_worker(
    case: tuple[dict[str, float], int], data: st.DataObject, count: int
) -> None:
    weights, _k = case
    removed = data.draw(st.sampled_from(sorted(weights)))
    remaining = {w: v for w, v in weights.items() if w != removed}
    holders = data.draw(st.sets(st.sampled_from(sorted(weights)), max_size=len(weights)))
    load = {w: data.draw(st.integers(min_value=0, max_value=50)) for w in weights}
    chosen = choose_replacements("salt", "input", holders, remaining, load, count)
    assert len(chosen) == len(set(chosen))
    assert not set(chosen) & set(holders)
    assert removed not in chosen
    assert set(chosen) <= set(remaining)
    assert len(chosen) == min(count, len(set(remaining) - set(holders)))
    assert choose_replacements("salt", "input", list(holders)[::-1], remaining, load, count) == chosen


@pytest.mark.parametrize(
    ("holders", "weights", "load", "count", "expected"),
    [
        # furthest below target wins: c has 0 of its equal share
        (["a"], {"a": 1, "b": 1, "c": 1}, {"a": 10, "b": 10, "c": 0}, 1, ("c",)),
        # weights matter: b should have 3/4 of the assignments, has 1/2
        ([], {"a": 1, "b": 3}, {"a": 10, "b": 10}, 1, ("b",)),
        # two places are filled one after the other, the load updated in between
        ([], {"a": 1, "b": 1, "c": 1}, {"a": 0, "b": 5, "c": 6}, 2, ("a", "b")),
        # nobody left to take it
        (["a", "b"], {"a": 1, "b": 1}, {}, 1, ()),
        ([], {"a": 1}, {}, 0, ()),
        # a capped worker (target: every input) missing from this input is first in line
        (["b"], {"a": 90, "b": 5, "c": 5}, {"a": 100, "b": 50, "c": 50}, 1, ("a",)),
    ],
)
def test_choose_replacements_table(
    holders: list[str], weights: dict[str, float], load: dict[str, int], count: int, expected: tuple[str, ...]
) -> None:
    assert choose_replacements("s", "i", holders, weights, load, count) == expected


@pytest.mark.parametrize(
    ("weights", "k"),
    [
        ({"a": 1, "b": 1, "c": 1, "x": 1}, 1),
        ({"a": 1, "b": 1, "c": 1, "x": 1}, 2),
        ({"a": 3, "b": 1, "c": 1, "x": 5}, 1),
        ({"a": 3, "b": 2, "c": 1, "d": 1, "x": 2}, 2),
        ({"a": 4, "b": 1, "c": 1, "x": 1}, 2),  # a becomes capped once x leaves
    ],
)
def test_removing_a_worker_converges_to_new_targets(weights: dict[str, float], k: int) -> None:
    """Plan N inputs, remove x, hand each of x's places to choose_replacements (updating the
    load as the service would): only x's inputs move, and the realised counts end within 3
    assignments of the new targets -- the Binomial noise of the original plan (tens of
    assignments) is absorbed by the moved work (observed: at most 1 off)."""
    n = 3000
    ids = [f"in-{i}" for i in range(n)]
    plan = plan_inputs("task", ids, weights, k)
    remaining = {w: v for w, v in weights.items() if w != "x"}
    load = Counter(w for workers in plan.values() for w in workers if w != "x")
    final: dict[str, tuple[str, ...]] = {}
    for i in ids:
        holders = tuple(w for w in plan[i] if w != "x")
        if len(holders) == len(plan[i]):
            final[i] = plan[i]
            continue
        new = choose_replacements("task", i, holders, remaining, load, k - len(holders))
        assert new and "x" not in new and not set(new) & set(holders)
        load.update(new)
        final[i] = tuple(sorted(holders + new))
    moved = [i for i in ids if final[i] != plan[i]]
    assert all("x" in plan[i] for i in moved)
    counts = realised(final)
    for w, p in target_fractions(remaining, k).items():
        assert abs(counts[w] - p * n) <= 3, (w, counts[w], p * n)
