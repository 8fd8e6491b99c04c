"""Staggered-adoption difference-in-differences across the sites (Callaway & Sant'Anna, via csdid)."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.methods.comparative_common import (
    _CONTROL_GROUPS,
    MIN_NEVER_TREATED,
    _is_datetime,
    _library_version,
    _month_ordinal,
    _norm_ppf,
    _norm_sf,
    _require_columns,
)
from evaluation.methods.plain import json_safe

# --- staggered difference-in-differences (Callaway & Sant'Anna) -------------------------------------------


@dataclass
class StaggeredDiDResult:
    """Callaway & Sant'Anna group-time effects, their aggregations and the pre-trend test.

    Tables use the caller's time labels (Timestamps or integers) for ``group`` (the cohort: first treated
    period) and ``time``; ``event_time`` is in periods since go-live (0 = go-live period).

    Every estimate carries two sets of uncertainty: the headline ``se``/``ci_low``/``ci_high``/``p_value``
    from placebo-in-space resampling (valid with one site per cohort; see the module docstring) and
    ``se_analytic``/``ci_low_analytic``/``ci_high_analytic``, the library's influence-function results
    (valid with many treated units per cohort). With ``n_placebo=0`` the headline columns are the analytic
    ones.
    """

    att_gt: pd.DataFrame
    simple: dict[str, float]
    group: pd.DataFrame
    group_overall: dict[str, float]
    event_time: pd.DataFrame
    event_time_overall: dict[str, float]
    pretrend: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def overall(self) -> dict[str, float]:
        """The overall summary: the ``group`` aggregation (each cohort's post-period average, size-weighted)."""
        return self.group_overall

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dictionary of everything (``overall`` is the group aggregation)."""

        def records(table: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: json_safe(v) for k, v in row.items()} for row in table.to_dict(orient="records")]

        return json_safe(
            {
                "att_gt": records(self.att_gt),
                "overall": {"aggregation": "group", **self.group_overall},
                "simple": self.simple,
                "group": {"overall": self.group_overall, "by_group": records(self.group)},
                "event_time": {"overall": self.event_time_overall, "by_event_time": records(self.event_time)},
                "pretrend": self.pretrend,
                "info": self.info,
            }
        )


@dataclass(frozen=True)
class _Cells:
    """The library's (g, t) cells, described so the placebo engine can recompute them."""

    group: np.ndarray  # cohort, internal period number
    time: np.ndarray  # period, internal number
    tcol: np.ndarray  # column of Y for the period
    bcol: np.ndarray  # column of Y for the base period
    threshold: np.ndarray  # not-yet-treated controls need a cohort above this
    zero: np.ndarray  # universal-base reference cell: ATT is 0 by construction

    @property
    def post(self) -> np.ndarray:
        return self.time >= self.group


def _cells(group: np.ndarray, time: np.ndarray, tlist: np.ndarray, base_period: str, anticipation: int) -> _Cells:
    """Base period and control threshold of every (g, t) cell, following csdid/R ``did`` exactly.

    Base: the last period before ``g - anticipation`` for cells at or after ``g - anticipation`` (and for
    every cell with a universal base); the previous period otherwise. Not-yet-treated controls: cohorts
    first treated after ``max(t, base) + anticipation``.
    """
    pos = {int(t): i for i, t in enumerate(tlist)}
    tcol = np.array([pos[int(t)] for t in time])
    bcol = np.empty_like(tcol)
    for i, (g, t) in enumerate(zip(group, time, strict=True)):
        last_pre = np.flatnonzero(tlist + anticipation < g)
        if base_period == "universal" or g - anticipation <= t:
            bcol[i] = last_pre[-1]
        else:
            bcol[i] = tcol[i] - 1
    threshold = np.maximum(time, tlist[bcol]) + anticipation
    return _Cells(group, time, tcol, bcol, threshold, tcol == bcol)


def _att_cells(y: np.ndarray, assign: np.ndarray, cells: _Cells, not_yet: bool) -> np.ndarray:
    """ATT(g, t) for every cell and every assignment row: mean change of cohort g minus mean change of controls.

    ``y`` is units x periods; ``assign`` is draws x units of cohorts (0 = never treated, -1 = left out).
    This is csdid's ``est_method="reg"`` without covariates (DRDID's outcome regression on an intercept).
    """
    n_draws = assign.shape[0]
    out = np.full((n_draws, len(cells.group)), np.nan)
    never = (assign == 0).astype(float)
    n_never = never.sum(axis=1)
    for c in range(len(cells.group)):
        if cells.zero[c]:
            out[:, c] = 0.0
            continue
        g = cells.group[c]
        change = y[:, cells.tcol[c]] - y[:, cells.bcol[c]]
        treat = (assign == g).astype(float)
        if not_yet:
            ctrl = ((assign == 0) | ((assign > cells.threshold[c]) & (assign != g))).astype(float)
            n_ctrl = ctrl.sum(axis=1)
        else:
            ctrl, n_ctrl = never, n_never
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, c] = (treat @ change) / treat.sum(axis=1) - (ctrl @ change) / n_ctrl
    return out


