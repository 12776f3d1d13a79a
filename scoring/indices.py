"""Customer satisfaction indices: NPS, CSAT and CES with confidence intervals.

Each function takes the answers to one question (NaN for "not answered"),
drops the missing ones, checks that the rest are whole numbers on the scale
and returns a frozen result that *is* an :class:`~scoring.estimate.Estimate`
(``value``, ``ci_low``, ``ci_high``, ``confidence``) plus the counts behind
it.  With no answers at all the estimate is NaN and ``n`` is 0.

References
----------
.. [1] Reichheld, F. F. (2003). The one number you need to grow. *Harvard
   Business Review*, 81(12), 46-54.
.. [2] Rocks, B. (2016). Interval estimation for the "net promoter score".
   *The American Statistician*, 70(4), 365-372.
.. [3] Wilson, E. B. (1927). Probable inference, the law of succession, and
   statistical inference. *Journal of the American Statistical Association*,
   22(158), 209-212.
.. [4] Dixon, M., Freeman, K., & Toman, N. (2010). Stop trying to delight
   your customers. *Harvard Business Review*, 88(7/8), 116-122; CES 2.0 as
   published by CEB / Gartner (2013).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from scoring._validation import (
    as_float_array,
    as_whole_number,
    check_choice,
    check_confidence,
    check_on_scale,
)
from scoring.estimate import Estimate

__all__ = ["CESResult", "CSATResult", "NPSResult", "ces", "csat", "nps", "wilson_interval"]

_NAN = float("nan")


@dataclass(frozen=True, slots=True, kw_only=True)
class NPSResult(Estimate):
    """Net Promoter Score (−100…100) with its interval and the counts.

    ``value``, ``ci_low``, ``ci_high`` are on the −100…100 scale;
    ``promoters + passives + detractors == n``.
    """

    promoters: int
    passives: int
    detractors: int
    n: int
    method: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CSATResult(Estimate):
    """Top-2-box CSAT in percent (0…100) with its Wilson interval.

    ``satisfied`` answers out of ``n`` were in the top two boxes.
    """

    satisfied: int
    n: int
    scale_max: int


@dataclass(frozen=True, slots=True, kw_only=True)
class CESResult(Estimate):
    """Customer Effort Score: the mean answer with its t interval.

    ``percent_agree`` is the share (0…100, Wilson interval) of the ``agree``
    answers above the neutral midpoint.
    """

    percent_agree: Estimate
    agree: int
    n: int
    scale_max: int


def nps(scores, *, confidence: float = 0.95, method: str = "wald") -> NPSResult:
    """Net Promoter Score of 0–10 "likely to recommend" answers.

    Promoters answer 9–10, passives 7–8, detractors 0–6 (Reichheld 2003);
    NPS = 100 · (promoters − detractors) / n.

    Parameters
    ----------
    scores : array_like
        Answers on the 0–10 scale, any shape (flattened); NaN = missing.
    confidence : float, default 0.95
        Coverage of the two-sided interval, in (0, 1).
    method : {"wald", "adjusted-wald"}, default "wald"
        ``"wald"``: each answer scores +1 (promoter), 0 (passive) or −1
        (detractor); NPS/100 is the mean of that trinomial variable, whose
        variance is the variance of a difference of two multinomial
        proportions, :math:`p_P + p_D - (p_P - p_D)^2`.  The interval is
        :math:`\\mathrm{NPS} \\pm 100\\, z \\sqrt{(p_P + p_D - (p_P -
        p_D)^2)/n}`, clipped to [−100, 100]; it always contains the NPS, but
        it has zero width when every answer falls in one category and is too
        narrow for small *n*.  ``"adjusted-wald"``: the same formula after
        adding 3/4 of a respondent to promoters and to detractors and 3 to
        *n* (Rocks 2016, the best-covering simple interval in that study);
        it stays informative at the extremes but is centred on the adjusted
        estimate, so for very small *n* it need not contain the NPS.

    Returns
    -------
    NPSResult
        ``value`` (−100…100), ``ci_low``, ``ci_high``, counts and ``n``.
        With no answers: NaN value and interval, all counts 0.

    Raises
    ------
    ValueError
        An answer that is not a whole number from 0 to 10, or a bad
        ``confidence`` / ``method``.

    References
    ----------
    .. [1] Reichheld, F. F. (2003). The one number you need to grow.
       *Harvard Business Review*, 81(12), 46-54.
    .. [2] Rocks, B. (2016). Interval estimation for the "net promoter
       score". *The American Statistician*, 70(4), 365-372.

    Examples
    --------
    >>> r = nps([10, 9, 9, 8, 7, 6, 3, 10, 9, 2])
    >>> (r.value, r.promoters, r.passives, r.detractors, r.n)
    (20.0, 5, 2, 3, 10)
    """
    z = _z(confidence)
    check_choice(method, "method", ("wald", "adjusted-wald"))
    answers = _answers(scores, 0, 10, "nps")
    n = answers.size
    promoters = int(np.count_nonzero(answers >= 9))
    detractors = int(np.count_nonzero(answers <= 6))
    passives = n - promoters - detractors
    if n == 0:
        return NPSResult(
            value=_NAN,
            ci_low=_NAN,
            ci_high=_NAN,
            confidence=confidence,
            promoters=0,
            passives=0,
            detractors=0,
            n=0,
            method=method,
        )
    value = 100.0 * (promoters - detractors) / n
    if method == "wald":
        n_eff, p_pro, p_det = float(n), promoters / n, detractors / n
    else:
        n_eff = n + 3.0
        p_pro, p_det = (promoters + 0.75) / n_eff, (detractors + 0.75) / n_eff
    centre = p_pro - p_det
    variance = max(p_pro + p_det - centre**2, 0.0)
    half = z * np.sqrt(variance / n_eff)
    return NPSResult(
        value=value,
        ci_low=float(max(100.0 * (centre - half), -100.0)),
        ci_high=float(min(100.0 * (centre + half), 100.0)),
        confidence=confidence,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        n=n,
        method=method,
    )


def csat(scores, *, scale_max: int = 5, confidence: float = 0.95) -> CSATResult:
    """Top-2-box customer satisfaction in percent with a Wilson interval.

    An answer counts as satisfied when it is one of the top two points of a
    1…``scale_max`` scale (4–5 on the usual five-point scale):
    CSAT = 100 · satisfied / n.

    Parameters
    ----------
    scores : array_like
        Answers on the 1…``scale_max`` scale; NaN = missing.
    scale_max : int, default 5
        Top of the scale (at least 3, so two boxes are not the whole scale).
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    CSATResult
        ``value`` in percent, Wilson score interval (Wilson 1927) in
        percent, ``satisfied`` and ``n``; NaN value and interval when n = 0.

    Raises
    ------
    ValueError
        An answer that is not a whole number from 1 to ``scale_max``, or a
        bad ``scale_max`` / ``confidence``.

    See Also
    --------
    wilson_interval : the interval used.

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession,
       and statistical inference. *JASA*, 22(158), 209-212.

    Examples
    --------
    >>> r = csat([5, 4, 4, 3, 5, 2, 5, 4, 1, 5])
    >>> (r.value, r.satisfied, r.n)
    (70.0, 7, 10)
    """
    z = _z(confidence)
    scale_max = as_whole_number(scale_max, "scale_max", minimum=3)
    answers = _answers(scores, 1, scale_max, "csat")
    n = answers.size
    satisfied = int(np.count_nonzero(answers >= scale_max - 1))
    low, high = _wilson(satisfied, n, z)
    value = 100.0 * satisfied / n if n else _NAN
    return CSATResult(
        value=value,
        ci_low=100.0 * low,
        ci_high=100.0 * high,
        confidence=confidence,
        satisfied=satisfied,
        n=n,
        scale_max=scale_max,
    )


def ces(scores, *, scale_max: int = 7, confidence: float = 0.95) -> CESResult:
    """Customer Effort Score: mean agreement and percent agreeing.

    CES 2.0 asks "The company made it easy for me to handle my issue" on a
    1 (strongly disagree) … 7 (strongly agree) scale; higher is better.
    Orbit reports the mean answer with a Student-t interval and the percent
    of answers above the neutral midpoint :math:`(1 + \\text{scale\\_max})/2`
    — 5, 6, 7 on the seven-point scale, 4 and 5 on a five-point one.

    Parameters
    ----------
    scores : array_like
        Answers on the 1…``scale_max`` scale; NaN = missing.
    scale_max : int, default 7
        Top of the scale (at least 2).
    confidence : float, default 0.95
        Coverage of both intervals.

    Returns
    -------
    CESResult
        ``value`` (mean), ``ci_low``, ``ci_high`` (:math:`\\bar x \\pm
        t_{n-1}\\, s/\\sqrt n`), ``percent_agree`` (an Estimate in percent
        with a Wilson interval), ``agree`` and ``n``.  With n = 0 everything
        is NaN; with n = 1 the mean is the answer and its interval is NaN;
        when all answers are equal the t interval has zero width.

    Raises
    ------
    ValueError
        An answer that is not a whole number from 1 to ``scale_max``, or a
        bad ``scale_max`` / ``confidence``.

    References
    ----------
    .. [1] Dixon, M., Freeman, K., & Toman, N. (2010). Stop trying to
       delight your customers. *Harvard Business Review*, 88(7/8), 116-122.
    .. [2] CEB / Gartner (2013). *The Customer Effort Score 2.0* (7-point
       agreement scale, "percent agree" = 5–7).

    Examples
    --------
    >>> r = ces([7, 6, 5, 5, 4, 2])
    >>> (r.value, r.agree, r.n)
    (4.833333333333333, 4, 6)
    """
    z = _z(confidence)
    scale_max = as_whole_number(scale_max, "scale_max", minimum=2)
    answers = _answers(scores, 1, scale_max, "ces")
    n = answers.size
    agree = int(np.count_nonzero(answers > (1 + scale_max) / 2))
    low, high = _wilson(agree, n, z)
    percent_agree = Estimate(
        value=100.0 * agree / n if n else _NAN,
        ci_low=100.0 * low,
        ci_high=100.0 * high,
        confidence=confidence,
    )
    mean, ci_low, ci_high = _NAN, _NAN, _NAN
    if n:
        mean = float(answers.mean())
    if n >= 2:
        sd = float(answers.std(ddof=1))
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n)
        ci_low, ci_high = mean - float(half), mean + float(half)
    return CESResult(
        value=mean,
        ci_low=ci_low,
        ci_high=ci_high,
        confidence=confidence,
        percent_agree=percent_agree,
        agree=agree,
        n=n,
        scale_max=scale_max,
    )


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> Estimate:
    """Proportion with the Wilson (1927) score interval, both on 0…1.

    .. math::

        \\frac{\\hat p + z^2/2n \\pm z\\sqrt{\\hat p(1-\\hat p)/n + z^2/4n^2}}
              {1 + z^2/n}

    Parameters
    ----------
    successes, n : int
        Count of successes and of trials, ``0 <= successes <= n``.
    confidence : float, default 0.95
        Coverage of the interval.

    Returns
    -------
    Estimate
        ``value`` = successes / n and the score interval; all NaN if n = 0.

    Raises
    ------
    ValueError
        Counts that are not whole numbers with ``0 <= successes <= n``, or a
        bad ``confidence``.

    References
    ----------
    .. [1] Wilson, E. B. (1927). Probable inference, the law of succession,
       and statistical inference. *JASA*, 22(158), 209-212.

    Examples
    --------
    >>> r = wilson_interval(8, 10)
    >>> round(r.ci_low, 4), round(r.ci_high, 4)
    (0.4902, 0.9433)
    """
    z = _z(confidence)
    successes = as_whole_number(successes, "successes", minimum=0)
    n = as_whole_number(n, "n", minimum=0)
    if successes > n:
        raise ValueError(f"successes must not exceed n, got {successes} and {n}")
    low, high = _wilson(successes, n, z)
    value = successes / n if n else _NAN
    return Estimate(value=value, ci_low=low, ci_high=high, confidence=confidence)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    if n == 0:
        return _NAN, _NAN
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At 0 and n successes the bound is exactly 0 (or 1); the formula gets
    # there only up to rounding (centre - half = 5e-17).
    low = 0.0 if successes == 0 else float(centre - half)
    high = 1.0 if successes == n else float(centre + half)
    return low, high


def _z(confidence) -> float:
    """The normal quantile of a two-sided interval with coverage ``confidence``."""
    return float(stats.norm.ppf(0.5 + check_confidence(confidence) / 2))


def _answers(scores, low: int, high: int, name: str) -> np.ndarray:
    """Answered values as a flat float array, checked to be whole numbers on the scale."""
    x = as_float_array(scores, f"{name} scores").ravel()
    x = x[~np.isnan(x)]
    check_on_scale(x, low, high, f"{name} scores", whole=True)
    return x
