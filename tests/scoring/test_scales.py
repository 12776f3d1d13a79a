"""Reverse keying, POMP, within-rater z-scores and scale scores."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from scoring import pomp, reverse_key, scale_score, within_rater_z

pytestmark = pytest.mark.filterwarnings("error")
nan = float("nan")


def test_reverse_key_mirrors_the_scale():
    np.testing.assert_array_equal(reverse_key([1, 2, 3, 4, 5, nan], 1, 5), [5, 4, 3, 2, 1, nan])
    np.testing.assert_array_equal(reverse_key([0, 10, 7], 0, 10), [10, 0, 3])


def test_reverse_key_and_pomp_broadcast_one_scale_per_item_column():
    answers = np.array([[1, 7], [5, 1]])
    np.testing.assert_array_equal(reverse_key(answers, 1, [5, 7]), [[5, 1], [1, 7]])
    np.testing.assert_array_equal(pomp(answers, 1, [5, 7]), [[0, 100], [100, 0]])


def test_pomp_puts_any_scale_on_0_to_100():
    np.testing.assert_array_equal(pomp([1, 4, 7], 1, 7), [0.0, 50.0, 100.0])
    np.testing.assert_allclose(pomp([3.2], 1, 5), [55.0])
    assert math.isnan(pomp([nan], 1, 5)[0])


@pytest.mark.parametrize("transform", [reverse_key, pomp])
def test_scale_transforms_reject_values_off_the_scale_and_bad_scales(transform):
    with pytest.raises(ValueError, match="off the scale"):
        transform([0, 3], 1, 5)
    with pytest.raises(ValueError, match="below scale_max"):
        transform([3], 5, 5)
    with pytest.raises(ValueError, match="broadcast"):
        transform([[1, 2, 3]], 1, [5, 5])


@given(st.lists(st.integers(1, 7), min_size=1))
def test_reverse_keying_twice_is_identity_and_pomp_is_bounded(answers):
    np.testing.assert_array_equal(reverse_key(reverse_key(answers, 1, 7), 1, 7), answers)
    scaled = pomp(answers, 1, 7)
    assert ((scaled >= 0) & (scaled <= 100)).all()


def test_within_rater_z_matches_scipy_zscore_per_rater():
    rng = np.random.default_rng(0)
    rater = rng.integers(0, 30, 400)
    value = rng.integers(1, 6, 400).astype(float) + rater % 3
    z = within_rater_z(rater, value)
    for r in np.unique(rater):
        mine = rater == r
        if mine.sum() >= 2 and value[mine].std() > 0:
            np.testing.assert_allclose(z[mine], stats.zscore(value[mine], ddof=1), rtol=1e-12)
        else:
            assert np.isnan(z[mine]).all()


def test_within_rater_z_handles_missing_single_and_flat_raters():
    z = within_rater_z(
        ["a", "a", "a", "a", "b", "c", "c", "d", "d"],
        [1, 2, 3, nan, 4, 0.1, 0.1, nan, nan],
    )
    np.testing.assert_allclose(z[:3], [-1.0, 0.0, 1.0])
    assert np.isnan(z[3:]).all()


def test_within_rater_z_rejects_mismatched_input():
    with pytest.raises(ValueError, match="same length"):
        within_rater_z([1, 2], [1.0])
    with pytest.raises(ValueError, match="comparable"):
        within_rater_z(np.array([1, "a"], dtype=object), [1.0, 2.0])


def test_scale_score_applies_the_minimum_answered_rule():
    items = [[4, 5, nan, 3], [nan, nan, 2, nan], [nan] * 4, [1, 2, 3, 4]]
    np.testing.assert_array_equal(scale_score(items, min_answered=2), [4, nan, nan, 2.5])
    np.testing.assert_array_equal(scale_score(items, min_answered=1), [4, 2, nan, 2.5])
    np.testing.assert_array_equal(scale_score(items, min_answered=4), [nan, nan, nan, 2.5])


def test_scale_score_fraction_rounds_up_and_defaults_to_half():
    items = [[1, 2, 3, nan, nan], [1, 2, nan, nan, nan]]
    # 0.5 of 5 items = 2.5 -> 3 answers needed.
    np.testing.assert_array_equal(scale_score(items), [2.0, nan])
    np.testing.assert_array_equal(scale_score(items, min_answered=0.4), [2.0, 1.5])
    # 0.7 * 10 is 7.000000000000001 in binary: still 7 items.
    ten = np.r_[np.ones(7), [nan] * 3][None, :]
    assert scale_score(ten, min_answered=0.7)[0] == 1.0
    assert math.isnan(scale_score(ten, min_answered=1.0)[0])


@pytest.mark.parametrize("min_answered", [0, 5, 1.5, 0.0, -0.5, True, "2", nan])
def test_scale_score_rejects_bad_minimum(min_answered):
    with pytest.raises(ValueError, match="min_answered"):
        scale_score([[1, 2, 3, 4]], min_answered=min_answered)


def test_scale_score_rejects_non_matrix():
    with pytest.raises(ValueError, match="2-dimensional"):
        scale_score([1, 2, 3])
    with pytest.raises(ValueError, match="at least 1 item"):
        scale_score(np.empty((3, 0)))


def test_within_rater_z_rejects_nan_ids_and_infinite_values():
    with pytest.raises(ValueError, match="rater contains NaN ids"):
        within_rater_z([1.0, nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="value contains infinite"):
        within_rater_z([1, 1], [1.0, np.inf])
    with pytest.raises(ValueError, match="1-dimensional"):
        within_rater_z([[1, 1]], [1.0, 2.0])


def test_scale_score_rejects_infinite_answers():
    with pytest.raises(ValueError, match="items contains infinite"):
        scale_score([[1, np.inf], [2, 3]])


def test_scale_ends_must_be_finite_and_compatible():
    with pytest.raises(ValueError, match="scale_min must be finite"):
        pomp([3], nan, 5)
    with pytest.raises(ValueError, match="scale_max must be finite"):
        reverse_key([3], 1, np.inf)
    with pytest.raises(ValueError, match="below scale_max"):
        pomp([[3, 3, 3]], [1, 1], [5, 5, 5])
