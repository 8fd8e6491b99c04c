"""Data-quality checks on the measure panel: months far out of line with their neighbours, and a per-site
summary of what the inputs hold.

The outlier rule is meant to catch *data* problems -- above all an incomplete submission, where a provider
sent only part of a month's records -- not real changes in services. It therefore compares each month with
the months either side of it, so a lasting change (a go-live, the COVID-19 drop) moves the comparison with it
and is not flagged; only an isolated month that none of its neighbours resembles is.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from evaluation.dictionary.registry import Registry, default_registry
from evaluation.panel.frame import ReadReport

OUTLIER_FLAG = "outlier"
#: 1.4826 x MAD estimates the standard deviation of normally distributed values.
MAD_TO_SD = 1.4826
#: Smallest scale, as a share of the neighbours' median: values never differ by less than rounding and
#: reporting noise, so a flat stretch must not turn a 1% wobble into an "outlier".
RELATIVE_FLOOR = 0.02
# Counts are compared as log(count + 0.5); the 0.5 keeps months with a zero count usable.
_LOG_OFFSET = 0.5

__all__ = [
    "OUTLIER_FLAG",
    "LevelShift",
    "baseline_shifts",
    "exclude_outliers",
    "flag_outliers",
    "has_flag",
    "level_shifts",
    "national_peaks",
    "outlier_scores",
    "quality_summary",
]


def has_flag(flags: pd.Series, flag: str) -> pd.Series:
    """Whether each ``;``-separated ``quality_flags`` cell contains ``flag`` as a whole entry."""
    # Matching whole entries: "outlier" must not match a hypothetical "outlier checked".
    padded = ";" + flags.fillna("").astype(str) + ";"
    return padded.str.contains(f";{flag};", regex=False)


def _append_flag(flags: pd.Series, mask: np.ndarray, flag: str) -> pd.Series:
    """Append ``flag`` to the rows at the positions in ``mask`` that do not have it yet."""
    values = flags.fillna("").astype(object).to_numpy(copy=True)
    # Only the few flagged rows are touched: a panel can have hundreds of thousands.
    pos = np.flatnonzero(np.asarray(mask, dtype=bool))
    current = pd.Series(values[pos], dtype=object)
    pos = pos[~has_flag(current, flag).to_numpy()]
    values[pos] = [flag if not v else f"{v};{flag}" for v in values[pos]]
    return pd.Series(values, index=flags.index, dtype=object)


@dataclass(frozen=True)
class _Grid:
    """Monthly values laid out as series x calendar months (NaN where a month has no usable value)."""

    rows: np.ndarray  # positions (in the panel) of the rows that were laid out
    series: np.ndarray  # per laid-out row: its series number
    month: np.ndarray  # per laid-out row: its column in the grid
    y: np.ndarray  # series x months, on the comparison scale
    denominator: np.ndarray  # series x months, for the sampling floor of proportions
    kind: np.ndarray  # per series: "count", "proportion" or "rate"
    measure: np.ndarray  # per series: its measure id


def _grid(panel: pd.DataFrame, registry: Registry) -> _Grid | None:
    usable = (
        panel["period_type"].eq("month").to_numpy()
        & panel["value"].notna().to_numpy()
        & ~panel["suppressed"].astype(bool).to_numpy()
    )
    rows = np.flatnonzero(usable)
    if not len(rows):
        return None
    sel = panel.iloc[rows]
    series = sel.groupby(["org_code", "measure_id"], sort=False).ngroup().to_numpy()
    n_series = int(series.max()) + 1
    series_measure = np.empty(n_series, dtype=object)
    series_measure[series] = sel["measure_id"].to_numpy()
    period = pd.DatetimeIndex(sel["period"])
    month_no = period.year.to_numpy() * 12 + period.month.to_numpy() - 1
    month = month_no - month_no.min()
    n_months = int(month.max()) + 1

    # A measure the dictionary does not know is treated as a rate: the rule then assumes nothing about
    # its noise beyond the relative floor.
    types = {m.id: m.value_type for m in registry.measures}
    kind = np.array([types.get(mid, "rate") for mid in series_measure], dtype=object)
    value = sel["value"].to_numpy(dtype=float)
    is_count = kind[series] == "count"
    # Counts vary multiplicatively (their noise grows with their level, and an incomplete submission is a
    # proportional shortfall), so they are compared on the log scale; proportions and rates are bounded
    # and compared as they are.
    y_row = np.where(is_count, np.log(np.clip(value, 0.0, None) + _LOG_OFFSET), value)

    y = np.full((n_series, n_months), np.nan)
    den = np.full((n_series, n_months), np.nan)
    y[series, month] = y_row
    den[series, month] = sel["denominator"].to_numpy(dtype=float)
    return _Grid(rows, series, month, y, den, kind, series_measure)


def _nanmedian_last(a: np.ndarray) -> np.ndarray:
    """Median over the last axis ignoring NaN (NaN where all are NaN); much faster than np.nanmedian on
    many short windows, because one sort handles every window at once."""
    srt = np.sort(a, axis=-1)  # NaN sort to the end
    n = np.sum(~np.isnan(a), axis=-1)
    lo = np.take_along_axis(srt, np.clip((n - 1) // 2, 0, None)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(srt, np.clip(n // 2, 0, a.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    return np.where(n > 0, (lo + hi) / 2.0, np.nan)


def _score(g: _Grid, neighbours: np.ndarray, window: int) -> tuple[np.ndarray, ...]:
    """Neighbour median, neighbour count, scale and score of every cell, judging each against the values
    in ``neighbours`` (the grid with months already found to be outliers blanked out)."""
    half = window // 2
    padded = np.pad(neighbours, ((0, 0), (half, half)), constant_values=np.nan)
    # Calendar-month windows: a month missing from the file is simply a missing neighbour, so a gap
    # never makes months from further away look adjacent.
    win = sliding_window_view(padded, window, axis=1).copy()
    win[:, :, half] = np.nan  # the month itself is not its own neighbour
    med = _nanmedian_last(win)
    mad = _nanmedian_last(np.abs(win - med[:, :, None]))
    n_neigh = np.sum(~np.isnan(win), axis=2)

    kind = g.kind[:, None]
    is_count = kind == "count"
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # exp(med) is used for counts only
        # Sampling noise the neighbours' spread may underestimate when there are only a few of them:
        # Poisson for counts (sd of log count ~ 1 / sqrt(count)), binomial for proportions with a
        # denominator. Rates have no sampling model, so only the relative floor applies.
        count_level = np.clip(np.exp(med) - _LOG_OFFSET, 0.0, None)
        poisson = 1.0 / np.sqrt(count_level + _LOG_OFFSET)
        binomial = np.sqrt(np.clip(med * (1.0 - med), 0.0, None) / g.denominator)
        sampling = np.where(is_count, poisson, np.where(kind == "proportion", binomial, 0.0))
        sampling = np.nan_to_num(sampling, nan=0.0, posinf=0.0)
        relative = np.where(is_count, RELATIVE_FLOOR, RELATIVE_FLOOR * np.abs(med))
        # Six neighbours give a noisy MAD: by chance they can sit unusually close together, which would
        # turn an ordinary month into an "outlier". The series' own typical distance of a month from its
        # neighbours' median (the median over all its months, so a few odd months cannot move it) is a
        # steadier floor.
        national = _national_movement(g, g.y - med, n_neigh >= half)
        dev = np.where((n_neigh >= half) & ~np.isnan(neighbours), np.abs(g.y - med - national), np.nan)
        typical = MAD_TO_SD * _nanmedian_last(dev)[:, None]
        typical = np.broadcast_to(np.nan_to_num(typical, nan=0.0), mad.shape)
        scale = np.maximum.reduce([np.nan_to_num(MAD_TO_SD * mad, nan=0.0), relative, sampling, typical])
        score = np.abs(g.y - med - national) / scale
    score[n_neigh < half] = np.nan
    return med, n_neigh, scale, score, count_level


def _national_movement(g: _Grid, departure: np.ndarray, judged: np.ndarray,
                       min_orgs: int | None = None) -> np.ndarray:
    """Per series and month, the median departure from the neighbours' median across every organisation with
    the same measure that month (0 where fewer than ``quality.min_national_orgs`` in analysis.yaml report it).
    A month when most
    trusts move together (the COVID-19 peaks of April 2020, January 2021 and January 2022) is then judged
    against that shared movement, so it is not an outlier of any one trust."""
    if min_orgs is None:
        min_orgs = default_registry().analysis.quality.min_national_orgs
    out = np.zeros_like(departure)
    dep = np.where(judged, departure, np.nan)
    for mid in pd.unique(g.measure):
        idx = np.flatnonzero(g.measure == mid)
        if len(idx) < min_orgs:
            continue
        block = dep[idx]
        enough = np.sum(~np.isnan(block), axis=0) >= min_orgs
        col = np.where(enough, _nanmedian_last(block.T), 0.0)
        out[idx] = np.nan_to_num(col, nan=0.0)[None, :]
    return out


#: Passes of the outlier rule: a run of two or three bad months can hide each other (each is among the
#: other's neighbours), so months found in one pass are left out of the neighbours in the next.
MAX_PASSES = 3


def _check_parameters(window: int, threshold: float) -> None:
    if window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd number of months, at least 3; got {window}")
    if not threshold > 0:
        raise ValueError(f"threshold must be positive; got {threshold}")


def _run(
    panel: pd.DataFrame, window: int, threshold: float, registry: Registry | None
) -> tuple[_Grid, list[np.ndarray], np.ndarray] | None:
    """Apply the rule: the grid, the figures shown per cell, and which cells are outliers."""
    _check_parameters(window, threshold)
    g = _grid(panel, registry or default_registry())
    if g is None:
        return None
    flagged = np.zeros(g.y.shape, dtype=bool)
    shown: list[np.ndarray] = []
    for _ in range(MAX_PASSES):
        figures = list(_score(g, np.where(flagged, np.nan, g.y), window))
        # A month keeps the figures of the pass that flagged it (later passes only leave it out of other
        # months' neighbours); the others show the latest pass.
        shown = [np.where(flagged, was, now) for was, now in zip(shown, figures, strict=True)] if shown else figures
        found = (figures[3] > threshold) & ~flagged
        flagged |= found
        if not found.any():
            break
    return g, shown, flagged


def outlier_scores(
    panel: pd.DataFrame, *, window: int = 7, threshold: float = 5.0, registry: Registry | None = None
) -> pd.DataFrame:
    """The numbers behind :func:`flag_outliers`, one row per monthly panel row that has a value.

    Columns: ``org_code``, ``measure_id``, ``period``, ``value``, ``neighbours`` (how many neighbouring
    months had a value and were not outliers), ``neighbour_median`` and ``scale`` (both on the natural
    scale of the measure; for counts the scale is the change one scale unit makes at the median),
    ``score`` (|difference| / scale on the comparison scale; NaN where fewer than ``window // 2``
    neighbours had a value) and ``outlier`` (bool). The index is the panel's. A flagged month shows the
    figures of the pass that flagged it, every other month those of the last pass.
    """
    columns = ["org_code", "measure_id", "period", "value", "neighbours", "neighbour_median", "scale", "score"]
    run = _run(panel, window, threshold, registry)
    if run is None:
        return pd.DataFrame({**{c: [] for c in columns}, "outlier": np.array([], dtype=bool)})
    g, (med, n_neigh, scale, score, count_level), flagged = run
    s, m = g.series, g.month
    sel = panel.iloc[g.rows]
    is_count = g.kind[s] == "count"
    natural_median = np.where(is_count, count_level[s, m], med[s, m])
    natural_scale = np.where(is_count, (count_level[s, m] + _LOG_OFFSET) * np.expm1(scale[s, m]), scale[s, m])
    return pd.DataFrame(
        {
            "org_code": sel["org_code"].to_numpy(),
            "measure_id": sel["measure_id"].to_numpy(),
            "period": sel["period"].to_numpy(),
            "value": sel["value"].to_numpy(dtype=float),
            "neighbours": n_neigh[s, m],
            "neighbour_median": natural_median,
            "scale": natural_scale,
            "score": score[s, m],
            "outlier": flagged[s, m],
        },
        index=sel.index,
    )


def flag_outliers(
    panel: pd.DataFrame,
    *,
    window: int = 7,
    threshold: float = 5.0,
    registry: Registry | None = None,
) -> pd.DataFrame:
    """Flag months far out of line with their neighbours (typically an incomplete submission).

    **Rule.** Each organisation's monthly series of each measure is checked month by month. The month's
    value is compared with the median of its neighbours: the other months in a centred window of
    ``window`` calendar months (by default the three months before and the three after; fewer at the ends
    of the series or around gaps, and suppressed or missing months do not count). The month is flagged
    "outlier" when it differs from that median by more than ``threshold`` (default 5) times a robust
    scale: 1.4826 x the median absolute deviation (MAD) of the neighbours' values from their median, which
    estimates a standard deviation without being pulled by one odd month. Because six neighbours can by
    chance sit unusually close together, the scale is never below any of three floors: 2% of the median
    (so a perfectly flat series does not turn a small wobble into an outlier); the sampling noise expected
    at that level for counts (Poisson: a standard deviation of the square root of the count) and for
    proportions with a denominator (binomial: sqrt(p(1 - p) / denominator)); and the series' own typical
    distance of a month from its neighbours' median (1.4826 x the median, over all its months, of that
    distance). Counts are compared on the log scale (log(count + 0.5)), because their noise grows with
    their level and an incomplete submission is a proportional shortfall; proportions and rates on their
    own scale. A month needs at least ``window // 2`` neighbours with a value to be judged. The check is
    repeated (at most three passes) with the months already flagged left out of everyone's neighbours, so
    that two or three bad months in a row cannot hide each other. Because each month is judged against
    months on both sides, a lasting change in level (a service change at go-live, the COVID-19 drop) is
    not flagged. Each month is also judged against the national pattern: where at least
    ``quality.min_national_orgs`` (analysis.yaml) organisations report the measure, the median of their
    departures from their own neighbours that month (the national movement) is taken off before scoring, so
    a month when most trusts move together -- the COVID-19 peaks of April 2020, January 2021 and the Omicron
    wave of January 2022 -- is not an outlier of any one trust. An isolated month unlike both its
    neighbours and the national movement is flagged, whether a data error or a real local one-off, so
    flagged months are for a person to judge. A change in the first or last few months of a series, where the
    neighbours lie on one side only, can also be flagged.

    Only ``period_type == "month"`` rows with a value are checked. Returns a copy of the panel with
    "outlier" appended to ``quality_flags`` (``;``-separated, never twice) on flagged rows; flags are
    only added, so running it again, or on a panel from :func:`evaluation.sources.load_panel` (which
    already applies it), changes nothing. Flagged months stay in the panel: :func:`exclude_outliers`
    sets them aside for model fitting, and the validate command lists them.
    """
    out = panel.copy()
    run = _run(panel, window, threshold, registry)
    if run is None:
        return out
    g, _, flagged = run
    mask = np.zeros(len(panel), dtype=bool)
    mask[g.rows[flagged[g.series, g.month]]] = True
    out["quality_flags"] = _append_flag(out["quality_flags"], mask, OUTLIER_FLAG)
    return out


def exclude_outliers(series: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split panel rows into those to fit a model on and those flagged "outlier" (kept apart, not lost).

    Returns ``(kept, excluded)``, both with the input's columns and index, in the input's order.
    """
    out = has_flag(series["quality_flags"], OUTLIER_FLAG).to_numpy()
    return series.loc[~out], series.loc[out]


