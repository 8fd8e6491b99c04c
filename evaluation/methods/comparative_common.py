"""Helpers shared by the comparative designs (comparative ITS, synthetic control, staggered DiD)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import default_registry

MIN_NEVER_TREATED = 5

ValueType = Literal["count", "proportion", "rate"]
_SCALES: dict[str, str] = {"count": "rate_ratio", "proportion": "odds_ratio", "rate": "difference"}
_LINKS: dict[str, str] = {"count": "log", "proportion": "logit", "rate": "identity"}
_CONTROL_GROUPS: dict[str, str] = {"never_treated": "nevertreated", "not_yet_treated": "notyettreated"}


# --- small helpers ----------------------------------------------------------------------------------------


def _min_months() -> tuple[int, int]:
    """Shortest pre- and post-periods (months) for a site-level design, from ``analysis.yaml``."""
    its = default_registry().analysis.its
    return its.min_pre_months, its.min_post_months


def _check_value_type(value_type: str) -> None:
    if value_type not in _SCALES:
        raise ValueError(f"value_type must be one of {sorted(_SCALES)}, got {value_type!r}")


def _link(values: np.ndarray, value_type: str) -> np.ndarray:
    """Values on the analysis (link) scale; impossible values (<= 0 counts, proportions at 0 or 1) -> NaN."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if value_type == "count":
            return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        if value_type == "proportion":
            ok = (v > 0) & (v < 1)
            safe = np.where(ok, v, 0.5)
            return np.where(ok, np.log(safe / (1 - safe)), np.nan)
    return v


def _natural(b: float, value_type: str) -> float:
    # Ratios (rate or odds) for log/logit links, differences for the identity link.
    return float(math.exp(b)) if value_type != "rate" else float(b)


def _is_datetime(values: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(values)


def _month_ordinal(values: Any) -> np.ndarray:
    ts = pd.DatetimeIndex(pd.to_datetime(values))
    return (ts.year * 12 + ts.month - 1).to_numpy(dtype=np.int64)


def _to_time_like(value: Any, like: pd.Series, what: str) -> Any:
    """``value`` converted to the type of the time column (Timestamp for datetimes, number otherwise)."""
    if _is_datetime(like):
        try:
            return pd.Timestamp(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a date when the time column holds dates, got {value!r}") from None
    if isinstance(value, pd.Timestamp | np.datetime64 | str):
        raise ValueError(f"{what} must be a number when the time column holds numbers, got {value!r}")
    return value


def _require_columns(df: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"df is missing column(s) {missing}; it has {list(df.columns)}")


def _wide(df: pd.DataFrame, *, unit: str, time: str, outcome: str) -> pd.DataFrame:
    """time x unit table of the outcome; duplicated (unit, time) rows are an error, not silently averaged."""
    _require_columns(df, [unit, time, outcome])
    if df.duplicated([unit, time]).any():
        dup = df[df.duplicated([unit, time], keep=False)].iloc[0]
        raise ValueError(f"more than one row for unit {dup[unit]!r} at time {dup[time]!r}")
    wide = df.pivot(index=time, columns=unit, values=outcome).sort_index()
    return wide.astype(float)


def _balanced_donors(
    wide: pd.DataFrame, treated: Sequence[Any], donors: Sequence[Any]
) -> tuple[pd.DataFrame, list[Any], dict[str, str]]:
    """Keep the times where every treated unit is observed and the donors observed at all of those times.

    A comparator with a gap would change the composition of the comparator mean (or of the synthetic
    control) from month to month, which reads as a spurious change, so it is dropped and reported.
    """
    rows = wide[list(treated)].notna().all(axis=1)
    sub = wide.loc[rows]
    kept: list[Any] = []
    dropped: dict[str, str] = {}
    for d in donors:
        if d not in sub.columns:
            dropped[str(d)] = "no data"
        elif sub[d].isna().any():
            dropped[str(d)] = f"missing or unusable in {int(sub[d].isna().sum())} period(s)"
        else:
            kept.append(d)
    return sub[[*treated, *kept]], kept, dropped


def _norm_ppf(q: float) -> float:
    from scipy import stats

    return float(stats.norm.ppf(q))


def _norm_sf(x: np.ndarray) -> np.ndarray:
    from scipy import stats

    return stats.norm.sf(x)


def _library_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{name} {version(name)}"
    except PackageNotFoundError:  # pragma: no cover - the import above would have failed first
        return name


