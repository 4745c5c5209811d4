"""Consensus between labelers who annotated the same input: clustering, voting, agreement scores.

This is the rule behind the ``CONSENSUS`` review strategy (see
:mod:`labeldesk.domain.review_rules` for the status flow). It is pure and deterministic: the
result depends only on the *set* of submissions, never on their order, on Python's ``hash()``
or on the process.

What a labeler submits
    ``Submission.concepts`` holds the input-level concepts the labeler marked **present** (value 1).
    A concept given with value 0 is an explicit negative; for agreement it counts the same as not
    mentioning the concept (the labeler says "not present" either way), so the caller leaves it
    out. ``Submission.regions`` holds the labeler's regions (bounding boxes or polygons) with their
    concept, again only positive ones.

Clusters (what "the same thing" means)
    *classification*: one cluster per concept anyone marked present; its votes are the labelers
    who marked it. *regions*: regions of different labelers are grouped into clusters such that
    (1) all members have the same concept, (2) **every pair** of members has IoU ≥
    ``iou_threshold`` (complete linkage: a chain A≈B≈C with A and C far apart is not one object),
    and (3) each labeler has at most one region per cluster. Clusters are built greedily: candidate
    pairs are taken by descending IoU (ties broken by labeler id, then by region content) and two
    clusters are merged when (1)-(3) still hold. Greedy rather than an optimal assignment
    (Hungarian): scipy is not a dependency, and greedy differs from an optimal matching only in
    crowded scenes where one region overlaps several same-concept regions of another labeler at
    ≥ ``iou_threshold`` — greedy then keeps the highest-IoU pair, the one a human would pick. The
    tie-break order makes it deterministic and independent of the order of submissions. A cluster
    is **agreed** when at least ``threshold`` labelers have a region (classification: mark the
    concept) in it. Its representative region is the medoid: the member with the highest mean IoU
    to the other members (ties → smallest labeler id).

The consensus rule (stated precisely)
    A labeler's *signature* is the set of clusters it has a region in (classification: the set of
    concepts it marked). Labelers with equal signatures form a *group*: they submitted the same
    concepts, or region for region the same objects (same concept, pairwise IoU ≥ threshold, none
    missing, none extra). Consensus is **reached** iff the largest group has at least
    ``threshold`` members **and** is strictly larger than every other group. A missing region or
    an extra region therefore breaks agreement for that labeler; a tie between two equally large
    groups is a real conflict and goes to reviewers rather than being decided by labeler ids.
    The agreed annotations are the winning group's; ``representative`` is one real submission of
    that group — the member whose regions have the highest total IoU with the other members'
    (classification: all members are identical; the smallest labeler id is used).

Scores (for admins; they do not affect the decision)
    * ``input_score``: the mean, over all pairs of labelers, of the Jaccard index of their
      signatures (1.0 when both are empty; 1.0 with fewer than two submissions).
    * ``labeler_scores[l]``: Jaccard index between ``l``'s signature and the set of agreed clusters
      — it drops both for regions nobody else confirmed and for agreed objects ``l`` missed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal, TypeVar

from labeldesk.domain import errors
from labeldesk.domain.geometry import Shape, iou, sort_key
from labeldesk.domain.review_rules import resolve_threshold

__all__ = [
    "Cluster",
    "ConsensusResult",
    "Kind",
    "Region",
    "RegionRef",
    "Submission",
    "evaluate",
    "positive_concepts",
]

Kind = Literal["classification", "regions"]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Region:
    """One region a labeler drew: a concept (present, value 1) and its shape."""

    concept_id: str
    shape: Shape


@dataclass(frozen=True)
class Submission:
    """Everything one labeler submitted for one input (positive concepts and regions only)."""

    labeler: str
    concepts: frozenset[str] = frozenset()
    regions: tuple[Region, ...] = ()


@dataclass(frozen=True)
class RegionRef:
    """A region in a cluster, traceable back to its annotation: ``regions[index]`` of ``labeler``."""

    labeler: str
    index: int
    region: Region


@dataclass(frozen=True)
class Cluster:
    """One "thing" labelers marked: a concept (classification) or a matched group of regions."""

    concept_id: str
    labelers: frozenset[str]
    agreed: bool
    members: tuple[RegionRef, ...] = ()
    representative: RegionRef | None = None

    @property
    def votes(self) -> int:
        """How many labelers marked this thing."""
        return len(self.labelers)


@dataclass(frozen=True)
class ConsensusResult:
    """The decision for one input plus the evidence behind it (see the module docstring).

    ``agreeing_labelers`` is the winning group (empty when not reached); ``representative`` is one
    real submission of that group; ``clusters`` are in canonical order (concept, then members);
    ``threshold`` is the resolved number of labelers needed; ``groups`` lists every set of
    labelers with identical submissions, largest first — what a reviewer chooses between.
    """

    reached: bool
    agreeing_labelers: frozenset[str]
    representative: Submission | None
    input_score: float
    labeler_scores: dict[str, float]
    clusters: tuple[Cluster, ...]
    threshold: int
    groups: tuple[frozenset[str], ...] = field(default=())


def positive_concepts(values: Iterable[tuple[str, float]]) -> frozenset[str]:
    """The concepts a labeler marked present, from ``(concept_id, value)`` pairs.

    Value 0 is Clarifai's explicit negative ("not a dog"); for agreement it is the same decision
    as not mentioning the concept, so it is dropped. Any other value counts as present (human
    annotations carry 1; a stray 0.7 is still an assertion that the concept is there).
    """
    return frozenset(concept for concept, value in values if value != 0)


def _jaccard(a: frozenset[int], b: frozenset[int]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class _Node:
    labeler: str
    index: int
    region: Region


def _cluster_regions(
    ordered: Sequence[Submission], threshold: int, iou_threshold: float
) -> tuple[list[Cluster], dict[tuple[int, str], int], dict[tuple[int, int], float]]:
    """Greedy complete-linkage clustering (see module docstring).

    Returns the clusters (sorted canonically), a map ``(cluster, labeler) -> node``, and the IoU
    of every matching node pair (keys ``(low, high)``).
    """
    nodes: list[_Node] = []
    for sub in ordered:
        keyed = sorted(
            (region.concept_id, sort_key(region.shape), i, region) for i, region in enumerate(sub.regions)
        )
        nodes.extend(_Node(sub.labeler, i, region) for _, _, i, region in keyed)

    by_concept: dict[str, list[int]] = defaultdict(list)
    for node_id, node in enumerate(nodes):
        by_concept[node.region.concept_id].append(node_id)

    pair_iou: dict[tuple[int, int], float] = {}
    for ids in by_concept.values():
        for i, j in combinations(ids, 2):  # ids ascending, so i < j
            if nodes[i].labeler == nodes[j].labeler:
                continue
            value = iou(nodes[i].region.shape, nodes[j].region.shape)
            if value >= iou_threshold:
                pair_iou[(i, j)] = value

    cluster_of = list(range(len(nodes)))
    members: dict[int, list[int]] = {i: [i] for i in range(len(nodes))}
    for (i, j), _value in sorted(pair_iou.items(), key=lambda kv: (-kv[1], kv[0])):
        ci, cj = cluster_of[i], cluster_of[j]
        if ci == cj:
            continue
        labelers_i = {nodes[n].labeler for n in members[ci]}
        if any(nodes[n].labeler in labelers_i for n in members[cj]):
            continue
        if not all((min(p, q), max(p, q)) in pair_iou for p in members[ci] for q in members[cj]):
            continue
        keep, gone = min(ci, cj), max(ci, cj)
        for n in members[gone]:
            cluster_of[n] = keep
        members[keep] = sorted(members[keep] + members.pop(gone))

    def ref(n: int) -> RegionRef:
        return RegionRef(nodes[n].labeler, nodes[n].index, nodes[n].region)

    def cluster_key(ids: list[int]) -> tuple[str, tuple[tuple[str, int], ...]]:
        refs = tuple(sorted((nodes[n].labeler, nodes[n].index) for n in ids))
        return (nodes[ids[0]].region.concept_id, refs)

    cluster_ids = sorted(members.values(), key=cluster_key)
    clusters: list[Cluster] = []
    where: dict[tuple[int, str], int] = {}
    for k, ids in enumerate(cluster_ids):
        ids.sort(key=lambda n: (nodes[n].labeler, nodes[n].index))
        for n in ids:
            where[(k, nodes[n].labeler)] = n
        best = _first_max(
            ids, [math.fsum(pair_iou[(min(m, o), max(m, o))] for o in ids if o != m) for m in ids]
        )
        labelers = frozenset(nodes[n].labeler for n in ids)
        clusters.append(
            Cluster(
                concept_id=nodes[ids[0]].region.concept_id,
                labelers=labelers,
                agreed=len(labelers) >= threshold,
                members=tuple(ref(n) for n in ids),
                representative=ref(best),
            )
        )
    return clusters, where, pair_iou


def _validate(submissions: Sequence[Submission], kind: str, iou_threshold: float) -> None:
    if kind not in ("classification", "regions"):
        raise errors.invalid(f"consensus kind '{kind}' must be 'classification' or 'regions'")
    if not math.isfinite(iou_threshold) or not 0.0 < iou_threshold <= 1.0:
        raise errors.invalid(f"iou_threshold ({iou_threshold}) must be greater than 0 and at most 1")
    seen: set[str] = set()
    for sub in submissions:
        if sub.labeler in seen:
            raise errors.invalid(f"labeler '{sub.labeler}' has more than one submission for the input")
        seen.add(sub.labeler)


def _groups(signatures: dict[str, frozenset[int]]) -> list[frozenset[str]]:
    """Labelers partitioned by equal signature, largest first (ties by smallest labeler id)."""
    by_sig: dict[frozenset[int], set[str]] = defaultdict(set)
    for labeler, sig in signatures.items():
        by_sig[sig].add(labeler)
    return sorted((frozenset(g) for g in by_sig.values()), key=lambda g: (-len(g), min(g)))


def evaluate(
    submissions: Sequence[Submission],
    kind: Kind,
    threshold: int,
    iou_threshold: float = 0.5,
    population: int | None = None,
) -> ConsensusResult:
    """Decide whether the labelers of one input agree, and score how much they do.

    ``threshold`` is the raw ``approval_threshold_labelers`` (0 → 1, -1 → all), resolved against
    ``population`` — the number of labelers assigned to the input, defaulting to the number of
    submissions. Call it once every assigned labeler has submitted: with fewer submissions than the
    threshold the result is simply "not reached". ``kind`` picks what is compared: input-level
    ``concepts`` or ``regions`` (the other field is ignored). Raises ``ApiError`` 11102 for a bad
    threshold, kind or IoU threshold, or two submissions from the same labeler.
    """
    _validate(submissions, kind, iou_threshold)
    pop = len(submissions) if population is None else population
    if pop < len(submissions):
        raise errors.invalid(f"population ({pop}) is smaller than the {len(submissions)} submissions")
    needed = resolve_threshold(threshold, pop)
    ordered = sorted(submissions, key=lambda s: s.labeler)

    signatures: dict[str, frozenset[int]]
    if kind == "classification":
        concepts = sorted(set().union(*(s.concepts for s in ordered)))
        clusters = []
        for concept in concepts:
            voters = frozenset(s.labeler for s in ordered if concept in s.concepts)
            clusters.append(Cluster(concept_id=concept, labelers=voters, agreed=len(voters) >= needed))
        index = {c: k for k, c in enumerate(concepts)}
        signatures = {s.labeler: frozenset(index[c] for c in s.concepts) for s in ordered}
        where: dict[tuple[int, str], int] = {}
        pair_iou: dict[tuple[int, int], float] = {}
    else:
        clusters, where, pair_iou = _cluster_regions(ordered, needed, iou_threshold)
        sig_sets: dict[str, set[int]] = {s.labeler: set() for s in ordered}
        for k, cluster in enumerate(clusters):
            for labeler in cluster.labelers:
                sig_sets[labeler].add(k)
        signatures = {labeler: frozenset(ks) for labeler, ks in sig_sets.items()}

    groups = _groups(signatures)
    reached = (
        bool(groups) and len(groups[0]) >= needed and (len(groups) == 1 or len(groups[0]) > len(groups[1]))
    )
    agreeing: frozenset[str] = groups[0] if reached else frozenset()

    representative: Submission | None = None
    if reached:
        by_labeler = {s.labeler: s for s in ordered}
        members = sorted(agreeing)
        shared = sorted(signatures[members[0]])

        def closeness(m: str) -> float:
            total: list[float] = []
            for o in members:
                if o == m:
                    continue
                for k in shared:
                    a, b = where[(k, m)], where[(k, o)]
                    total.append(pair_iou[(min(a, b), max(a, b))])
            return math.fsum(total)

        if kind == "classification":
            chosen = members[0]
        else:
            chosen = _first_max(members, [closeness(m) for m in members])
        representative = by_labeler[chosen]

    agreed = frozenset(k for k, c in enumerate(clusters) if c.agreed)
    labeler_scores = {s.labeler: _jaccard(signatures[s.labeler], agreed) for s in ordered}
    input_score = _mean(
        _jaccard(signatures[a.labeler], signatures[b.labeler]) for a, b in combinations(ordered, 2)
    )
    return ConsensusResult(
        reached=reached,
        agreeing_labelers=agreeing,
        representative=representative,
        input_score=input_score,
        labeler_scores=labeler_scores,
        clusters=tuple(clusters),
        threshold=needed,
        groups=tuple(groups),
    )


def _first_max(items: Sequence[_T], scores: Sequence[float]) -> _T:
    """The item with the highest score; on a tie the earliest (items come in canonical order)."""
    best = 0
    for position, score in enumerate(scores):
        if score > scores[best]:
            best = position
    return items[best]


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return math.fsum(items) / len(items) if items else 1.0
