"""What a (saved) search selects, reduced to plain criteria.

A Clarifai ``Query`` is a list of filters (``filters``, or the legacy ``ands``); an input is
selected when it satisfies every filter (a ``negate`` filter: when it does not). labeldesk
understands the filters that pick inputs for labeling work:

- concepts: ``annotation.data.concepts`` / ``input.data.concepts`` / ``output.data.concepts``
  with ``value`` 1 (the input is annotated with the concept) or 0 (annotated as absent);
- metadata: ``…data.metadata`` — the input's metadata contains the given JSON (recursively);
- datasets: ``input.dataset_ids`` — the input is in one of them;
- ids: ``input.id`` — that very input.

Ranking by visual similarity needs a model and is refused with a clear message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Criterion:
    negate: bool = False
    concepts: tuple[tuple[str, bool], ...] = ()  # (concept id, present?)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    dataset_ids: tuple[str, ...] = ()
    input_id: str = ""

    def is_empty(self) -> bool:
        return not (self.concepts or self.metadata or self.dataset_ids or self.input_id)


def metadata_matches(metadata: Any, pattern: Any) -> bool:
    """True when ``metadata`` contains ``pattern``: objects by subset, lists by membership."""
    if isinstance(pattern, Mapping):
        if not isinstance(metadata, Mapping):
            return False
        return all(k in metadata and metadata_matches(metadata[k], v) for k, v in pattern.items())
    if isinstance(pattern, list):
        if not isinstance(metadata, list):
            return False
        return all(any(metadata_matches(m, p) for m in metadata) for p in pattern)
    if isinstance(metadata, list):
        return any(metadata_matches(m, pattern) for m in metadata)
    return bool(metadata == pattern)
