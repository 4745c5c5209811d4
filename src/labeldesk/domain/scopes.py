"""Scopes: which rights an RPC needs, and which keys a key may create. Pure rules, no I/O.

A key holds a set of Clarifai scopes: ``All`` (everything), ``<Resource>:<Verb>`` such as
``Inputs:Add`` or ``Tasks:Get``, or a bare word such as ``Predict``.

- An RPC needs the scope its name implies (``PostInputs`` → ``Inputs:Add``, ``ListTasks`` →
  ``Tasks:Get``), or the scopes of its :data:`SPECIAL` rule where the name misleads or undersells
  what the RPC reveals or changes. ``docs/security.md`` lists the whole table (generated from this module).
- Only a personal access token manages keys and apps (:data:`PAT_ONLY`); an app key cannot.
- A key may only create keys whose scopes are a subset of its own (``All`` only from ``All``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

ALL = "All"

_VERBS = {
    "Post": "Add",
    "Put": "Add",
    "Get": "Get",
    "List": "Get",
    "Patch": "Patch",
    "Delete": "Delete",
    "Cancel": "Delete",  # CancelInputsAddJob
}
_RESOURCES = (
    "Annotation",
    "Collaborator",
    "Concept",
    "Dataset",
    "Input",
    "Key",
    "Model",
    "App",
    "Search",
    "Task",
    "User",
)
_SPLIT = re.compile(r"^(Post|Put|Get|List|Patch|Delete|Cancel)(?:Next)?([A-Z][a-z]+)")
_SCOPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}(?::[A-Z][A-Za-z]{0,63})?$")


@dataclass(frozen=True)
class Rule:
    """The scopes an RPC needs when its name's scope is not the whole story, and why."""

    scopes: tuple[str, ...]
    reason: str


SPECIAL: Mapping[str, Rule] = {
    "GetInputSamples": Rule(
        ("Inputs:Get", "Tasks:Get"), "answers a task's review sample: reading it is reading the task"
    ),
    "ListNextTaskAssignments": Rule(
        ("Tasks:Get", "Inputs:Get", "Tasks:Add"),
        "hands out work: it leases inputs of the task to the caller and answers them",
    ),
    "ListAppKeys": Rule(("Apps:Get", "Keys:Get"), "lists keys; 'App' only says of which app"),
    "CancelInputsAddJob": Rule(("Inputs:Add",), "stops an import of inputs ('Cancel' is no verb of scopes)"),
    "PostUploads": Rule(("Inputs:Add",), "starts an archive upload that PostInputsUploads imports"),
    "PutUploadContentParts": Rule(("Inputs:Add",), "sends the bytes of an archive to import as inputs"),
    "DeleteUploads": Rule(("Inputs:Add",), "deletes an uploaded archive of inputs"),
    "GetUpload": Rule(("Inputs:Get",), "reads an uploaded archive's progress"),
    "ListUploads": Rule(("Inputs:Get",), "lists uploaded archives of inputs"),
    "PostInputsSearches": Rule(
        ("Searches:Add", "Inputs:Get"), "runs a search and answers inputs; it adds no inputs"
    ),
    "PostModelOutputs": Rule(
        ("Predict",), "runs a model on inputs and answers predictions; it adds no model"
    ),
    "PostAnnotationsSearches": Rule(
        ("Searches:Add", "Annotations:Get"), "runs a search and answers annotations; it adds none"
    ),
}

#: RPCs an app key may not call whatever its scopes: managing keys and apps is for a person's token
PAT_ONLY = frozenset({"PostApps", "PostKeys", "ListKeys", "ListAppKeys", "GetKey", "PatchKeys", "DeleteKey"})


def primary_scope(rpc: str) -> str:
    """The scope an RPC's name implies, e.g. PostInputs → ``Inputs:Add`` (``All`` if none)."""
    m = _SPLIT.match(rpc)
    if not m:
        return ALL
    verb, noun = m.group(1), m.group(2)
    for r in _RESOURCES:
        if noun.startswith(r):
            return f"{r}s:{_VERBS[verb]}" if r != "Search" else f"Searches:{_VERBS[verb]}"
    return ALL


def required_scopes(rpc: str) -> tuple[str, ...]:
    """Every scope a key needs for ``rpc``: its :data:`SPECIAL` rule, else the name's scope."""
    rule = SPECIAL.get(rpc)
    return rule.scopes if rule is not None else (primary_scope(rpc),)


def missing(held: Iterable[str], needed: Iterable[str]) -> list[str]:
    """The scopes of ``needed`` that ``held`` does not grant (``All`` grants every scope)."""
    have = frozenset(held)
    if ALL in have:
        return []
    return [s for s in needed if s not in have]


def intersect(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    """What a key may do on an app where its user's rights are ``b`` (``All`` is the identity)."""
    if ALL in a:
        return b
    if ALL in b:
        return a
    return a & b


def ungrantable(creator: Iterable[str], requested: Sequence[str]) -> list[str]:
    """The requested scopes a key holding ``creator`` may not put on a new key, in request order.

    ``All`` creates anything; otherwise each requested scope must be held, and ``All`` itself
    (which would also cover scopes invented later) only by an ``All`` key."""
    return missing(creator, requested)


def bad_names(scopes: Sequence[str]) -> list[tuple[int, str]]:
    """(index, scope) of every scope that is not a well-formed scope name."""
    return [(i, s) for i, s in enumerate(scopes) if not _SCOPE_NAME.match(s)]


def scope_table(rpcs: Iterable[str]) -> list[tuple[str, tuple[str, ...]]]:
    """(RPC, scopes it needs) for each of ``rpcs``, sorted by RPC name: the documented table."""
    return [(rpc, required_scopes(rpc)) for rpc in sorted(rpcs)]
