"""icc and cronbach_alpha: published examples, pingouin, properties, bad input."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pingouin
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

import scoring
import scoring.reliability
from scoring import CronbachAlpha, Estimate, ICCResult, cronbach_alpha, icc

# pingouin 0.7 calls a pandas API that pandas deprecates; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.dropna")

nan = np.nan

FORMS = ("icc1", "icc2", "icc3", "icc1k", "icc2k", "icc3k")
PINGOUIN_ROWS = ("ICC(1,1)", "ICC(A,1)", "ICC(C,1)", "ICC(1,k)", "ICC(A,k)", "ICC(C,k)")

# Shrout & Fleiss (1979), Table 2: ratings of 6 targets by 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)


def _figures(result: ICCResult) -> np.ndarray:
    """Every number of an ICCResult, for whole-result comparisons."""
    estimates = [getattr(result, form) for form in FORMS]
    return np.array(
        [v for e in estimates for v in (e.value, e.ci_low, e.ci_high)]
        + [
            result.ms_between_targets,
            result.ms_within_targets,
            result.ms_raters,
            result.ms_error,
            result.f_one_way,
            result.p_one_way,
            result.f_two_way,
            result.p_two_way,
        ]
    )


def _long_format(ratings: np.ndarray) -> pd.DataFrame:
    n, k = ratings.shape
    return pd.DataFrame(
        {
            "target": np.repeat(np.arange(n), k),
            "rater": np.tile(np.arange(k), n),
            "rating": ratings.ravel(),
        }
    )


@pytest.fixture
def unrounded_pingouin():
    """pingouin rounds its CI95 column to 2 decimals by default; switch that off."""
    saved = pingouin.options.get("round.column.CI95")
    pingouin.options["round.column.CI95"] = None
    yield pingouin
    pingouin.options["round.column.CI95"] = saved


def _random_ratings(seed: int, n: int, k: int, missing: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    true_score = rng.normal(0.0, 1.0, (n, 1))
    rater_bias = rng.normal(0.0, 0.5, (1, k))
    ratings = 3.0 + true_score + rater_bias + rng.normal(0.0, 0.8, (n, k))
    ratings[rng.random((n, k)) < missing] = np.nan
    return ratings


# --- published worked examples -------------------------------------------------------------


def test_shrout_fleiss_table_4_coefficients():
    # Shrout & Fleiss (1979), Table 4, to the two decimals printed there.
    result = icc(SHROUT_FLEISS)
    published = {
        "icc1": 0.17,
        "icc2": 0.29,
        "icc3": 0.71,
        "icc1k": 0.44,
        "icc2k": 0.62,
        "icc3k": 0.91,
    }
    for form, value in published.items():
        assert getattr(result, form).value == pytest.approx(value, abs=0.005), form
    assert (result.n_targets, result.k_raters, result.n_omitted) == (6, 4, 0)


def test_shrout_fleiss_table_3_anova():
    # Shrout & Fleiss (1979), Table 3: BMS 11.24, WMS 6.26, JMS 32.49, EMS 1.02.
    result = icc(SHROUT_FLEISS)
    assert result.ms_between_targets == pytest.approx(11.24, abs=0.005)
    assert result.ms_within_targets == pytest.approx(6.26, abs=0.005)
    assert result.ms_raters == pytest.approx(32.49, abs=0.005)
    assert result.ms_error == pytest.approx(1.02, abs=0.005)
    assert result.df_one_way == (5, 18)
    assert result.df_two_way == (5, 15)


def test_shrout_fleiss_intervals_match_r_psych():
    # R psych::ICC(ratings) on the same data, as printed in the RExRepos notes
    # (github.com/dwoll/RExRepos, md/interRaterICC.md): lower bounds to 3
    # decimals, upper bounds to 2, F to 2 significant digits, p to 5 decimals.
    result = icc(SHROUT_FLEISS)
    psych = {
        "icc1": (-0.133, 0.72),
        "icc2": (0.019, 0.76),
        "icc3": (0.342, 0.95),
        "icc1k": (-0.884, 0.91),
        "icc2k": (0.071, 0.93),
        "icc3k": (0.676, 0.99),
    }
    for form, (low, high) in psych.items():
        estimate = getattr(result, form)
        assert estimate.ci_low == pytest.approx(low, abs=0.0005), form
        assert estimate.ci_high == pytest.approx(high, abs=0.005), form
        assert estimate.confidence == 0.95
    assert result.f_one_way == pytest.approx(1.8, abs=0.05)
    assert result.f_two_way == pytest.approx(11.0, abs=0.05)
    assert result.p_one_way == pytest.approx(0.16477, abs=5e-6)
    assert result.p_two_way == pytest.approx(0.00013, abs=5e-6)


def test_cronbach_alpha_equals_icc3k_with_its_interval():
    # For complete data alpha is ICC(3,k) and Feldt's interval is its F interval,
    # so Shrout & Fleiss' 0.91 and psych's [0.676, 0.99] apply to alpha too.
    alpha = cronbach_alpha(SHROUT_FLEISS)
    icc3k = icc(SHROUT_FLEISS).icc3k
    assert alpha.value == pytest.approx(icc3k.value, abs=1e-12)
    assert alpha.ci_low == pytest.approx(icc3k.ci_low, abs=1e-12)
    assert alpha.ci_high == pytest.approx(icc3k.ci_high, abs=1e-12)
    assert alpha.value == pytest.approx(0.91, abs=0.005)
    assert (alpha.n_respondents, alpha.k_items) == (6, 4)


# --- against pingouin and an independent F-distribution computation -------------------------


@pytest.mark.parametrize(("seed", "n", "k"), [(1, 12, 3), (2, 40, 5), (3, 200, 8), (4, 5, 2)])
def test_icc_matches_pingouin_to_1e9(unrounded_pingouin, seed, n, k):
    ratings = _random_ratings(seed, n, k)
    reference = unrounded_pingouin.intraclass_corr(
        _long_format(ratings), targets="target", raters="rater", ratings="rating"
    ).set_index("Type")
    result = icc(ratings)
    for form, row in zip(FORMS, PINGOUIN_ROWS, strict=True):
        estimate = getattr(result, form)
        expected = reference.loc[row]
        assert estimate.value == pytest.approx(expected["ICC"], abs=1e-9), form
        assert estimate.ci_low == pytest.approx(expected["CI95"][0], abs=1e-9), form
        assert estimate.ci_high == pytest.approx(expected["CI95"][1], abs=1e-9), form
    assert result.f_one_way == pytest.approx(reference.loc["ICC(1,1)", "F"], rel=1e-9)
    assert result.f_two_way == pytest.approx(reference.loc["ICC(C,1)", "F"], rel=1e-9)
    assert result.p_one_way == pytest.approx(reference.loc["ICC(1,1)", "pval"], rel=1e-9)
    assert result.p_two_way == pytest.approx(reference.loc["ICC(C,1)", "pval"], rel=1e-9)


def test_icc_matches_pingouin_default_rounding_to_its_2_decimals():
    ratings = _random_ratings(5, 30, 4)
    reference = pingouin.intraclass_corr(
        _long_format(ratings), targets="target", raters="rater", ratings="rating"
    )
    result = icc(ratings)
    for form, bounds in zip(FORMS, reference["CI95"], strict=True):
        estimate = getattr(result, form)
        assert estimate.ci_low == pytest.approx(bounds[0], abs=0.005 + 1e-12)
        assert estimate.ci_high == pytest.approx(bounds[1], abs=0.005 + 1e-12)


def test_icc_omit_matches_pingouin_omit(unrounded_pingouin):
    ratings = _random_ratings(6, 50, 4, missing=0.05)
    long = _long_format(ratings)
    reference = unrounded_pingouin.intraclass_corr(
        long, targets="target", raters="rater", ratings="rating", nan_policy="omit"
    )
    result = icc(ratings, nan_policy="omit")
    complete = ~np.isnan(ratings).any(axis=1)
    assert result.n_targets == complete.sum()
    assert result.n_omitted == (~complete).sum() > 0
    for form, value in zip(FORMS, reference["ICC"], strict=True):
        assert getattr(result, form).value == pytest.approx(value, abs=1e-9)
    np.testing.assert_allclose(_figures(result), _figures(icc(ratings[complete])), rtol=1e-14)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.99])
def test_icc_intervals_follow_the_f_distribution_at_any_confidence(confidence):
    # Independent: mean squares by the textbook definitions, quantiles from
    # scipy.stats.f, the Shrout & Fleiss (1979) formulas written out again.
    ratings = _random_ratings(7, 25, 3)
    n, k = ratings.shape
    grand = ratings.mean()
    msb = k * np.var(ratings.mean(axis=1), ddof=1)
    msw = np.sum((ratings - ratings.mean(axis=1, keepdims=True)) ** 2) / (n * (k - 1))
    msj = n * np.sum((ratings.mean(axis=0) - grand) ** 2) / (k - 1)
    resid = ratings - ratings.mean(axis=1, keepdims=True) - ratings.mean(axis=0) + grand
    mse = np.sum(resid**2) / ((n - 1) * (k - 1))
    q = 1 - (1 - confidence) / 2
    f1, f3 = msb / msw, msb / mse
    f1l, f1u = f1 / stats.f.ppf(q, n - 1, n * (k - 1)), f1 * stats.f.ppf(q, n * (k - 1), n - 1)
    dfe = (n - 1) * (k - 1)
    f3l, f3u = f3 / stats.f.ppf(q, n - 1, dfe), f3 * stats.f.ppf(q, dfe, n - 1)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    fj = msj / mse
    vn = dfe * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
    v = vn / vd
    fu, fl = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    l2 = n * (msb - fu * mse) / (fu * (k * msj + (k * n - k - n) * mse) + n * msb)
    u2 = n * (fl * msb - mse) / (k * msj + (k * n - k - n) * mse + n * fl * msb)
    expected = {
        "icc1": ((f1l - 1) / (f1l + k - 1), (f1u - 1) / (f1u + k - 1)),
        "icc2": (l2, u2),
        "icc3": ((f3l - 1) / (f3l + k - 1), (f3u - 1) / (f3u + k - 1)),
        "icc1k": (1 - 1 / f1l, 1 - 1 / f1u),
        "icc2k": (l2 * k / (1 + l2 * (k - 1)), u2 * k / (1 + u2 * (k - 1))),
        "icc3k": (1 - 1 / f3l, 1 - 1 / f3u),
    }
    result = icc(ratings, confidence=confidence)
    for form, (low, high) in expected.items():
        estimate = getattr(result, form)
        assert estimate.confidence == confidence
        assert estimate.ci_low == pytest.approx(low, abs=1e-9), form
        assert estimate.ci_high == pytest.approx(high, abs=1e-9), form
        assert estimate.ci_low < estimate.value < estimate.ci_high


@pytest.mark.parametrize("missing", ["listwise", "pairwise"])
def test_cronbach_alpha_matches_pingouin(missing):
    items = _random_ratings(8, 60, 5, missing=0.08)
    value, rounded_ci = pingouin.cronbach_alpha(pd.DataFrame(items), nan_policy=missing)
    result = cronbach_alpha(items, missing=missing)
    assert result.value == pytest.approx(value, abs=1e-9)
    if missing == "pairwise":
        # pingouin rounds the interval to 3 decimals inside the function.
        assert result.ci_low == pytest.approx(rounded_ci[0], abs=0.0005 + 1e-12)
        assert result.ci_high == pytest.approx(rounded_ci[1], abs=0.0005 + 1e-12)
    # (With listwise deletion pingouin takes n for the interval before dropping
    # incomplete rows; Orbit uses the respondents actually analysed.)


def test_cronbach_alpha_interval_is_feldts():
    items = _random_ratings(9, 35, 6, missing=0.05)
    for confidence in (0.9, 0.95):
        result = cronbach_alpha(items, confidence=confidence)
        n = int((~np.isnan(items).any(axis=1)).sum())
        k = items.shape[1]
        assert result.n_respondents == n
        a = 1 - confidence
        low = 1 - (1 - result.value) * stats.f.isf(a / 2, n - 1, (n - 1) * (k - 1))
        high = 1 - (1 - result.value) * stats.f.isf(1 - a / 2, n - 1, (n - 1) * (k - 1))
        assert result.ci_low == pytest.approx(low, abs=1e-9)
        assert result.ci_high == pytest.approx(high, abs=1e-9)
        assert result.confidence == confidence


def test_cronbach_alpha_pairwise_uses_pairwise_complete_covariances():
    items = _random_ratings(10, 80, 4, missing=0.1)
    cov = pd.DataFrame(items).cov().to_numpy()  # pandas: pairwise complete
    k = items.shape[1]
    expected = k / (k - 1) * (1 - np.trace(cov) / cov.sum())
    result = cronbach_alpha(items, missing="pairwise")
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.n_respondents == 80


# --- properties ------------------------------------------------------------------------------

ratings_matrices = st.tuples(st.integers(2, 10), st.integers(2, 6)).flatmap(
    lambda shape: hnp.arrays(np.float64, shape, elements=st.integers(1, 7).map(float))
)


@settings(max_examples=60, deadline=None)
@given(ratings=ratings_matrices, data=st.data())
def test_icc_does_not_depend_on_the_order_of_raters_or_targets(ratings, data):
    n, k = ratings.shape
    rows = data.draw(st.permutations(range(n)))
    cols = data.draw(st.permutations(range(k)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        original = _figures(icc(ratings))
        shuffled = _figures(icc(ratings[np.ix_(rows, cols)]))
    np.testing.assert_allclose(shuffled, original, rtol=1e-9, atol=1e-12, equal_nan=True)


@settings(max_examples=60, deadline=None)
@given(ratings=ratings_matrices)
# No variance between targets nor raters: ICC(2,1) is undefined, so is ICC(2,k).
@example(ratings=np.array([[2.0, 1.0], [1.0, 2.0]]))
def test_icc_single_and_average_forms_are_spearman_brown_related(ratings):
    k = ratings.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc(ratings)
    for single, average in (("icc1", "icc1k"), ("icc2", "icc2k"), ("icc3", "icc3k")):
        r = np.float64(getattr(result, single).value)
        with np.errstate(divide="ignore", invalid="ignore"):
            expected = k * r / (1 + (k - 1) * r)
        if abs(expected) < 1e6:  # away from the formula's singularity at r = -1/(k-1)
            assert getattr(result, average).value == pytest.approx(expected, rel=1e-9, abs=1e-9)
        else:
            assert not abs(getattr(result, average).value) < 1e6


@settings(max_examples=60, deadline=None)
@given(
    item=hnp.arrays(np.float64, st.integers(2, 30), elements=st.integers(1, 5).map(float)),
    copies=st.integers(2, 8),
)
def test_alpha_of_identical_items_is_one_or_nan_without_variance(item, copies):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cronbach_alpha(np.repeat(item[:, None], copies, axis=1))
    if np.ptp(item) == 0:
        assert np.isnan(result.value)
    else:
        assert result.value == pytest.approx(1.0, abs=1e-12)
        assert result.ci_low == pytest.approx(1.0, abs=1e-12)
        assert result.ci_high == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(items=ratings_matrices, data=st.data())
def test_alpha_does_not_depend_on_item_order(items, data):
    cols = data.draw(st.permutations(range(items.shape[1])))
    a, b = cronbach_alpha(items), cronbach_alpha(items[:, cols])
    np.testing.assert_allclose(
        [b.value, b.ci_low, b.ci_high],
        [a.value, a.ci_low, a.ci_high],
        rtol=1e-9,
        atol=1e-12,
        equal_nan=True,
    )


# --- degenerate and bad input ----------------------------------------------------------------


def test_constant_ratings_give_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc(np.full((5, 3), 3.7))
        alpha = cronbach_alpha(np.full((5, 3), 3.7))
    assert np.isnan(_figures(result)[:18]).all()  # every coefficient and bound
    assert np.isnan([result.f_one_way, result.p_one_way, result.f_two_way]).all()
    assert result.ms_between_targets == result.ms_error == 0.0
    assert np.isnan([alpha.value, alpha.ci_low, alpha.ci_high]).all()


def test_perfect_agreement_gives_one_with_a_degenerate_interval():
    ratings = np.repeat(np.array([[1.0], [4.0], [2.0], [5.0]]), 3, axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc(ratings)
    for form in FORMS:
        estimate = getattr(result, form)
        assert (estimate.value, estimate.ci_low, estimate.ci_high) == (1.0, 1.0, 1.0), form
    assert result.f_two_way == np.inf
    assert result.p_two_way == 0.0


def test_consistent_but_shifted_raters_have_icc3_one_and_icc2_below():
    ratings = np.array([[1.0], [4.0], [2.0], [5.0]]) + np.array([0.0, 1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc(ratings)
    assert result.icc3.value == pytest.approx(1.0)
    assert result.icc3.ci_low == pytest.approx(1.0)
    assert result.icc2.value < 1.0
    assert np.isfinite([result.icc2.ci_low, result.icc2.ci_high]).all()


def test_equal_target_means_report_nan_rather_than_infinity():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc(np.tile([1.0, 2.0, 3.0], (4, 1)))
    assert np.isnan(result.icc1k.value)
    assert np.isnan(result.icc3k.value)
    assert result.icc1.value == pytest.approx(-0.5)  # the -1/(k-1) floor


def test_alpha_is_nan_when_items_cancel_to_a_constant_total():
    # Every respondent's total is 8: the total score has no variance, so alpha
    # is undefined (pingouin returns a float rounding artefact of about -1e16).
    items = np.array([[1.0, 1.0, 2.0, 4.0], [1.0, 1.0, 4.0, 2.0], [1.0, 2.0, 3.0, 2.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(cronbach_alpha(items).value)


def test_pairwise_alpha_is_nan_when_two_items_share_fewer_than_two_respondents():
    # Items 0 and 2 are answered together by one respondent only: their
    # covariance is unknown (pingouin silently counts it as 0).
    items = np.array([[nan, 3, 3], [nan, 3, nan], [2, 5, nan], [5, 1, nan], [1, 1, 4]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = cronbach_alpha(items, missing="pairwise")
    assert np.isnan(result.value)
    assert result.n_respondents == 5


def test_icc2k_is_nan_at_the_singularity_of_its_formula():
    # MSJ = 0 and MSB = MSE / n: the ICC(2,k) denominator MSB + (MSJ - MSE)/n is 0.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = icc([[3, 1], [4, 3], [1, 4]])
    assert result.icc2.value == pytest.approx(-1.0)
    assert np.isnan(result.icc2k.value)


def test_results_are_frozen_estimates():
    result = icc(SHROUT_FLEISS)
    alpha = cronbach_alpha(SHROUT_FLEISS)
    assert isinstance(result.icc2, Estimate)
    assert isinstance(alpha, Estimate) and isinstance(alpha, CronbachAlpha)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.icc1 = result.icc2
    with pytest.raises(dataclasses.FrozenInstanceError):
        alpha.value = 0.0


def test_exported_from_the_package():
    for name in ("icc", "cronbach_alpha", "ICCResult", "CronbachAlpha"):
        assert name in scoring.__all__


@pytest.mark.parametrize(
    ("ratings", "kwargs", "message"),
    [
        ([1, 2, 3], {}, "2-dimensional"),
        ([[[1, 2]], [[3, 4]]], {}, "2-dimensional"),
        ([[1, 2, 3]], {}, "at least 2 targets"),
        ([[1], [2], [3]], {}, "at least 2 raters"),
        ([["a", "b"], ["c", "d"]], {}, "numeric"),
        ([[1, None], [2, 3]], {}, "numeric"),
        ([[1, np.inf], [2, 3]], {}, "infinite"),
        ([[1, np.nan], [2, 3], [4, 5]], {}, "nan_policy='omit'"),
        ([[1, np.nan], [2, 3], [4, 5]], {"nan_policy": "drop"}, "nan_policy"),
        ([[1, np.nan], [2, 3]], {"nan_policy": "omit"}, "at least 2 targets"),
        ([[1, 2], [2, 3]], {"confidence": 1.0}, "confidence"),
        ([[1, 2], [2, 3]], {"confidence": 95}, "confidence"),
    ],
)
def test_icc_rejects_bad_input(ratings, kwargs, message):
    with pytest.raises(ValueError, match=message):
        icc(ratings, **kwargs)


@pytest.mark.parametrize(
    ("items", "kwargs", "message"),
    [
        ([1, 2, 3], {}, "2-dimensional"),
        ([[1], [2], [3]], {}, "at least 2 items"),
        ([[1, 2]], {}, "at least 2 respondents"),
        ([[1, 2], [np.nan, 3], [4, np.nan]], {}, "at least 2 respondents"),
        ([[1, 2], [2, 3]], {"missing": "mean"}, "missing must be"),
        ([[1, 2], [2, 3]], {"confidence": 0}, "confidence"),
        ([["x", "y"], ["z", "w"]], {}, "numeric"),
    ],
)
def test_cronbach_alpha_rejects_bad_input(items, kwargs, message):
    with pytest.raises(ValueError, match=message):
        cronbach_alpha(items, **kwargs)


@settings(max_examples=60, deadline=None)
@given(items=ratings_matrices)
def test_alpha_of_a_duplicated_scale(items):
    # Asking every question twice: the covariance matrix becomes [[C, C], [C, C]],
    # so tr -> 2 tr C and the total variance -> 4 1'C1, which gives exactly
    # alpha' = (k + (k - 1) alpha) / (2k - 1) (each copy correlates perfectly
    # with its item, so this is more than Spearman-Brown's 2 alpha / (1 + alpha)).
    k = items.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alpha = cronbach_alpha(items).value
        doubled = cronbach_alpha(np.hstack([items, items])).value
    if np.isnan(alpha):
        assert np.isnan(doubled)
    else:
        expected = (k + (k - 1) * alpha) / (2 * k - 1)
        assert doubled == pytest.approx(expected, rel=1e-9, abs=1e-9)
        assert doubled >= alpha - 1e-12  # alpha' - alpha = k (1 - alpha) / (2k - 1)
