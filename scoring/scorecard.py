"""Scorecard arithmetic: KPI scores against targets, weighted composites, grades.

A vendor or team scorecard lists KPIs (CSAT, first-response time, on-time
delivery, …), each with a *target* (full marks) and a *floor* (zero marks)
and a weight.  Each measured value is scored 0–100 by :func:`kpi_score`, the
scores are combined by :func:`weighted_composite` and the composite is put in
a grade band by :func:`grade`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from scoring._validation import (
    as_float_array,
    check_choice,
    check_min_size,
    check_on_scale,
)

__all__ = [
    "DEFAULT_GRADE_BANDS",
    "Composite",
    "GradeBand",
    "grade",
    "kpi_score",
    "validate_grade_bands",
    "validate_weights",
    "weighted_composite",
]


@dataclass(frozen=True, slots=True)
class GradeBand:
    """One grade: a stable ``code`` for storage and the API, the lowest score
    that earns it (inclusive) and labels in Chinese and English."""

    code: str
    min_score: float
    label_zh: str
    label_en: str


DEFAULT_GRADE_BANDS: tuple[GradeBand, ...] = (
    GradeBand("excellent", 90.0, "优秀", "Excellent"),
    GradeBand("good", 80.0, "良好", "Good"),
    GradeBand("pass", 60.0, "合格", "Pass"),
    GradeBand("fail", -math.inf, "不合格", "Fail"),
)
"""优秀 Excellent ≥ 90, 良好 Good ≥ 80, 合格 Pass ≥ 60, 不合格 Fail < 60."""


@dataclass(frozen=True, slots=True, eq=False)
class Composite:
    """Result of :func:`weighted_composite`; arrays are read-only.

    Attributes
    ----------
    value : float
        Weighted mean of the available KPI scores; NaN if none is available.
    weights : ndarray of float
        Weights actually used, normalised to sum to 1 over the available
        KPIs (0 for the missing ones).
    missing : ndarray of int
        Indices of the KPIs without a score (NaN).
    reweighted : bool
        True when a KPI with positive weight was missing, so the remaining
        weights were scaled up — the report must say so.
    coverage : float
        Share (0…1) of the configured weight that had data.
    """

    value: float
    weights: np.ndarray
    missing: np.ndarray
    reweighted: bool
    coverage: float


def kpi_score(value, target, floor, direction: str = "higher") -> np.ndarray:
    """Score a KPI value 0–100 against its target and floor.

    .. math::

        \\text{score} = 100 \\cdot \\operatorname{clip}\\!\\left(
        \\frac{\\text{value} - \\text{floor}}{\\text{target} - \\text{floor}},
        0, 1\\right)

    100 at or beyond the target, 0 at or beyond the floor, linear between.
    For ``direction="higher"`` (CSAT, on-time rate) the floor is below the
    target; for ``"lower"`` (response time, error rate, cost) it is above.

    Parameters
    ----------
    value, target, floor : float or array_like
        Broadcast against each other, so one call scores a whole column of
        vendors or periods.  NaN value → NaN score (no data).
    direction : {"higher", "lower"}, default "higher"
        Whether higher values are better.

    Returns
    -------
    ndarray of float
        Scores on 0–100 (a 0-d array for scalar input; ``float()`` it).

    Raises
    ------
    ValueError
        Unknown direction, a value that is not a number or is infinite
        (NaN = no data is fine), a non-finite target or floor, shapes that do
        not broadcast, or a floor on the wrong side of (or equal to) the
        target.

    Examples
    --------
    >>> kpi_score([95, 90, 85, 70, 60], target=90, floor=70).tolist()
    [100.0, 100.0, 75.0, 0.0, 0.0]
    >>> kpi_score([12, 24, 36, 48], target=24, floor=48, direction="lower").tolist()
    [100.0, 100.0, 50.0, 0.0]
    """
    check_choice(direction, "direction", ("higher", "lower"))
    x = as_float_array(value, "value")
    top = as_float_array(target, "target", allow_nan=False)
    bottom = as_float_array(floor, "floor", allow_nan=False)
    try:
        np.broadcast_shapes(x.shape, top.shape, bottom.shape)
    except ValueError:
        raise ValueError(
            f"value, target and floor must broadcast against each other, got shapes "
            f"{x.shape}, {top.shape} and {bottom.shape}"
        ) from None
    wrong = bottom >= top if direction == "higher" else bottom <= top
    if np.any(wrong):
        side = "below" if direction == "higher" else "above"
        raise ValueError(
            f"with direction={direction!r} the floor must be strictly {side} the target"
        )
    # "+ 0.0" turns the -0.0 of (floor - floor) / negative span into 0.0.
    return 100.0 * np.clip((x - bottom) / (top - bottom), 0.0, 1.0) + 0.0


def validate_weights(weights, *, total: float = 100.0, rtol: float = 1e-9) -> np.ndarray:
    """Check the weights of a configured scorecard.

    Parameters
    ----------
    weights : array_like, shape (k,)
        One weight per KPI, in percent by default.
    total : float, default 100.0
        Required sum (use 1.0 for fractions).
    rtol : float, default 1e-9
        Relative tolerance on the sum (decimal input such as 33.3 + 33.3 +
        33.4 is not exact in binary).

    Returns
    -------
    ndarray of float
        The weights as a float array.

    Raises
    ------
    ValueError
        Not one-dimensional, empty, a negative or non-finite weight, or a
        sum different from ``total``.

    Examples
    --------
    >>> validate_weights([40, 30, 30]).tolist()
    [40.0, 30.0, 30.0]
    """
    w = _weights(weights)
    if not math.isclose(float(w.sum()), total, rel_tol=rtol, abs_tol=rtol * abs(total)):
        raise ValueError(f"weights must add up to {total:g}, they add up to {float(w.sum()):g}")
    return w


def weighted_composite(scores, weights) -> Composite:
    """Weighted mean of KPI scores, re-normalising over the KPIs with data.

    .. math::

        C = \\frac{\\sum_{i \\in A} w_i s_i}{\\sum_{i \\in A} w_i}

    over the set *A* of KPIs whose score is not NaN.  When a KPI has no data
    for the period its weight is shared out proportionally among the others
    (rather than scoring it 0), and ``reweighted`` / ``coverage`` say so, so
    the report can show "based on 70 % of the scorecard".

    Parameters
    ----------
    scores : array_like, shape (k,)
        KPI scores on 0–100 (as :func:`kpi_score` gives them), NaN for "no
        data".
    weights : array_like, shape (k,)
        Non-negative weights, any total (percent or fractions); see
        :func:`validate_weights` for the configuration check.

    Returns
    -------
    Composite
        NaN ``value`` when no KPI with positive weight has a score.

    Raises
    ------
    ValueError
        Shapes differ or are not one-dimensional, a score outside 0–100 (or
        infinite), or a weight is negative, non-finite, or all weights are 0.

    Examples
    --------
    >>> c = weighted_composite([80, float("nan"), 90], [50, 25, 25])
    >>> round(c.value, 10), c.missing.tolist(), c.reweighted
    (83.3333333333, [1], True)
    """
    w = _weights(weights)
    s = as_float_array(scores, "scores")
    if s.shape != w.shape:
        raise ValueError(
            f"scores and weights must have the same shape, got {s.shape} and {w.shape}"
        )
    check_on_scale(s, 0.0, 100.0, "scores")
    if not w.sum() > 0:
        raise ValueError("at least one weight must be positive")
    available = ~np.isnan(s)
    used = np.where(available, w, 0.0)
    used_total = used.sum()
    missing = np.flatnonzero(~available)
    coverage = float(used_total / w.sum())
    if used_total > 0:
        normalised = used / used_total
        value = float(normalised @ np.where(available, s, 0.0))
    else:
        normalised = np.zeros_like(w)
        value = float("nan")
    normalised.flags.writeable = False
    missing.flags.writeable = False
    return Composite(
        value=value,
        weights=normalised,
        missing=missing,
        reweighted=bool((w[~available] > 0).any()),
        coverage=coverage,
    )


def validate_grade_bands(bands) -> tuple[GradeBand, ...]:
    """Check a grade-band configuration and return it as a tuple.

    Bands must be listed from best to worst with strictly decreasing
    ``min_score``, unique non-empty codes, and the last band must start at
    ``-inf`` so that every score gets a grade.

    Raises
    ------
    ValueError
        When any of these does not hold.

    Examples
    --------
    >>> [b.code for b in validate_grade_bands(DEFAULT_GRADE_BANDS)]
    ['excellent', 'good', 'pass', 'fail']
    """
    bands = tuple(bands)
    if not bands:
        raise ValueError("at least one grade band is needed")
    if not all(isinstance(b, GradeBand) for b in bands):
        raise ValueError("grade bands must be GradeBand instances")
    codes = [b.code for b in bands]
    if any(not c for c in codes) or len(set(codes)) != len(codes):
        raise ValueError(f"grade codes must be unique and non-empty, got {codes}")
    minima = [float(b.min_score) for b in bands]
    if any(math.isnan(m) for m in minima) or any(a <= b for a, b in itertools.pairwise(minima)):
        raise ValueError(
            f"grade bands must be listed best first with strictly decreasing min_score, "
            f"got {minima}"
        )
    if minima[-1] != -math.inf:
        raise ValueError("the last grade band must have min_score=-inf (it catches the rest)")
    return bands


def grade(score: float, bands=DEFAULT_GRADE_BANDS) -> GradeBand | None:
    """The grade band a composite score falls in.

    A score earns the first band (best first) whose ``min_score`` it
    reaches: with the defaults 90 → excellent, 89.999 → good, 60 → pass,
    59.999 → fail.  The score is compared as is, not rounded — a report that
    displays 89.996 as "90.0" should still show Good.

    Parameters
    ----------
    score : float
        Composite score (normally 0–100).
    bands : sequence of GradeBand, default DEFAULT_GRADE_BANDS
        Validated with :func:`validate_grade_bands`.

    Returns
    -------
    GradeBand or None
        The band (``.code`` is stable for storage; ``.label_zh`` /
        ``.label_en`` for display); None when ``score`` is NaN (no data,
        no grade).

    Examples
    --------
    >>> grade(92.5).code, grade(92.5).label_zh
    ('excellent', '优秀')
    >>> grade(59.999).label_en
    'Fail'
    """
    bands = validate_grade_bands(bands)
    try:
        x = float(score)
    except (TypeError, ValueError):
        raise ValueError(f"score must be a number, got {score!r}") from None
    if math.isnan(x):
        return None
    return next(b for b in bands if x >= b.min_score)


def _weights(weights) -> np.ndarray:
    w = as_float_array(weights, "weights", ndim=1, layout="one per KPI")
    check_min_size(w.size, 1, "weight")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("weights must be finite and non-negative")
    return w
