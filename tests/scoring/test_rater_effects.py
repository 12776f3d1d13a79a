"""rater_effects: closed forms, a dense least-squares reference, properties."""

import importlib
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import rater_effects
from scoring.rater_effects import _components

pytestmark = pytest.mark.filterwarnings("error")


def _random_design(rng, n_ratees, n_raters, n_ratings):
    ratee = rng.integers(0, n_ratees, n_ratings)
    rater = rng.integers(0, n_raters, n_ratings)
    # Make sure every id occurs.
    ratee[:n_ratees] = np.arange(n_ratees)
    rater[:n_raters] = np.arange(n_raters)
    value = rng.normal(3.0, 1.0, n_ratings)
    return ratee, rater, value


def _dense_reference(ratee, rater, value, ridge=0.0):
    """Constrained least squares by brute force with np.linalg.lstsq.

    Columns: one per ratee score, one per rater effect.  Rows: the ratings,
    then sqrt(ridge) * b = 0, then sum of b = 0 in each component.  The
    constraint rows only pick one of the equally good fits, so appending them
    to the least-squares system gives the constrained solution exactly.
    """
    ratee_ids, j = np.unique(ratee, return_inverse=True)
    rater_ids, r = np.unique(rater, return_inverse=True)
    n_j, n_r, m = len(ratee_ids), len(rater_ids), len(value)
    design = np.zeros((m, n_j + n_r))
    design[np.arange(m), j] = 1.0
    design[np.arange(m), n_j + r] = 1.0
    blocks, targets = [design], [np.asarray(value, dtype=float)]
    if ridge > 0:
        penalty = np.zeros((n_r, n_j + n_r))
        penalty[:, n_j:] = np.sqrt(ridge) * np.eye(n_r)
        blocks.append(penalty)
        targets.append(np.zeros(n_r))
    # Components by brute-force label propagation (independent of the code).
    label = np.arange(n_j + n_r)
    for _ in range(n_j + n_r):
        lo = np.minimum(label[j], label[n_j + r])
        np.minimum.at(label, j, lo)
        np.minimum.at(label, n_j + r, lo)
    rater_label = label[n_j:]
    for comp in np.unique(rater_label):
        row = np.zeros(n_j + n_r)
        row[n_j:][rater_label == comp] = 1.0
        blocks.append(row[None, :])
        targets.append(np.zeros(1))
    coef, *_ = np.linalg.lstsq(np.vstack(blocks), np.concatenate(targets), rcond=None)
    return coef[:n_j], coef[n_j:]


