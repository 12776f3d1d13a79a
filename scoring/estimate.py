"""Result types shared by every statistic in :mod:`scoring`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Estimate"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with a two-sided confidence interval.

    ``value``, ``ci_low`` and ``ci_high`` are plain floats (NaN when the
    statistic is undefined for the data, e.g. zero variance); ``confidence``
    is the nominal coverage of the interval (0.95 unless asked otherwise).
    Nothing is rounded.
    """

    value: float
    ci_low: float
    ci_high: float
    confidence: float = 0.95
