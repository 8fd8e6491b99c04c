"""What a published chart may draw: only what the published tables show, or what follows from it.

A chart's points can be read back from the picture (an SVG keeps every coordinate, and its axis ticks give
the scale), so every monthly value a chart draws goes through the same rule as a table
(``data_dictionary/disclosure.yaml``):

* **counts** are drawn after suppression and rounding: a month the table shows as ``*`` is a gap, never a
  value, and every other month sits on a multiple of the rounding base;
* **proportions and rates** are drawn at the precision the table shows them, and not at all in a month whose
  numerator or denominator is under the threshold;
* everything **computed from monthly values** (SPC means and limits, an index to the pre-go-live average,
  the residuals of a model) is computed here from the published values, so it can be derived from the
  tables and tells nothing the tables do not. Model estimates (fitted lines, counterfactuals and their bands)
  are exempt under the rules and are drawn as estimated.

These functions take the frames the methods produce and return copies for drawing; the methods' own results
(and the results files) are unchanged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from evaluation.publish.disclosure import DisclosureRules, default_rules, hide_small_points, round_count


def published_values(series: pd.DataFrame, value_type: str, rules: DisclosureRules | None = None) -> pd.Series:
    """Each month's value as the tables publish it, as a float Series indexed by period (NaN: not shown).

    ``series`` is one organisation's monthly series from the panel (``period``, ``value``, and for
    proportions and rates ``numerator`` and ``denominator``; ``suppressed`` if the publisher suppressed
    any). Counts from 1 to threshold - 1 (and 0 unless zeros are shown) are NaN, other counts are rounded
    to the rounding base; proportions and rates are NaN where a table would suppress them and otherwise
    rounded to ``published_decimals``.
    """
    rules = rules or default_rules()
    periods = pd.to_datetime(series["period"])
    values = pd.to_numeric(series["value"], errors="coerce").astype(float)
    if "suppressed" in series:
        values = values.where(~series["suppressed"].fillna(False).astype(bool))
    out = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(periods, name="period"), dtype=float)
    if value_type == "count":
        shown = []
        for v in out:
            if math.isnan(v) or (v == 0 and not rules.show_zero) or 0 < v < rules.threshold:
                shown.append(float("nan"))
            else:
                shown.append(float(round_count(round(v), rules)))
        return pd.Series(shown, index=out.index, dtype=float)
    hidden = hide_small_points(series.assign(value=values), value_type, rules)
    out[out.index.isin(list(hidden))] = float("nan")
    return out.round(rules.published_decimals.get(value_type, rules.published_decimals["rate"]))


def _aligned(periods: pd.Series | pd.Index, published: pd.Series) -> np.ndarray:
    """The published value of each of ``periods`` (NaN where the series has no published value)."""
    index = pd.DatetimeIndex(pd.to_datetime(pd.Series(periods)).to_numpy())
    return published.groupby(level=0).first().reindex(index).to_numpy(dtype=float)


def spc_points_for_publication(points: pd.DataFrame, series: pd.DataFrame, value_type: str, improvement: str,
                               rules: DisclosureRules | None = None, *, baseline_end: int | None = None
                               ) -> pd.DataFrame:
    """The XmR chart re-drawn from the published values: points, means, limits and rule colours.

    ``points`` is :attr:`evaluation.methods.spc.XmRResult.points` (its ``phase`` column gives where the
    limits were recalculated); ``series`` the monthly series it was built from. The mean and limits of a
    phase rest on the published values of that phase only, so no line on the chart gives back the sum of
    the months a table hides.
    """
    from evaluation.methods.spc import xmr

    shown = _aligned(points["period"], published_values(series, value_type, rules))
    phases = points["phase"].to_numpy()
    starts = [i for i in range(1, len(phases)) if phases[i] != phases[i - 1]]
    if np.isnan(shown).all():
        out = points.copy()
        for col in ("value", "mean", "lpl", "upl", "moving_range"):
            out[col] = float("nan")
        out["point_type"] = "missing"
        return out
    if baseline_end is not None and 0 < baseline_end < len(shown):
        # As the fitted chart: limits from the baseline before go-live carried forward, recalculated only after
        # a sustained shift (here judged on the published values).
        chart = xmr(shown, improvement=improvement, baseline_end=baseline_end, periods=list(points["period"]))
    else:
        chart = xmr(shown, improvement=improvement, rebase_at=starts or None, periods=list(points["period"]))
    return chart.points


def its_frame_for_publication(frame: pd.DataFrame, series: pd.DataFrame, value_type: str,
                              rules: DisclosureRules | None = None) -> pd.DataFrame:
    """The interrupted time series frame with ``observed`` replaced by the published values.

    The fitted line, the counterfactual and its band are model estimates and are kept as estimated.
    """
    out = frame.copy()
    out["observed"] = _aligned(out["period"], published_values(series, value_type, rules))
    return out


def synthetic_control_for_publication(path: pd.DataFrame, series: pd.DataFrame, value_type: str, intervention,
                                      rules: DisclosureRules | None = None, *, index_decimals: int = 2
                                      ) -> pd.DataFrame:
    """The synthetic-control path (``time``, ``actual``, ``synthetic``) as it may be drawn.

    For counts the site's line is recomputed from the published values, indexed to the mean of the published
    pre-go-live months, and hidden months are gaps; the synthetic line (a weighted mix of comparators'
    indices, a model estimate) is rounded to ``index_decimals``. For proportions and rates both lines are
    drawn at the published precision, with the site's hidden months as gaps.
    """
    rules = rules or default_rules()
    out = path.copy()
    out["time"] = pd.to_datetime(out["time"])
    shown = _aligned(out["time"], published_values(series, value_type, rules))
    if value_type == "count":
        pre = (out["time"] < pd.Timestamp(intervention)).to_numpy() & ~np.isnan(shown)
        base = float(np.mean(shown[pre])) if pre.any() else float("nan")
        out["actual"] = shown / base if base and not math.isnan(base) else float("nan")
        out["synthetic"] = out["synthetic"].astype(float).round(index_decimals)
    else:
        decimals = rules.published_decimals.get(value_type, rules.published_decimals["rate"])
        out["actual"] = shown
        out["synthetic"] = out["synthetic"].astype(float).round(decimals)
    return out


def diagnostics_for_publication(diag: dict, frame: pd.DataFrame, series: pd.DataFrame, value_type: str,
                                rules: DisclosureRules | None = None, *, rho: float = 0.0) -> dict:
    """The residual diagnostics panel recomputed from the published values.

    A month's residual and the fitted line on the ITS chart give the month's exact value back, and the Q-Q
    points are the months' residuals sorted; so every panel is recomputed from the published values
    (``frame`` is the ITS frame with ``fitted``): residuals ``(published - fitted) / sqrt(fitted)`` for
    counts (the Pearson residual of the published value), ``published - fitted`` standardised by their
    standard deviation otherwise; the residuals left after the AR(1) error model by the Prais-Winsten
    transform with the fitted ``rho``; hidden months are gaps and are left out of the ACF and the Q-Q plot.
    Returns a copy of ``diag`` with ``residuals``, ``acf``, ``qq`` and a ``residual_label`` replaced.
    """
    from scipy import stats

    fitted = frame.assign(period=pd.to_datetime(frame["period"])).set_index("period")["fitted"].astype(float)
    periods = pd.to_datetime(pd.Series([r["period"] for r in diag["residuals"]]))
    mu = fitted.groupby(level=0).first().reindex(pd.DatetimeIndex(periods)).to_numpy()
    shown = _aligned(periods, published_values(series, value_type, rules))
    if value_type == "count":
        resid = (shown - mu) / np.sqrt(np.where(mu > 0, mu, np.nan))
        label = "Pearson residual (published values)"
    else:
        raw = shown - mu
        sd = float(np.nanstd(raw, ddof=1)) if np.isfinite(raw).sum() > 1 else float("nan")
        resid = raw / sd if sd and math.isfinite(sd) else raw * float("nan")
        label = "Standardised residual (published values)"
    months = pd.DatetimeIndex(periods).to_period("M")
    gap = np.r_[True, (months[1:] - months[:-1]).map(lambda d: d.n).to_numpy() != 1] if len(months) else []
    prev = np.r_[np.nan, resid[:-1]]
    prev = np.where(gap, np.nan, prev)
    scale = math.sqrt(1 - rho**2) if abs(rho) < 1 else float("nan")
    normalized = np.where(np.isnan(prev), resid, (resid - rho * prev) / scale) if rho else resid.copy()
    out = dict(diag)
    out["residual_label"] = label
    out["residuals"] = [{**r, "residual": _num(v), "normalized": _num(m)}
                        for r, v, m in zip(diag["residuals"], resid, normalized, strict=True)]
    nlags = len(diag["acf"]["lags"])
    calendar = pd.period_range(months.min(), months.max(), freq="M") if len(months) else months
    on_cal = pd.Series(resid, index=months).reindex(calendar).to_numpy()
    norm_cal = pd.Series(normalized, index=months).reindex(calendar).to_numpy()
    n = int(np.isfinite(resid).sum())
    out["acf"] = {**diag["acf"], "values": _acf(on_cal, nlags), "normalized": _acf(norm_cal, nlags),
                  "band": float(stats.norm.ppf(0.975) / math.sqrt(n)) if n else float("nan"), "n": n}
    kept = normalized[np.isfinite(normalized)]
    if len(kept) > 1:
        sd = float(np.std(kept, ddof=1)) or 1.0
        sample = np.sort((kept - kept.mean()) / sd)
        theoretical = stats.norm.ppf((np.arange(1, len(kept) + 1) - 0.5) / len(kept))
        out["qq"] = {"theoretical": [float(v) for v in theoretical], "sample": [float(v) for v in sample]}
    else:
        out["qq"] = {"theoretical": [], "sample": []}
    return out


def _num(value: float) -> float | None:
    return float(value) if math.isfinite(value) else float("nan")


def _acf(x: np.ndarray, nlags: int) -> list[float]:
    """Autocorrelation at lags 1..nlags over calendar months; pairs with a gap are left out."""
    ok = np.isfinite(x)
    if ok.sum() < 2:
        return [0.0] * nlags
    centred = np.where(ok, x - x[ok].mean(), 0.0)
    denom = float(np.sum(centred[ok] ** 2)) or 1.0
    values = []
    for k in range(1, nlags + 1):
        both = ok[k:] & ok[:-k]
        values.append(float(np.sum(centred[k:][both] * centred[:-k][both]) / denom))
    return values
