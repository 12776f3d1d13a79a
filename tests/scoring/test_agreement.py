"""krippendorff_alpha, fleiss_kappa, rwg, rwg_j: published examples, references, properties."""

import warnings

import krippendorff
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from statsmodels.stats import inter_rater

import scoring
import scoring.agreement
from scoring import fleiss_kappa, krippendorff_alpha, rwg, rwg_j

LEVELS = ("nominal", "ordinal", "interval", "ratio")
nan = np.nan

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section C:
# 4 observers x 12 units, missing values; unit 12 has a single value.
KRIPPENDORFF_2011 = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
        [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
    ]
)

# Fleiss' kappa worked example on Wikipedia ("Fleiss' kappa", Worked example):
# 10 subjects, 14 raters, 5 categories; kappa = 0.210.
WIKIPEDIA_FLEISS = np.array(
    [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
)

# Fleiss (1971), Table 1: 30 patients each diagnosed by 6 psychiatrists into
# 5 categories (depression, personality disorder, schizophrenia, neurosis,
# other), as the `diagnoses` data of R package irr; Fleiss reports kappa = .430.
FLEISS_1971_DIAGNOSES = np.array(
    [
        [4, 4, 4, 4, 4, 4], [2, 2, 2, 5, 5, 5], [2, 3, 3, 3, 3, 5], [5, 5, 5, 5, 5, 5],
        [2, 2, 2, 4, 4, 4], [1, 1, 3, 3, 3, 3], [3, 3, 3, 3, 5, 5], [1, 1, 3, 3, 3, 4],
        [1, 1, 4, 4, 4, 4], [5, 5, 5, 5, 5, 5], [1, 4, 4, 4, 4, 4], [1, 2, 4, 4, 4, 4],
        [2, 2, 2, 3, 3, 3], [1, 4, 4, 4, 4, 4], [2, 2, 4, 4, 4, 5], [3, 3, 3, 3, 3, 5],
        [1, 1, 1, 4, 5, 5], [1, 1, 1, 1, 1, 2], [2, 2, 4, 4, 4, 4], [1, 3, 3, 5, 5, 5],
        [5, 5, 5, 5, 5, 5], [2, 4, 4, 4, 4, 4], [2, 2, 4, 5, 5, 5], [1, 1, 4, 4, 4, 4],
        [1, 4, 4, 4, 4, 5], [2, 2, 2, 2, 2, 4], [1, 1, 1, 1, 5, 5], [2, 2, 4, 4, 4, 4],
        [1, 3, 3, 3, 3, 3], [5, 5, 5, 5, 5, 5],
    ]
)  # fmt: skip


def _counts(categorical: np.ndarray, n_categories: int) -> np.ndarray:
    """Subjects x categories counts from subjects x raters category codes 1..C."""
    n = categorical.shape[0]
    flat = (np.arange(n)[:, None] * n_categories + categorical - 1).ravel()
    return np.bincount(flat, minlength=n * n_categories).reshape(n, n_categories)


def _reliability_data(seed: int, n_raters: int, n_units: int, missing: float, *, whole=True):
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.0, (1, n_units))
    data = truth + rng.normal(0.0, 0.7, (n_raters, n_units))
    data = np.clip(np.rint(3 + data), 1, 5) if whole else np.abs(3 + data)
    data[rng.random(data.shape) < missing] = nan
    return data


# --- published worked examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "published"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example_at_every_level(level, published):
    alpha = krippendorff_alpha(KRIPPENDORFF_2011, level)
    assert isinstance(alpha, float)
    assert alpha == pytest.approx(published, abs=0.0005)


def test_krippendorff_2011_nominal_is_the_exact_fraction():
    # Krippendorff (2011), section C.a: alpha = 1 - (n - 1) * (sum of the
    # off-diagonal coincidences) / (n^2 - sum n_c^2), with n = 40 pairable
    # values, value totals n_c = 9, 13, 10, 5, 3 and off-diagonal coincidences
    # summing to 8 (units 2, 6 and 8 contribute 2, 4 and 2).
    n, totals, mismatches = 40, np.array([9, 13, 10, 5, 3]), 8.0
    expected = 1 - (n - 1) * mismatches / (n**2 - np.sum(totals**2))
    assert krippendorff_alpha(KRIPPENDORFF_2011, "nominal") == pytest.approx(expected, abs=1e-15)


