"""Who labels which input: the pure assignment rules behind the task worker strategies.

Nothing here touches a database or a proto; every function is a pure function of plain
values (``str`` ids, numbers), so the service layer can call it inside a transaction and the
rules can be property-tested. The strategies (Clarifai ``TaskWorker.strategy``):

``FULL``
    Every worker gets every input (:func:`plan_full`; the same as a partition with
    ``workers_per_input`` equal to the number of workers).

``PARTITIONED`` (``EVENLY`` / ``WEIGHTED``)
    Every input goes to exactly ``k = workers_per_input`` distinct workers. Worker *i* with
    relative weight ``w_i`` (any positive numbers; ``EVENLY`` means all equal) should receive
    the fraction ``p_i = min(1, k * w_i / W)`` of all inputs, where the excess of a capped
    worker is poured over the others in proportion to their weights ("water-filling", see
    :func:`target_fractions`). A worker can never receive an input twice, so nobody's share
    of assignments exceeds ``1/k`` -- the cap binds exactly when ``k * w_i / W > 1``.

``DYNAMIC``
    No plan: an input has ``k`` open seats that workers take on demand under leases that expire
    and return the work to the pool. Taking seats is a locking question, so it lives in SQL
    (``storage/repos/assignments.py``), not here.

How an input's workers are chosen (:class:`PartitionPlanner`)
--------------------------------------------------------------
*Systematic (Madow) sampling with a hashed layout.* The targets ``p_i`` (each ``<= 1``,
summing to ``k``) are turned into integer interval lengths ``q_i`` on ``[0, k*S)`` with
``S = 2**64``, exactly (rational water-filling, then largest-remainder rounding so that
``sum(q_i) == k*S`` and every ``q_i <= S``). For an input, ``blake2b(salt, input_id)`` yields a
point ``u`` in ``[0, S)`` and a layout number ``r`` in ``[0, 256)``; layout ``r`` lays the
workers end to end in an order given by another hash of ``(salt, r, worker)``. The input's
workers are the owners of the intervals containing ``u, u+S, ..., u+(k-1)*S``. Why:

* **exactly k distinct workers** -- the points are ``S`` apart and no interval is longer than
  ``S``, so each interval holds at most one point; integer arithmetic makes this hold without
  floating-point edge cases, and the last interval ends exactly at ``k*S``;
* **exact shares** -- ``u`` is uniform on ``[0, S)`` and independent of ``r``, so for every
  layout worker *i* is chosen with probability ``q_i / S`` (``p_i`` to within ``2**-64``).
  Realised shares over ``N`` inputs are therefore Binomial(``N``, ``p_i``) / ``N`` -- the spread
  the tests bound (see ``tests/unit/test_assignment.py``). Rendezvous (highest-random-weight)
  hashing, the other obvious choice, is exact only for ``k = 1``: for ``k > 1`` it samples
  successively without replacement, whose inclusion probabilities are *not* proportional to
  the weights (heavy workers come out under-served), and it cannot express the cap;
* **varied pairs** -- with one fixed layout the same workers would always co-occur (four equal
  workers with ``k = 2`` would only ever form the pairs {1st, 3rd} and {2nd, 4th}), which is
  poor for consensus review. Rotating a layout does not help (it is the same as moving ``u``),
  so each input picks one of 256 hashed *permutations*; the layouts are built lazily, at most
  256 per plan, so the cost per input stays ``O(k log n)``;
* **deterministic and stable** -- an input's workers depend only on ``(salt, input_id,
  weights, k)``: never on the other inputs, their order, the process, the Python version or
  ``PYTHONHASHSEED`` (``hash()`` is never used). Adding inputs later extends a plan without
  moving anything; several server replicas compute the same plan. Scaling all weights by the
  same factor leaves the plan unchanged whenever the ratios stay exact (e.g. ``{a: 9, b: 1}``
  and ``{a: 90, b: 10}``).

What a plan does *not* promise: changing the weights (or the worker set) re-lays the intervals,
so re-planning an *existing* input under new weights can give a different answer. The service
therefore never re-plans stored assignments: it plans new inputs under the current weights and
moves only the unstarted work of a removed worker with :func:`choose_replacements`, which steers
realised shares back towards the new targets.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from fractions import Fraction
from hashlib import blake2b

from labeldesk.domain import errors

__all__ = [
    "DEFAULT_PICK_LIMIT",
    "PartitionPlanner",
    "choose_replacements",
    "expected_shares",
    "plan_full",
    "plan_input",
    "plan_inputs",
    "target_fractions",
    "validate_partition",
]

#: ``LABEL_START`` hands out at most this many inputs per call (Clarifai's behaviour).
DEFAULT_PICK_LIMIT = 10

WORKERS_FIELD = "worker.user_ids"
K_FIELD = "worker.partitioned_strategy_info.workers_per_input"
WEIGHTS_FIELD = "worker.partitioned_strategy_info.weights"

_SCALE = 1 << 64  # one unit of "inputs" on the sampling line; u is a 64-bit hash value
_LAYOUTS = 256  # hashed worker orders per plan; one byte of the input's digest picks one
_PLAN_PERSON = b"labeldesk.plan"
_ORDER_PERSON = b"labeldesk.order"
_TIE_PERSON = b"labeldesk.repl"


# --------------------------------------------------------------------------- hashing helpers


def _frame(text: str) -> bytes:
    """``text`` as UTF-8 with a length prefix, so concatenated fields can never be confused
    (``("ab", "c")`` and ``("a", "bc")`` hash differently). Lone surrogates are kept, not fatal."""
    raw = text.encode("utf-8", "surrogatepass")
    return len(raw).to_bytes(4, "big") + raw


def _rank(person: bytes, *parts: str) -> bytes:
    """A stable pseudo-random sort key for ``parts`` (blake2b, not ``hash()``: same everywhere)."""
    h = blake2b(digest_size=16, person=person)
    for part in parts:
        h.update(_frame(part))
    return h.digest()


# --------------------------------------------------------------------------- targets


def _fmt_ids(ids: Iterable[str]) -> str:
    return ", ".join(repr(i) for i in ids)


def _positive_finite(value: object) -> Fraction | None:
    """``value`` as an exact rational if it is a positive finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not math.isfinite(value) or value <= 0:
        return None
    return Fraction(value)