# --------------------------------------------------------------------------------------------------
# Summary


def _ym(periods: Iterable[pd.Timestamp]) -> list[str]:
    return sorted({f"{pd.Timestamp(p):%Y-%m}" for p in periods})


def _missing_months(periods: pd.Series) -> list[str]:
    if periods.empty:
        return []
    full = pd.date_range(periods.min(), periods.max(), freq="MS")
    return _ym(full.difference(pd.DatetimeIndex(periods.unique())))


def quality_summary(
    panel: pd.DataFrame,
    reports: Sequence[ReadReport],
    org_code: str,
    measure_ids: Sequence[str],
    registry: Registry | None = None,
) -> dict:
    """What the inputs hold for one organisation: per measure, and the row accounting of every input file.

    Per measure (keyed by id, sorted), for the measure's own period type in the data dictionary
    (``month`` unless the measure is unknown; for rolling 12-month measures the months are the months each
    period ends in):

    * ``period_type``, ``first_month`` and ``last_month`` (``YYYY-MM``, None without rows);
    * ``months_present`` (months with a row, suppressed or not) and ``missing_months`` (months between the
      first and last without a row);
    * ``share_suppressed`` (of the rows present, rounded to 4 decimal places; None without rows);
    * ``outlier_months`` (rows flagged "outlier" -- the panel is expected to come from
      :func:`evaluation.sources.load_panel` or :func:`flag_outliers`) and ``provisional_months``;
    * ``period_types``: every period type present for the measure, with its row count;
    * ``level_shifts``: lasting changes in level (:func:`level_shifts`), each ``month``, ``level_before``,
      ``level_after`` and ``description``;
    * ``national_peak_months``: months of the series that were national peaks or troughs
      (:func:`national_peaks`), such as a COVID-19 wave.

    ``files``: per input, sorted by path: layout, rows read, kept and rejected (by reason), and whether the
    file could not be used (``blocking``). Every value is JSON-safe and every list sorted.
    """
    registry = registry or default_registry()
    types = {m.id: m.period_type for m in registry.measures}
    org = panel[panel["org_code"] == org_code]
    wanted = panel[panel["measure_id"].isin(list(measure_ids))]
    shifts = level_shifts(wanted, registry=registry, org_codes=[org_code])
    peaks = national_peaks(wanted, registry=registry)
    measures: dict[str, dict] = {}
    for mid in sorted(set(measure_ids)):
        rows = org[org["measure_id"] == mid]
        ptype = types.get(mid, "month")
        main = rows[rows["period_type"] == ptype]
        periods = main["period"]
        measures[mid] = {
            "period_type": ptype,
            "first_month": f"{periods.min():%Y-%m}" if len(periods) else None,
            "last_month": f"{periods.max():%Y-%m}" if len(periods) else None,
            "months_present": int(periods.nunique()),
            "missing_months": _missing_months(periods),
            "share_suppressed": round(float(main["suppressed"].mean()), 4) if len(main) else None,
            "outlier_months": _ym(main.loc[has_flag(main["quality_flags"], OUTLIER_FLAG), "period"]),
            "provisional_months": _ym(main.loc[main["status"].eq("provisional"), "period"]),
            "period_types": {str(k): int(v) for k, v in sorted(rows["period_type"].value_counts().items())},
            "level_shifts": [
                {"month": f"{x.month:%Y-%m}", "level_before": round(x.level_before, 4),
                 "level_after": round(x.level_after, 4), "description": x.describe()}
                for x in shifts if x.measure_id == mid],
            "national_peak_months": sorted(set(peaks.get(mid, [])) & set(_ym(periods))),
        }
    files = [
        {
            "path": r.path,
            "layout": r.layout,
            "rows_read": int(r.rows_read),
            "rows_kept": int(r.rows_kept),
            "rows_rejected": int(r.rows_rejected),
            "rejected": {str(k): int(v) for k, v in sorted(r.rejected.items())},
            "balanced": bool(r.balanced),
            "blocking": list(r.blocking),
        }
        for r in sorted(reports, key=lambda r: r.path)
    ]
    return {"org_code": org_code, "measures": measures, "files": files}


