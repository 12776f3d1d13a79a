"""Careless-responding indices against loops, numpy/scipy references."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis

from scoring import irv, longstring, mahalanobis

pytestmark = pytest.mark.filterwarnings("error")
nan = float("nan")


def _longstring_by_loop(row):
    best = run = 0
    previous = nan
    for value in row:
        if math.isnan(value):
            run = 0
        elif value == previous:
            run += 1
        else:
            run = 1
        previous = value
        best = max(best, run)
    return best


def _survey(rng, n=200, k=6, missing=0.05):
    x = rng.integers(1, 6, size=(n, k)).astype(float)
    x[rng.random((n, k)) < missing] = nan
    return x


def test_longstring_hand_examples():
    rows = [
        [1, 2, 3, 4, 5],
        [3, 3, 3, 3, 3],
        [1, 1, 2, 2, 2],
        [4, 4, nan, 4, 4],
        [nan, 5, 5, 5, nan],
        [nan, nan, nan, nan, nan],
        [nan, nan, 2, nan, nan],
    ]
    assert longstring(rows).tolist() == [1, 5, 3, 2, 3, 0, 1]


def test_longstring_matches_a_plain_loop_on_random_surveys():
    rng = np.random.default_rng(0)
    x = _survey(rng, n=500, k=12, missing=0.1)
    x[:50] = 3.0  # straight-liners
    expected = [_longstring_by_loop(row) for row in x]
    assert longstring(x).tolist() == expected


def test_longstring_single_item_and_empty_survey():
    assert longstring([[4], [nan]]).tolist() == [1, 0]
    assert longstring(np.empty((0, 5))).tolist() == []


def test_irv_is_row_standard_deviation_with_n_minus_one():
    rng = np.random.default_rng(1)
    x = _survey(rng)
    expected = [
        np.std(row[~np.isnan(row)], ddof=1) if (~np.isnan(row)).sum() >= 2 else nan for row in x
    ]
    np.testing.assert_allclose(irv(x), expected, rtol=1e-12, equal_nan=True)


def test_irv_is_zero_for_straight_lining_and_nan_below_two_answers():
    res = irv([[4, 4, 4, 4], [nan, 2, nan, nan], [nan, nan, nan, nan], [1, nan, 5, nan]])
    assert res[0] == 0.0
    assert math.isnan(res[1]) and math.isnan(res[2])
    assert res[3] == pytest.approx(math.sqrt(8))


def test_mahalanobis_matches_scipy_per_row():
    rng = np.random.default_rng(2)
    cov = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.4], [0.2, 0.4, 1.0]])
    x = rng.multivariate_normal([3, 3, 3], cov, size=300)
    res = mahalanobis(x)
    inverse = np.linalg.inv(np.cov(x, rowvar=False))
    centre = x.mean(axis=0)
    expected = np.array([scipy_mahalanobis(row, centre, inverse) ** 2 for row in x])
    np.testing.assert_allclose(res.distance, expected, rtol=1e-9)
    assert res.df == 3 and res.n_used == 300
    assert res.threshold == pytest.approx(stats.chi2.ppf(0.99, 3))
    np.testing.assert_array_equal(res.flagged, expected > stats.chi2.ppf(0.99, 3))


def test_mahalanobis_flags_an_outlying_pattern():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(400, 1))
    x = base + 0.3 * rng.normal(size=(400, 5))  # five items that go together
    x[0] = [3, -3, 3, -3, 3]  # answers that contradict each other
    res = mahalanobis(x)
    assert res.flagged[0]
    assert res.flagged.mean() < 0.05


def test_mahalanobis_alpha_sets_the_threshold():
    x = np.random.default_rng(4).normal(size=(100, 4))
    res = mahalanobis(x, alpha=0.05)
    assert res.threshold == pytest.approx(stats.chi2.ppf(0.95, 4))


def test_mahalanobis_rows_with_missing_answers_get_nan_and_are_not_flagged():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 3))
    x[0, 1] = nan
    x[1, 1] = 100.0
    res = mahalanobis(x)
    assert math.isnan(res.distance[0]) and not res.flagged[0]
    assert res.n_used == 49
    complete = mahalanobis(np.delete(x, 0, axis=0))
    np.testing.assert_allclose(res.distance[1:], complete.distance, rtol=1e-12)


def test_mahalanobis_constant_item_uses_the_rank_of_the_covariance():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(80, 4))
    x[:, 2] = 3.0
    res = mahalanobis(x)
    reduced = mahalanobis(np.delete(x, 2, axis=1))
    assert res.df == 3
    np.testing.assert_allclose(res.distance, reduced.distance, rtol=1e-9)


def test_mahalanobis_degenerate_samples_give_nan():
    one = mahalanobis([[1, 2, 3]])
    assert math.isnan(one.distance[0]) and not one.flagged[0] and one.df == 0
    same = mahalanobis([[1, 2], [1, 2], [1, 2]])
    assert np.isnan(same.distance).all() and not same.flagged.any()


@pytest.mark.parametrize("bad", [[1, 2, 3], [[[1]]], [["a", "b"]]])
def test_careless_indices_reject_non_matrices(bad):
    for index in (longstring, irv, mahalanobis):
        with pytest.raises(ValueError):
            index(bad)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, nan])
def test_mahalanobis_rejects_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        mahalanobis([[1, 2], [2, 1], [3, 3]], alpha=alpha)


surveys = arrays(
    np.float64,
    st.tuples(st.integers(1, 12), st.integers(1, 8)),
    elements=st.sampled_from([1.0, 2.0, 3.0, 4.0, 5.0, nan]),
)


@given(surveys)
def test_longstring_property_matches_loop_and_is_bounded(x):
    res = longstring(x)
    assert res.tolist() == [_longstring_by_loop(row) for row in x]
    assert (res <= (~np.isnan(x)).sum(axis=1)).all()


@given(surveys)
def test_irv_property_non_negative_or_nan(x):
    res = irv(x)
    assert ((res >= 0) | np.isnan(res)).all()