def _check_k(k: object, n: int) -> int:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= n:
        raise errors.invalid(
            f"{K_FIELD} must be a whole number from 1 to {n} (the number of workers); got {k!r}"
        )
    return k


def _exact_targets(weights: Mapping[str, float], k: int) -> dict[str, Fraction]:
    """Water-filled target fractions as exact rationals (see :func:`target_fractions`)."""
    if not weights:
        raise errors.invalid(f"{WORKERS_FIELD} is empty: a partitioned task needs at least one worker")
    remaining: dict[str, Fraction] = {}
    for worker, value in weights.items():
        exact = _positive_finite(value)
        if exact is None:
            raise errors.invalid(
                f"{WEIGHTS_FIELD}: the weight of worker {worker!r} must be a positive finite number; "
                f"got {value!r}"
            )
        remaining[worker] = exact
    _check_k(k, len(weights))
    targets: dict[str, Fraction] = {}
    mass = Fraction(k)
    while remaining:
        total = sum(remaining.values(), Fraction(0))
        # Anyone whose proportional share would reach 1 is capped at 1. Capping all of them in
        # one round is sound: removing capped workers only raises the others' shares.
        capped = [w for w, v in remaining.items() if mass * v >= total]
        if not capped:
            for w, v in remaining.items():
                targets[w] = mass * v / total
            break
        for w in capped:
            targets[w] = Fraction(1)
            del remaining[w]
        mass -= len(capped)
    return targets


def target_fractions(weights: Mapping[str, float], k: int) -> dict[str, float]:
    """The fraction of all inputs each worker should receive: ``min(1, k*w_i/W)``, water-filled.

    Weights are relative (``{a: 9, b: 1}`` == ``{a: 90, b: 10}``). A worker whose proportional
    share ``k*w_i/W`` would exceed 1 (more than every input) is capped at 1 and the excess is
    redistributed to the uncapped workers in proportion to their weights, repeatedly; the
    results sum to ``k``. Example: ``{a: 90, b: 10}`` with ``k = 2`` gives both every input.
    Raises :class:`~labeldesk.domain.errors.ApiError` (11102) for non-positive or non-finite
    weights or ``k`` outside ``1..len(weights)``.
    """
    return {w: float(p) for w, p in _exact_targets(weights, k).items()}