# --------------------------------------------------------------------------------------------------
# Baseline level shifts and national peaks


@dataclass(frozen=True)
class LevelShift:
    """A lasting change in one organisation's series from ``month`` on (a data-quality finding: a change in
    recording, a service transfer or a merger, to be judged by a person), on the measure's natural scale."""

    org_code: str
    measure_id: str
    month: pd.Timestamp
    level_before: float  # median of the ``window`` months before
    level_after: float  # median of the ``window`` months from ``month`` on
    score: float  # |change| / month-to-month noise, after the national movement is taken off

    def describe(self) -> str:
        """'from about 2,850 to 1,900 a month from September 2018' (plain words for notes and caveats)."""
        return (f"from about {_about(self.level_before)} to {_about(self.level_after)} from {self.month:%B %Y}")


def _about(value: float) -> str:
    if abs(value) >= 1000:
        return f"{round(value, -2):,.0f}"
    if abs(value) >= 100:
        return f"{round(value, -1):,.0f}"
    return f"{value:.3g}"


def _window_medians(y: np.ndarray, w: int, *, mean: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per series and month t: the median (or mean) of months t-w..t-1 and of months t..t+w-1 (NaN unless
    at least ``w - 1`` of each have a value)."""
    padded = np.pad(y, ((0, 0), (w, w)), constant_values=np.nan)
    win = sliding_window_view(padded, w, axis=1)  # win[:, k] covers padded k..k+w-1 = y k-w..k-1
    n_months = y.shape[1]
    before_win = win[:, 0:n_months]  # y t-w .. t-1
    after_win = win[:, w:w + n_months]  # y t .. t+w-1
    need = w - 1
    ok = (np.sum(~np.isnan(before_win), axis=2) >= need) & (np.sum(~np.isnan(after_win), axis=2) >= need)
    if mean:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return (np.where(ok, np.nanmean(before_win, axis=2), np.nan),
                    np.where(ok, np.nanmean(after_win, axis=2), np.nan))
    return np.where(ok, _nanmedian_last(before_win), np.nan), np.where(ok, _nanmedian_last(after_win), np.nan)


def level_shifts(panel: pd.DataFrame, *, registry: Registry | None = None,
                 org_codes: Iterable[str] | None = None) -> list[LevelShift]:
    """Lasting level shifts in every (or the given) organisation's monthly series.

    **Rule** (facts in ``quality`` of analysis.yaml). At each month t the median of the ``level_shift_window``
    months before t is compared with the median of the same number of months from t on (counts on the log
    scale). The national movement -- the median of the same comparison across organisations reporting the
    measure, where at least ``min_national_orgs`` do -- is taken off, so the COVID-19 drop of April 2020,
    shared by every trust, is not a shift of any one trust. A shift is reported at the month where the
    change is largest when it is at least ``level_shift_min_change`` (counts: on the log scale; others:
    relative to the earlier level) and at least ``level_shift_min_score`` times the series' month-to-month
    noise (1.4826 x the median absolute month-to-month difference, divided by sqrt 2). Reported shifts are at
    least a window apart. Months flagged "outlier" are left out; isolated odd months cannot move a median of
    six, so a single-month peak is never a shift. Sorted by organisation, measure and month.
    """
    registry = registry or default_registry()
    facts = registry.analysis.quality
    w = facts.level_shift_window
    kept = panel[~has_flag(panel["quality_flags"], OUTLIER_FLAG)] if len(panel) else panel
    g = _grid(kept, registry)
    if g is None or g.y.shape[1] < 2 * w:
        return []  # too short for a window either side of any month
    before, after = _window_medians(g.y, w)
    change = after - before
    national = _national_movement(g, change, ~np.isnan(change), facts.min_national_orgs)
    adjusted = change - national
    noise = MAD_TO_SD * _nanmedian_last(np.abs(np.diff(g.y, axis=1))) / np.sqrt(2.0)
    is_count = g.kind == "count"
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = np.where(is_count[:, None], np.abs(adjusted), np.abs(adjusted) / np.abs(before))
        score = np.abs(adjusted) / np.maximum(noise, 1e-12)[:, None]
    candidate = (relative >= facts.level_shift_min_change) & (score >= facts.level_shift_min_score)
    candidate &= ~np.isnan(score)
    # Medians are robust but locate a shift only roughly (a median of six moves once four months have
    # moved); window means, with the national movement taken off in the same way, place it exactly.
    mb, ma = _window_medians(g.y, w, mean=True)
    mean_change = ma - mb
    locate = np.abs(mean_change - _national_movement(g, mean_change, ~np.isnan(mean_change), facts.min_national_orgs))
    sel = kept.iloc[g.rows]
    series_org = np.empty(len(g.measure), dtype=object)
    series_org[g.series] = sel["org_code"].to_numpy()
    wanted = None if org_codes is None else set(org_codes)
    first = pd.DatetimeIndex(sel["period"]).min()
    out: list[LevelShift] = []
    for s in np.flatnonzero(candidate.any(axis=1)):
        if wanted is not None and series_org[s] not in wanted:
            continue
        taken: list[int] = []
        for t in sorted(np.flatnonzero(candidate[s]), key=lambda t: (-score[s, t], t)):
            if all(abs(t - u) >= w for u in taken):
                taken.append(int(t))
        taken = [_refine(locate[s], t, w) for t in taken]
        for t in sorted(taken):
            lo, hi = before[s, t], after[s, t]
            if is_count[s]:
                lo, hi = np.exp(lo) - _LOG_OFFSET, np.exp(hi) - _LOG_OFFSET
            out.append(LevelShift(str(series_org[s]), str(g.measure[s]), first + pd.DateOffset(months=t),
                                  float(lo), float(hi), float(score[s, t])))
    return sorted(out, key=lambda x: (x.org_code, x.measure_id, x.month))


def _refine(locate: np.ndarray, t: int, w: int) -> int:
    """The month within half a window of ``t`` where the window means differ most (``t`` itself on ties)."""
    lo, hi = max(0, t - w // 2), min(len(locate), t + w // 2 + 1)
    near = np.nan_to_num(locate[lo:hi], nan=-1.0)
    best = lo + int(np.argmax(near))
    return best if near.max() > np.nan_to_num(locate[t], nan=-1.0) else t


def national_peaks(panel: pd.DataFrame, *, registry: Registry | None = None, window: int = 7) -> dict[str, list[str]]:
    """Per measure, the months (``YYYY-MM``) of a national peak or trough, such as a COVID-19 or winter
    flu wave: months when the national movement (the median, across the organisations reporting the measure
    where at least ``quality.min_national_orgs`` do, of each one's departure from its own neighbours'
    median) is at least ``quality.national_peak_score`` times its typical size (1.4826 x its median absolute
    value over all months). Shared by most trusts, such a month is never a local data problem."""
    registry = registry or default_registry()
    facts = registry.analysis.quality
    g = _grid(panel, registry)
    if g is None:
        return {}
    half = window // 2
    padded = np.pad(g.y, ((0, 0), (half, half)), constant_values=np.nan)
    win = sliding_window_view(padded, window, axis=1).copy()
    win[:, :, half] = np.nan
    departure = g.y - _nanmedian_last(win)
    first = pd.DatetimeIndex(panel.iloc[g.rows]["period"]).min()
    out: dict[str, list[str]] = {}
    for mid in sorted(pd.unique(g.measure)):
        block = departure[g.measure == mid]
        reporting = np.sum(~np.isnan(block), axis=0)
        movement = np.where(reporting >= facts.min_national_orgs, _nanmedian_last(block.T), np.nan)
        if np.isnan(movement).all():
            continue
        typical = MAD_TO_SD * float(np.nanmedian(np.abs(movement)))
        if typical <= 0:
            continue
        months = np.flatnonzero(np.abs(np.nan_to_num(movement)) >= facts.national_peak_score * typical)
        if len(months):
            out[str(mid)] = [f"{first + pd.DateOffset(months=int(t)):%Y-%m}" for t in months]
    return out


def baseline_shifts(panel: pd.DataFrame, org_code: str, measure_ids: Sequence[str], go_live: pd.Timestamp | str,
                    *, registry: Registry | None = None) -> dict[str, LevelShift]:
    """Per measure, the latest level shift at ``org_code`` before go-live (the month an evaluation asked to
    start its baseline after a shift starts it from); measures without one are left out. The national
    movement is judged from every organisation in ``panel`` reporting the measure."""
    when = pd.Timestamp(go_live)
    rows = panel[panel["measure_id"].isin(list(measure_ids))]
    found: dict[str, LevelShift] = {}
    for shift in level_shifts(rows, registry=registry, org_codes=[org_code]):
        if shift.month < when:
            found[shift.measure_id] = shift  # sorted by month: the latest wins
    return found
