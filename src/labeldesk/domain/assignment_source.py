"""What becomes of a task's seats when an input leaves its task's source (the dataset, or the
saved search it stops matching) and when it comes back -- pure rules, no I/O.

* Leaving (:func:`kept_on_leaving`): seats nobody has begun -- an OPEN DYNAMIC seat, or planned
  PENDING work never handed out (no lease) -- are dropped; started, submitted and reviewed work is
  kept, marked *off source*.
* Off source (:func:`may_take_over`, :func:`reopens_on_reject`): the kept work can be finished and
  reviewed, but an expired DYNAMIC lease on it is not handed to another worker, and rejecting it
  does not re-open the input for other labelers.
* Coming back (:func:`source_changes`): the source rescan clears the mark and refills the input's
  dropped seats, so it has ``workers_per_input`` live seats again (:func:`seats_missing`).

The SQL of ``storage/repos/assignments.py`` (``_UNSTARTED``, ``_EXPIRED_SEATS``) selects by the
same rules; these functions state them and the services decide with them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import NamedTuple

from labeldesk.domain.statuses import OPEN, PENDING, REJECTED


def kept_on_leaving(status: int, leased: bool) -> bool:
    """Whether a seat stays when its input leaves the task's source: not when nobody has begun it
    (OPEN, or PENDING without a lease: LABEL_START, a takeover and REQUEST_CHANGES all set one)."""
    if status == OPEN:
        return False
    return not (status == PENDING and not leased)


def may_take_over(status: int, lease_expired: bool, off_source: bool, had_input: bool) -> bool:
    """DYNAMIC: whether another worker may take a started seat. Only pending work whose lease ran
    out, on an input still in the task's source, by a worker who never had the input."""
    return status == PENDING and lease_expired and not off_source and not had_input


def reopens_on_reject(rejected: bool, off_source: bool) -> bool:
    """Whether a reviewers' rejection returns the input to the pool for other labelers: only while
    the input is still in the task's source."""
    return rejected and not off_source


def seats_missing(live_seats: int, workers_per_input: int) -> int:
    """How many seats an input needs to have ``workers_per_input`` live (non-rejected) ones."""
    return max(0, workers_per_input - live_seats)


def live_seats(statuses: Iterable[int]) -> int:
    return sum(1 for s in statuses if s != REJECTED)


class SourceChanges(NamedTuple):
    """What a rescan of a task's source found: inputs with seats that left it, and inputs marked
    off source that are back in it."""

    left: frozenset[int]
    back: frozenset[int]


def source_changes(
    on_source: Collection[int], off_source: Collection[int], live: Collection[int]
) -> SourceChanges:
    """Compare the inputs with seats (``on_source``: none marked; ``off_source``: marked) with the
    inputs the source selects now (``live``)."""
    now = set(live)
    return SourceChanges(
        left=frozenset(i for i in on_source if i not in now),
        back=frozenset(i for i in off_source if i in now),
    )
