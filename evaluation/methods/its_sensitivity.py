"""Go-live sensitivity and phase-in: the primary estimand re-estimated at other go-live dates.

Three of the four sites' go-live dates are assumptions (``data_dictionary/sites.yaml``), and a service
changes over months rather than on one day. :func:`golive_sensitivity` therefore refits the segmented
regression with go-live moved by each of ``analysis.yaml`` its.golive_shift_months (-6, -3, +3, +6) and
once with the first its.phase_in_months (3) months from go-live left out of the data -- the effect is then
measured from the end of the phase-in, so the estimand is the first 12 months after it. Each row reports
the primary estimand (:mod:`evaluation.methods.its_estimand`); ``depends_on_date`` says whether the
conclusion (an increase, a decrease, or no clear change, by the 95% interval of the absolute effect)
differs from the main analysis at any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evaluation.methods.its import _usable_with_offset, analysis_facts, fit_its
from evaluation.methods.its_estimand import PrimaryEstimand

__all__ = ["GoLiveSensitivity", "SensitivityRow", "conclusion", "golive_sensitivity"]


def conclusion(pe: PrimaryEstimand | None) -> str | None:
    """``"increase"``, ``"decrease"`` or ``"no clear change"`` by the interval of the absolute effect."""
    if pe is None:
        return None
    if pe.absolute.ci_low > 0:
        return "increase"
    if pe.absolute.ci_high < 0:
        return "decrease"
    return "no clear change"


@dataclass(frozen=True)
class SensitivityRow:
    """One re-estimate: ``kind`` is "main", "shift" or "phase_in"; ``shift_months`` the move of go-live
    (0 for the main analysis; the phase-in length for "phase_in"); ``go_live`` the date used (ISO);
    ``primary`` the primary estimand, or None with the reason in ``note`` when the model could not be fitted."""

    kind: str
    label: str
    shift_months: int
    go_live: str
    n_pre: int
    n_post: int
    primary: PrimaryEstimand | None
    note: str = ""

    @property
    def conclusion(self) -> str | None:
        """See :func:`conclusion`."""
        return conclusion(self.primary)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (the primary estimand flattened to its own dict)."""
        return {
            "kind": self.kind, "label": self.label, "shift_months": self.shift_months, "go_live": self.go_live,
            "n_pre": self.n_pre, "n_post": self.n_post, "note": self.note, "conclusion": self.conclusion,
            "primary": None if self.primary is None else self.primary.to_dict(),
        }  # fmt: skip


@dataclass(frozen=True)
class GoLiveSensitivity:
    """Result of :func:`golive_sensitivity`: ``rows`` (the main analysis first, then each shift in order,
    then the phase-in)."""

    rows: list[SensitivityRow] = field(default_factory=list)

    @property
    def main(self) -> SensitivityRow:
        """The main analysis row."""
        return self.rows[0]

    @property
    def depends_on_date(self) -> bool:
        """Whether any fitted re-estimate reaches a different conclusion from the main analysis."""
        base = self.main.conclusion
        return any(r.conclusion not in (None, base) for r in self.rows[1:])

    def table(self) -> pd.DataFrame:
        """A compact table: label, go-live, months after, absolute and relative effect with intervals,
        conclusion and note (one row per re-estimate)."""
        recs = []
        for r in self.rows:
            pe = r.primary
            recs.append({
                "analysis": r.label, "go_live": r.go_live, "months_after": None if pe is None else pe.months,
                "absolute": np.nan if pe is None else pe.absolute.estimate,
                "absolute_ci_low": np.nan if pe is None else pe.absolute.ci_low,
                "absolute_ci_high": np.nan if pe is None else pe.absolute.ci_high,
                "relative": np.nan if pe is None else pe.relative.estimate,
                "relative_ci_low": np.nan if pe is None else pe.relative.ci_low,
                "relative_ci_high": np.nan if pe is None else pe.relative.ci_high,
                "relative_scale": None if pe is None else pe.relative_scale,
                "conclusion": r.conclusion, "note": r.note,
            })  # fmt: skip
        return pd.DataFrame(recs)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict: rows and ``depends_on_date``."""
        return {"rows": [r.to_dict() for r in self.rows], "depends_on_date": self.depends_on_date}


def _fit_row(kind: str, label: str, shift: int, df: pd.DataFrame, exposure: np.ndarray | None,
             go_live: pd.Timestamp, value_type: str, kwargs: dict[str, Any]) -> SensitivityRow:
    n_pre = int(((df["period"] < go_live) & df["value"].notna()).sum())
    n_post = int(((df["period"] >= go_live) & df["value"].notna()).sum())
    try:
        res = fit_its(df, intervention=go_live, value_type=value_type, offset=exposure, **kwargs)
        pe = res.primary_estimand()
    except ValueError as exc:
        return SensitivityRow(kind, label, shift, f"{go_live:%Y-%m-%d}", n_pre, n_post, None, str(exc))
    return SensitivityRow(kind, label, shift, f"{go_live:%Y-%m-%d}", res.n_pre, res.n_post, pe)


def golive_sensitivity(
    series: pd.DataFrame,
    *,
    intervention: str | pd.Timestamp,
    value_type: str,
    shifts: tuple[int, ...] | None = None,
    phase_in: int | None = None,
    **kwargs: Any,
) -> GoLiveSensitivity:
    """The primary estimand at go-live, at go-live moved by each of ``shifts`` months, and with the first
    ``phase_in`` months left out (defaults from ``analysis.yaml``; ``phase_in=0`` for none).

    ``kwargs`` go to :func:`evaluation.methods.its.fit_its` (``offset`` is aligned with ``series`` and cut
    down with it). A re-estimate that cannot be fitted (too few months before or after the moved date)
    keeps its row with ``primary`` None and the reason in ``note``.
    """
    facts = analysis_facts().its
    shifts = facts.golive_shift_months if shifts is None else tuple(int(s) for s in shifts)
    phase_in = facts.phase_in_months if phase_in is None else int(phase_in)
    if phase_in < 0:
        raise ValueError(f"phase_in must be >= 0, got {phase_in}")
    go_live = pd.Timestamp(intervention).to_period("M").to_timestamp()
    df, exposure = _usable_with_offset(series, kwargs.pop("offset", None))
    rows = [_fit_row("main", "as recorded", 0, df, exposure, go_live, value_type, kwargs)]
    for s in shifts:
        moved = go_live + pd.DateOffset(months=s)
        label = f"go-live {abs(s)} months {'earlier' if s < 0 else 'later'}"
        rows.append(_fit_row("shift", label, s, df, exposure, moved, value_type, kwargs))
    if phase_in:
        end = go_live + pd.DateOffset(months=phase_in)
        keep = ~((df["period"] >= go_live) & (df["period"] < end)).to_numpy()
        label = f"first {phase_in} months left out (phase-in)"
        rows.append(_fit_row("phase_in", label, phase_in, df.loc[keep], None if exposure is None else exposure[keep],
                             end, value_type, kwargs))
    return GoLiveSensitivity(rows)
