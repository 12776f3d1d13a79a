"""KPI scores, weighted composites and grade bands."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import (
    DEFAULT_GRADE_BANDS,
    GradeBand,
    grade,
    kpi_score,
    validate_grade_bands,
    validate_weights,
    weighted_composite,
)

pytestmark = pytest.mark.filterwarnings("error")
nan = float("nan")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, 100.0), (95, 100.0), (90, 100.0), (85, 75.0), (80, 50.0), (70, 0.0), (50, 0.0)],
)
def test_higher_is_better_kpi_is_linear_between_floor_and_target_and_capped(value, expected):
    # Monthly CSAT target 90 %, floor 70 %.
    assert float(kpi_score(value, target=90, floor=70)) == expected


@pytest.mark.parametrize(
    ("hours", "expected"),
    [(2, 100.0), (24, 100.0), (30, 75.0), (36, 50.0), (48, 0.0), (72, 0.0)],
)
def test_lower_is_better_kpi_is_linear_between_floor_and_target_and_capped(hours, expected):
    # First response within 24 h earns full marks, 48 h or more none.
    assert float(kpi_score(hours, target=24, floor=48, direction="lower")) == expected


def test_kpi_score_is_vectorised_and_keeps_missing_as_nan():
    scores = kpi_score([95, nan, 80], target=[90, 90, 100], floor=[70, 70, 60])
    np.testing.assert_array_equal(scores, [100.0, nan, 50.0])


@pytest.mark.parametrize(
    ("target", "floor", "direction"),
    [(90, 95, "higher"), (90, 90, "higher"), (24, 12, "lower"), (24, 24, "lower")],
)
def test_kpi_score_rejects_floor_on_the_wrong_side(target, floor, direction):
    with pytest.raises(ValueError, match="floor must be strictly"):
        kpi_score(50, target=target, floor=floor, direction=direction)


def test_kpi_score_rejects_unknown_direction_and_non_finite_bounds():
    with pytest.raises(ValueError, match="direction"):
        kpi_score(1, 2, 0, direction="up")
    with pytest.raises(ValueError, match="finite"):
        kpi_score(1, nan, 0)


@given(
    st.floats(-1e6, 1e6),
    st.floats(-1e3, 1e3),
    st.floats(0.1, 1e3),
    st.sampled_from(["higher", "lower"]),
)
def test_kpi_score_is_always_between_0_and_100(value, target, span, direction):
    floor = target - span if direction == "higher" else target + span
    score = float(kpi_score(value, target, floor, direction))
    assert 0.0 <= score <= 100.0


def test_weighted_composite_with_all_kpis():
    res = weighted_composite([80, 90, 100], [50, 30, 20])
    assert res.value == pytest.approx(0.5 * 80 + 0.3 * 90 + 0.2 * 100)
    assert not res.reweighted and res.coverage == 1.0 and res.missing.size == 0
    np.testing.assert_allclose(res.weights, [0.5, 0.3, 0.2])


def test_weighted_composite_renormalises_when_a_kpi_has_no_data():
    res = weighted_composite([80, nan, 90], [50, 25, 25])
    assert res.value == pytest.approx((50 * 80 + 25 * 90) / 75)
    assert res.reweighted
    assert res.missing.tolist() == [1]
    assert res.coverage == pytest.approx(0.75)
    np.testing.assert_allclose(res.weights, [2 / 3, 0.0, 1 / 3])


def test_weighted_composite_missing_zero_weight_kpi_is_not_a_reweighting():
    res = weighted_composite([80, nan], [100, 0])
    assert res.value == 80.0 and not res.reweighted and res.missing.tolist() == [1]


def test_weighted_composite_without_any_data_is_nan():
    res = weighted_composite([nan, nan], [60, 40])
    assert math.isnan(res.value) and res.reweighted and res.coverage == 0.0
    assert res.missing.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("scores", "weights", "message"),
    [
        ([1, 2], [1, -1], "non-negative"),
        ([1, 2], [1, nan], "non-negative"),
        ([1, 2], [0, 0], "positive"),
        ([1, 2], [1, 2, 3], "same shape"),
        ([[1, 2]], [[1, 2]], "1-dimensional"),
    ],
)
def test_weighted_composite_rejects_bad_weights(scores, weights, message):
    with pytest.raises(ValueError, match=message):
        weighted_composite(scores, weights)


def test_validate_weights_requires_a_total_of_100_percent():
    np.testing.assert_array_equal(validate_weights([40, 30, 30]), [40, 30, 30])
    validate_weights([33.3, 33.3, 33.4])
    validate_weights([0.5, 0.5], total=1.0)
    with pytest.raises(ValueError, match="add up to 100"):
        validate_weights([40, 30, 20])
    with pytest.raises(ValueError, match="non-negative"):
        validate_weights([110, -10])
    with pytest.raises(ValueError, match="at least 1 weight"):
        validate_weights([])


@given(
    st.lists(
        st.tuples(st.floats(0, 100) | st.just(nan), st.floats(0, 100)), min_size=1, max_size=8
    ).filter(lambda kpis: sum(w for _, w in kpis) > 0)
)
def test_composite_lies_between_the_scores_it_uses(kpis):
    scores, weights = zip(*kpis, strict=True)
    res = weighted_composite(scores, weights)
    used = [s for s, w in kpis if not math.isnan(s) and w > 0]
    if used:
        assert min(used) - 1e-9 <= res.value <= max(used) + 1e-9
        assert sum(res.weights) == pytest.approx(1.0)
    else:
        assert math.isnan(res.value)


@pytest.mark.parametrize(
    ("score", "code"),
    [
        (100, "excellent"),
        (90, "excellent"),
        (89.999, "good"),
        (80, "good"),
        (79.999, "pass"),
        (60, "pass"),
        (59.999, "fail"),
        (0, "fail"),
        (-5, "fail"),
    ],
)
def test_default_grade_band_edges(score, code):
    assert grade(score).code == code


def test_grade_carries_stable_code_and_both_labels():
    band = grade(85)
    assert (band.code, band.label_zh, band.label_en) == ("good", "良好", "Good")
    assert [b.label_zh for b in DEFAULT_GRADE_BANDS] == ["优秀", "良好", "合格", "不合格"]


def test_grade_of_missing_score_is_none():
    assert grade(nan) is None


def test_grade_bands_are_configurable():
    bands = (
        GradeBand("a", 95, "甲", "A"),
        GradeBand("b", 70, "乙", "B"),
        GradeBand("c", -math.inf, "丙", "C"),
    )
    assert grade(94.9, bands).code == "b"
    assert grade(95, bands).code == "a"
    assert grade(12, bands).code == "c"


@pytest.mark.parametrize(
    "bands",
    [
        (),
        (GradeBand("a", 90, "甲", "A"),),
        (
            GradeBand("a", 80, "甲", "A"),
            GradeBand("b", 90, "乙", "B"),
            GradeBand("c", -math.inf, "丙", "C"),
        ),
        (GradeBand("a", 90, "甲", "A"), GradeBand("a", -math.inf, "乙", "B")),
        (GradeBand("", -math.inf, "甲", "A"),),
        (("a", 90, "甲", "A"),),
    ],
)
def test_invalid_grade_bands_are_rejected(bands):
    with pytest.raises(ValueError):
        validate_grade_bands(bands)


@pytest.mark.parametrize("scores", [[101, 50], [-0.5, 50], [np.inf, 50]])
def test_weighted_composite_rejects_scores_off_the_0_to_100_scale(scores):
    with pytest.raises(ValueError, match="scores"):
        weighted_composite(scores, [1, 1])


def test_kpi_score_rejects_shapes_that_do_not_broadcast_and_infinite_values():
    with pytest.raises(ValueError, match="broadcast"):
        kpi_score([1, 2, 3], target=[90, 90], floor=70)
    with pytest.raises(ValueError, match="value contains infinite"):
        kpi_score(np.inf, target=90, floor=70)
