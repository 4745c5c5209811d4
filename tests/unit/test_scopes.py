"""The scope rules: what an RPC needs, and which keys a key may create."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labeldesk.domain import scopes

SCOPES = ["Inputs:Get", "Inputs:Add", "Keys:Add", "Keys:Get", "Tasks:Get", "Tasks:Add", "Predict"]
scope_sets = st.lists(st.sampled_from([*SCOPES, "All"]), max_size=6)


@pytest.mark.parametrize(
    ("rpc", "needed"),
    [
        ("PostInputs", ("Inputs:Add",)),
        ("ListInputs", ("Inputs:Get",)),
        ("PutTaskAssignments", ("Tasks:Add",)),
        ("PostKeys", ("Keys:Add",)),
        ("DeleteKey", ("Keys:Delete",)),
        ("PostSearchesByID", ("Searches:Add",)),
        ("GetInputSamples", ("Inputs:Get", "Tasks:Get")),
        ("ListNextTaskAssignments", ("Tasks:Get", "Inputs:Get", "Tasks:Add")),
        ("ListAppKeys", ("Apps:Get", "Keys:Get")),
        ("PostInputsSearches", ("Searches:Add", "Inputs:Get")),
        ("CancelInputsAddJob", ("Inputs:Add",)),
        ("StreamSomething", ("All",)),
    ],
)
def test_required_scopes(rpc: str, needed: tuple[str, ...]) -> None:
    assert scopes.required_scopes(rpc) == needed


@pytest.mark.parametrize(
    ("creator", "requested", "refused"),
    [
        (["All"], ["All"], []),
        (["All"], ["Inputs:Get", "Predict"], []),
        (["Keys:Add"], ["All"], ["All"]),  # the escalation of issue 19
        (["Keys:Add", "Inputs:Get"], ["Inputs:Get"], []),
        (["Keys:Add", "Inputs:Get"], ["Inputs:Get", "Inputs:Add", "All"], ["Inputs:Add", "All"]),
        (["Keys:Add"], ["Keys:Add"], []),
        ([], ["Inputs:Get"], ["Inputs:Get"]),
    ],
)
def test_ungrantable(creator: list[str], requested: list[str], refused: list[str]) -> None:
    assert scopes.ungrantable(creator, requested) == refused


@pytest.mark.parametrize(
    ("names", "bad"),
    [
        (["All", "Inputs:Get", "Predict", "SavedSearch:Add"], []),
        (
            ["inputs:get", "Inputs:", ":Get", "Inputs:Get:More", "", "In puts:Get", "Inputs:Get\x00"],
            list(range(7)),
        ),
    ],
)
def test_bad_names(names: list[str], bad: list[int]) -> None:
    assert [i for i, _ in scopes.bad_names(names)] == bad


@given(scope_sets, scope_sets)
def test_a_key_grants_exactly_a_subset_of_its_own_scopes(creator: list[str], requested: list[str]) -> None:
    refused = scopes.ungrantable(creator, requested)
    if "All" in creator:
        assert refused == []
    else:
        assert refused == [s for s in requested if s not in creator]
    assert set(refused) <= set(requested)


@given(scope_sets, scope_sets, scope_sets)
def test_no_chain_of_keys_escalates(a: list[str], b: list[str], c: list[str]) -> None:
    """If key A may make B and B may make C, then A may make C directly: a chain never gains."""
    if not scopes.ungrantable(a, b) and not scopes.ungrantable(b, c):
        assert not scopes.ungrantable(a, c)


@given(scope_sets, st.sampled_from(["PostInputs", "ListNextTaskAssignments", "GetInputSamples", "PostKeys"]))
def test_a_key_made_by_another_can_call_no_rpc_its_maker_cannot(creator: list[str], rpc: str) -> None:
    made = [s for s in creator if s != "All"] if "All" not in creator else ["All"]
    assert not scopes.ungrantable(creator, made)
    if not scopes.missing(made, scopes.required_scopes(rpc)):
        assert not scopes.missing(creator, scopes.required_scopes(rpc))


@given(scope_sets, scope_sets)
def test_intersect_never_exceeds_either_side(a: list[str], b: list[str]) -> None:
    both = scopes.intersect(frozenset(a), frozenset(b))
    for rpc in ("PostInputs", "ListNextTaskAssignments", "PostKeys"):
        if not scopes.missing(both, scopes.required_scopes(rpc)):
            assert not scopes.missing(a, scopes.required_scopes(rpc))
            assert not scopes.missing(b, scopes.required_scopes(rpc))
