"""The scoring package as a whole: the API of issue 3, result types, docs, doctests."""

import dataclasses
import doctest
import importlib
import pkgutil
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import scoring

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"
nan = np.nan

# Issue 3, "Public API": other code and the reference tests call exactly these.
ISSUE_3_FUNCTIONS = (
    "icc",
    "cronbach_alpha",
    "krippendorff_alpha",
    "fleiss_kappa",
    "rwg",
    "rwg_j",
    "nps",
    "csat",
    "ces",
    "longstring",
    "irv",
    "mahalanobis",
    "rater_effects",
    # "Also: reverse keying and rescaling to 0-100 (POMP), within-rater
    # z-scores, scale scores ..., and scorecard arithmetic ... grade bands".
    "reverse_key",
    "pomp",
    "within_rater_z",
    "scale_score",
    "kpi_score",
    "weighted_composite",
    "grade",
)

MODULES = sorted(
    f"scoring.{m.name}" for m in pkgutil.iter_modules(scoring.__path__) if m.name != "__main__"
)


def test_issue_3_api_is_exported_from_the_package():
    for name in ISSUE_3_FUNCTIONS:
        assert name in scoring.__all__, name
        assert callable(getattr(scoring, name)), name
    assert [b.code for b in scoring.DEFAULT_GRADE_BANDS] == ["excellent", "good", "pass", "fail"]


def test_everything_in_all_exists_and_nothing_private_is_exported():
    for name in scoring.__all__:
        assert hasattr(scoring, name), name
        assert not name.startswith("_"), name
    assert len(set(scoring.__all__)) == len(scoring.__all__)


def test_every_result_type_is_a_frozen_dataclass():
    result_types = [
        obj
        for name in scoring.__all__
        if isinstance(obj := getattr(scoring, name), type) and dataclasses.is_dataclass(obj)
    ]
    assert {t.__name__ for t in result_types} >= {
        "Estimate",
        "ICCResult",
        "CronbachAlpha",
        "NPSResult",
        "CSATResult",
        "CESResult",
        "MahalanobisResult",
        "RaterEffects",
        "Composite",
        "GradeBand",
    }
    for result_type in result_types:
        assert result_type.__dataclass_params__.frozen, result_type.__name__


def test_estimates_carry_value_interval_and_confidence():
    ratings = np.random.default_rng(0).integers(1, 6, (20, 4))
    estimates = {
        "icc": scoring.icc(ratings, confidence=0.9).icc2,
        "cronbach_alpha": scoring.cronbach_alpha(ratings, confidence=0.9),
        "nps": scoring.nps([10, 9, 3, 7], confidence=0.9),
        "csat": scoring.csat([5, 4, 2], confidence=0.9),
        "ces": scoring.ces([7, 5, 2], confidence=0.9),
        "wilson_interval": scoring.wilson_interval(3, 7, confidence=0.9),
    }
    for name, estimate in estimates.items():
        assert isinstance(estimate, scoring.Estimate), name
        assert estimate.confidence == 0.9, name
        assert estimate.ci_low <= estimate.value <= estimate.ci_high, name
        with pytest.raises(dataclasses.FrozenInstanceError):
            estimate.value = 0.0


def test_every_public_function_is_documented_in_docs_scoring_md():
    text = DOCS.read_text(encoding="utf-8")
    undocumented = [
        name
        for name in scoring.__all__
        if callable(getattr(scoring, name))
        and not isinstance(getattr(scoring, name), type)
        and not re.search(rf"`(scoring\.)?{name}\(", text)
    ]
    assert undocumented == []


def test_docs_say_what_happens_to_missing_answers_and_small_groups():
    text = DOCS.read_text(encoding="utf-8")
    assert "## Missing answers and small groups" in text
    section = text.split("## Missing answers and small groups", 1)[1].split("\n## ", 1)[0]
    for name in ISSUE_3_FUNCTIONS:
        if name not in ("reverse_key", "pomp", "kpi_score", "grade"):
            assert f"`{name}`" in section, name


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


DEGENERATE = {
    "icc constant": lambda: scoring.icc(np.full((4, 3), 2.0)),
    "alpha constant": lambda: scoring.cronbach_alpha(np.full((4, 3), 2.0)),
    "alpha pairwise, no overlap": lambda: scoring.cronbach_alpha(
        [[1, nan], [2, nan], [nan, 3], [nan, 4]], missing="pairwise"
    ),
    "krippendorff no pairable unit": lambda: scoring.krippendorff_alpha([[1, nan], [nan, 2]]),
    "krippendorff no units": lambda: scoring.krippendorff_alpha(np.empty((2, 0))),
    "fleiss one category": lambda: scoring.fleiss_kappa([[3, 0], [3, 0]]),
    "rwg group of one": lambda: scoring.rwg([4], 5),
    "rwg empty": lambda: scoring.rwg([], 5),
    "rwg_j group of one": lambda: scoring.rwg_j([[4, 5]], 5),
    "rwg_j no raters": lambda: scoring.rwg_j(np.empty((0, 3)), 5),
    "nps none": lambda: scoring.nps([nan]),
    "csat none": lambda: scoring.csat([]),
    "ces one": lambda: scoring.ces([4]),
    "wilson n=0": lambda: scoring.wilson_interval(0, 0),
    "longstring empty": lambda: scoring.longstring(np.empty((0, 4))),
    "longstring no items": lambda: scoring.longstring(np.empty((3, 0))),
    "irv no answers": lambda: scoring.irv([[nan, nan]]),
    "mahalanobis one row": lambda: scoring.mahalanobis([[1, 2]]),
    "mahalanobis identical rows": lambda: scoring.mahalanobis([[1, 2], [1, 2]]),
    "mahalanobis no items": lambda: scoring.mahalanobis(np.empty((3, 0))),
    "rater_effects empty": lambda: scoring.rater_effects([], [], []),
    "rater_effects all missing": lambda: scoring.rater_effects([0, 1], [0, 1], [nan, nan]),
    "rater_effects one rating": lambda: scoring.rater_effects([0], [0], [3.0]),
    "within_rater_z flat": lambda: scoring.within_rater_z([0, 0], [3.0, 3.0]),
    "within_rater_z empty": lambda: scoring.within_rater_z([], []),
    "scale_score none answered": lambda: scoring.scale_score([[nan, nan]]),
    "pomp empty": lambda: scoring.pomp([], 1, 5),
    "kpi no data": lambda: scoring.kpi_score(nan, 90, 70),
    "composite no data": lambda: scoring.weighted_composite([nan, nan], [1, 1]),
    "grade no score": lambda: scoring.grade(nan),
}


@pytest.mark.parametrize("call", DEGENERATE.values(), ids=DEGENERATE.keys())
def test_degenerate_but_valid_input_gives_a_result_without_warnings(call):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        call()