def _aggregate(att: np.ndarray, cells: _Cells, sizes: Mapping[int, int]) -> dict[str, Any]:
    """Simple, group and event-time aggregations of ATT(g, t) (rows = draws), with R ``did``'s weights.

    Cohort weights are proportional to cohort size; group effects average a cohort's post-period cells
    equally; the event-time overall effect is the mean of the event-time effects at or after go-live.
    """
    pg = np.array([sizes[int(g)] for g in cells.group], dtype=float)
    post = cells.post
    simple = att[:, post] @ pg[post] / pg[post].sum()
    cohorts = np.array(sorted(sizes))
    by_group = np.column_stack([att[:, post & (cells.group == g)].mean(axis=1) for g in cohorts])
    w_g = np.array([sizes[int(g)] for g in cohorts], dtype=float)
    group_overall = by_group @ w_g / w_g.sum()
    e = cells.time - cells.group
    events = np.unique(e)
    by_event = np.column_stack([att[:, e == k] @ pg[e == k] / pg[e == k].sum() for k in events])
    event_overall = by_event[:, events >= 0].mean(axis=1)
    return {
        "simple": simple,
        "cohorts": cohorts,
        "group": by_group,
        "group_overall": group_overall,
        "events": events,
        "event": by_event,
        "event_overall": event_overall,
    }


def _placebo_assignments(
    pool: np.ndarray, sizes: Mapping[int, int], n_units: int, n_draws: int, seed: int
) -> tuple[np.ndarray, bool]:
    """Draws x units matrix of placebo cohorts: comparators relabelled as pseudo-sites with the real cohort sizes.

    The real treated units are left out (-1). Every distinct assignment is used when there are at most
    ``n_draws`` of them (exact randomisation distribution); otherwise ``n_draws`` are sampled.
    """
    cohorts = sorted(sizes)
    need = [sizes[g] for g in cohorts]
    n_distinct = 1
    left = len(pool)
    for k in need:
        n_distinct *= math.comb(left, k)
        left -= k

    def base_row() -> np.ndarray:
        row = np.full(n_units, -1, dtype=np.int64)
        row[pool] = 0
        return row

    if n_distinct <= n_draws:

        def assignments(avail: tuple[int, ...], i: int) -> Iterator[list[tuple[int, ...]]]:
            if i == len(cohorts):
                yield []
                return
            for chosen in itertools.combinations(avail, need[i]):
                rest = tuple(a for a in avail if a not in chosen)
                for tail in assignments(rest, i + 1):
                    yield [chosen, *tail]

        rows = []
        for combo in assignments(tuple(int(p) for p in pool), 0):
            row = base_row()
            for g, members in zip(cohorts, combo, strict=True):
                row[list(members)] = g
            rows.append(row)
        return np.array(rows), True
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n_draws):
        perm = rng.permutation(pool)
        row = base_row()
        start = 0
        for g, k in zip(cohorts, need, strict=True):
            row[perm[start : start + k]] = g
            start += k
        rows.append(row)
    return np.array(rows), False


def _placebo_summary(estimate: np.ndarray, draws: np.ndarray, alpha: float) -> dict[str, np.ndarray]:
    """Placebo standard error, interval and two-sided p-value for each column of ``draws``.

    The placebo estimates approximate the distribution of the estimation error, so the interval inverts
    it (Conley & Taber 2011): ``[est - q(1 - alpha/2), est - q(alpha/2)]``.
    """
    se = np.nanstd(draws, axis=0, ddof=1)
    lo_q = np.nanquantile(draws, alpha / 2, axis=0)
    hi_q = np.nanquantile(draws, 1 - alpha / 2, axis=0)
    n = np.sum(~np.isnan(draws), axis=0)
    tol = 1e-12 * np.maximum(1.0, np.abs(estimate))
    extreme = np.sum(np.abs(draws) >= np.abs(estimate) - tol, axis=0)
    return {"se": se, "ci_low": estimate - hi_q, "ci_high": estimate - lo_q, "p_value": (1 + extreme) / (1 + n)}


