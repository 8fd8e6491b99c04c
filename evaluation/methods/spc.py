"""Statistical process control: XmR charts to NHS England "Making Data Count" rules, as NHSRplotthedots.

Limits for each phase are ``mean +/- 2.66 * mean moving range``. Special cause variation is
identified with four rules (NHSRplotthedots ``ptd_special_cause_flag``):

1. a single point outside the process limits;
2. a trend of 7 points each strictly higher (or each strictly lower) than the one before;
3. two out of three consecutive points close to a limit -- beyond two thirds of the way from the mean to
   a limit but *not outside it* -- all three on the same side of the mean (only the close points are
   flagged);
4. a run of 7 or more consecutive points on the same side of the mean.

A flagged point is improvement or concern by the side of the mean it lies on (NHSRplotthedots'
``relative_to_mean``), whichever rule flagged it; ``rule`` records the first rule that matched.

**Limits from the baseline, carried forward** (``baseline_end``, as NHSRplotthedots' ``fix_after_n_points``):
with a go-live, the limits come from the months before it and are carried forward over the months after,
so a change at go-live shows as special cause against the old process. They are recalculated only after a
*sustained shift* -- a run of 7 or more points on one side of the baseline mean after go-live (rule 4) --
from the first point of that run (``recalculate_on_shift``), and the summary says so (``recalculated_at``).
``rebase_at`` still forces phases at given positions.

Missing values (NaN) are shown as ``point_type = "missing"`` and skipped: they do not contribute to
the mean or moving ranges, and the rules look only at the non-missing points (so a moving range,
trend or run continues across a gap, but never across a rebase point).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["XmRResult", "xmr"]

LIMIT_FACTOR = 2.66  # 3 / d2, d2 = 1.128 for moving ranges of 2
SCREEN_FACTOR = 3.267  # D4 for n = 2: the upper limit of the moving range chart
TREND_LENGTH = 7
RUN_LENGTH = 7
MIN_POINTS_FOR_FIRM_LIMITS = 13
_IMPROVEMENTS = ("increase", "decrease", "neutral")

_POINT_COLUMNS = [
    "period",
    "value",
    "phase",
    "mean",
    "lpl",
    "upl",
    "moving_range",
    "trial",
    "point_type",
    "rule",
    "close_to_limits",
]


@dataclass
class XmRResult:
    """Result of :func:`xmr`.

    ``points`` has one row per input value with columns ``period``, ``value``, ``phase`` (1, 2, ...),
    ``mean``, ``lpl``, ``upl``, ``moving_range`` (|x - previous non-missing x| within the phase),
    ``trial`` (phase has fewer than 13 non-missing points), ``point_type`` and ``rule`` (which rule
    set the type: ``"outside_limits"``, ``"trend"``, ``"two_of_three"``, ``"run"`` or ``None``) and
    ``close_to_limits`` (beyond two thirds of the way to a limit, inside it).

    ``summary`` has ``variation_icon``, ``assurance_icon``, and for the last phase ``mean``, ``lpl``,
    ``upl``, ``n`` (non-missing points the limits rest on) and ``trial``; plus ``n_total`` (all
    non-missing points), ``phases`` (number of phases), ``baseline_end`` (position where the baseline
    ended, or None), ``recalculated_at`` (labels of the points where limits were recalculated after a
    sustained shift) and ``limits_basis`` (a plain sentence saying where the limits come from).
    """

    points: pd.DataFrame
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"summary": ..., "points": [...]}`` with JSON-safe values (NaN becomes None)."""
        records = [
            {col: _json_safe(row[col]) for col in self.points.columns}
            for row in self.points.to_dict(orient="records")
        ]
        return {"summary": {k: _json_safe(v) for k, v in self.summary.items()}, "points": records}


