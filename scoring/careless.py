"""Careless-responding indices, one value per respondent (row).

``responses`` is a matrix of shape ``(n_respondents, k_items)`` with NaN for a
missing answer, items in the order they were shown.  Each index is computed
for every row at once with numpy; nothing here decides on its own who is
careless — the caller compares the index with a cut-off suited to the
questionnaire (Curran 2016 recommends screening with several indices and
conservative cut-offs).

References
----------
.. [1] Johnson, J. A. (2005). Ascertaining the validity of individual
   protocols from web-based personality inventories. *Journal of Research in
   Personality*, 39(1), 103-129.
.. [2] Meade, A. W., & Craig, S. B. (2012). Identifying careless responses in
   survey data. *Psychological Methods*, 17(3), 437-455.
.. [3] Curran, P. G. (2016). Methods for the detection of carelessly invalid
   responses in survey data. *Journal of Experimental Social Psychology*, 66,
   4-19.
.. [4] Mahalanobis, P. C. (1936). On the generalised distance in statistics.
   *Proceedings of the National Institute of Sciences of India*, 2(1), 49-55.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from scoring._validation import as_float_array, check_fraction

__all__ = ["MahalanobisResult", "irv", "longstring", "mahalanobis"]


@dataclass(frozen=True, slots=True, eq=False)
class MahalanobisResult:
    """Result of :func:`mahalanobis`; arrays are read-only.

    Attributes
    ----------
    distance : ndarray of float, shape (n_respondents,)
        Squared Mahalanobis distance :math:`D^2` of each row; NaN for a row
        with a missing answer.
    flagged : ndarray of bool, shape (n_respondents,)
        ``distance > threshold``; False where the distance is NaN.
    threshold : float
        The :math:`\\chi^2_{df}` quantile at ``1 - alpha``.
    df : int
        Degrees of freedom: the rank of the sample covariance (the number of
        items unless some are constant or collinear).
    n_used : int
        Number of complete rows used to estimate the mean and covariance.
    alpha : float
        The false-positive rate the threshold was set for.
    """

    distance: np.ndarray
    flagged: np.ndarray
    threshold: float
    df: int
    n_used: int
    alpha: float


def longstring(responses) -> np.ndarray:
    """Longest run of identical consecutive answers in each row.

    Straight-lining ("5, 5, 5, 5, …") shows as a long run (Johnson 2005).

    Parameters
    ----------
    responses : array_like, shape (n_respondents, k_items)
        Answers in the order shown; NaN = missing.

    Returns
    -------
    ndarray of int, shape (n_respondents,)
        Length of the longest run.  A missing answer breaks a run and is not
        part of one (``5, 5, NaN, 5`` gives 2): a skipped item is not
        evidence of straight-lining.  A row with no answers gives 0; a row
        with at least one answer gives at least 1.

    Raises
    ------
    ValueError
        ``responses`` is not two-dimensional, not numeric or contains an
        infinite value.

    Notes
    -----
    Vectorised run length: with :math:`e_{i,t} = [x_{i,t} = x_{i,t-1}]`,
    the cumulative sum of *e* minus its running maximum at the last break is
    the length of the current run, so one ``cumsum`` and one
    ``maximum.accumulate`` over the matrix give every run.

    References
    ----------
    .. [1] Johnson, J. A. (2005). Ascertaining the validity of individual
       protocols from web-based personality inventories. *J. Res. Pers.*,
       39(1), 103-129.

    Examples
    --------
    >>> nan = float("nan")
    >>> longstring([[1, 2, 3, 4], [4, 4, 4, 2], [5, 5, nan, 5], [nan, nan, nan, nan]])
    array([1, 3, 2, 0])
    """
    x = _responses(responses)
    answered = ~np.isnan(x)
    any_answer = answered.any(axis=1)
    if x.shape[1] < 2:
        return any_answer.astype(np.int64)
    same = x[:, 1:] == x[:, :-1]  # NaN == anything is False: NaN breaks runs
    ones_so_far = np.cumsum(same, axis=1)
    at_last_break = np.maximum.accumulate(np.where(same, 0, ones_so_far), axis=1)
    longest_extra = (ones_so_far - at_last_break).max(axis=1)
    return np.where(any_answer, longest_extra + 1, 0).astype(np.int64)


def irv(responses) -> np.ndarray:
    """Intra-individual response variability: the standard deviation of each row.

    A very low IRV means the respondent gave (nearly) the same answer to
    everything (Dunn et al. 2018; Marjanovic et al. 2015 use the same
    statistic); it complements :func:`longstring`, which only looks at
    consecutive answers.

    Parameters
    ----------
    responses : array_like, shape (n_respondents, k_items)
        NaN = missing; missing answers are ignored.

    Returns
    -------
    ndarray of float, shape (n_respondents,)
        :math:`\\sqrt{\\sum_t (x_t - \\bar x)^2 / (m - 1)}` over the *m*
        answered items of the row; NaN when a row has fewer than two
        answers.

    Raises
    ------
    ValueError
        ``responses`` is not two-dimensional, not numeric or contains an
        infinite value.

    References
    ----------
    .. [1] Dunn, A. M., Heggestad, E. D., Shanock, L. R., & Theilgard, N.
       (2018). Intra-individual response variability as an indicator of
       insufficient effort responding. *Journal of Business and Psychology*,
       33(1), 105-121.
    .. [2] Curran, P. G. (2016). Methods for the detection of carelessly
       invalid responses in survey data. *J. Exp. Soc. Psychol.*, 66, 4-19.

    Examples
    --------
    >>> irv([[1, 2, 3, 4, 5], [3, 3, 3, 3, 3]]).tolist()
    [1.5811388300841898, 0.0]
    """
    x = _responses(responses)
    answered = ~np.isnan(x)
    m = answered.sum(axis=1)
    filled = np.where(answered, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = filled.sum(axis=1) / m
        squares = np.where(answered, (x - mean[:, None]) ** 2, 0.0).sum(axis=1)
        sd = np.sqrt(squares / (m - 1))
    return np.where(m >= 2, sd, np.nan)


def mahalanobis(responses, *, alpha: float = 0.01) -> MahalanobisResult:
    """Squared Mahalanobis distance of each respondent from the sample centroid.

    A respondent whose pattern of answers is far from everyone else's —
    taking into account which items usually go together — gets a large
    :math:`D^2`; under multivariate normality :math:`D^2` follows a
    :math:`\\chi^2_k` distribution, so rows above its ``1 - alpha`` quantile
    are flagged (Meade & Craig 2012 recommend it among the most sensitive
    indices).

    Parameters
    ----------
    responses : array_like, shape (n_respondents, k_items)
        NaN = missing.
    alpha : float, default 0.01
        Expected share of flagged rows among attentive, normally
        distributed respondents (the default flags above the 0.99 quantile).

    Returns
    -------
    MahalanobisResult
        ``distance`` :math:`D_i^2 = (x_i - \\bar x)^\\top S^{-1}(x_i - \\bar
        x)` with the sample mean and sample covariance *S* (divisor
        *n* − 1), ``flagged``, ``threshold``, ``df``.

    Raises
    ------
    ValueError
        ``responses`` not two-dimensional, not numeric or with an infinite
        value, or ``alpha`` not in (0, 1).

    Notes
    -----
    Missing answers: only complete rows enter the mean and covariance and
    only they get a distance; rows with a missing answer get NaN and are not
    flagged.  With fewer than two complete rows every distance is NaN.

    A constant item or a set of collinear items (for example with no more
    complete rows than items) makes *S* singular; Orbit then uses the
    Moore–Penrose pseudo-inverse, i.e. the distance within the space the
    answers actually span, and sets ``df`` to the rank of *S* (eigenvalues
    below ``k · eps · largest`` count as zero).  With full rank this is
    exactly the classical distance.  If every complete row is identical the
    distance is NaN.

    References
    ----------
    .. [1] Mahalanobis, P. C. (1936). On the generalised distance in
       statistics. *Proc. Natl. Inst. Sci. India*, 2(1), 49-55.
    .. [2] Meade, A. W., & Craig, S. B. (2012). Identifying careless
       responses in survey data. *Psychological Methods*, 17(3), 437-455.

    Examples
    --------
    >>> res = mahalanobis([[1, 2], [2, 1], [3, 4], [4, 3], [9, 9]])
    >>> int(res.df), res.flagged.tolist()
    (2, [False, False, False, False, False])
    """
    x = _responses(responses)
    alpha = check_fraction(alpha, "alpha")
    n, k = x.shape
    complete = ~np.isnan(x).any(axis=1)
    data = x[complete]
    n_used = data.shape[0]
    distance = np.full(n, np.nan)
    df = 0
    if n_used >= 2 and k >= 1:
        centred = data - data.mean(axis=0)
        cov = centred.T @ centred / (n_used - 1)
        eigval, eigvec = np.linalg.eigh(cov)
        tol = k * np.finfo(float).eps * max(eigval.max(), 0.0)
        keep = eigval > tol
        df = int(keep.sum())
        if df:
            scores = (centred @ eigvec[:, keep]) / np.sqrt(eigval[keep])
            distance[complete] = np.einsum("ij,ij->i", scores, scores)
    threshold = float(stats.chi2.ppf(1.0 - alpha, df)) if df else float("nan")
    flagged = np.zeros(n, dtype=bool)
    if df:
        flagged[complete] = distance[complete] > threshold
    distance.flags.writeable = False
    flagged.flags.writeable = False
    return MahalanobisResult(
        distance=distance,
        flagged=flagged,
        threshold=threshold,
        df=df,
        n_used=n_used,
        alpha=alpha,
    )


def _responses(responses) -> np.ndarray:
    return as_float_array(responses, "responses", ndim=2, layout="respondents x items")
