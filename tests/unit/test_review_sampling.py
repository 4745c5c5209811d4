"""MANUAL review sampling: the scale of ``sample_percentage`` (fraction or percentage), and the
deterministic, hash-based choice whose share is close to the requested percentage."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labeldesk.domain import errors
from labeldesk.domain.review_sampling import _bucket, is_sampled_for_review, sample_percent

IDS = [f"input-{i}" for i in range(10_000)]


def share(salt: str, percentage: float) -> float:
    return 100.0 * sum(is_sampled_for_review(salt, i, percentage) for i in IDS) / len(IDS)


@pytest.mark.parametrize("percentage", [0.5, 1.0, 10.0, 25.0, 50.0, 90.0, 99.5])
def test_realised_share_is_within_four_standard_deviations(percentage: float) -> None:
    # binomial standard deviation of the share, in percentage points, over 10k inputs
    sd = math.sqrt(percentage * (100.0 - percentage) / len(IDS))
    assert abs(share("task-1", percentage) - percentage) <= 4 * sd


@pytest.mark.parametrize(
    ("given", "percent"),
    [
        (0.0, 0.0),  # nothing
        (0.5, 50.0),  # Clarifai's docs example: a fraction, half of the inputs
        (0.05, 5.0),
        (0.01, 1.0),
        (1.0, 100.0),  # 1 is the whole (a fraction), not 1 %
        (1.5, 1.5),  # above 1: a percentage
        (2.0, 2.0),
        (30.0, 30.0),
        (99.5, 99.5),
        (100.0, 100.0),
    ],
)
def test_sample_percentage_is_a_fraction_up_to_1_and_a_percentage_above(given: float, percent: float) -> None:
    assert sample_percent(given) == percent


@pytest.mark.parametrize(
    ("wire", "percent"),  # what a proto float32 carries for what the client wrote
    [(0.30000001192092896, 30.0), (0.10000000149011612, 10.0), (33.29999923706055, 33.3)],
)
def test_float32_noise_is_read_as_the_client_wrote_it(wire: float, percent: float) -> None:
    assert sample_percent(wire) == percent


def test_half_means_half() -> None:
    assert abs(share("task-1", sample_percent(0.5)) - 50.0) < 2.0


@pytest.mark.parametrize("given", [-0.1, -1.0, 100.01, 150.0, math.nan, math.inf, -math.inf])
def test_out_of_scale_sample_percentages_are_refused_with_the_rule(given: float) -> None:
    with pytest.raises(errors.ApiError) as caught:
        sample_percent(given)
    assert caught.value.code == errors.INVALID_REQUEST
    text = caught.value.description
    assert "between 0 and 100" in text and "0.5 means 50 %" in text and "30 means 30 %" in text


@pytest.mark.parametrize(("percentage", "expected"), [(0.0, 0.0), (100.0, 100.0)])
def test_bounds_sample_none_or_all(percentage: float, expected: float) -> None:
    assert share("task-x", percentage) == expected


def test_is_deterministic_and_pinned_across_releases() -> None:
    # Pinned values: changing the hash would silently reshuffle which inputs are under review.
    results = [is_sampled_for_review("task-1", f"input-{i}", 50.0) for i in range(16)]
    assert results == [is_sampled_for_review("task-1", f"input-{i}", 50.0) for i in range(16)]
    assert results == PINNED


PINNED = [
    True, False, False, False, True, False, False, True,
    True, True, True, False, False, False, True, False,
]  # fmt: skip


def test_different_salts_sample_independently() -> None:
    a = {i for i in IDS if is_sampled_for_review("task-a", i, 50.0)}
    b = {i for i in IDS if is_sampled_for_review("task-b", i, 50.0)}
    # independent halves overlap on about a quarter of all inputs
    assert abs(len(a & b) / len(IDS) - 0.25) < 0.03


def test_salt_and_id_boundary_is_unambiguous() -> None:
    # the salt is length-prefixed, so moving a character across the boundary changes the hash
    assert _bucket("ab", "c") != _bucket("a", "bc")
    assert _bucket("", "abc") != _bucket("abc", "")


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=20),
    st.text(min_size=1, max_size=40),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_samples_are_nested_as_the_percentage_grows(salt: str, input_id: str, p: float, q: float) -> None:
    low, high = sorted((p, q))
    if is_sampled_for_review(salt, input_id, low):
        assert is_sampled_for_review(salt, input_id, high)


@pytest.mark.parametrize("percentage", [-0.1, 100.01, math.nan, math.inf])
def test_out_of_range_percentages_are_rejected(percentage: float) -> None:
    with pytest.raises(errors.ApiError) as caught:
        is_sampled_for_review("t", "i", percentage)
    assert caught.value.code == errors.INVALID_REQUEST
    assert "between 0 and 100" in caught.value.description