def _json_safe(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    if value is pd.NA or value is pd.NaT:
        return None
    return value if isinstance(value, str) else str(value)


def _phase_starts(rebase_at: Sequence[int] | int | None, n: int) -> list[int]:
    if rebase_at is None:
        raw: list[int] = []
    elif isinstance(rebase_at, (int, np.integer)):
        raw = [int(rebase_at)]
    else:
        raw = [int(r) for r in rebase_at]
    for r in raw:
        if not 0 <= r < n:
            raise ValueError(f"rebase_at position {r} is outside the series (0 to {n - 1})")
    return sorted({0, *raw})


def _limits(x: np.ndarray, screen_outliers: bool) -> tuple[float, float, float]:
    """Mean, lower and upper process limits for one phase's non-missing values."""
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(np.mean(x))
    if len(x) < 2:
        return mean, math.nan, math.nan
    mr = np.abs(np.diff(x))
    mean_mr = float(np.mean(mr))
    if screen_outliers:
        # One pass only: the screened mean is not re-screened (Making Data Count guidance).
        kept = mr[mr < SCREEN_FACTOR * mean_mr]
        if len(kept) > 0:
            mean_mr = float(np.mean(kept))
    return mean, mean - LIMIT_FACTOR * mean_mr, mean + LIMIT_FACTOR * mean_mr


def _rules(x: np.ndarray, mean: float, lpl: float, upl: float) -> tuple[list[str | None], list[str | None], np.ndarray]:
    """Apply the four rules to one phase's non-missing values (NHSRplotthedots semantics).

    Returns per point the side of any special cause ("high"/"low" by the side of the mean, None when not
    flagged), the first rule that flagged it, and whether it is close to a limit.
    """
    n = len(x)
    rule: list[str | None] = [None] * n
    sign = np.sign(x - mean)

    def mark(i: int, r: str) -> None:
        if rule[i] is None:
            rule[i] = r

    # 1. Outside the limits.
    outside = np.zeros(n, dtype=bool) if math.isnan(upl) or math.isnan(lpl) else (x > upl) | (x < lpl)
    for i in np.flatnonzero(outside):
        mark(int(i), "outside_limits")

    # 2. Trends: maximal strictly monotone stretches of at least TREND_LENGTH points.
    for direction in (1, -1):
        start = 0
        for i in range(1, n + 1):
            if i < n and direction * (x[i] - x[i - 1]) > 0:
                continue
            if i - start >= TREND_LENGTH:
                for j in range(start, i):
                    mark(j, "trend")
            start = i

    # 3. Two of three close to a limit (inside it), all three on the same side of the mean.
    close = np.zeros(n, dtype=bool)
    if not (math.isnan(upl) or math.isnan(lpl)):
        hi_zone = mean + 2 / 3 * (upl - mean)
        lo_zone = mean - 2 / 3 * (mean - lpl)
        close = ~outside & ((x > hi_zone) | (x < lo_zone))
        for i in range(n - 2):
            if abs(int(np.sum(sign[i : i + 3]))) == 3 and int(np.sum(close[i : i + 3])) >= 2:
                for j in range(i, i + 3):
                    if close[j]:
                        mark(j, "two_of_three")

    # 4. Runs on one side of the mean; a point on the mean has sign 0 and so breaks the run.
    for a, b in _runs(sign):
        for j in range(a, b):
            mark(j, "run")

    side: list[str | None] = [
        None if r is None else ("high" if sign[i] > 0 else "low") for i, r in enumerate(rule)
    ]
    return side, rule, close


def _runs(sign: np.ndarray, start_at: int = 0) -> list[tuple[int, int]]:
    """(start, end) of each maximal run of RUN_LENGTH or more same non-zero signs from ``start_at`` on."""
    out = []
    n = len(sign)
    start = start_at
    for i in range(start_at + 1, n + 1):
        if i < n and sign[i] == sign[start] and sign[i] != 0:
            continue
        if start < n and sign[start] != 0 and i - start >= RUN_LENGTH:
            out.append((start, i))
        start = i
    return out


def _point_type(side: str | None, improvement: str) -> str:
    if side is None:
        return "common_cause"
    if improvement == "neutral":
        return f"special_cause_neutral_{side}"
    good = "high" if improvement == "increase" else "low"
    return "special_cause_improvement" if side == good else "special_cause_concern"


def _variation_icon(side: str | None, improvement: str) -> str:
    if side is None:
        return "common_cause"
    if improvement == "neutral":
        return f"neutral_{side}"
    good = "high" if improvement == "increase" else "low"
    return f"improvement_{side}" if side == good else f"concern_{side}"


def _assurance_icon(target: float | None, improvement: str, lpl: float, upl: float) -> str | None:
    if target is None or improvement == "neutral" or math.isnan(lpl) or math.isnan(upl):
        return None
    if improvement == "increase":
        if lpl > target:
            return "consistent_pass"
        if upl < target:
            return "consistent_fail"
        return "inconsistent"
    if upl < target:
        return "consistent_pass"
    if lpl > target:
        return "consistent_fail"
    return "inconsistent"


def _baseline_phases(
    x: np.ndarray, baseline_end: int, screen_outliers: bool, recalculate: bool
) -> list[tuple[int, int, int, int]]:
    """Phases as (start, end, limits_start, limits_end): the baseline's limits carried forward, then a new
    phase from the start of each sustained shift (a run of RUN_LENGTH on one side of the current mean)."""
    n = len(x)
    phases: list[tuple[int, int, int, int]] = []
    a, la, lb, scan_from = 0, 0, baseline_end, baseline_end
    while True:
        lim = x[la:lb][~np.isnan(x[la:lb])]
        mean = _limits(lim, screen_outliers)[0]
        shift = None
        if recalculate and not math.isnan(mean):
            present = np.flatnonzero(~np.isnan(x))
            after = present[present >= scan_from]
            runs = _runs(np.sign(x[after] - mean))
            if runs:
                shift = int(after[runs[0][0]])
        if shift is None:
            phases.append((a, n, la, lb))
            return phases
        phases.append((a, shift, la, lb))
        a, la, lb, scan_from = shift, shift, n, shift + 1


def _limits_basis(baseline_end: int | None, recalculated: list[Any], labels: list[Any]) -> str:
    def label(v: Any) -> str:
        return f"{v:%B %Y}" if isinstance(v, (pd.Timestamp, dt.date)) else str(v)

    if baseline_end is None:
        return "limits calculated from each phase's own points"
    text = f"limits from the baseline before {label(labels[baseline_end])}, carried forward"
    if recalculated:
        text += "; recalculated after a sustained shift from " + ", ".join(label(v) for v in recalculated)
    return text


def xmr(
    values: Sequence[float] | pd.Series | np.ndarray,
    *,
    improvement: str = "neutral",
    target: float | None = None,
    screen_outliers: bool = True,
    rebase_at: list[int] | int | None = None,
    periods: Sequence[Any] | pd.Series | pd.Index | None = None,
    baseline_end: int | None = None,
    recalculate_on_shift: bool = True,
) -> XmRResult:
    """Build an XmR chart and classify each point with the Making Data Count rules.

    Parameters
    ----------
    values:
        The measure, one value per period in time order. NaN values are allowed: they get
        ``point_type = "missing"`` and are skipped when computing limits and applying the rules.
    improvement:
        Which direction is better: ``"increase"``, ``"decrease"`` or ``"neutral"``.
    target:
        Optional target for the assurance icon, judged against the last phase's limits.
    screen_outliers:
        Drop moving ranges at or above 3.267 x the mean moving range and recompute the mean moving
        range once before setting the limits.
    rebase_at:
        Position(s) (0-based) where a new phase starts; limits are recalculated from there and
        trends/runs do not cross a rebase point.
    periods:
        Optional labels (e.g. month starts) kept in the output's ``period`` column. Defaults to the
        index of ``values`` if it is a Series, otherwise positions 0..n-1.
    baseline_end:
        Position (0-based) of the first point after the baseline (e.g. the go-live month). The limits
        come from the points before it and are carried forward; with ``recalculate_on_shift`` they are
        recalculated from the first point of a run of 7 or more on one side of the mean after it (a
        sustained shift), and again after any later sustained shift. Not combined with ``rebase_at``.
    recalculate_on_shift:
        See ``baseline_end``.

    Returns
    -------
    XmRResult
        Per-point table and a summary with the variation icon (from the most recent non-missing
        point) and the assurance icon.

    Raises
    ------
    ValueError
        If ``values`` is empty, ``improvement`` is unknown, ``periods`` has the wrong length, a
        ``rebase_at`` position is outside the series, or ``baseline_end`` is out of range or combined
        with ``rebase_at``.
    """
    if improvement not in _IMPROVEMENTS:
        raise ValueError(f"unknown improvement {improvement!r}; expected one of {', '.join(_IMPROVEMENTS)}")
    x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("values is empty")
    if periods is None:
        labels = list(values.index) if isinstance(values, pd.Series) else list(range(n))
    else:
        labels = list(periods)
        if len(labels) != n:
            raise ValueError(f"periods has {len(labels)} labels but values has {n}")
    if target is not None and not math.isfinite(float(target)):
        raise ValueError(f"target must be a finite number, got {target}")

    if baseline_end is not None:
        if rebase_at is not None:
            raise ValueError("give baseline_end or rebase_at, not both")
        if not 0 < int(baseline_end) < n:
            raise ValueError(f"baseline_end {baseline_end} must be between 1 and {n - 1}")
        phases = _baseline_phases(x, int(baseline_end), screen_outliers, recalculate_on_shift)
    else:
        starts = _phase_starts(rebase_at, n)
        phases = [(a, b, a, b) for a, b in zip(starts, [*starts[1:], n], strict=True)]

    phase = np.zeros(n, dtype=int)
    mean_col = np.full(n, np.nan)
    lpl_col = np.full(n, np.nan)
    upl_col = np.full(n, np.nan)
    mr_col = np.full(n, np.nan)
    trial_col = np.zeros(n, dtype=bool)
    close_col = np.zeros(n, dtype=bool)
    sides: list[str | None] = [None] * n
    rules: list[str | None] = [None] * n
    point_type = ["missing"] * n
    last: dict[str, Any] = {}

    for p, (a, b, la, lb) in enumerate(phases, start=1):
        idx = np.arange(a, b)
        present = idx[~np.isnan(x[idx])]
        xs = x[present]
        lim = x[la:lb][~np.isnan(x[la:lb])]
        mean, lpl, upl = _limits(lim, screen_outliers)
        trial = len(lim) < MIN_POINTS_FOR_FIRM_LIMITS
        phase[idx] = p
        mean_col[idx] = mean
        lpl_col[idx] = lpl
        upl_col[idx] = upl
        trial_col[idx] = trial
        if len(xs) > 1:
            mr_col[present[1:]] = np.abs(np.diff(xs))
        side, rule, close = _rules(xs, mean, lpl, upl)
        for k, i in enumerate(present):
            sides[i] = side[k]
            rules[i] = rule[k]
            close_col[i] = close[k]
            point_type[i] = _point_type(side[k], improvement)
        last = {"mean": mean, "lpl": lpl, "upl": upl, "n": len(lim), "trial": trial}
    recalculated = [labels[a] for a, _, la, _ in phases[1:]] if baseline_end is not None else []

    points = pd.DataFrame(
        {
            "period": labels,
            "value": x,
            "phase": phase,
            "mean": mean_col,
            "lpl": lpl_col,
            "upl": upl_col,
            "moving_range": mr_col,
            "trial": trial_col,
            "point_type": point_type,
            "rule": pd.Series(rules, dtype=object),
            "close_to_limits": close_col,
        },
        columns=_POINT_COLUMNS,
    )

    observed = np.flatnonzero(~np.isnan(x))
    variation_icon = _variation_icon(sides[observed[-1]], improvement) if len(observed) else None
    summary: dict[str, Any] = {
        "variation_icon": variation_icon,
        "assurance_icon": _assurance_icon(target, improvement, last["lpl"], last["upl"]),
        "mean": float(last["mean"]),
        "lpl": float(last["lpl"]),
        "upl": float(last["upl"]),
        "n": int(last["n"]),
        "trial": bool(last["trial"]),
        "n_total": len(observed),
        "phases": len(phases),
        "baseline_end": None if baseline_end is None else int(baseline_end),
        "recalculated_at": recalculated,
        "limits_basis": _limits_basis(baseline_end, recalculated, labels),
    }
    return XmRResult(points=points, summary=summary)
