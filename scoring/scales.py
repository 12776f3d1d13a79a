"""Item and scale arithmetic: reverse keying, POMP 0–100, z-scores, scale scores.

All functions accept NaN for a missing answer and pass it through (or count
it as unanswered); none of them rounds.

References
----------
.. [1] Cohen, P., Cohen, J., Aiken, L. S., & West, S. G. (1999). The problem
   of units and the circumstance for POMP. *Multivariate Behavioral
   Research*, 34(3), 315-346.
.. [2] Schafer, J. L., & Graham, J. W. (2002). Missing data: Our view of the
   state of the art. *Psychological Methods*, 7(2), 147-177.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from scoring._validation import (
    as_float_array,
    as_ids,
    check_min_size,
    check_on_scale,
    check_same_length,
    encode_ids,
)

__all__ = ["pomp", "reverse_key", "scale_score", "within_rater_z"]


def reverse_key(values, scale_min, scale_max) -> np.ndarray:
    """Reverse a negatively worded item: ``scale_min + scale_max - x``.

    Parameters
    ----------
    values : array_like
        Answers, any shape; NaN = missing (kept NaN).
    scale_min, scale_max : float or array_like
        Ends of the scale, broadcast against ``values`` (e.g. one per item
        column); ``scale_min < scale_max``.

    Returns
    -------
    ndarray of float
        Reversed answers: on a 1–5 scale 1 ↔ 5, 2 ↔ 4, 3 stays 3.

    Raises
    ------
    ValueError
        ``scale_min >= scale_max``, a non-finite scale end, or an answer
        that is not a number (NaN = missing is fine) or lies outside the scale.

    Examples
    --------
    >>> reverse_key([1, 2, 5, float("nan")], 1, 5).tolist()
    [5.0, 4.0, 1.0, nan]
    """
    x, low, high = _on_scale(values, scale_min, scale_max)
    return low + high - x


def pomp(values, scale_min, scale_max) -> np.ndarray:
    """Percent of maximum possible: rescale answers to 0–100.

    .. math:: \\mathrm{POMP} = 100 \\cdot \\frac{x - \\min}{\\max - \\min}

    so the bottom of any scale is 0 and the top 100, which lets 5-, 7- and
    10-point items (and scale means) be compared and combined (Cohen, Cohen,
    Aiken & West 1999).  Linear: it changes units, not the shape of the
    distribution.

    Parameters
    ----------
    values : array_like
        Answers or scale means, any shape; NaN = missing (kept NaN).
    scale_min, scale_max : float or array_like
        Ends of the scale, broadcast against ``values``.

    Returns
    -------
    ndarray of float
        Values on 0–100.

    Raises
    ------
    ValueError
        ``scale_min >= scale_max``, a non-finite scale end, or a value that
        is not a number (NaN = missing is fine) or lies outside the scale.

    References
    ----------
    .. [1] Cohen, P., Cohen, J., Aiken, L. S., & West, S. G. (1999). The
       problem of units and the circumstance for POMP. *Multivariate
       Behavioral Research*, 34(3), 315-346.

    Examples
    --------
    >>> pomp([1, 2, 3, 4, 5], 1, 5).tolist()
    [0.0, 25.0, 50.0, 75.0, 100.0]
    """
    x, low, high = _on_scale(values, scale_min, scale_max)
    return 100.0 * (x - low) / (high - low)


def within_rater_z(rater, value) -> np.ndarray:
    """Standardise each rating within its rater: ``(x - mean_r) / sd_r``.

    Removes each rater's own level (leniency) *and* spread (range use), so
    that a rater who gives only 4s and 5s and one who uses the whole scale
    become comparable.  Compare :func:`scoring.rater_effects`, which removes
    only the level and keeps the scale's units.

    Parameters
    ----------
    rater : array_like, shape (n_ratings,)
        Rater id of each rating (integer codes or comparable hashable ids).
        Long format: one row per rating.  For a raters × items matrix ``m``
        pass ``np.repeat(np.arange(len(m)), m.shape[1])`` and ``m.ravel()``
        and reshape the result.
    value : array_like of float, shape (n_ratings,)
        Ratings; NaN = missing (ignored and returned as NaN).

    Returns
    -------
    ndarray of float, shape (n_ratings,)
        z-score of each rating using the rater's mean and standard deviation
        (divisor *m* − 1 over the rater's *m* answered ratings).  NaN for
        raters with fewer than two ratings or with zero spread (all ratings
        equal: there is nothing to standardise).

    Raises
    ------
    ValueError
        Arrays not one-dimensional or of different lengths, a value that is
        not a number or is infinite, NaN ids, or ids that cannot be sorted.

    Examples
    --------
    >>> within_rater_z(["a", "a", "a", "b", "b"], [1, 2, 3, 4, 4]).tolist()
    [-1.0, 0.0, 1.0, nan, nan]
    """
    ids = as_ids(rater, "rater")
    x = as_float_array(value, "value", ndim=1)
    check_same_length(rater=ids, value=x)
    _, code = encode_ids(ids, "rater")
    answered = ~np.isnan(x)
    filled = np.where(answered, x, 0.0)
    count = np.bincount(code, weights=answered.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(code, weights=filled) / count
        dev = np.where(answered, x - mean[code], 0.0)
        sd = np.sqrt(np.bincount(code, weights=dev * dev) / (count - 1))
        z = dev / sd[code]
    # Equal ratings can leave a rounding-level spread (0.1 + 0.1 + 0.1 …);
    # a spread below a few ulps of the mean counts as none.
    spread = sd > 8 * np.finfo(float).eps * np.abs(mean)
    usable = (count[code] >= 2) & spread[code] & (sd[code] > 0) & answered
    return np.where(usable, z, np.nan)


def scale_score(items, *, min_answered: int | float = 0.5) -> np.ndarray:
    """Scale score per respondent: the mean of the answered items.

    Parameters
    ----------
    items : array_like, shape (n_respondents, k_items)
        Item answers, already reverse-keyed where needed; NaN = missing.
    min_answered : int or float, default 0.5
        Least number of answered items for a score.  An ``int`` is a count
        (1…k); a ``float`` in (0, 1] is a fraction of the *k* items, rounded
        up (0.5 of 5 items → 3).  The default is the common "half rule"
        (person-mean imputation when at least half the items are answered;
        Schafer & Graham 2002 discuss its limits).

    Returns
    -------
    ndarray of float, shape (n_respondents,)
        Mean of the answered items; NaN where fewer than the required number
        were answered.

    Raises
    ------
    ValueError
        ``items`` not a two-dimensional numeric array, an infinite value,
        no items, or ``min_answered`` not a count in 1…k or a fraction in
        (0, 1].

    Examples
    --------
    >>> nan = float("nan")
    >>> scale_score([[4, 5, nan, 3], [nan, nan, 2, nan]], min_answered=2).tolist()
    [4.0, nan]
    """
    x = as_float_array(items, "items", ndim=2, layout="respondents x items")
    k = x.shape[1]
    check_min_size(k, 1, "item (column)")
    required = _required_answers(min_answered, k)
    answered = ~np.isnan(x)
    m = answered.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(answered, x, 0.0).sum(axis=1) / m
    return np.where(m >= required, mean, np.nan)


def _required_answers(min_answered, k: int) -> int:
    if isinstance(min_answered, bool):
        raise ValueError("min_answered must be an int count or a float fraction, not a bool")
    if isinstance(min_answered, numbers.Integral):
        if not 1 <= min_answered <= k:
            raise ValueError(f"min_answered must be between 1 and {k} items, got {min_answered}")
        return int(min_answered)
    if isinstance(min_answered, numbers.Real) and 0.0 < min_answered <= 1.0:
        # The small slack keeps e.g. 0.7 * 10 = 7.000000000000001 at 7 items.
        return max(1, math.ceil(float(min_answered) * k - 1e-9))
    raise ValueError(
        f"min_answered must be an int count (1..{k}) or a fraction in (0, 1], got {min_answered!r}"
    )


def _on_scale(values, scale_min, scale_max):
    """``values`` and the scale ends as float arrays, checked against each other."""
    x = as_float_array(values, "values")
    low = as_float_array(scale_min, "scale_min", allow_nan=False)
    high = as_float_array(scale_max, "scale_max", allow_nan=False)
    try:
        ordered = bool((low < high).all())
    except ValueError:
        ordered = False  # shapes that do not broadcast against each other
    if not ordered:
        raise ValueError(
            f"scale_min must be below scale_max (element by element), got {scale_min!r} "
            f"and {scale_max!r}"
        )
    check_on_scale(x, low, high, "values")
    return x, low, high
