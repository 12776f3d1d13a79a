"""Agreement between raters: Krippendorff's alpha, Fleiss' kappa, rwg and rwg(j).

Reliability (:mod:`scoring.reliability`) asks whether raters order the targets
the same way; agreement asks whether they give the same answers.  These four
coefficients answer it for different data: Krippendorff's alpha for any level
of measurement with missing ratings, Fleiss' kappa for categories assigned by a
fixed number of raters, and rwg / rwg(j) for "do the members of this one group
agree about this item (or scale)", the usual check before a group's ratings are
averaged into one score.

References
----------
.. [1] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
   Annenberg School for Communication, University of Pennsylvania.
   https://repository.upenn.edu/asc_papers/43
.. [2] Fleiss, J. L. (1971). Measuring nominal scale agreement among many
   raters. *Psychological Bulletin*, 76(5), 378-382.
.. [3] James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group
   interrater reliability with and without response bias. *Journal of Applied
   Psychology*, 69(1), 85-98.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from scoring._validation import (
    as_float_array,
    as_whole_number,
    check_choice,
    check_min_size,
    check_on_scale,
)

__all__ = ["fleiss_kappa", "krippendorff_alpha", "rwg", "rwg_j"]

_LEVELS = ("nominal", "ordinal", "interval", "ratio")

# The coincidence matrix is built dense (one BLAS product) when the number of
# distinct values is small, as on rating scales; otherwise sparse, so that
# continuous data with thousands of distinct values stays linear in size.
_DENSE_MAX_VALUES = 64
_DENSE_MAX_CELLS = 1 << 24
# Ratio-level expected disagreement visits the V x V value pairs in blocks of
# about this many cells.
_BLOCK_CELLS = 1 << 22
# Whole-number data spanning at most this many steps is encoded by offset
# instead of by sorting.
_MAX_OFFSET_SPAN = 1 << 20


def krippendorff_alpha(data, level: str = "nominal") -> float:
    """Krippendorff's alpha for any number of raters, with missing ratings.

    Parameters
    ----------
    data : array_like, shape (n_raters, n_units)
        ``data[i, u]`` is the value rater *i* gave to unit *u*; NaN where the
        rater did not rate the unit.  Units with fewer than two values are
        not pairable and are ignored, as Krippendorff prescribes.
    level : {"nominal", "ordinal", "interval", "ratio"}, optional
        Level of measurement, which chooses the difference function
        :math:`\\delta^2_{ck}`: nominal ``c != k``; ordinal the squared number
        of pairable values ranked between ``c`` and ``k`` (half of each
        end); interval :math:`(c-k)^2`; ratio :math:`((c-k)/(c+k))^2`.

    Returns
    -------
    float
        Alpha; 1 is perfect agreement, 0 is agreement at chance level, and it
        can be negative.  NaN when no unit has two values or when all
        pairable values are identical (no variation to agree about).

    Raises
    ------
    ValueError
        If ``data`` is not a 2-D numeric array, contains infinities, has
        fewer than two raters, ``level`` is unknown, or a value is negative at
        the ratio level.

    Notes
    -----
    From the coincidence matrix :math:`o_{ck} = \\sum_u \\frac{1}{m_u - 1}
    \\#\\{(i, j),\\ i \\ne j: x_{iu} = c,\\ x_{ju} = k\\}` of the pairable
    units (:math:`m_u` values in unit *u*), the value totals
    :math:`n_c = \\sum_k o_{ck}` and :math:`n = \\sum_c n_c`,

    .. math::

        \\alpha = 1 - (n - 1)\\,
        \\frac{\\sum_{c,k} o_{ck}\\, \\delta^2_{ck}}
        {\\sum_{c,k} n_c\\, n_k\\, \\delta^2_{ck}}
        \\qquad \\text{(Krippendorff 2011, section C)}.

    The coincidence matrix is one matrix product of the unit-by-value count
    matrix; no loop runs over units or raters.  The ordinal difference
    function equals the interval one applied to the mid-rank of each value.

    References
    ----------
    .. [1] Krippendorff, K. (2011). Computing Krippendorff's alpha-reliability.
       Annenberg School for Communication, University of Pennsylvania.
    .. [2] Hayes, A. F., & Krippendorff, K. (2007). Answering the call for a
       standard reliability measure for coding data. *Communication Methods
       and Measures*, 1(1), 77-89.

    Examples
    --------
    Krippendorff (2011), section C: four observers, twelve units.

    >>> nan = float("nan")
    >>> data = [[1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    ...         [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    ...         [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    ...         [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan]]
    >>> round(krippendorff_alpha(data, "nominal"), 3)
    0.743
    >>> round(krippendorff_alpha(data, "interval"), 3)
    0.849
    """
    x = as_float_array(data, "data", ndim=2, layout="raters x units")
    check_choice(level, "level", _LEVELS)
    check_min_size(x.shape[0], 2, "raters (rows of data)")
    answered = ~np.isnan(x)
    values_per_unit = answered.sum(axis=0)
    pairable = values_per_unit >= 2
    # Flat positions of the pairable values (row-major, so the unit is the
    # position modulo the number of units).
    flat = np.flatnonzero(answered & pairable)
    unit = flat % x.shape[1]
    values = x.take(flat)
    if values.size == 0:
        return float("nan")
    if level == "ratio" and values.min() < 0:
        raise ValueError("ratio-level data must be non-negative (a ratio scale has a true zero)")

    codes, distinct = _encode_values(values)
    value_totals = np.bincount(codes, minlength=distinct.size).astype(np.float64)
    if distinct.size == 1:
        return float("nan")
    positions = distinct
    if level == "ordinal":
        positions = np.cumsum(value_totals) - value_totals / 2.0
    delta2 = _difference_function(level, distinct, positions)

    with np.errstate(divide="ignore"):
        unit_weights = np.where(pairable, 1.0 / (values_per_unit - 1.0), 0.0)
    observed = _observed_disagreement(codes, unit, unit_weights, distinct.size, delta2)
    expected = _expected_disagreement(value_totals, level, positions, delta2)
    n = values.size
    return float(1.0 - (n - 1) * observed / expected)


def fleiss_kappa(counts) -> float:
    """Fleiss' kappa for a fixed number of raters assigning categories.

    Parameters
    ----------
    counts : array_like, shape (n_subjects, n_categories)
        ``counts[i, j]`` is how many raters put subject *i* in category *j*.
        Every subject must be rated by the same number of raters (at least
        two); the raters need not be the same people.

    Returns
    -------
    float
        Kappa; 1 is perfect agreement, 0 chance-level agreement.  NaN when
        every rating falls in one category (chance agreement is then 1 and
        kappa undefined).

    Raises
    ------
    ValueError
        If ``counts`` is not a 2-D array of non-negative whole numbers, has
        fewer than two categories, or its row totals differ or are below 2.

    Notes
    -----
    With :math:`N` subjects, :math:`n` raters each and :math:`n_{ij}` the
    counts (Fleiss 1971, eqs. 1-9):

    .. math::

        p_j = \\frac{1}{Nn} \\sum_i n_{ij}, \\quad
        P_i = \\frac{\\sum_j n_{ij}^2 - n}{n(n-1)}, \\quad
        \\kappa = \\frac{\\bar P - \\sum_j p_j^2}{1 - \\sum_j p_j^2}.

    References
    ----------
    .. [1] Fleiss, J. L. (1971). Measuring nominal scale agreement among many
       raters. *Psychological Bulletin*, 76(5), 378-382.

    Examples
    --------
    >>> round(fleiss_kappa([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6],
    ...                     [0, 3, 9, 2, 0], [2, 2, 8, 1, 1], [7, 7, 0, 0, 0],
    ...                     [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0],
    ...                     [0, 2, 2, 3, 7]]), 3)
    0.21
    """
    c = as_float_array(counts, "counts", ndim=2, layout="subjects x categories")
    if np.isnan(c).any():
        raise ValueError("counts must not contain NaN; a category nobody chose has count 0")
    if (c < 0).any() or (c != np.rint(c)).any():
        raise ValueError("counts must be non-negative whole numbers")
    n_subjects, n_categories = c.shape
    check_min_size(n_subjects, 1, "subject (row of counts)")
    check_min_size(n_categories, 2, "categories (columns)")
    raters = c.sum(axis=1)
    if (raters != raters[0]).any():
        raise ValueError(
            "every subject must be rated by the same number of raters; row totals range "
            f"from {raters.min():g} to {raters.max():g}"
        )
    n = raters[0]
    check_min_size(n, 2, "raters per subject")
    category_share = c.sum(axis=0) / (n_subjects * n)
    subject_agreement = ((c**2).sum(axis=1) - n) / (n * (n - 1))
    chance = np.sum(category_share**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float((subject_agreement.mean() - chance) / (1.0 - chance))


def rwg(ratings, scale_points: int, *, scale_min: float = 1) -> float:
    """Within-group agreement rwg on one item (James, Demaree & Wolf 1984).

    Parameters
    ----------
    ratings : array_like, shape (n_raters,)
        The answers of one group's members to one item; NaN for a member who
        did not answer.
    scale_points : int
        Number of response options A (5 for a 1-5 Likert item).
    scale_min : float, optional
        Value of the lowest option (1 for 1-5, 0 for a 0-10 scale); answers
        must lie within ``[scale_min, scale_min + scale_points - 1]``.

    Returns
    -------
    float
        :math:`1 - s^2 / \\sigma^2_{EU}` truncated to [0, 1]: 1 when everybody
        gave the same answer, 0 when the answers are as spread as (or more
        than) random uniform answering.  NaN for fewer than two answers.

    Raises
    ------
    ValueError
        If ``ratings`` is not 1-D numeric or holds an infinite value,
        ``scale_points`` is not a whole number of at least 2, ``scale_min``
        is not a finite number, or an answer lies off the scale.

    Notes
    -----
    :math:`s^2` is the sample variance (divisor :math:`n-1`) of the answers
    and :math:`\\sigma^2_{EU} = (A^2 - 1)/12` the variance of the discrete
    uniform ("no agreement") distribution on A options (James et al. 1984,
    eq. 1).  An observed variance above the uniform one gives a negative
    value that is truncated to 0, as James et al. recommend.

    References
    ----------
    .. [1] James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating
       within-group interrater reliability with and without response bias.
       *Journal of Applied Psychology*, 69(1), 85-98.

    Examples
    --------
    Five raters on a 5-point item: :math:`s^2 = 0.5`, :math:`\\sigma^2_{EU} = 2`.

    >>> rwg([4, 4, 5, 4, 3], scale_points=5)
    0.75
    """
    x = as_float_array(ratings, "ratings", ndim=1, layout="the answers of one group")
    null_variance = _uniform_null_variance(x, scale_points, scale_min)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return float("nan")
    observed = np.sum((x - x.mean()) ** 2) / (x.size - 1)
    return float(max(0.0, 1.0 - observed / null_variance))


def rwg_j(ratings, scale_points: int, *, scale_min: float = 1) -> float:
    """Within-group agreement rwg(j) on a scale of J parallel items.

    Parameters
    ----------
    ratings : array_like, shape (n_raters, n_items)
        One row per member of the group, one column per item of the scale;
        NaN for a missing answer.
    scale_points : int
        Number of response options A of every item.
    scale_min : float, optional
        Value of the lowest option; see :func:`rwg`.

    Returns
    -------
    float
        rwg(j) in [0, 1]; NaN when no item was answered by at least two
        members (in particular for a group of one).

    Raises
    ------
    ValueError
        As :func:`rwg`, for a ratings matrix that is not 2-D or has no item.

    Notes
    -----
    With :math:`\\bar s^2` the mean of the item variances (each over the
    members who answered it; items answered by fewer than two members are
    left out and do not count in :math:`J`),

    .. math::

        r_{wg(J)} = \\frac{J\\,(1 - \\bar s^2/\\sigma^2_{EU})}
        {J\\,(1 - \\bar s^2/\\sigma^2_{EU}) + \\bar s^2/\\sigma^2_{EU}}
        \\qquad \\text{(James et al. 1984, eq. 4)}.

    Truncation rule: when :math:`\\bar s^2 \\ge \\sigma^2_{EU}` the result is
    0.  The formula is not monotone beyond that point (it turns negative,
    then jumps above 1 past :math:`\\bar s^2/\\sigma^2_{EU} = J/(J-1)`), so
    clipping its value would report spurious agreement; Lindell & Brandt
    (1997) recommend setting it to 0 as done here.

    References
    ----------
    .. [1] James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating
       within-group interrater reliability with and without response bias.
       *Journal of Applied Psychology*, 69(1), 85-98.
    .. [2] Lindell, M. K., & Brandt, C. J. (1997). Measuring interrater
       agreement for ratings of a single target. *Applied Psychological
       Measurement*, 21(3), 271-278.

    Examples
    --------
    Mean item variance 0.5 on four 5-point items: ratio 0.25.

    >>> round(rwg_j([[4, 4, 3, 5], [5, 4, 4, 4], [3, 5, 4, 4], [4, 3, 5, 3],
    ...              [4, 4, 4, 4]], scale_points=5), 6)
    0.923077
    """
    x = as_float_array(ratings, "ratings", ndim=2, layout="raters x items")
    check_min_size(x.shape[1], 1, "item (column)")
    null_variance = _uniform_null_variance(x, scale_points, scale_min)
    answered = ~np.isnan(x)
    answers = answered.sum(axis=0)
    usable = answers >= 2
    if not usable.any():
        return float("nan")
    x, answered, answers = x[:, usable], answered[:, usable], answers[usable]
    means = np.where(answered, x, 0.0).sum(axis=0) / answers
    item_variances = np.where(answered, x - means, 0.0)
    item_variances = (item_variances**2).sum(axis=0) / (answers - 1)
    ratio = item_variances.mean() / null_variance
    if ratio >= 1.0:
        return 0.0
    n_items = item_variances.size
    return float(n_items * (1.0 - ratio) / (n_items * (1.0 - ratio) + ratio))


def _encode_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..V-1 of ``values`` and the V distinct values in ascending order."""
    low, high = values.min(), values.max()
    if high - low <= _MAX_OFFSET_SPAN and np.array_equal(values, np.rint(values)):
        # Rating scales: whole numbers in a short range.  Offsets and a
        # bincount are linear, where np.unique would sort.
        offsets = (values - low).astype(np.intp)
        present = np.bincount(offsets) > 0
        code_of_offset = np.cumsum(present) - 1
        return code_of_offset[offsets], low + np.flatnonzero(present)
    distinct, codes = np.unique(values, return_inverse=True)
    return codes.reshape(-1), distinct


def _difference_function(level: str, distinct: np.ndarray, positions: np.ndarray):
    """The squared difference :math:`\\delta^2` between value codes ``c`` and ``k``."""
    if level == "nominal":
        return lambda c, k: (c != k).astype(np.float64)
    if level in ("ordinal", "interval"):
        return lambda c, k: (positions[c] - positions[k]) ** 2

    def ratio(c, k):
        total = distinct[c] + distinct[k]
        diff = distinct[c] - distinct[k]
        # Two zeros do not differ; (0 - 0) / 0 is defined as 0 here.
        safe = np.where(total > 0, total, 1.0)
        return np.where(total > 0, (diff / safe) ** 2, 0.0)

    return ratio


def _observed_disagreement(codes, unit, unit_weights, n_values: int, delta2) -> float:
    """:math:`\\sum_{c,k} o_{ck} \\delta^2_{ck}` from the coincidence matrix.

    ``o = A' W A`` with ``A`` the unit-by-value counts and ``W`` the weights
    :math:`1/(m_u - 1)`; its diagonal correction is irrelevant because
    :math:`\\delta^2_{cc} = 0`.
    """
    n_units = unit_weights.size
    if n_values <= _DENSE_MAX_VALUES and n_units * n_values <= _DENSE_MAX_CELLS:
        counts = np.bincount(unit * n_values + codes, minlength=n_units * n_values)
        counts = counts.reshape(n_units, n_values).astype(np.float64)
        coincidences = (counts * unit_weights[:, None]).T @ counts
        c = np.arange(n_values)
        return float(np.sum(coincidences * delta2(c[:, None], c[None, :])))
    counts = sparse.csr_matrix((np.ones(codes.size), (unit, codes)), shape=(n_units, n_values))
    coincidences = (counts.T @ sparse.diags(unit_weights) @ counts).tocoo()
    return float(np.sum(coincidences.data * delta2(coincidences.row, coincidences.col)))


def _expected_disagreement(value_totals, level: str, positions, delta2) -> float:
    """:math:`\\sum_{c,k} n_c n_k \\delta^2_{ck}` over all pairs of values."""
    n = value_totals.sum()
    if level == "nominal":
        return float(n**2 - np.sum(value_totals**2))
    if level in ("ordinal", "interval"):
        centred = positions - np.dot(value_totals, positions) / n
        return float(2.0 * n * np.dot(value_totals, centred**2))
    n_values = value_totals.size
    block = max(1, _BLOCK_CELLS // n_values)
    everything = np.arange(n_values)
    total = 0.0
    # A loop over blocks of distinct values (not units or raters) bounds the
    # memory of the V x V difference matrix.
    for start in range(0, n_values, block):
        rows = everything[start : start + block]
        total += value_totals[rows] @ delta2(rows[:, None], everything[None, :]) @ value_totals
    return float(total)


def _uniform_null_variance(x: np.ndarray, scale_points, scale_min) -> float:
    """:math:`(A^2 - 1)/12`, after checking A and that ``x`` lies on the scale."""
    points = as_whole_number(scale_points, "scale_points", minimum=2)
    scale_min = float(as_float_array(scale_min, "scale_min", ndim=0, allow_nan=False))
    scale_max = scale_min + points - 1
    scale = f"{points}-point scale {scale_min:g}..{scale_max:g}"
    check_on_scale(x, scale_min, scale_max, "ratings", scale=scale)
    return (points**2 - 1) / 12.0