def test_fleiss_kappa_wikipedia_example():
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(0.210, abs=0.0005)


def test_fleiss_1971_psychiatric_diagnoses():
    counts = _counts(FLEISS_1971_DIAGNOSES, 5)
    assert counts.sum(axis=1).tolist() == [6] * 30
    assert fleiss_kappa(counts) == pytest.approx(0.430, abs=0.0005)


def test_rwg_by_the_james_demaree_wolf_formula():
    # James, Demaree & Wolf (1984), eq. 1: rwg = 1 - s^2 / sigma_EU^2 with
    # sigma_EU^2 = (A^2 - 1) / 12: 2.0 for A = 5, 4.0 for A = 7, 10.0 for A = 11.
    assert rwg([4, 4, 5, 4, 3], 5) == pytest.approx(1 - 0.5 / 2.0, abs=1e-15)
    assert rwg([6, 7, 5, 6], 7) == pytest.approx(1 - (2 / 3) / 4.0, abs=1e-15)
    assert rwg([9, 10, 9, 10], 11, scale_min=0) == pytest.approx(1 - (1 / 3) / 10.0, abs=1e-15)
    assert rwg([3, 3, 3], 5) == 1.0


def test_rwg_is_truncated_to_zero_beyond_uniform_variance():
    # s^2 = 8 on a 5-point item exceeds sigma_EU^2 = 2: raw 1 - 4 = -3 becomes 0.
    assert rwg([1, 5], 5) == 0.0
    assert rwg([0, 10, 5, 5], 11, scale_min=0) == 0.0  # s^2 = 16.7 > 10


def test_rwg_j_by_the_james_demaree_wolf_formula():
    # James, Demaree & Wolf (1984), eq. 4 with J = 4 items, mean item variance
    # 0.5 on a 5-point scale: ratio 0.25, rwg(j) = 4 * 0.75 / (4 * 0.75 + 0.25).
    ratings = [[4, 4, 3, 5], [5, 4, 4, 4], [3, 5, 4, 4], [4, 3, 5, 3], [4, 4, 4, 4]]
    assert rwg_j(ratings, 5) == pytest.approx(3 / 3.25, abs=1e-15)


def test_rwg_j_truncation_rule_sets_zero_when_mean_variance_exceeds_uniform():
    # Mean item variance 3 > 2 on a 5-point scale.  The raw formula would give
    # J(1 - 1.5) / (J(1 - 1.5) + 1.5) = -1 / 0.5 = -2 for J = 2, and for J = 4 a
    # value above 1 (-2 / -0.5 = 4); both are reported as 0.
    two = np.array([[1, 5], [4, 2], [2, 4], [5, 1]], dtype=float)
    assert np.var(two, axis=0, ddof=1).mean() > 2.0
    assert rwg_j(two, 5) == 0.0
    assert rwg_j(np.hstack([two, two]), 5) == 0.0


# --- against the krippendorff package and statsmodels ----------------------------------------


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("seed", "n_raters", "n_units", "missing", "whole"),
    [
        (1, 3, 40, 0.2, True),
        (2, 8, 300, 0.1, True),
        (3, 2, 25, 0.0, True),
        (4, 5, 60, 0.25, False),  # continuous values: many distinct, sparse path
        (5, 12, 30, 0.5, True),
    ],
)
def test_krippendorff_alpha_matches_the_krippendorff_package(
    level, seed, n_raters, n_units, missing, whole
):
    data = _reliability_data(seed, n_raters, n_units, missing, whole=whole)
    expected = krippendorff.alpha(data, level_of_measurement=level)
    assert krippendorff_alpha(data, level) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("level", LEVELS)
def test_krippendorff_alpha_dense_and_sparse_coincidences_agree(level, monkeypatch):
    data = _reliability_data(6, 6, 80, 0.2)
    dense = krippendorff_alpha(data, level)
    monkeypatch.setattr(scoring.agreement, "_DENSE_MAX_VALUES", 0)
    monkeypatch.setattr(scoring.agreement, "_BLOCK_CELLS", 3)  # several ratio blocks
    assert krippendorff_alpha(data, level) == pytest.approx(dense, abs=1e-12)


