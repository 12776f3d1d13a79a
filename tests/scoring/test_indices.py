"""NPS, CSAT and CES: hand-worked examples, statsmodels, properties."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import DescrStatsW

from scoring import Estimate, ces, csat, nps, wilson_interval

pytestmark = pytest.mark.filterwarnings("error")

Z95 = 1.959963984540054


def _answers(promoters, passives, detractors):
    return [10] * promoters + [8] * passives + [3] * detractors


def test_nps_counts_the_three_groups_at_their_boundaries():
    res = nps([0, 6, 7, 8, 9, 10])
    assert (res.detractors, res.passives, res.promoters, res.n) == (2, 2, 2, 6)
    assert res.value == 0.0


def test_nps_with_known_counts_and_hand_worked_wald_interval():
    # 50 promoters, 30 passives, 20 detractors: NPS = 50 % - 20 % = 30.
    # Var = .5 + .2 - .3^2 = .61; SE = sqrt(.61 / 100) = .0781025.
    res = nps(_answers(50, 30, 20))
    assert res.value == pytest.approx(30.0, abs=1e-12)
    half = 100 * Z95 * math.sqrt(0.61 / 100)
    assert half == pytest.approx(15.30781, abs=1e-5)
    assert res.ci_low == pytest.approx(30.0 - half, abs=1e-12)
    assert res.ci_high == pytest.approx(30.0 + half, abs=1e-12)
    assert res.confidence == 0.95 and res.method == "wald"
    assert isinstance(res, Estimate)


def test_nps_wald_equals_z_interval_of_the_trinomial_mean():
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 11, 250)
    res = nps(scores, confidence=0.9)
    trinomial = np.select([scores >= 9, scores <= 6], [1.0, -1.0], 0.0)
    half = stats.norm.ppf(0.95) * trinomial.std(ddof=0) / math.sqrt(len(scores))
    assert res.value == pytest.approx(100 * trinomial.mean(), abs=1e-12)
    assert res.ci_low == pytest.approx(100 * (trinomial.mean() - half), abs=1e-10)
    assert res.ci_high == pytest.approx(100 * (trinomial.mean() + half), abs=1e-10)


def test_nps_adjusted_wald_adds_three_quarters_to_promoters_and_detractors():
    res = nps(_answers(50, 30, 20), method="adjusted-wald")
    n = 103
    p, d = 50.75 / n, 20.75 / n
    half = Z95 * math.sqrt((p + d - (p - d) ** 2) / n)
    assert res.value == pytest.approx(30.0)
    assert res.ci_low == pytest.approx(100 * (p - d - half), abs=1e-12)
    assert res.ci_high == pytest.approx(100 * (p - d + half), abs=1e-12)


def test_nps_interval_is_clipped_to_the_scale():
    res = nps(_answers(9, 0, 1))
    assert res.ci_high == 100.0
    res = nps(_answers(1, 0, 9), method="adjusted-wald")
    assert res.ci_low >= -100.0


def test_nps_all_promoters_gives_zero_width_wald_but_wide_adjusted_interval():
    wald = nps([10, 9, 10])
    assert (wald.value, wald.ci_low, wald.ci_high) == (100.0, 100.0, 100.0)
    adjusted = nps([10, 9, 10], method="adjusted-wald")
    assert adjusted.ci_low < 50.0


def test_nps_drops_missing_answers():
    res = nps([10, np.nan, 3, np.nan])
    assert res.n == 2 and res.value == 0.0


@pytest.mark.parametrize("empty", [[], [np.nan, np.nan], np.empty((0, 3))])
def test_nps_without_answers_is_nan_with_n_zero(empty):
    res = nps(empty)
    assert res.n == 0 and res.promoters == res.passives == res.detractors == 0
    assert math.isnan(res.value) and math.isnan(res.ci_low) and math.isnan(res.ci_high)


@pytest.mark.parametrize("bad", [[11], [-1], [7.5], [np.inf], ["x"]])
def test_nps_rejects_answers_off_the_scale(bad):
    with pytest.raises(ValueError, match="nps scores"):
        nps(bad)


@pytest.mark.parametrize("kwargs", [{"confidence": 1.0}, {"confidence": 0}, {"method": "exact"}])
def test_nps_rejects_bad_options(kwargs):
    with pytest.raises(ValueError):
        nps([10, 9], **kwargs)


def test_wilson_interval_for_8_of_10_matches_statsmodels():
    low, high = proportion_confint(8, 10, alpha=0.05, method="wilson")
    res = wilson_interval(8, 10)
    assert res.value == 0.8
    assert res.ci_low == pytest.approx(low, abs=1e-12)
    assert res.ci_high == pytest.approx(high, abs=1e-12)
    # Published value (Newcombe 1998, table I style): 0.4902 - 0.9433.
    assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (0.4902, 0.9433)


@pytest.mark.parametrize(("k", "n"), [(0, 5), (5, 5), (1, 1), (37, 120), (999, 1000)])
@pytest.mark.parametrize("confidence", [0.8, 0.95, 0.99])
def test_wilson_interval_matches_statsmodels(k, n, confidence):
    low, high = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    res = wilson_interval(k, n, confidence=confidence)
    assert res.ci_low == pytest.approx(low, abs=1e-12)
    assert res.ci_high == pytest.approx(high, abs=1e-12)


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        wilson_interval(1.5, 4)


def test_csat_is_top_two_box_percent_with_wilson_interval():
    scores = [5, 4, 4, 3, 5, 2, 5, 4, 1, 5, np.nan]
    res = csat(scores)
    low, high = proportion_confint(7, 10, method="wilson")
    assert (res.value, res.satisfied, res.n) == (70.0, 7, 10)
    assert res.ci_low == pytest.approx(100 * low, abs=1e-10)
    assert res.ci_high == pytest.approx(100 * high, abs=1e-10)


def test_csat_on_a_seven_point_scale_counts_six_and_seven():
    res = csat([7, 6, 5, 1], scale_max=7)
    assert res.satisfied == 2 and res.value == 50.0


def test_csat_empty_is_nan():
    res = csat([np.nan])
    assert res.n == 0 and math.isnan(res.value) and math.isnan(res.ci_low)


@pytest.mark.parametrize("bad", [[0], [6], [4.5]])
def test_csat_rejects_answers_off_the_scale(bad):
    with pytest.raises(ValueError, match="1 to 5"):
        csat(bad)


@pytest.mark.parametrize("scale_max", [2, 4.5, True])
def test_csat_rejects_bad_scale_max(scale_max):
    with pytest.raises(ValueError, match="scale_max"):
        csat([1], scale_max=scale_max)


def test_ces_mean_and_t_interval_match_statsmodels():
    scores = np.array([7, 6, 5, 5, 4, 2, 7, 6, 3, 5])
    res = ces(scores)
    low, high = DescrStatsW(scores.astype(float)).tconfint_mean(alpha=0.05)
    assert res.value == pytest.approx(scores.mean(), abs=1e-12)
    assert res.ci_low == pytest.approx(low, abs=1e-12)
    assert res.ci_high == pytest.approx(high, abs=1e-12)
    # Agree = 5, 6, 7 on the seven-point CES 2.0 scale.
    assert res.agree == 7 and res.n == 10
    assert res.percent_agree.value == 70.0
    wl, wh = proportion_confint(7, 10, method="wilson")
    assert res.percent_agree.ci_low == pytest.approx(100 * wl, abs=1e-10)
    assert res.percent_agree.ci_high == pytest.approx(100 * wh, abs=1e-10)


def test_ces_on_a_five_point_scale_agrees_above_the_midpoint():
    res = ces([5, 4, 3, 2, 1], scale_max=5)
    assert res.agree == 2


def test_ces_small_and_degenerate_samples():
    one = ces([6])
    assert one.value == 6.0 and math.isnan(one.ci_low) and one.n == 1
    flat = ces([5, 5, 5])
    assert (flat.ci_low, flat.value, flat.ci_high) == (5.0, 5.0, 5.0)
    empty = ces([])
    assert math.isnan(empty.value) and math.isnan(empty.percent_agree.value)
    assert empty.n == 0 and empty.agree == 0


def test_ces_rejects_answers_off_the_scale():
    with pytest.raises(ValueError, match="1 to 7"):
        ces([8])


# --- properties -----------------------------------------------------------------------

nps_answers = st.lists(st.integers(0, 10) | st.just(float("nan")), max_size=60)


@given(nps_answers, st.sampled_from([0.8, 0.95, 0.99]))
def test_nps_is_bounded_and_its_wald_interval_contains_it(answers, confidence):
    res = nps(answers, confidence=confidence)
    assert res.promoters + res.passives + res.detractors == res.n
    if res.n:
        assert -100.0 <= res.ci_low <= res.value <= res.ci_high <= 100.0
    else:
        assert math.isnan(res.value)


@given(nps_answers)
def test_nps_adjusted_interval_stays_on_the_scale(answers):
    res = nps(answers, method="adjusted-wald")
    if res.n:
        assert -100.0 <= res.ci_low <= res.ci_high <= 100.0


@given(
    st.integers(3, 10).flatmap(
        lambda m: st.tuples(st.just(m), st.lists(st.integers(1, m), min_size=1, max_size=50))
    )
)
def test_csat_is_bounded_and_inside_its_interval(case):
    scale_max, answers = case
    res = csat(answers, scale_max=scale_max)
    assert 0.0 <= res.ci_low <= res.value <= res.ci_high <= 100.0


@given(
    st.integers(2, 10).flatmap(
        lambda m: st.tuples(st.just(m), st.lists(st.integers(1, m), min_size=2, max_size=50))
    )
)
def test_ces_is_bounded_and_inside_its_interval(case):
    scale_max, answers = case
    res = ces(answers, scale_max=scale_max)
    assert 1.0 <= res.value <= scale_max
    assert res.ci_low <= res.value <= res.ci_high
    agree = res.percent_agree
    assert 0.0 <= agree.ci_low <= agree.value <= agree.ci_high <= 100.0


@pytest.mark.parametrize(
    ("successes", "n", "message"),
    [(-1, 4, "successes"), (2, -1, "n must be"), (True, 4, "successes"), (1, 2.5, "n must be")],
)
def test_wilson_interval_rejects_bad_counts(successes, n, message):
    with pytest.raises(ValueError, match=message):
        wilson_interval(successes, n)


def test_confidence_is_checked_by_every_index():
    for index in (nps, csat, ces):
        with pytest.raises(ValueError, match="confidence"):
            index([5], confidence=1.5)
    assert nps([10], confidence=np.float64(0.9)).confidence == 0.9
