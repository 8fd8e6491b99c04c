"""Plain JSON types for the methods' own ``to_dict`` outputs and the simulation study (results files use the
pydantic models in :mod:`evaluation.results.schema` instead)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def json_safe(value: Any) -> Any:
    """Plain Python types for JSON: numpy scalars to float/int/bool, NaN/inf to None, dates to ISO dates
    (YYYY-MM-DD), tuples and arrays to lists; mapping keys become strings."""
    if isinstance(value, Mapping):
        return {k if isinstance(k, str) else str(json_safe(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp | np.datetime64):
        ts = pd.Timestamp(value)
        return None if pd.isna(ts) else ts.strftime("%Y-%m-%d")
    if value is pd.NaT:
        return None
    return value