def test_complete_balanced_design_equals_two_way_anova_closed_form():
    rng = np.random.default_rng(1)
    table = rng.normal(3.0, 1.0, size=(6, 4))  # ratees x raters, every cell rated
    ratee, rater = np.meshgrid(np.arange(6), np.arange(4), indexing="ij")
    res = rater_effects(ratee.ravel(), rater.ravel(), table.ravel())
    np.testing.assert_allclose(res.ratee_score, table.mean(axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        res.rater_effect, table.mean(axis=0) - table.mean(), rtol=0, atol=1e-12
    )
    np.testing.assert_array_equal(res.ratee_n, np.full(6, 4))
    np.testing.assert_array_equal(res.rater_n, np.full(4, 6))
    assert res.n_components == 1


def test_hand_worked_example_from_docstring():
    res = rater_effects(["ann", "ann", "bob", "bob"], ["x", "y", "x", "y"], [4, 2, 5, 3])
    assert res.ratee_ids.tolist() == ["ann", "bob"]
    assert res.rater_ids.tolist() == ["x", "y"]
    np.testing.assert_allclose(res.ratee_score, [3.0, 4.0], atol=1e-12)
    np.testing.assert_allclose(res.rater_effect, [1.0, -1.0], atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_sparse_unbalanced_design_matches_dense_constrained_least_squares(seed):
    rng = np.random.default_rng(seed)
    ratee, rater, value = _random_design(rng, 25, 15, 90)
    res = rater_effects(ratee, rater, value)
    score, effect = _dense_reference(ratee, rater, value)
    np.testing.assert_allclose(res.ratee_score, score, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.rater_effect, effect, rtol=0, atol=1e-8)


@pytest.mark.parametrize("ridge", [0.5, 3.0, 20.0])
def test_ridge_matches_dense_penalised_least_squares(ridge):
    rng = np.random.default_rng(7)
    ratee, rater, value = _random_design(rng, 20, 12, 70)
    res = rater_effects(ratee, rater, value, ridge=ridge)
    score, effect = _dense_reference(ratee, rater, value, ridge=ridge)
    np.testing.assert_allclose(res.ratee_score, score, rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.rater_effect, effect, rtol=0, atol=1e-8)


def test_disconnected_design_centres_effects_within_each_component():
    # Component A: ratees 0,1 with raters 10,11; component B: ratee 2 with
    # raters 12, 13, 14.  Rater 15 alone rates ratee 3: its own component.
    ratee = [0, 0, 1, 1, 2, 2, 2, 3]
    rater = [10, 11, 10, 11, 12, 13, 14, 15]
    value = [4, 2, 5, 3, 1, 2, 6, 5]
    res = rater_effects(ratee, rater, value)
    assert res.n_components == 3
    np.testing.assert_array_equal(res.ratee_component, [0, 0, 1, 2])
    np.testing.assert_array_equal(res.rater_component, [0, 0, 1, 1, 1, 2])
    np.testing.assert_allclose(res.rater_effect, [1, -1, -2, -1, 3, 0], atol=1e-12)
    np.testing.assert_allclose(res.ratee_score, [3, 4, 3, 5], atol=1e-12)
    score, effect = _dense_reference(ratee, rater, value)
    np.testing.assert_allclose(res.rater_effect, effect, atol=1e-8)
    np.testing.assert_allclose(res.ratee_score, score, atol=1e-8)


def test_many_components_match_dense_reference():
    rng = np.random.default_rng(11)
    parts = [_random_design(rng, 4, 3, 8) for _ in range(5)]
    ratee = np.concatenate([p[0] + 10 * i for i, p in enumerate(parts)])
    rater = np.concatenate([p[1] + 10 * i for i, p in enumerate(parts)])
    value = np.concatenate([p[2] for p in parts])
    res = rater_effects(ratee, rater, value)
    assert res.n_components == len(np.unique(res.rater_component))
    score, effect = _dense_reference(ratee, rater, value)
    np.testing.assert_allclose(res.rater_effect, effect, atol=1e-8)
    np.testing.assert_allclose(res.ratee_score, score, atol=1e-8)


def test_chain_design_uses_direct_fallback_and_stays_exact(monkeypatch):
    # A long chain mixes slowly; force the fallback by allowing one CG step.
    # importlib: the package attribute `scoring.rater_effects` is the function.
    module = importlib.import_module("scoring.rater_effects")
    monkeypatch.setattr(module, "_CG_MAXITER", 1)
    n = 40
    ratee = np.concatenate([np.arange(n), np.arange(n)])
    rater = np.concatenate([np.arange(n), np.arange(1, n + 1)])
    value = np.random.default_rng(3).normal(size=2 * n)
    res = rater_effects(ratee, rater, value)
    score, effect = _dense_reference(ratee, rater, value)
    np.testing.assert_allclose(res.rater_effect, effect, atol=1e-8)
    np.testing.assert_allclose(res.ratee_score, score, atol=1e-8)
    res_ridge = rater_effects(ratee, rater, value, ridge=2.0)
    score, effect = _dense_reference(ratee, rater, value, ridge=2.0)
    np.testing.assert_allclose(res_ridge.rater_effect, effect, atol=1e-8)


def test_ridge_shrinks_effects_monotonically_toward_zero():
    rng = np.random.default_rng(5)
    ratee, rater, value = _random_design(rng, 60, 20, 300)
    norms = [
        np.linalg.norm(rater_effects(ratee, rater, value, ridge=ridge).rater_effect)
        for ridge in [0.0, 0.1, 1.0, 10.0, 100.0, 1e4]
    ]
    assert all(a > b for a, b in itertools.pairwise(norms))
    assert norms[-1] < 0.01 * norms[0]


def test_ridge_shrinks_raters_with_few_ratings_most():
    # Rater 0 (lenient, 2 ratings) and rater 1 (lenient, 40 ratings) are both
    # +1 above raters 2 and 3, who rate everything.
    ratee = np.concatenate([[0, 1], np.arange(40), np.arange(40), np.arange(40)])
    rater = np.concatenate([[0, 0], np.full(40, 1), np.full(40, 2), np.full(40, 3)])
    value = np.concatenate([[4, 4], np.full(40, 4.0), np.full(40, 3.0), np.full(40, 3.0)])
    plain = rater_effects(ratee, rater, value).rater_effect
    shrunk = rater_effects(ratee, rater, value, ridge=5.0).rater_effect
    # Effects are centred over all raters, so compare leniency with the
    # raters who rate everything: 1 for both without ridge.
    lead_plain = plain[:2] - plain[2:].mean()
    lead_shrunk = shrunk[:2] - shrunk[2:].mean()
    np.testing.assert_allclose(lead_plain, [1.0, 1.0], atol=1e-12)
    assert lead_shrunk[0] < lead_shrunk[1] < 1.0
    assert abs(shrunk[0]) < abs(plain[0])


def test_missing_values_are_dropped_and_unrated_ids_get_nan():
    res = rater_effects([0, 0, 1, 1, 2], ["a", "b", "a", "b", "c"], [4.0, 2.0, 5.0, 3.0, np.nan])
    np.testing.assert_array_equal(res.ratee_n, [2, 2, 0])
    np.testing.assert_array_equal(res.rater_n, [2, 2, 0])
    assert np.isnan(res.ratee_score[2]) and np.isnan(res.ratee_mean[2])
    assert np.isnan(res.rater_effect[2])
    assert res.ratee_component[2] == -1 and res.rater_component[2] == -1
    np.testing.assert_allclose(res.rater_effect[:2], [1.0, -1.0])


def test_repeated_pairs_count_as_separate_ratings():
    # Two items per pair behave like two ratings.
    ratee = np.array([0, 0, 0, 0, 1, 1])
    rater = np.array([0, 0, 1, 1, 0, 1])
    value = np.array([5, 3, 2, 2, 4, 2.0])
    res = rater_effects(ratee, rater, value)
    score, effect = _dense_reference(ratee, rater, value)
    np.testing.assert_allclose(res.rater_effect, effect, atol=1e-10)
    np.testing.assert_allclose(res.ratee_score, score, atol=1e-10)
    np.testing.assert_array_equal(res.ratee_n, [4, 2])


def test_result_arrays_are_read_only():
    res = rater_effects([0, 1], [0, 0], [1.0, 2.0])
    with pytest.raises(ValueError):
        res.rater_effect[0] = 1.0


def test_empty_input_gives_empty_result():
    res = rater_effects([], [], [])
    assert res.ratee_ids.size == 0 and res.rater_effect.size == 0
    assert res.n_components == 0


def test_string_and_sparse_integer_ids_are_supported():
    res = rater_effects([10**12, 10**12, 5, 5], ["x", "y", "x", "y"], [4, 2, 5, 3])
    assert res.ratee_ids.tolist() == [5, 10**12]
    np.testing.assert_allclose(res.ratee_score, [4.0, 3.0])


@pytest.mark.parametrize(
    ("ratee", "rater", "value", "ridge", "message"),
    [
        ([0, 1], [0], [1.0, 2.0], 0.0, "same length"),
        ([[0, 1]], [[0, 1]], [[1.0, 2.0]], 0.0, "1-dimensional"),
        ([0, 1], [0, 1], [1.0, np.inf], 0.0, "infinite"),
        ([0, 1], [0, 1], [1.0, 2.0], -1.0, "ridge"),
        ([0, 1], [0, 1], [1.0, 2.0], np.nan, "ridge"),
        ([0, np.nan], [0, 1], [1.0, 2.0], 0.0, "NaN ids"),
        (np.array([0, "a"], dtype=object), [0, 1], [1.0, 2.0], 0.0, "comparable"),
    ],
)
def test_bad_input_raises_value_error(ratee, rater, value, ridge, message):
    with pytest.raises(ValueError, match=message):
        rater_effects(ratee, rater, value, ridge=ridge)


def test_components_helper_labels_isolated_ids_minus_one():
    import scipy.sparse as sp

    counts = sp.csr_matrix(np.array([[1, 0, 0], [0, 0, 0], [0, 1, 1]], dtype=float))
    ratee_comp, rater_comp, n = _components(counts, np.array([1, 0, 2]), np.array([1, 1, 1]))
    assert n == 2
    np.testing.assert_array_equal(ratee_comp, [0, -1, 1])
    np.testing.assert_array_equal(rater_comp, [0, 1, 1])


# --- properties -----------------------------------------------------------------------

designs = st.integers(min_value=0, max_value=2**32 - 1).map(
    lambda seed: _random_design(np.random.default_rng(seed), 8, 5, 30)
)


@settings(max_examples=40, deadline=None)
@given(design=designs, order_seed=st.integers(0, 2**32 - 1))
def test_result_is_invariant_to_the_order_of_the_input_rows(design, order_seed):
    ratee, rater, value = design
    order = np.random.default_rng(order_seed).permutation(len(value))
    a = rater_effects(ratee, rater, value)
    b = rater_effects(ratee[order], rater[order], value[order])
    np.testing.assert_allclose(a.ratee_score, b.ratee_score, atol=1e-9)
    np.testing.assert_allclose(a.rater_effect, b.rater_effect, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    design=designs,
    which=st.integers(0, 4),
    shift=st.floats(-5, 5, allow_nan=False).filter(lambda s: abs(s) > 1e-3),
)
def test_constant_added_to_one_raters_ratings_moves_only_that_rater(design, which, shift):
    ratee, rater, value = design
    before = rater_effects(ratee, rater, value)
    after = rater_effects(ratee, rater, np.where(rater == which, value + shift, value))
    same = before.rater_component == before.rater_component[which]
    n_in_comp = same.sum()
    # With the sum-to-zero constraint the shift is shared out: that rater
    # moves by shift * (1 - 1/R), every other rater of its component by
    # -shift / R, so all differences between other raters are unchanged.
    expected = np.where(same, -shift / n_in_comp, 0.0)
    expected[which] += shift
    np.testing.assert_allclose(after.rater_effect - before.rater_effect, expected, atol=1e-9)
    others = same.copy()
    others[which] = False
    if others.sum() >= 2:
        d_before = np.diff(before.rater_effect[others])
        d_after = np.diff(after.rater_effect[others])
        np.testing.assert_allclose(d_after, d_before, atol=1e-9)


@pytest.mark.parametrize(
    "ids",
    [
        np.array([-128, 127, -128, 127], dtype=np.int8),
        np.array([2**64 - 1, 2**64 - 3, 2**64 - 1, 2**64 - 3], dtype=np.uint64),
        np.array([3.5, 1.25, 3.5, 1.25]),
    ],
)
def test_integer_codes_of_any_width_and_float_ids_map_to_sorted_ids(ids):
    res = rater_effects(ids, [0, 0, 1, 1], [4.0, 5.0, 2.0, 3.0])
    assert res.ratee_ids.dtype == ids.dtype
    np.testing.assert_array_equal(res.ratee_ids, np.unique(ids))
    by_id = dict(zip(res.ratee_ids.tolist(), res.ratee_score.tolist(), strict=True))
    assert by_id[ids[0].item()] == pytest.approx(3.0)
    assert by_id[ids[1].item()] == pytest.approx(4.0)


def test_all_ratings_missing_gives_nan_for_everyone_without_warnings():
    res = rater_effects([0, 1, 1], ["a", "b", "a"], [np.nan, np.nan, np.nan])
    assert np.isnan(res.ratee_score).all() and np.isnan(res.rater_effect).all()
    assert res.n_components == 0
    np.testing.assert_array_equal(res.ratee_component, [-1, -1])
    np.testing.assert_array_equal(res.rater_n, [0, 0])
    ridge = rater_effects([0], [0], [np.nan], ridge=1.0)
    assert np.isnan(ridge.rater_effect).all()


@pytest.mark.parametrize(
    ("value", "ridge", "message"),
    [
        (["4", "5"], 0.0, "value must be numeric"),
        ([4.0, 5.0], "a", "ridge must be numeric"),
        ([4.0, 5.0], np.inf, "ridge must be finite"),
        ([4.0, 5.0], [1.0, 2.0], "ridge must be 0-dimensional"),
    ],
)
def test_bad_values_and_ridge_name_the_argument(value, ridge, message):
    with pytest.raises(ValueError, match=message):
        rater_effects([0, 1], [0, 0], value, ridge=ridge)