def _run_csdid(
    data: pd.DataFrame, control_group: str, base_period: str, anticipation: int, alpha: float
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """Fit csdid's ATTgt and the three aggregations; csdid prints its tables, which are swallowed here."""
    from csdid.att_gt import ATTgt

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        # csdid warns that one-unit cohorts are "small groups": true, and the reason for the placebo inference.
        warnings.filterwarnings("ignore", message=".*small groups.*")
        # Reported in the result's pretrend.library_wald note instead.
        warnings.filterwarnings("ignore", message=".*Not returning pre-test Wald statistic.*")
        model = ATTgt(
            yname="y",
            tname="t",
            idname="id",
            gname="g",
            data=data,
            control_group=_CONTROL_GROUPS[control_group],
            anticipation=anticipation,
            alp=alpha,
        )
        model.fit(est_method="reg", base_period=base_period, bstrap=False)
        aggs = {}
        for kind in ("simple", "group", "dynamic"):
            model.aggte(typec=kind, alp=alpha)
            aggs[kind] = model.atte
    return model, aggs


def staggered_did(
    df: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    first_treated: str,
    control_group: Literal["never_treated", "not_yet_treated"] = "never_treated",
    base_period: Literal["varying", "universal"] = "varying",
    anticipation: int = 0,
    alpha: float = 0.05,
    n_placebo: int = 999,
    pretrend_periods: int | None = 12,
    seed: int = 20240401,
) -> StaggeredDiDResult:
    """Staggered-adoption difference-in-differences (Callaway & Sant'Anna 2021) with placebo inference.

    Group-time average effects ATT(g, t) -- the effect in period ``t`` on the units first treated in period
    ``g`` -- come from ``csdid`` (``ATTgt(...).fit(est_method="reg")``; Callaway & Sant'Anna 2021,
    *J Econometrics* 225:200-230), each a 2x2 difference-in-differences of cohort ``g`` against the control
    group between ``t`` and a base period (the period before go-live for post-periods; the previous period
    for pre-periods with ``base_period="varying"``). They are aggregated as R ``did`` does: ``simple``
    (post-period cells weighted by cohort size), ``group`` (each cohort's post-period average, and their
    size-weighted mean) and ``event_time`` (by periods since go-live, and the mean of the post-go-live
    event-time effects).

    Inference: see the module docstring. Headline standard errors, intervals and p-values come from
    ``n_placebo`` placebo assignments of the never-treated units to pseudo-cohorts with the real cohort
    sizes (all distinct assignments when there are fewer). The pre-trend test is a Wald-type test that the
    pre-treatment ATT(g, t) of the last ``pretrend_periods`` periods before each cohort's go-live are all
    zero: ``W = sum theta_c^2 / v_c`` with ``v_c`` the placebo variance of cell ``c``, referred to the placebo
    distribution of the same statistic (so it needs no chi-squared approximation; see :func:`_pretrend` for
    why the weighting is diagonal). The library's own analytic Wald pre-test (R ``did``'s, over all
    pre-treatment cells) is reported alongside; it is usually not computable with monthly data (singular
    covariance). With one site per cohort the test only detects large departures: it guards against gross
    pre-trends, and a high p-value is not evidence that trends were parallel.

    Nothing is dropped silently: a unit whose go-live falls after the last period has no post-period and is
    excluded (never used as a control); a period a treated unit is missing is dropped for all units (so one
    missing month does not lose a site), and a control unit with a gap is excluded. ``info`` lists the
    treated units, the controls, every excluded unit with its reason and the dropped periods. The overall
    summary is the ``group`` aggregation (:attr:`StaggeredDiDResult.overall`): each site's average effect,
    then their size-weighted mean, so a site with a longer post-period does not dominate.

    Parameters
    ----------
    df:
        Long table, one row per unit and time; a balanced panel is used (see above).
    unit, time, outcome:
        Column names. ``time`` holds integer period numbers or month-start Timestamps (converted to month
        numbers for the library and back for the output).
    first_treated:
        Column with each unit's first treated period (same type as ``time``; constant within a unit), and
        0, NaN or NaT for units never treated. Units first treated after the last period are excluded
        (unlike R ``did``, which counts them as never treated).
    control_group:
        ``"never_treated"`` (needs at least :data:`MIN_NEVER_TREATED` such units) or ``"not_yet_treated"``.
    base_period:
        ``"varying"`` or ``"universal"`` (R ``did``'s options).
    anticipation:
        Periods before go-live in which effects may already appear.
    alpha:
        1 - confidence level.
    n_placebo:
        Placebo draws; 0 turns placebo inference off (headline results are then the analytic ones).
    pretrend_periods:
        How many pre-treatment periods per cohort the placebo Wald pre-test uses (None: all).
    seed:
        Seed for sampling placebo assignments.

    Returns
    -------
    StaggeredDiDResult
    """
    if control_group not in _CONTROL_GROUPS:
        raise ValueError(f"control_group must be one of {sorted(_CONTROL_GROUPS)}, got {control_group!r}")
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if anticipation < 0 or n_placebo < 0:
        raise ValueError("anticipation and n_placebo must be non-negative")
    _require_columns(df, [unit, time, outcome, first_treated])

    data = df[[unit, time, outcome, first_treated]].copy()
    datetime_time = _is_datetime(data[time])
    if datetime_time:
        ordinal = _month_ordinal(data[time])
        origin = int(ordinal.min()) - 1
        data["t"] = ordinal - origin
        raw = data[first_treated]
        # 0 marks a never-treated unit in csdid's convention; with dates it must not become 1970-01-01.
        zero = raw.map(lambda v: isinstance(v, int | float | np.number) and not pd.isna(v) and v == 0)
        ft = pd.to_datetime(raw.where(~zero.astype(bool)), errors="raise")
        g = np.where(ft.isna(), 0, _month_ordinal(ft.fillna(pd.Timestamp("2000-01-01"))) - origin)

        def label(k: Any) -> Any:
            m = int(k) + origin
            return pd.Timestamp(year=m // 12, month=m % 12 + 1, day=1)

    else:
        tnum = pd.to_numeric(data[time], errors="raise").to_numpy(dtype=float)
        if not np.all(tnum == np.round(tnum)):
            raise ValueError(f"time column {time!r} must hold integers or Timestamps")
        origin = int(tnum.min()) - 1
        data["t"] = tnum.astype(np.int64) - origin
        raw = pd.to_numeric(data[first_treated], errors="raise").to_numpy(dtype=float)
        never = np.isnan(raw) | (raw == 0)
        g = np.where(never, 0, np.nan_to_num(raw) - origin)

        def label(k: Any) -> Any:
            return int(k) + origin

    data["g"] = np.asarray(g, dtype=np.int64)
    data["y"] = pd.to_numeric(data[outcome], errors="raise").astype(float)
    per_unit = data.groupby(unit)["g"].nunique()
    if (per_unit > 1).any():
        raise ValueError(f"first_treated varies within unit(s) {list(per_unit[per_unit > 1].index[:5])}")
    excluded: dict[str, str] = {}
    # A unit whose go-live falls after the data end has no post-period: it is excluded, never a control
    # (R did would recode it as never treated, making a site that changed its service a comparator).
    data = data[np.isfinite(data["y"])]
    t_last = int(data["t"].max())
    late = data.loc[data["g"] > t_last, unit].unique()
    for u in late:
        go = json_safe(label(int(data.loc[data[unit] == u, "g"].iloc[0])))
        excluded[str(u)] = f"go-live {go} is after the data end (no post-period)"
    data = data[~data[unit].isin(late)]
    if (data.loc[data["g"] > 0, "g"] <= int(data["t"].min())).any():
        raise ValueError("a unit is treated from the first period, so it has no pre-treatment period")

    # Balanced panel. A period a treated unit is missing (a gap, or a month left out as an outlier) is
    # dropped for every unit, so that one missing month does not drop a site; a treated unit left without a
    # period after go-live is then excluded. A control unit with a gap is excluded. Every exclusion is listed.
    all_t = np.sort(data["t"].unique())
    treated_units = data.loc[data["g"] > 0, unit].unique()
    gap_periods: set[int] = set()
    for u in treated_units:
        gap_periods |= set(all_t) - set(data.loc[data[unit] == u, "t"])
    data = data[~data["t"].isin(gap_periods)]
    for u in treated_units:
        rows = data[data[unit] == u]
        if not (rows["t"] >= rows["g"]).any():
            excluded[str(u)] = "no period after go-live once the periods it is missing are left out"
    data = data[~data[unit].isin([u for u in treated_units if str(u) in excluded])]
    n_t = data["t"].nunique()
    counts = data.groupby(unit)["t"].nunique()
    incomplete = sorted(str(u) for u in counts[counts < n_t].index)
    for u in incomplete:
        excluded[u] = f"missing in {n_t - int(counts[u])} of {n_t} periods (a control must be complete)"
    data = data[data[unit].isin(counts[counts == n_t].index)].copy()
    units = sorted(data[unit].unique(), key=str)
    data["id"] = data[unit].map({u: i + 1 for i, u in enumerate(units)}).astype(np.int64)
    unit_g = data.groupby("id")["g"].first().reindex(range(1, len(units) + 1)).to_numpy()
    n_never = int((unit_g == 0).sum())
    treated_ids = np.flatnonzero(unit_g > 0)
    if len(treated_ids) == 0:
        raise ValueError("no treated unit with a complete series")
    if n_never < MIN_NEVER_TREATED and control_group == "never_treated":
        raise ValueError(
            f"{n_never} never-treated unit(s) with a complete series; csdid (like R did) needs at least "
            f"{MIN_NEVER_TREATED} as a control group"
        )

    model, aggs = _run_csdid(data[["id", "t", "y", "g"]], control_group, base_period, anticipation, alpha)
    res = model.results
    lib_group = np.asarray(res["group"], dtype=np.int64)
    lib_time = np.asarray(res["year"], dtype=np.int64)
    lib_att = np.asarray(res["att"], dtype=float)
    lib_se = np.asarray(res["se"], dtype=float)

    tlist = np.sort(data["t"].unique())
    y = data.pivot(index="id", columns="t", values="y").reindex(columns=tlist).to_numpy()
    cells = _cells(lib_group, lib_time, tlist, base_period, anticipation)
    sizes = {int(c): int((unit_g == c).sum()) for c in np.unique(unit_g[unit_g > 0])}
    not_yet = control_group == "not_yet_treated"

    # The placebo engine must be the library's estimator: check it on the real assignment first.
    real = _att_cells(y, unit_g[None, :], cells, not_yet)[0]
    scale = max(1.0, float(np.nanstd(y)))
    if not np.allclose(real, lib_att, rtol=0, atol=1e-8 * scale, equal_nan=True):
        worst = float(np.nanmax(np.abs(real - lib_att)))
        raise RuntimeError(f"placebo engine does not reproduce csdid's ATT(g,t) (max difference {worst:.3g})")
    real_agg = _aggregate(real[None, :], cells, sizes)
    lib_checks = {
        "simple": (real_agg["simple"][0], aggs["simple"]["overall_att"]),
        "group": (real_agg["group_overall"][0], aggs["group"]["overall_att"]),
        "dynamic": (real_agg["event_overall"][0], aggs["dynamic"]["overall_att"]),
    }
    for kind, (mine, theirs) in lib_checks.items():
        if not math.isclose(float(mine), float(theirs), rel_tol=0, abs_tol=1e-8 * scale):
            raise RuntimeError(f"placebo engine does not reproduce csdid's {kind} aggregation")
    # The group and event-time tables are matched to the placebo draws by position, so check the order too.
    for kind, labels, values in (("group", "cohorts", "group"), ("dynamic", "events", "event")):
        same_labels = np.array_equal(np.asarray(aggs[kind]["egt"], dtype=np.int64), real_agg[labels])
        if not same_labels or not np.allclose(
            np.asarray(aggs[kind]["att_egt"], dtype=float), real_agg[values][0], rtol=0, atol=1e-8 * scale
        ):
            raise RuntimeError(f"placebo engine does not reproduce csdid's {kind} table")

    pool = np.flatnonzero(unit_g == 0)
    use_placebo = n_placebo > 0
    if use_placebo and len(pool) < len(treated_ids):
        raise ValueError(
            f"placebo inference needs at least as many never-treated units ({len(pool)}) as treated units "
            f"({len(treated_ids)}); pass n_placebo=0 for analytic inference only"
        )
    z = float(_norm_ppf(1 - alpha / 2))

    def analytic(est: np.ndarray, se: np.ndarray) -> dict[str, np.ndarray]:
        return {"se_analytic": se, "ci_low_analytic": est - z * se, "ci_high_analytic": est + z * se}

    def headline(est: np.ndarray, draws: np.ndarray | None, se_an: np.ndarray) -> dict[str, np.ndarray]:
        if draws is None:
            with np.errstate(divide="ignore", invalid="ignore"):
                p = 2 * _norm_sf(np.abs(est) / se_an)
            return {"se": se_an, "ci_low": est - z * se_an, "ci_high": est + z * se_an, "p_value": p}
        return _placebo_summary(est, draws, alpha)

    exact = False
    assign: np.ndarray | None = None
    draws_att: np.ndarray | None = None
    draws_agg: dict[str, Any] | None = None
    if use_placebo:
        assign, exact = _placebo_assignments(pool, sizes, len(units), n_placebo, seed)
        draws_att = _att_cells(y, assign, cells, not_yet)
        draws_agg = _aggregate(draws_att, cells, sizes)

    # ATT(g, t) table.
    table = pd.DataFrame(
        {
            "group": [label(v) for v in lib_group],
            "time": [label(v) for v in lib_time],
            "event_time": lib_time - lib_group,
            "post": lib_time >= lib_group,
            "att": lib_att,
        }
    )
    for k, v in headline(lib_att, draws_att, lib_se).items():
        table[k] = v
    for k, v in analytic(lib_att, lib_se).items():
        table[k] = v

    def one(est: float, se_an: float, draws: np.ndarray | None) -> dict[str, float]:
        e = np.array([est])
        column = None if draws is None else draws[:, None]
        out = {k: float(v[0]) for k, v in headline(e, column, np.array([se_an])).items()}
        out.update({k: float(v[0]) for k, v in analytic(e, np.array([se_an])).items()})
        return {"estimate": float(est), **out}

    simple = one(
        aggs["simple"]["overall_att"], aggs["simple"]["overall_se"], None if draws_agg is None else draws_agg["simple"]
    )
    group_overall = one(
        aggs["group"]["overall_att"],
        aggs["group"]["overall_se"],
        None if draws_agg is None else draws_agg["group_overall"],
    )
    event_overall = one(
        aggs["dynamic"]["overall_att"],
        aggs["dynamic"]["overall_se"],
        None if draws_agg is None else draws_agg["event_overall"],
    )

    g_est = np.asarray(aggs["group"]["att_egt"], dtype=float)
    g_se = np.asarray(aggs["group"]["se_egt"], dtype=float)
    group_tab = pd.DataFrame({"group": [label(v) for v in real_agg["cohorts"]], "att": g_est})
    group_tab["n_units"] = [sizes[int(c)] for c in real_agg["cohorts"]]
    for k, v in headline(g_est, None if draws_agg is None else draws_agg["group"], g_se).items():
        group_tab[k] = v
    for k, v in analytic(g_est, g_se).items():
        group_tab[k] = v

    e_est = np.asarray(aggs["dynamic"]["att_egt"], dtype=float)
    e_se = np.asarray(aggs["dynamic"]["se_egt"], dtype=float)
    event_tab = pd.DataFrame({"event_time": real_agg["events"], "att": e_est, "post": real_agg["events"] >= 0})
    for k, v in headline(e_est, None if draws_agg is None else draws_agg["event"], e_se).items():
        event_tab[k] = v
    for k, v in analytic(e_est, e_se).items():
        event_tab[k] = v

    pretrend = _pretrend(
        real,
        draws_att,
        assign,
        cells,
        pretrend_periods,
        anticipation,
        scale,
        model.MP.get("W"),
        model.MP.get("Wpval"),
    )
    info = {
        "estimator": "Callaway & Sant'Anna (2021) ATT(g,t), csdid ATTgt est_method='reg' (no covariates)",
        "library": _library_version("csdid"),
        "control_group": control_group,
        "base_period": base_period,
        "anticipation": anticipation,
        "alpha": alpha,
        "time_unit": "month" if datetime_time else "period",
        "n_units": len(units),
        "n_never_treated": n_never,
        "cohorts": {str(json_safe(label(c))): [str(units[i]) for i in np.flatnonzero(unit_g == c)] for c in sizes},
        "treated_units": {str(units[i]): json_safe(label(unit_g[i])) for i in treated_ids},
        "control_units": [str(units[i]) for i in np.flatnonzero(unit_g == 0)],
        "excluded_units": excluded,
        "dropped_periods": [json_safe(label(t)) for t in sorted(gap_periods)],
        "dropped_incomplete_units": incomplete,
        "overall_aggregation": "group",
        "inference": "placebo-in-space" if use_placebo else "analytic (influence function)",
        "n_placebo": 0 if draws_att is None else int(draws_att.shape[0]),
        "placebo_exact": exact,
    }
    return StaggeredDiDResult(
        att_gt=table,
        simple=simple,
        group=group_tab,
        group_overall=group_overall,
        event_time=event_tab,
        event_time_overall=event_overall,
        pretrend=pretrend,
        info=info,
    )


def _pretrend(
    real: np.ndarray,
    draws: np.ndarray | None,
    assign: np.ndarray | None,
    cells: _Cells,
    periods: int | None,
    anticipation: int,
    scale: float,
    lib_w: Any,
    lib_p: Any,
) -> dict[str, Any]:
    """Placebo-calibrated Wald-type test that the pre-treatment ATT(g, t) in the window are all zero.

    ``W = sum_c theta_c^2 / v_c`` over the window's pre-treatment cells, ``v_c`` the placebo variance of
    cell ``c``: a Wald statistic with the diagonal of the placebo covariance as its weight matrix. The full
    covariance is not used because a few dozen cells' covariance estimated from twenty comparators is
    nearly singular, and inverting it inflates the statistic for any unit outside the sample it was
    estimated from (Hotelling's out-of-sample penalty) -- on the synthetic data that rejected parallel
    trends that hold by construction. The reference distribution is the same statistic for each placebo
    draw, with ``v_c`` estimated from the draws that share no pseudo-site with it, so that the real sites
    and the placebos are both scored out of sample.
    """
    lib = {
        "test": "csdid analytic Wald pre-test (R did), all pre-treatment ATT(g,t)",
        "statistic": None if lib_w is None else float(lib_w),
        "p_value": None if lib_p is None else float(lib_p),
        "note": None
        if lib_w is not None
        else "not computable: the analytic covariance of the pre-treatment ATT(g,t) is singular "
        "(more pre-treatment cells than units, or one unit per cohort)",
    }
    pre = (cells.time < cells.group - anticipation) & ~cells.zero
    if periods is not None:
        # Period numbers may have gaps, so the window counts a cohort's pre-treatment cells back from
        # go-live rather than subtracting period numbers.
        rank = np.zeros(len(cells.group), dtype=np.int64)
        for g in np.unique(cells.group):
            idx = np.flatnonzero(pre & (cells.group == g))
            order = np.argsort(-cells.time[idx])
            rank[idx[order]] = np.arange(1, len(idx) + 1)
        pre &= rank <= periods
    theta = real[pre]
    out: dict[str, Any] = {
        "test": "Wald-type test that the pre-treatment ATT(g,t) are all zero (diagonal placebo variance "
        "weighting), referred to the placebo distribution of the same statistic",
        "n_cells": int(pre.sum()),
        "window_periods": periods,
        "max_abs_pre_att": float(np.max(np.abs(theta))) if theta.size else None,
        "library_wald": lib,
    }
    if draws is None or assign is None or not theta.size:
        out.update({"statistic": None, "df": None, "p_value": None, "n_reference": 0})
        return out
    sample = draws[:, pre]
    # Cells where the comparators never vary (noise-free data) carry no information unless the site moves.
    floor = (1e-9 * scale) ** 2

    def statistic(x: np.ndarray, var: np.ndarray) -> np.ndarray:
        flat = var <= floor
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(flat, np.where(x**2 <= floor, 0.0, np.inf), x**2 / np.where(flat, 1.0, var))
        return terms.sum(axis=-1)

    stat = float(statistic(theta, np.var(sample, axis=0, ddof=1)))
    pseudo = (assign > 0).astype(float)
    disjoint = ((pseudo @ pseudo.T) == 0).astype(float)
    n_ok = disjoint.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = disjoint @ sample / n_ok
        var = (disjoint @ sample**2 - n_ok * mean**2) / (n_ok - 1)
    null = statistic(sample, np.where(n_ok > 1, np.maximum(var, 0.0), np.nan))
    null = null[~np.isnan(null)]
    out.update(
        {
            "statistic": stat,
            "df": int(pre.sum()),
            "p_value": float((1 + np.sum(null >= stat * (1 - 1e-12))) / (1 + len(null))),
            "n_reference": len(null),
        }
    )
    return out


