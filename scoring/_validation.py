"""Input conversion and checks shared by every module of :mod:`scoring` (private).

Each public function converts and checks its arguments with these helpers, so
that the same mistake gets the same :class:`ValueError`, naming the argument,
wherever it is made.  Every check is one vectorised pass over the data.

Conventions: data arrays are numeric (bool, integer or float) and become
float64 with NaN for a missing value; infinities are always an error (no
rating, count or KPI is infinite); option strings, confidence levels and
counts are checked before any work is done.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

__all__ = [
    "as_float_array",
    "as_ids",
    "as_whole_number",
    "check_choice",
    "check_confidence",
    "check_finite_or_nan",
    "check_fraction",
    "check_min_size",
    "check_on_scale",
    "check_same_length",
    "encode_ids",
]


def as_float_array(
    data, name: str, *, ndim: int | None = None, layout: str = "", allow_nan: bool = True
) -> np.ndarray:
    """``data`` as a float64 array, or a ValueError that names ``name``.

    Parameters
    ----------
    data : array_like
        Anything :func:`numpy.asarray` turns into a bool, integer or float
        array; NaN marks a missing value.  Strings, ``None`` and other objects
        are refused rather than converted.
    name : str
        The argument's name as the caller's signature spells it.
    ndim : int, optional
        Required number of dimensions.
    layout : str, optional
        What the dimensions mean ("respondents x items"), for the message.
    allow_nan : bool, default True
        False for parameters that must be finite numbers (bounds, targets).

    Raises
    ------
    ValueError
        Not a numeric array, wrong number of dimensions, an infinite value,
        or a NaN where ``allow_nan`` is False.
    """
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if arr.dtype.kind not in "biuf":
        missing = " with NaN for a missing value" if allow_nan else ""
        raise ValueError(f"{name} must be numeric{missing}, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        described = f" ({layout})" if layout else ""
        raise ValueError(f"{name} must be {ndim}-dimensional{described}, got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if allow_nan:
        check_finite_or_nan(arr, name)
    elif not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (no NaN or infinity)")
    return arr


def check_finite_or_nan(x: np.ndarray, name: str) -> None:
    """ValueError if the float array ``x`` holds ±infinity (NaN is allowed: missing)."""
    if np.isinf(x).any():
        raise ValueError(f"{name} contains infinite values")


def check_on_scale(
    x: np.ndarray, low, high, name: str, *, whole: bool = False, scale: str | None = None
) -> None:
    """ValueError unless every non-NaN value of ``x`` lies in ``[low, high]``.

    ``low`` and ``high`` broadcast against ``x`` (e.g. one scale per item
    column).  With ``whole=True`` the values must also be whole numbers.
    ``scale`` describes the scale in the message (default "scale LOW to
    HIGH").  NaN compares false and is never off the scale.
    """
    try:
        off = (x < low) | (x > high)
    except ValueError:
        raise ValueError(
            f"the scale bounds of shapes {np.shape(low)} and {np.shape(high)} do not "
            f"broadcast against {name} of shape {np.shape(x)}"
        ) from None
    if whole:
        off |= np.abs(x - np.rint(x)) > 0
    if off.any():
        bad = np.broadcast_to(x, off.shape)[off]
        if scale is None:
            scalar = np.ndim(low) == 0 and np.ndim(high) == 0
            scale = f"scale {float(low):g} to {float(high):g}" if scalar else "scale"
        must = "be whole numbers on" if whole else "lie on"
        raise ValueError(
            f"{name} must {must} the {scale}; got {bad.size} value(s) off the scale, "
            f"e.g. {float(bad[0])!r}"
        )


def check_min_size(count, minimum: int, what: str) -> None:
    """ValueError "need at least MINIMUM WHAT, got COUNT" when ``count < minimum``."""
    if count < minimum:
        raise ValueError(f"need at least {minimum} {what}, got {count:g}")


def check_choice(value, name: str, choices: Iterable[str]) -> None:
    """ValueError unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value in choices:
        return
    quoted = [repr(c) for c in choices]
    if len(quoted) == 2:
        allowed = f"{quoted[0]} or {quoted[1]}"
    else:
        allowed = f"one of {', '.join(quoted[:-1])} or {quoted[-1]}"
    raise ValueError(f"{name} must be {allowed}; got {value!r}")


def check_fraction(value, name: str) -> float:
    """``value`` as a float strictly between 0 and 1, or a ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_confidence(confidence) -> float:
    """The coverage of a two-sided interval, strictly between 0 and 1, as a float."""
    return check_fraction(confidence, "confidence")


def as_whole_number(value, name: str, *, minimum: int) -> int:
    """``value`` as an int if it is a whole number ``>= minimum`` (5 or 5.0), else ValueError."""
    whole = (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and float(value).is_integer()
    )
    if not whole or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
    return int(value)


def check_same_length(**arrays) -> None:
    """ValueError unless the named one-dimensional arrays have the same length."""
    lengths = [len(a) for a in arrays.values()]
    if len(set(lengths)) > 1:
        names = list(arrays)
        listed = ", ".join(map(str, lengths[:-1])) + f" and {lengths[-1]}"
        raise ValueError(
            f"{', '.join(names[:-1])} and {names[-1]} must have the same length, got {listed}"
        )


def as_ids(ids, name: str) -> np.ndarray:
    """A one-dimensional array of ids (integer codes or any sortable values), no NaN."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN ids")
    return arr


def encode_ids(ids: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique ids and the code of each entry (its index among them).

    The same as ``np.unique(ids, return_inverse=True)``, faster: integer
    codes in a dense range (database keys) take a counting pass instead of a
    sort, and other ids skip the work ``np.unique`` does outside its sort.
    ValueError if the ids cannot be sorted (mixed types).
    """
    if ids.dtype.kind in "iu" and len(ids):
        low, high = int(ids.min()), int(ids.max())
        if high - low <= 4 * len(ids):
            # Offsets in a dtype that cannot overflow (int8 spans 255, uint64
            # values may exceed the int64 range).
            wide = ids if ids.dtype.itemsize == 8 else ids.astype(np.int64)
            offset = wide - wide.dtype.type(low)
            present = np.zeros(high - low + 1, dtype=bool)
            present[offset] = True
            unique = np.flatnonzero(present).astype(wide.dtype) + wide.dtype.type(low)
            lookup = np.cumsum(present) - 1
            return unique.astype(ids.dtype), lookup[offset]
    try:
        order = np.argsort(ids)
    except TypeError as exc:
        raise ValueError(f"{name} ids must be mutually comparable: {exc}") from None
    ordered = ids[order]
    starts = np.empty(len(ids), dtype=bool)
    starts[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    code = np.empty(len(ids), dtype=np.intp)
    code[order] = np.cumsum(starts) - 1
    return ordered[starts], code