def test_krippendorff_alpha_integer_encoding_matches_sorting():
    data = _reliability_data(7, 4, 50, 0.1)
    fast = krippendorff_alpha(data, "ordinal")
    shifted = krippendorff_alpha(data + 0.5, "ordinal")  # not whole: np.unique path
    assert shifted == pytest.approx(fast, abs=1e-12)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fleiss_kappa_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(1, 5, size=(50, 7))
    codes[:20] = codes[:20, :1]  # some subjects with full agreement
    counts = _counts(codes, 4)
    expected = inter_rater.fleiss_kappa(counts, method="fleiss")
    assert fleiss_kappa(counts) == pytest.approx(expected, abs=1e-12)
    assert fleiss_kappa(WIKIPEDIA_FLEISS) == pytest.approx(
        inter_rater.fleiss_kappa(WIKIPEDIA_FLEISS), abs=1e-12
    )


# --- properties ------------------------------------------------------------------------------

reliability_data = st.tuples(st.integers(2, 6), st.integers(1, 12)).flatmap(
    lambda shape: hnp.arrays(
        np.float64, shape, elements=st.one_of(st.integers(0, 6).map(float), st.just(nan))
    )
)


@settings(max_examples=80, deadline=None)
@given(data=reliability_data, order=st.data(), level=st.sampled_from(LEVELS))
def test_krippendorff_alpha_does_not_depend_on_rater_or_unit_order(data, order, level):
    raters = order.draw(st.permutations(range(data.shape[0])))
    units = order.draw(st.permutations(range(data.shape[1])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        original = krippendorff_alpha(data, level)
        shuffled = krippendorff_alpha(data[np.ix_(raters, units)], level)
    np.testing.assert_allclose(shuffled, original, rtol=1e-9, atol=1e-12, equal_nan=True)


@settings(max_examples=80, deadline=None)
@given(data=reliability_data, level=st.sampled_from(LEVELS))
def test_krippendorff_alpha_is_at_most_one_and_one_for_perfect_agreement(data, level):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alpha = krippendorff_alpha(data, level)
        unit_value = np.arange(data.shape[1]) % 7.0
        agreed = krippendorff_alpha(np.where(np.isnan(data), nan, unit_value), level)
    assert np.isnan(alpha) or alpha <= 1 + 1e-12
    assert np.isnan(agreed) or agreed == pytest.approx(1.0, abs=1e-12)


ratings_1d = hnp.arrays(
    np.float64, st.integers(0, 15), elements=st.one_of(st.integers(1, 7).map(float), st.just(nan))
)


@settings(max_examples=100, deadline=None)
@given(ratings=ratings_1d)
def test_rwg_lies_in_unit_interval_or_is_nan_for_fewer_than_two(ratings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = rwg(ratings, 7)
    if np.count_nonzero(~np.isnan(ratings)) < 2:
        assert np.isnan(value)
    else:
        assert 0.0 <= value <= 1.0


@settings(max_examples=100, deadline=None)
@given(
    ratings=st.tuples(st.integers(1, 8), st.integers(1, 6)).flatmap(
        lambda shape: hnp.arrays(
            np.float64, shape, elements=st.one_of(st.integers(1, 5).map(float), st.just(nan))
        )
    )
)
def test_rwg_j_lies_in_unit_interval_and_equals_rwg_for_one_item(ratings):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value = rwg_j(ratings, 5)
        first_item = rwg_j(ratings[:, :1], 5)
        single = rwg(ratings[:, 0], 5)
    assert np.isnan(value) or 0.0 <= value <= 1.0
    np.testing.assert_allclose(first_item, single, rtol=1e-12, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(
    codes=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 15), st.integers(2, 6)), elements=st.integers(1, 4)
    ),
    order=st.permutations(range(4)),
)
def test_fleiss_kappa_does_not_depend_on_category_order(codes, order):
    counts = _counts(codes, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            fleiss_kappa(counts[:, list(order)]),
            fleiss_kappa(counts),
            rtol=1e-12,
            atol=1e-15,
            equal_nan=True,
        )


# --- degenerate and bad input ----------------------------------------------------------------


def test_degenerate_agreement_data_give_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(krippendorff_alpha([[3, 3, 3], [3, 3, 3]], "interval"))
        assert np.isnan(krippendorff_alpha([[1, nan, 2], [nan, 2, nan]], "nominal"))
        assert np.isnan(krippendorff_alpha([[0, 0], [0, 0]], "ratio"))
        assert np.isnan(fleiss_kappa([[3, 0], [3, 0]]))
        assert np.isnan(rwg([4], 5))
        assert np.isnan(rwg([nan, 4, nan], 5))
        assert np.isnan(rwg_j([[4, 5, 3]], 5))  # a group of one
        assert rwg_j([[4, 5, 3], [4, 5, 3]], 5) == 1.0


def test_exported_from_the_package():
    for name in ("krippendorff_alpha", "fleiss_kappa", "rwg", "rwg_j"):
        assert name in scoring.__all__


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ([1, 2, 3], {}, "2-dimensional"),
        ([[1, 2, 3]], {}, "at least 2 raters"),
        ([[1, 2], [1, 2]], {"level": "cardinal"}, "level must be one of"),
        ([[1, -2], [1, 2]], {"level": "ratio"}, "non-negative"),
        ([["a", "b"], ["a", "b"]], {}, "numeric"),
        ([[1, np.inf], [1, 2]], {}, "infinite"),
    ],
)
def test_krippendorff_alpha_rejects_bad_input(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        krippendorff_alpha(data, **kwargs)


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ([1, 2, 3], "2-dimensional"),
        ([[2, 1], [1, 1]], "same number of raters"),
        ([[1, 0], [0, 1]], "at least 2 raters per subject"),
        ([[3], [3]], "at least 2 categories"),
        ([[1.5, 1.5], [2, 1]], "whole numbers"),
        ([[-1, 4], [2, 1]], "whole numbers"),
        ([[nan, 3], [2, 1]], "NaN"),
        (np.zeros((0, 3)), "at least 1 subject"),
    ],
)
def test_fleiss_kappa_rejects_bad_input(counts, message):
    with pytest.raises(ValueError, match=message):
        fleiss_kappa(counts)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rwg([[1, 2]], 5), "1-dimensional"),
        (lambda: rwg([1, 6], 5), "5-point scale 1..5"),
        (lambda: rwg([0, 3], 5), "5-point scale"),
        (lambda: rwg([1, 2], 1), "at least 2"),
        (lambda: rwg([1, 2], 4.5), "whole number"),
        (lambda: rwg([1, 2], True), "at least 2"),
        (lambda: rwg([1, 2], 5, scale_min=nan), "scale_min"),
        (lambda: rwg_j([1, 2], 5), "2-dimensional"),
        (lambda: rwg_j(np.zeros((3, 0)), 5), "at least 1 item"),
        (lambda: rwg_j([[1, 2], [3, 8]], 7), "7-point scale"),
    ],
)
def test_rwg_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@settings(max_examples=80, deadline=None)
@given(
    ratings=st.tuples(st.integers(1, 8), st.integers(1, 6)).flatmap(
        lambda shape: hnp.arrays(
            np.float64, shape, elements=st.one_of(st.integers(1, 5).map(float), st.just(nan))
        )
    ),
    order=st.data(),
)
def test_rwg_and_rwg_j_do_not_depend_on_the_order_of_raters_or_items(ratings, order):
    raters = order.draw(st.permutations(range(ratings.shape[0])))
    items = order.draw(st.permutations(range(ratings.shape[1])))
    shuffled = ratings[np.ix_(raters, items)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            rwg_j(shuffled, 5), rwg_j(ratings, 5), rtol=1e-12, atol=1e-12, equal_nan=True
        )
        np.testing.assert_allclose(
            rwg(shuffled[:, 0], 5),
            rwg(ratings[:, items[0]], 5),
            rtol=1e-12,
            atol=1e-12,
            equal_nan=True,
        )


@settings(max_examples=60, deadline=None)
@given(
    codes=hnp.arrays(
        np.int64, st.tuples(st.integers(1, 15), st.integers(2, 6)), elements=st.integers(1, 4)
    ),
    order=st.data(),
)
def test_fleiss_kappa_does_not_depend_on_subject_order(codes, order):
    counts = _counts(codes, 4)
    subjects = order.draw(st.permutations(range(counts.shape[0])))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(
            fleiss_kappa(counts[list(subjects)]),
            fleiss_kappa(counts),
            rtol=1e-12,
            atol=1e-15,
            equal_nan=True,
        )
