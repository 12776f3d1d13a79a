"""Rater leniency and severity: the two-way additive model on a sparse design.

In a 360 cycle or a vendor evaluation each rater scores only a few ratees, and
raters differ in how generously they score.  A ratee who happened to draw
lenient raters looks better than one who drew severe raters.  The additive
model separates the two,

.. math::

    y_i = \\mu_{j(i)} + b_{r(i)} + \\varepsilon_i ,

where :math:`\\mu_j` is the adjusted score of ratee *j* and :math:`b_r` the
effect of rater *r* (leniency > 0, severity < 0).  It is the fixed-effects
two-way model without interaction (Searle 1987, ch. 5) and the additive core
of the many-facet Rasch model used to detect rater effects (Myford & Wolfe
2003), fitted here on the rating scale itself by least squares.

References
----------
.. [1] Myford, C. M., & Wolfe, E. W. (2003). Detecting and measuring rater
   effects using many-facet Rasch measurement: Part I. *Journal of Applied
   Measurement*, 4(4), 386-422.
.. [2] Searle, S. R. (1987). *Linear Models for Unbalanced Data*. Wiley.
.. [3] Hestenes, M. R., & Stiefel, E. (1952). Methods of conjugate gradients
   for solving linear systems. *Journal of Research of the National Bureau of
   Standards*, 49(6), 409-436.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import spsolve

from scoring._validation import as_float_array, as_ids, check_same_length, encode_ids

__all__ = ["RaterEffects", "rater_effects"]

# Conjugate gradients stops when the residual of the reduced normal equations
# is this small relative to their right-hand side (effects then agree with an
# exact solve to ~1e-9 on the rating scale).  Well-mixed designs need 10-50
# iterations, teams linked by a few cross-team raters a few hundred; if it
# has not converged after _CG_MAXITER iterations (long chains of raters) the
# direct sparse solver takes over, which is cheap on exactly such designs.
_CG_RTOL = 1e-12
_CG_MAXITER = 2000


@dataclass(frozen=True, slots=True, eq=False)
class RaterEffects:
    """Result of :func:`rater_effects`; every array is read-only.

    Attributes
    ----------
    ratee_ids : ndarray
        Sorted unique ratee ids as given (all ids seen, also those whose
        ratings were all missing).
    ratee_score : ndarray of float
        Adjusted score :math:`\\hat\\mu_j` of each ratee: the score expected
        from an average rater of the ratee's component.  NaN for a ratee
        without ratings.
    ratee_mean : ndarray of float
        Raw mean of each ratee's ratings (NaN without ratings), for
        comparison with ``ratee_score``.
    ratee_n : ndarray of int
        Number of ratings behind each ratee.
    rater_ids : ndarray
        Sorted unique rater ids as given.
    rater_effect : ndarray of float
        Effect :math:`\\hat b_r` of each rater on the rating scale; > 0
        lenient, < 0 severe.  NaN for a rater without ratings.
    rater_n : ndarray of int
        Number of ratings behind each rater effect.
    ratee_component, rater_component : ndarray of int
        Connected component of each ratee and rater (0, 1, …; -1 when it has
        no ratings).  Effects and scores are comparable only within one
        component.
    n_components : int
        Number of connected components among the rated pairs.
    ridge : float
        The ridge penalty used.
    """

    ratee_ids: np.ndarray
    ratee_score: np.ndarray
    ratee_mean: np.ndarray
    ratee_n: np.ndarray
    rater_ids: np.ndarray
    rater_effect: np.ndarray
    rater_n: np.ndarray
    ratee_component: np.ndarray
    rater_component: np.ndarray
    n_components: int
    ridge: float


def rater_effects(ratee, rater, value, ridge: float = 0.0) -> RaterEffects:
    """Fit ratee scores and rater leniency/severity on a sparse design.

    Least squares for the additive model
    :math:`y_i = \\mu_{j(i)} + b_{r(i)} + \\varepsilon_i` (one row per
    rating), i.e. it minimises

    .. math::

        \\sum_i \\big(y_i - \\mu_{j(i)} - b_{r(i)}\\big)^2
        + \\lambda \\sum_r b_r^2

    subject to :math:`\\sum_{r \\in c} b_r = 0` in every connected
    component *c* of the rater-ratee graph.  The unweighted constraint makes
    :math:`\\hat\\mu_j` the score an *average rater* of the component would
    give, whatever the number of ratings each rater made.

    Parameters
    ----------
    ratee, rater : array_like, shape (n_ratings,)
        Ids of the person rated and of the rater for each rating: integer
        codes or any mutually comparable hashable values (e.g. strings).
        The same pair may occur more than once (several items).
    value : array_like of float, shape (n_ratings,)
        The ratings; NaN marks a missing answer and the row is ignored.
    ridge : float, default 0.0
        Penalty :math:`\\lambda \\ge 0` on the squared rater effects.  A
        rater's effect is pulled toward zero roughly by the factor
        :math:`n_r / (n_r + \\lambda)`, so the shrinkage is strongest for
        raters with few ratings.  With ``ridge > 0`` the solution satisfies
        the sum-to-zero constraint by itself (the penalty is smallest there).

    Returns
    -------
    RaterEffects
        Scores, effects, counts and components aligned with the sorted
        unique ids (see :class:`RaterEffects`).

    Raises
    ------
    ValueError
        Arrays not one-dimensional or of different lengths, NaN ids or ids
        that cannot be sorted, ratings that are not numbers or are infinite,
        or a negative or non-finite ``ridge``.

    Notes
    -----
    Identification.  The model only sees differences: adding *c* to every
    effect of a component and subtracting it from every score leaves the fit
    unchanged, so effects are identified only *within* a connected component
    (raters and ratees linked by a chain of shared ratings).  Orbit imposes
    the constraint separately in each component; scores from different
    components are not adjusted to a common rater pool and should not be
    ranked against each other without that caveat.  A rater whose ratees
    nobody else rated forms a component on its own and gets effect 0.

    Computation.  Eliminating :math:`\\mu` leaves the reduced normal
    equations :math:`(D_r - N^\\top D_j^{-1} N + \\lambda I)\\,b = s`, with
    *N* the sparse ratee × rater count matrix, :math:`D_j, D_r` the rating
    counts and *s* the per-rater sums of deviations from the ratee means.
    The matrix is a weighted graph Laplacian of the raters; it is solved by
    Jacobi-preconditioned conjugate gradients [3]_ using only sparse
    products with *N* (never forming the rater × rater matrix), with a
    direct sparse solve as fallback for slowly mixing designs.  Then
    :math:`\\hat\\mu_j = \\bar y_j - \\text{mean of } \\hat b \\text{ over
    the ratings of } j`.

    On a complete balanced design the result equals the classical two-way
    ANOVA estimates: ratee score = row mean, rater effect = column mean −
    grand mean.

    References
    ----------
    .. [1] Myford, C. M., & Wolfe, E. W. (2003). Detecting and measuring
       rater effects using many-facet Rasch measurement: Part I. *Journal of
       Applied Measurement*, 4(4), 386-422.
    .. [2] Searle, S. R. (1987). *Linear Models for Unbalanced Data*. Wiley.
    .. [3] Hestenes, M. R., & Stiefel, E. (1952). Methods of conjugate
       gradients for solving linear systems. *J. Res. Natl. Bur. Stand.*,
       49(6), 409-436.

    Examples
    --------
    >>> res = rater_effects(["ann", "ann", "bob", "bob"],
    ...                     ["x", "y", "x", "y"], [4.0, 2.0, 5.0, 3.0])
    >>> res.ratee_score.tolist(), res.rater_effect.tolist()
    ([3.0, 4.0], [1.0, -1.0])
    """
    ratee_arr = as_ids(ratee, "ratee")
    rater_arr = as_ids(rater, "rater")
    y = as_float_array(value, "value", ndim=1)
    check_same_length(ratee=ratee_arr, rater=rater_arr, value=y)
    ridge = float(as_float_array(ridge, "ridge", ndim=0, allow_nan=False))
    if ridge < 0.0:
        raise ValueError(f"ridge must be a finite number >= 0, got {ridge}")

    ratee_ids, ratee_code = encode_ids(ratee_arr, "ratee")
    rater_ids, rater_code = encode_ids(rater_arr, "rater")
    answered = ~np.isnan(y)
    if not answered.all():
        ratee_code, rater_code, y = ratee_code[answered], rater_code[answered], y[answered]
    n_ratees, n_raters = len(ratee_ids), len(rater_ids)

    ratee_n = np.bincount(ratee_code, minlength=n_ratees)
    rater_n = np.bincount(rater_code, minlength=n_raters)
    ratee_sum = np.bincount(ratee_code, weights=y, minlength=n_ratees)
    rater_sum = np.bincount(rater_code, weights=y, minlength=n_raters)
    # Ids without ratings get weight 0 and NaN results; dividing by 1 there
    # keeps the arithmetic warning-free.
    ratee_inv_n = np.where(ratee_n > 0, 1.0 / np.maximum(ratee_n, 1), 0.0)
    ratee_mean_or_0 = ratee_sum * ratee_inv_n

    counts = sp.csr_matrix((np.ones(len(y)), (ratee_code, rater_code)), shape=(n_ratees, n_raters))
    counts.sum_duplicates()
    counts_t = counts.T.tocsr()

    ratee_comp, rater_comp, n_comp = _components(counts, ratee_n, rater_n)

    rhs = rater_sum - counts_t @ ratee_mean_or_0
    diag = rater_n - counts_t.multiply(counts_t) @ ratee_inv_n + ridge

    def normal_matvec(b: np.ndarray) -> np.ndarray:
        return rater_n * b - counts_t @ ((counts @ b) * ratee_inv_n) + ridge * b

    rated = rater_n > 0
    if ridge == 0.0:
        rhs = _centre(rhs, rater_comp, n_comp)
    effect = _conjugate_gradients(normal_matvec, rhs, diag)
    if effect is None:
        effect = _direct_solve(counts, counts_t, rater_n, ratee_inv_n, ridge, rhs, rater_comp)
    if ridge == 0.0:
        effect = _centre(effect, rater_comp, n_comp)

    score = (ratee_sum - counts @ effect) * ratee_inv_n
    has_ratings = ratee_n > 0
    score = np.where(has_ratings, score, np.nan)
    ratee_mean = np.where(has_ratings, ratee_mean_or_0, np.nan)
    effect = np.where(rated, effect, np.nan)

    return RaterEffects(
        ratee_ids=_frozen(ratee_ids),
        ratee_score=_frozen(score),
        ratee_mean=_frozen(ratee_mean),
        ratee_n=_frozen(ratee_n),
        rater_ids=_frozen(rater_ids),
        rater_effect=_frozen(effect),
        rater_n=_frozen(rater_n),
        ratee_component=_frozen(ratee_comp),
        rater_component=_frozen(rater_comp),
        n_components=int(n_comp),
        ridge=ridge,
    )


def _components(counts, ratee_n, rater_n):
    """Connected components of the bipartite rater-ratee graph."""
    n_ratees, n_raters = counts.shape
    # Ratee j -> rater r edges as one square CSR matrix over ratees + raters;
    # weak connectivity of this directed graph is undirected connectivity.
    indptr = np.concatenate([counts.indptr, np.full(n_raters, counts.indptr[-1])])
    graph = sp.csr_matrix(
        (np.ones(counts.nnz, dtype=np.int8), counts.indices + n_ratees, indptr),
        shape=(n_ratees + n_raters, n_ratees + n_raters),
    )
    _, labels = connected_components(graph, directed=True, connection="weak")
    ratee_lab, rater_lab = labels[:n_ratees], labels[n_ratees:]
    # Renumber 0, 1, … over components that contain ratings (ids without
    # ratings are isolated nodes, labelled -1).
    used = np.zeros(n_ratees + n_raters, dtype=bool)
    used[ratee_lab[ratee_n > 0]] = True
    new = np.cumsum(used) - 1
    ratee_comp = np.where(ratee_n > 0, new[ratee_lab], -1)
    rater_comp = np.where(rater_n > 0, new[rater_lab], -1)
    return ratee_comp, rater_comp, int(used.sum())


def _centre(b: np.ndarray, comp: np.ndarray, n_comp: int) -> np.ndarray:
    """Subtract the unweighted mean of ``b`` within each component."""
    inside = comp >= 0
    size = np.bincount(comp[inside], minlength=n_comp)
    total = np.bincount(comp[inside], weights=b[inside], minlength=n_comp)
    mean = total / np.maximum(size, 1)
    centred = np.zeros_like(b)
    centred[inside] = b[inside] - mean[comp[inside]]
    return centred


def _conjugate_gradients(matvec, rhs: np.ndarray, diag: np.ndarray) -> np.ndarray | None:
    """Jacobi-preconditioned CG; None when it has not converged."""
    # A rater alone in its component has an all-zero row (its diagonal is 0,
    # any other diagonal is at least 1/2): it keeps effect 0.
    inv_diag = np.zeros_like(diag)
    solvable = diag > 1e-9
    inv_diag[solvable] = 1.0 / diag[solvable]
    x = np.zeros_like(rhs)
    r = rhs.copy()
    stop = _CG_RTOL * np.linalg.norm(rhs)
    if np.linalg.norm(r) <= stop:
        return x
    z = inv_diag * r
    p = z.copy()
    rz = r @ z
    for _ in range(_CG_MAXITER):
        ap = matvec(p)
        pap = p @ ap
        if pap <= 0.0:
            break
        step = rz / pap
        x += step * p
        r -= step * ap
        if np.linalg.norm(r) <= stop:
            return x
        z = inv_diag * r
        rz_new = r @ z
        p = z + (rz_new / rz) * p
        rz = rz_new
    return None


def _direct_solve(counts, counts_t, rater_n, ratee_inv_n, ridge, rhs, rater_comp):
    """Sparse direct solve of the reduced normal equations (fallback)."""
    n_raters = len(rater_n)
    normal = (sp.diags(rater_n + ridge) - counts_t @ sp.diags(ratee_inv_n) @ counts).tocsc()
    keep = np.ones(n_raters, dtype=bool)
    if ridge == 0.0:
        # Ground the Laplacian: fix the first rater of every component (and
        # every rater without ratings) at 0; centring afterwards restores the
        # sum-to-zero constraint.
        _, first = np.unique(rater_comp, return_index=True)
        keep[first] = False
        keep &= rater_comp >= 0
    effect = np.zeros(n_raters)
    if keep.any():
        reduced = normal[keep][:, keep]
        effect[keep] = spsolve(reduced, rhs[keep])
    return effect


def _frozen(arr: np.ndarray) -> np.ndarray:
    arr = np.asarray(arr)
    arr.flags.writeable = False
    return arr
