"""The shared input checks of scoring._validation, and that every module uses them alike."""

import numpy as np
import pytest

from scoring import (
    ces,
    cronbach_alpha,
    csat,
    fleiss_kappa,
    icc,
    irv,
    kpi_score,
    krippendorff_alpha,
    longstring,
    mahalanobis,
    nps,
    pomp,
    rater_effects,
    reverse_key,
    rwg,
    rwg_j,
    scale_score,
    weighted_composite,
    within_rater_z,
)
from scoring._validation import (
    as_float_array,
    as_ids,
    as_whole_number,
    check_choice,
    check_confidence,
    check_min_size,
    check_on_scale,
    check_same_length,
    encode_ids,
)

pytestmark = pytest.mark.filterwarnings("error")
nan = np.nan


# --- the helpers -----------------------------------------------------------------------


def test_as_float_array_converts_numeric_input_to_float64():
    for data in ([[1, 2], [3, 4]], np.array([[True, False]]), np.arange(4.0, dtype=np.float32)):
        arr = as_float_array(data, "x")
        assert arr.dtype == np.float64
        np.testing.assert_array_equal(arr, np.asarray(data, dtype=float))
    with_missing = as_float_array([1.0, nan], "x", ndim=1)
    assert np.isnan(with_missing[1])


def test_as_float_array_does_not_copy_float64_input():
    data = np.array([[1.0, 2.0]])
    assert as_float_array(data, "x", ndim=2) is data


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        (["1", "2"], {}, r"^x must be numeric with NaN for a missing value, got dtype <U1$"),
        ([1, None], {}, "x must be numeric"),
        ([1 + 2j], {}, "x must be numeric"),
        ([[1, 2], [3]], {}, "x must be a numeric array"),
        ([1, 2], {"ndim": 2}, r"^x must be 2-dimensional, got shape \(2,\)$"),
        ([1, 2], {"ndim": 2, "layout": "rows x cols"}, r"2-dimensional \(rows x cols\)"),
        ([1, np.inf], {}, "^x contains infinite values$"),
        ([1, -np.inf], {}, "^x contains infinite values$"),
        ([1, nan], {"allow_nan": False}, r"^x must be finite \(no NaN or infinity\)$"),
    ],
)
def test_as_float_array_rejects_bad_input_naming_the_argument(data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        as_float_array(data, "x", **kwargs)


def test_check_on_scale_ignores_nan_and_names_the_scale():
    check_on_scale(np.array([1.0, nan, 5.0]), 1, 5, "answers")
    with pytest.raises(ValueError, match=r"answers must lie on the scale 1 to 5; got 2 value"):
        check_on_scale(np.array([0.0, 3.0, 6.0]), 1, 5, "answers")
    with pytest.raises(ValueError, match=r"whole numbers on the 5-point scale; .* e.g. 2.5"):
        check_on_scale(np.array([2.5, nan]), 1, 5, "answers", whole=True, scale="5-point scale")
    with pytest.raises(ValueError, match="do not broadcast"):
        check_on_scale(np.zeros((2, 3)), np.zeros(2), np.ones(2), "answers")


def test_check_on_scale_broadcasts_one_scale_per_column():
    x = np.array([[1.0, 7.0], [5.0, 1.0]])
    check_on_scale(x, 1, np.array([5, 7]), "answers")
    with pytest.raises(ValueError, match=r"e\.g\. 7\.0"):
        check_on_scale(x, 1, np.array([5, 5]), "answers")


def test_small_checks():
    check_min_size(2, 2, "raters")
    with pytest.raises(ValueError, match=r"^need at least 2 raters, got 1$"):
        check_min_size(1, 2, "raters")
    check_choice("a", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"^mode must be 'a' or 'b'; got 'c'$"):
        check_choice("c", "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"^mode must be one of 'a', 'b' or 'c'; got 1$"):
        check_choice(1, "mode", ("a", "b", "c"))
    check_same_length(a=[1], b=[2])
    with pytest.raises(ValueError, match=r"^a, b and c must have the same length, got 1, 2 and 1"):
        check_same_length(a=[1], b=[1, 2], c=[3])


@pytest.mark.parametrize("good", [0.95, 0.5, np.float32(0.9), 1e-9])
def test_check_confidence_accepts_open_unit_interval(good):
    assert check_confidence(good) == pytest.approx(float(good))
    assert type(check_confidence(good)) is float


@pytest.mark.parametrize("bad", [0, 1, 95, -0.1, nan, True, "0.95", None])
def test_check_confidence_rejects_everything_else(bad):
    with pytest.raises(ValueError, match="confidence must be a number strictly between 0 and 1"):
        check_confidence(bad)


@pytest.mark.parametrize(("value", "expected"), [(5, 5), (5.0, 5), (np.int64(7), 7)])
def test_as_whole_number(value, expected):
    assert as_whole_number(value, "k", minimum=2) == expected


@pytest.mark.parametrize("bad", [1, 4.5, True, nan, np.inf, "5", None])
def test_as_whole_number_rejects(bad):
    with pytest.raises(ValueError, match="k must be a whole number of at least 2"):
        as_whole_number(bad, "k", minimum=2)


@pytest.mark.parametrize(
    "ids",
    [
        np.array([5, 3, 5, 9, 3]),
        np.array([10**12, 3, 10**12]),  # sparse integers: the sorting path
        np.array(["b", "a", "b", "c"]),
        np.array([2.5, -1.0, 2.5]),
        np.array([], dtype=np.int64),
    ],
)
def test_encode_ids_equals_numpy_unique(ids):
    unique, codes = encode_ids(ids, "rater")
    expected_unique, expected_codes = np.unique(ids, return_inverse=True)
    np.testing.assert_array_equal(unique, expected_unique)
    np.testing.assert_array_equal(codes, expected_codes.ravel())


def test_id_checks():
    with pytest.raises(ValueError, match=r"^rater must be 1-dimensional"):
        as_ids([[1, 2]], "rater")
    with pytest.raises(ValueError, match="rater contains NaN ids"):
        as_ids([1.0, nan], "rater")
    with pytest.raises(ValueError, match="rater ids must be mutually comparable"):
        encode_ids(np.array([1, "a"], dtype=object), "rater")


# --- every public function applies them ------------------------------------------------

MATRIX_FUNCTIONS = {
    "icc": lambda x: icc(x),
    "cronbach_alpha": lambda x: cronbach_alpha(x),
    "krippendorff_alpha": lambda x: krippendorff_alpha(x),
    "fleiss_kappa": lambda x: fleiss_kappa(x),
    "rwg_j": lambda x: rwg_j(x, 5),
    "longstring": lambda x: longstring(x),
    "irv": lambda x: irv(x),
    "mahalanobis": lambda x: mahalanobis(x),
    "scale_score": lambda x: scale_score(x),
}


@pytest.mark.parametrize("function", MATRIX_FUNCTIONS.values(), ids=MATRIX_FUNCTIONS.keys())
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2, 3], "must be 2-dimensional"),
        ([[[1, 2]], [[3, 4]]], "must be 2-dimensional"),
        ([["1", "2"], ["3", "4"]], "must be numeric"),
        ([[1, None], [2, 3]], "must be numeric"),
        ([[1, 2], [3]], "must be a numeric array"),
        ([[1, 2, 3], [4, np.inf, 5], [1, 2, 2]], "contains infinite values"),
    ],
)
def test_matrix_inputs_are_checked_alike(function, data, message):
    with pytest.raises(ValueError, match=message):
        function(data)


VECTOR_FUNCTIONS = {
    "nps": lambda x: nps(x),
    "csat": lambda x: csat(x),
    "ces": lambda x: ces(x),
    "rwg": lambda x: rwg(x, 5),
    "reverse_key": lambda x: reverse_key(x, 1, 5),
    "pomp": lambda x: pomp(x, 1, 5),
    "kpi_score": lambda x: kpi_score(x, 90, 70),
    "weighted_composite": lambda x: weighted_composite(x, [1, 1]),
    "within_rater_z": lambda x: within_rater_z([0, 0], x),
    "rater_effects": lambda x: rater_effects([0, 1], [0, 0], x),
}


@pytest.mark.parametrize("function", VECTOR_FUNCTIONS.values(), ids=VECTOR_FUNCTIONS.keys())
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (["4", "5"], "must be numeric"),
        ([4, None], "must be numeric"),
        ([4, np.inf], "contains infinite values"),
    ],
)
def test_answer_inputs_are_checked_alike(function, data, message):
    with pytest.raises(ValueError, match=message):
        function(data)
