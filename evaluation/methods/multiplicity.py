"""Multiplicity: Holm-adjusted p-values for the secondary measures of a domain.

Each domain has one pre-specified primary measure (its headline, ``headline: true`` in
``data_dictionary/measures.yaml``), tested at the 5% level without adjustment. The other measures of the
domain are secondary and exploratory; their p-values are adjusted together by Holm's (1979) step-down
method (``analysis.yaml`` its.multiplicity_method), which controls the family-wise error rate without
assuming independence. The adjustment is statsmodels' ``multipletests(method="holm")``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from statsmodels.stats.multitest import multipletests

__all__ = ["holm_adjust"]


def holm_adjust(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm-adjusted p-values, keyed as given; a missing or non-finite p stays None and is not counted in
    the family (a measure that could not be tested does not dilute the others)."""
    keys = [k for k, p in p_values.items() if p is not None and math.isfinite(p)]
    out: dict[str, float | None] = {k: None for k in p_values}
    if not keys:
        return out
    ps = np.array([float(p_values[k]) for k in keys])  # type: ignore[arg-type]
    if ((ps < 0) | (ps > 1)).any():
        raise ValueError("p-values must be between 0 and 1")
    adjusted = multipletests(ps, method="holm")[1]
    out.update({k: float(a) for k, a in zip(keys, adjusted, strict=True)})
    return out
