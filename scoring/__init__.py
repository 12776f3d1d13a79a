"""Orbit's scoring engine: a pure numeric library (numpy and scipy only).

Never import Flask, SQLAlchemy or any other Orbit package from here; a test
enforces it.
"""

from scoring.agreement import fleiss_kappa, krippendorff_alpha, rwg, rwg_j
from scoring.careless import MahalanobisResult, irv, longstring, mahalanobis
from scoring.estimate import Estimate
from scoring.indices import CESResult, CSATResult, NPSResult, ces, csat, nps, wilson_interval
from scoring.rater_effects import RaterEffects, rater_effects
from scoring.reliability import CronbachAlpha, ICCResult, cronbach_alpha, icc
from scoring.scales import pomp, reverse_key, scale_score, within_rater_z
from scoring.scorecard import (
    DEFAULT_GRADE_BANDS,
    Composite,
    GradeBand,
    grade,
    kpi_score,
    validate_grade_bands,
    validate_weights,
    weighted_composite,
)

__all__ = [
    "DEFAULT_GRADE_BANDS",
    "CESResult",
    "CSATResult",
    "Composite",
    "CronbachAlpha",
    "Estimate",
    "GradeBand",
    "ICCResult",
    "MahalanobisResult",
    "NPSResult",
    "RaterEffects",
    "ces",
    "cronbach_alpha",
    "csat",
    "fleiss_kappa",
    "grade",
    "icc",
    "irv",
    "kpi_score",
    "krippendorff_alpha",
    "longstring",
    "mahalanobis",
    "nps",
    "pomp",
    "rater_effects",
    "reverse_key",
    "rwg",
    "rwg_j",
    "scale_score",
    "validate_grade_bands",
    "validate_weights",
    "weighted_composite",
    "wilson_interval",
    "within_rater_z",
]