def expected_shares(weights: Mapping[str, float], k: int) -> dict[str, float]:
    """Alias of :func:`target_fractions` (fraction of *inputs*; divide by ``k`` for the
    fraction of *assignments*), under the name used in the task issue."""
    return target_fractions(weights, k)


def _quantise(targets: Mapping[str, Fraction], k: int) -> dict[str, int]:
    """Integer interval lengths ``q_i ~= p_i * S`` with ``sum == k*S`` exactly and ``q_i <= S``.

    Largest remainder (ties by worker id): the units handed out go only to workers with a
    non-zero remainder, whose floor is below ``S``, so no interval ever exceeds ``S``.
    """
    quanta: dict[str, int] = {}
    remainders: dict[str, Fraction] = {}
    for w, p in targets.items():
        scaled = p * _SCALE
        quanta[w] = scaled.numerator // scaled.denominator
        remainders[w] = scaled - quanta[w]
    short = k * _SCALE - sum(quanta.values())
    for w in sorted(targets, key=lambda w: (-remainders[w], w))[:short]:
        quanta[w] += 1
    return quanta


# --------------------------------------------------------------------------- planning


class PartitionPlanner:
    """The partition plan of one task: ``workers_for(input_id)`` for any number of inputs.

    Build it once per batch (the targets, interval lengths and the lazily built layouts are
    shared); :func:`plan_input` / :func:`plan_inputs` are thin wrappers. See the module
    docstring for the algorithm and its guarantees.
    """

    __slots__ = ("_full", "_hasher", "_layouts", "_quanta", "k", "salt", "targets", "workers")

    def __init__(self, salt: str, weights: Mapping[str, float], k: int) -> None:
        exact = _exact_targets(weights, k)
        self.salt = salt
        self.k = k
        #: worker ids, sorted: the canonical order of every returned tuple
        self.workers: tuple[str, ...] = tuple(sorted(exact))
        #: target fraction of inputs per worker (``target_fractions``)
        self.targets: dict[str, float] = {w: float(p) for w, p in exact.items()}
        self._quanta = _quantise(exact, k)
        self._full = k == len(self.workers)
        self._hasher = blake2b(digest_size=16, person=_PLAN_PERSON)
        self._hasher.update(_frame(salt))
        self._layouts: dict[int, tuple[list[int], tuple[str, ...]]] = {}

    def layout(self, number: int) -> tuple[list[int], tuple[str, ...]]:
        """Layout ``number``: (interval end points, worker owning each interval) on ``[0, k*S)``."""
        cached = self._layouts.get(number)
        if cached is not None:
            return cached
        tag = number.to_bytes(2, "big").hex()
        order = tuple(sorted(self.workers, key=lambda w: (_rank(_ORDER_PERSON, self.salt, tag, w), w)))
        ends: list[int] = []
        end = 0
        for w in order:
            end += self._quanta[w]
            ends.append(end)
        built = (ends, order)
        self._layouts[number] = built
        return built

    def select(self, point: int, layout: int) -> tuple[str, ...]:
        """The workers whose intervals in ``layout`` hold ``point + j*S`` for ``j < k``.

        ``point`` must lie in ``[0, 2**64)``. Exposed so tests can sweep ``point`` over a grid
        and check the inclusion probabilities exactly, without sampling noise.
        """
        if self._full:
            return self.workers
        ends, order = self.layout(layout)
        if self.k == 1:
            return (order[bisect_right(ends, point)],)
        chosen = [order[bisect_right(ends, point + j * _SCALE)] for j in range(self.k)]
        chosen.sort()
        return tuple(chosen)

    def workers_for(self, input_id: str) -> tuple[str, ...]:
        """The ``k`` distinct workers of ``input_id``, sorted by id."""
        if self._full:
            return self.workers
        h = self._hasher.copy()
        h.update(input_id.encode("utf-8", "surrogatepass"))
        digest = h.digest()
        return self.select(int.from_bytes(digest[:8], "big"), digest[8])

    def plan(self, input_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """``{input_id: workers}`` for many inputs (the hot loop of task creation)."""
        if self._full:
            return {i: self.workers for i in input_ids}
        copy = self._hasher.copy
        layouts = self._layouts
        layout = self.layout
        from_bytes = int.from_bytes
        find = bisect_right
        k = self.k
        out: dict[str, tuple[str, ...]] = {}
        for input_id in input_ids:
            h = copy()
            h.update(input_id.encode("utf-8", "surrogatepass"))
            digest = h.digest()
            point = from_bytes(digest[:8], "big")
            ends, order = layouts.get(digest[8]) or layout(digest[8])
            if k == 1:
                out[input_id] = (order[find(ends, point)],)
            elif k == 2:
                a = order[find(ends, point)]
                b = order[find(ends, point + _SCALE)]
                out[input_id] = (a, b) if a < b else (b, a)
            else:
                chosen = [order[find(ends, point + j * _SCALE)] for j in range(k)]
                chosen.sort()
                out[input_id] = tuple(chosen)
        return out


def plan_full(worker_ids: Iterable[str]) -> tuple[str, ...]:
    """FULL strategy: every input goes to every (distinct) worker, sorted by id."""
    return tuple(sorted(set(worker_ids)))


def plan_input(salt: str, input_id: str, weights: Mapping[str, float], k: int) -> tuple[str, ...]:
    """The ``k`` distinct workers (sorted by id) of one input under a PARTITIONED plan.

    ``salt`` is per task (e.g. the task id) so two tasks over the same inputs do not hand the
    same inputs to the same people. Pure function of its arguments (see the module docstring).
    """
    return PartitionPlanner(salt, weights, k).workers_for(input_id)


def plan_inputs(
    salt: str, input_ids: Iterable[str], weights: Mapping[str, float], k: int
) -> dict[str, tuple[str, ...]]:
    """:func:`plan_input` for many inputs at once, sharing the set-up; one entry per distinct id."""
    return PartitionPlanner(salt, weights, k).plan(input_ids)


# --------------------------------------------------------------------------- re-planning


def choose_replacements(
    salt: str,
    input_id: str,
    holders: Collection[str],
    weights: Mapping[str, float],
    load: Mapping[str, int],
    count: int,
    *,
    k: int | None = None,
) -> tuple[str, ...]:
    """Who takes over ``count`` places of ``input_id`` after workers left or weights changed.

    ``holders`` are the workers that keep (or finished) the input, removed workers included if
    they finished it; ``weights`` is the *new* worker set; ``load`` the number of inputs each
    worker currently holds in the task (missing = 0). ``k`` defaults to ``len(holders) +
    count``, i.e. the caller asks for exactly the missing places.

    Candidates are the workers in ``weights`` that do not hold the input (so never a holder,
    never a removed worker). Each place goes to the candidate furthest *below* its target,
    measured in assignments: ``deficit_i = p_i/k * (T+1) - load_i``, with ``T`` the total load of
    the new worker set and ``p_i`` the water-filled target of :func:`target_fractions`; the
    winner's load then counts one more before the next place is filled. This is smooth
    weighted round-robin: applied input after input it keeps every worker within about one
    assignment of its target share (where the holders constraint allows), so shares converge
    back to the weights instead of drifting. Exact ties (e.g. equal weights and loads) are
    broken by a hash of ``(salt, input_id, worker)``, so equal workers share the moved work
    evenly and deterministically.

    Returns the workers in the order chosen (best first); fewer than ``count`` when fewer
    candidates exist (the caller decides whether an under-staffed input is acceptable);
    ``count <= 0`` gives ``()``.
    """
    if count <= 0 or not weights:
        return ()
    held = set(holders)
    need = len(held) + count if k is None else k
    exact = _exact_targets(weights, max(1, min(need, len(weights))))
    k_eff = sum(exact.values(), Fraction(0))  # == min(need, n)
    current = {w: int(load.get(w, 0)) for w in weights}
    total = sum(current.values())
    candidates = [w for w in sorted(weights) if w not in held]
    tie = {w: _rank(_TIE_PERSON, salt, input_id, w) for w in candidates}
    chosen: list[str] = []
    while candidates and len(chosen) < count:
        after = total + 1
        best = max(
            candidates,
            key=lambda w: (exact[w] / k_eff * after - current[w], _neg(tie[w])),
        )
        chosen.append(best)
        candidates.remove(best)
        current[best] += 1
        total += 1
    return tuple(chosen)


def _neg(key: bytes) -> bytes:
    """Invert a byte key's order so ``max`` prefers the smallest hash."""
    return bytes(255 - b for b in key)


# --------------------------------------------------------------------------- validation


def validate_partition(
    worker_ids: Sequence[str],
    weights: Mapping[str, object] | None,
    k: int,
    weighted: bool,
) -> dict[str, float]:
    """Check a PARTITIONED worker strategy; return the normalised weights (summing to 1).

    Rules, each failure an :class:`~labeldesk.domain.errors.ApiError` 11102 saying what to fix:

    * ``worker.user_ids`` is non-empty, has no empty id and no duplicate;
    * ``workers_per_input`` is a whole number from 1 to the number of workers;
    * every weight belongs to a listed worker and is a positive, finite number (checked for
      ``EVENLY`` too: a weight for an unknown worker is a typo worth reporting);
    * ``WEIGHTED`` needs a weight for *every* listed worker. Clarifai requires them; silently
      defaulting a forgotten worker to some weight would hand them an arbitrary share, so the
      error names the workers without one and points at ``EVENLY`` for equal shares.

    ``EVENLY`` ignores the weights' values (everyone gets ``1/n``). The result is keyed in
    ``worker_ids`` order and can be passed straight to :func:`plan_inputs`.
    """
    if not worker_ids:
        raise errors.invalid(f"{WORKERS_FIELD} is empty: a partitioned task needs at least one worker")
    if any(not w for w in worker_ids):
        raise errors.invalid(f"{WORKERS_FIELD} contains an empty user id: remove it")
    seen: set[str] = set()
    dups: list[str] = []
    for w in worker_ids:
        if w in seen and w not in dups:
            dups.append(w)
        seen.add(w)
    if dups:
        raise errors.invalid(f"{WORKERS_FIELD} lists {_fmt_ids(dups)} more than once: list each worker once")
    n = len(worker_ids)
    _check_k(k, n)
    given = dict(weights or {})
    unknown = [w for w in given if w not in seen]
    if unknown:
        raise errors.invalid(
            f"{WEIGHTS_FIELD} has weights for {_fmt_ids(unknown)}, who are not in {WORKERS_FIELD}: "
            "add them to the workers or remove their weights"
        )
    exact: dict[str, Fraction] = {}
    for w in worker_ids:
        if w not in given:
            continue
        value = _positive_finite(given[w])
        if value is None:
            raise errors.invalid(
                f"{WEIGHTS_FIELD}: the weight of worker {w!r} must be a positive finite number; "
                f"got {given[w]!r}"
            )
        exact[w] = value
    if not weighted:
        return {w: 1.0 / n for w in worker_ids}
    missing = [w for w in worker_ids if w not in given]
    if missing:
        raise errors.invalid(
            f"{WEIGHTS_FIELD} has no weight for {_fmt_ids(missing)}: type WEIGHTED needs a positive "
            f"weight for every worker in {WORKERS_FIELD} (or use type EVENLY for equal shares)"
        )
    total = sum(exact.values(), Fraction(0))
    normalised = {w: float(v / total) for w, v in exact.items()}
    tiny = [w for w, v in normalised.items() if v == 0.0]
    if tiny:
        raise errors.invalid(
            f"{WEIGHTS_FIELD}: the weight of {_fmt_ids(tiny)} is too small next to the others to be "
            "represented; use weights within a factor of 1e300 of each other"
        )
    return normalised
