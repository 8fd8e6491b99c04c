"""Comparative designs: each site against a pool of comparator organisations that never had the programme.

Three designs, each answering "what would the site have looked like without the programme?" with a
different counterfactual built from the comparators:

* :func:`comparative_its` -- comparative interrupted time series / difference-in-differences of one site
  against the mean of the comparator pool (statsmodels GLS with AR(1) errors);
* :func:`staggered_did` -- staggered-adoption difference-in-differences across the sites that went live
  at different months: Callaway & Sant'Anna (2021) group-time effects ATT(g, t), their simple, group and
  event-time aggregations, and a pre-trend test (estimates from the maintained ``csdid`` package, a port of
  R's ``did``);
* :func:`synthetic_control` -- a synthetic control per site with donor weights, pre-period fit and a
  placebo-in-space permutation p-value (weights from the maintained ``pysyncon`` package).

:func:`site_vs_comparators` and :func:`staggered_from_panel` build the inputs from the measure panel
(:mod:`evaluation.panel.frame`) and return JSON-safe dictionaries for the results files.

Why the inference is not simply the libraries' default
------------------------------------------------------
Each site is a single organisation. Standard errors that are right when many units are treated are wrong
when one is:

* a cluster-robust (by organisation) standard error of a site-specific effect is degenerate -- the
  treated cluster's score is zero by the normal equations (MacKinnon & Webb 2018, *Econometrics Journal*
  21:114-135) -- so :func:`comparative_its` models the time series of the site-minus-comparators gap,
  with AR(1) errors, instead;
* the Callaway-Sant'Anna analytic (influence-function) standard errors treat a cohort's mean outcome
  change as estimated from many treated units; with one treated organisation per cohort the site's own
  month-to-month noise is left out and the intervals are far too narrow (on the synthetic data the
  pre-treatment ATT(g, t), which are zero in truth, scatter more than twice as widely as their analytic
  standard errors allow). Its Wald
  pre-test is also not computable with monthly data: there are hundreds of pre-treatment ATT(g, t) and a
  few dozen organisations, so their covariance matrix is singular. :func:`staggered_did` therefore
  reports, besides the library's analytic results, placebo-in-space inference in the spirit of Conley &
  Taber (2011, *Review of Economics and Statistics* 93:113-125): comparators are relabelled as pseudo-sites
  with the real cohort sizes, the same estimator is re-applied, and the spread of those placebo estimates
  gives the standard errors, intervals, p-values and the reference distribution of the pre-trend Wald
  statistic. This is the one hand-written part of the module; it re-applies the library's 2x2 formula
  (a difference of mean outcome changes, exact for ``est_method="reg"`` without covariates) and checks on
  every call that it reproduces the library's ATT(g, t) and aggregations for the real assignment.

The placebo methods assume that, had they not had the programme, the sites would have varied about their
comparator-based counterfactual as much as the comparators vary about theirs. Comparators much smaller
or larger than the sites make that approximate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from evaluation.methods.comparative_common import (
    _LINKS,
    _SCALES,
    MIN_NEVER_TREATED,
    ValueType,
    _check_value_type,
    _link,
    _natural,
)
from evaluation.methods.comparative_its import comparative_its
from evaluation.methods.plain import json_safe
from evaluation.methods.staggered_did import StaggeredDiDResult, staggered_did
from evaluation.methods.synthetic_control import synthetic_control

__all__ = [
    "MIN_NEVER_TREATED",
    "StaggeredDiDResult",
    "comparative_its",
    "site_vs_comparators",
    "staggered_did",
    "staggered_from_panel",
    "synthetic_control",
]


# --- from the measure panel ---------------------------------------------------------------------------------


def _panel_measure(panel: pd.DataFrame, measure_id: str, orgs: Sequence[str]) -> pd.DataFrame:
    """Monthly, unsuppressed, non-missing rows of one measure for the given organisations.

    Final and provisional rows are both used (the panel already lets a final row replace its provisional
    one); quarterly and rolling 12-month rows never enter a monthly design.
    """
    sel = panel[
        (panel["measure_id"] == measure_id)
        & (panel["period_type"] == "month")
        & panel["org_code"].isin(list(orgs))
        & ~panel["suppressed"].astype(bool)
        & panel["value"].notna()
    ]
    out = sel[["org_code", "period", "value"]].copy()
    out["period"] = pd.to_datetime(out["period"])
    return out.sort_values(["org_code", "period"], kind="mergesort").reset_index(drop=True)


def _month(value: Any, what: str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    if ts.day != 1:
        raise ValueError(f"{what} must be the first day of a month, got {value!r}")
    return ts.normalize()


def site_vs_comparators(
    panel: pd.DataFrame,
    *,
    measure_id: str,
    site_org: str,
    comparator_orgs: Sequence[str],
    intervention: Any,
    value_type: ValueType,
    placebo: bool = True,
) -> dict[str, Any]:
    """Comparative ITS and synthetic control of one site against the comparator pool, from the panel.

    Outcome scales (so that organisations of different sizes are comparable):

    * comparative ITS works on the link scale of ``value_type`` -- log counts, logit proportions, rates as
      they are -- where size is a constant the site-minus-comparators gap absorbs; the step is a rate
      ratio, odds ratio or difference;
    * synthetic control needs every unit on the same footing, because its weights average levels: counts
      are divided by the unit's own pre-period mean (an index, 1 = that unit's pre-period average), so
      ``mean_gap`` is a share of the site's pre-period level; proportions and rates are used as they are.

    Returns a JSON-safe dict with ``comparative_its`` and ``synthetic_control`` (see those functions), the
    periods, and the comparators used; a design that cannot run (too short a series, too few donors) is
    reported under ``errors`` rather than failing the other one.
    """
    _check_value_type(value_type)
    start = _month(intervention, "intervention")
    comps = [c for c in comparator_orgs if c != site_org]
    data = _panel_measure(panel, measure_id, [site_org, *comps])
    if site_org not in set(data["org_code"]):
        raise ValueError(f"no usable monthly {measure_id} values for {site_org!r}")
    result: dict[str, Any] = {
        "measure_id": measure_id,
        "site_org": site_org,
        "intervention_date": start,
        "value_type": value_type,
        "comparators_requested": list(comps),
        "errors": {},
    }
    try:
        result["comparative_its"] = comparative_its(
            data,
            unit="org_code",
            time="period",
            outcome="value",
            treated_unit=site_org,
            treatment_time=start,
            value_type=value_type,
            comparators=comps,
        )
    except ValueError as exc:
        result["comparative_its"] = None
        result["errors"]["comparative_its"] = str(exc)

    sc_data = data.copy()
    if value_type == "count":
        pre_mean = sc_data[sc_data["period"] < start].groupby("org_code")["value"].mean()
        sc_data["value"] = sc_data["value"] / sc_data["org_code"].map(pre_mean)
        sc_data = sc_data[np.isfinite(sc_data["value"])]
        outcome_desc = "value divided by the organisation's own pre-period mean (index, 1 = pre-period average)"
    else:
        outcome_desc = "value as published"
    try:
        result["synthetic_control"] = synthetic_control(
            sc_data,
            unit="org_code",
            time="period",
            outcome="value",
            treated_unit=site_org,
            treatment_time=start,
            donors=comps,
            placebo=placebo,
        )
        result["synthetic_control"]["outcome"] = outcome_desc
    except ValueError as exc:
        result["synthetic_control"] = None
        result["errors"]["synthetic_control"] = str(exc)
    return json_safe(result)


def staggered_from_panel(
    panel: pd.DataFrame,
    *,
    measure_id: str,
    sites: Mapping[str, Any],
    comparator_orgs: Sequence[str],
    value_type: ValueType,
    control_group: Literal["never_treated", "not_yet_treated"] = "never_treated",
    n_placebo: int = 999,
    pretrend_periods: int | None = 12,
    seed: int = 20240401,
    sensitivity: bool = True,
) -> dict[str, Any]:
    """Staggered difference-in-differences of the sites (org code -> go-live month) against the comparators.

    The outcome is put on the link scale of ``value_type`` (log counts, logit proportions, rates as they
    are) so that organisation size drops out of the differences; effects on that scale are also given on the
    natural scale (``natural``: exp for rate or odds ratios, unchanged for rate differences). Returns
    :meth:`StaggeredDiDResult.to_dict` plus the measure, the sites and the scale. ``overall`` is the group
    aggregation; ``info`` lists the sites included and every exclusion with its reason. With
    ``sensitivity`` (and the main analysis using never-treated controls), ``not_yet_treated_sensitivity``
    holds the overall (group) effect with not-yet-treated sites added to the controls, or the reason it
    could not be estimated.
    """
    _check_value_type(value_type)
    starts = {org: _month(month, f"sites[{org!r}]") for org, month in sites.items()}
    comps = [c for c in comparator_orgs if c not in starts]
    data = _panel_measure(panel, measure_id, [*starts, *comps])
    data["y"] = _link(data["value"].to_numpy(), value_type)
    data = data[np.isfinite(data["y"])]
    data["first_treated"] = data["org_code"].map(starts)
    res = staggered_did(
        data,
        unit="org_code",
        time="period",
        outcome="y",
        first_treated="first_treated",
        control_group=control_group,
        n_placebo=n_placebo,
        pretrend_periods=pretrend_periods,
        seed=seed,
    )
    out = res.to_dict()

    def natural(d: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: (None if d.get(k) is None else _natural(float(d[k]), value_type))
            for k in ("estimate", "ci_low", "ci_high")
        }

    out["overall"]["natural"] = natural(out["overall"])
    out["simple"]["natural"] = natural(out["simple"])
    out["group"]["overall"]["natural"] = natural(out["group"]["overall"])
    out["event_time"]["overall"]["natural"] = natural(out["event_time"]["overall"])
    for row in out["group"]["by_group"]:
        row["natural"] = natural({"estimate": row["att"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]})
    if sensitivity and control_group == "never_treated":
        try:
            nyt = staggered_did(data, unit="org_code", time="period", outcome="y", first_treated="first_treated",
                                control_group="not_yet_treated", n_placebo=n_placebo,
                                pretrend_periods=pretrend_periods, seed=seed)
        except ValueError as exc:
            out["not_yet_treated_sensitivity"] = {"status": "skipped", "reason": str(exc).splitlines()[0]}
        else:
            overall = json_safe(dict(nyt.overall))
            overall["natural"] = natural(overall)
            out["not_yet_treated_sensitivity"] = {"status": "ok", "control_group": "not_yet_treated",
                                                  "overall": overall}
    out.update(
        {
            "measure_id": measure_id,
            "value_type": value_type,
            "scale": _SCALES[value_type],
            "link": _LINKS[value_type],
            "sites": {org: start for org, start in starts.items()},
            "comparators_requested": list(comps),
        }
    )
    return json_safe(out)
