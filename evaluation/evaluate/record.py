"""Record an evaluation as typed results: :class:`DomainEvaluation` -> :class:`DomainResult`.

The only place that reads the method objects (ITS, SPC, comparative outputs) to fill the results models; every
sentence is then made from the models by :mod:`evaluation.results.sentences`, so the words follow the numbers
written to the file.
"""

from __future__ import annotations

from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.results.schema import (
    Comparative,
    DomainResult,
    Effect,
    Interval,
    ITSSummary,
    MeasureResult,
    Primary,
    RunParameters,
    SPCSummary,
)
from evaluation.results.sentences import findings, reading

#: Donor weights published per synthetic control (the rest are in the method's own output).
TOP_WEIGHTS = 5


def _estimate(est) -> dict | None:
    """An ITS coefficient (``evaluation.methods.its.Estimate``) as results fields."""
    if est is None:
        return None
    return {"estimate": est.estimate, "ci_low": est.ci_low, "ci_high": est.ci_high, "se_link": est.se,
            "p_value": est.p_value}


def its_summary(its) -> ITSSummary:
    """The published part of an ``ITSResult`` (no monthly frame, no residuals)."""
    return ITSSummary(
        scale=its.scale, model=its.model, cov_type=its.cov_type, hac_maxlags=its.hac_maxlags,
        dispersion=its.dispersion, autocorrelation=its.autocorrelation,
        step=_estimate(its.step), slope=_estimate(its.slope), pre_slope=_estimate(its.pre_slope),
        effects=its.effects or {}, overdispersion_test=its.overdispersion_test,
        autocorrelation_test=its.autocorrelation_test,
    )


def primary_estimand(summary: ITSSummary, value_type: str, unit: str) -> Primary | None:
    """The first-year change: absolute per month in the measure's units, and relative (percent for counts,
    percentage points for proportions and rates), from the model's 12-month effect (None before month 12)."""
    effect: Effect | None = summary.effects.get("12")
    if effect is None:
        return None
    a = effect.absolute
    if value_type == "count":
        if effect.relative is None:
            return None
        r = effect.relative
        relative = Interval(estimate=r.estimate * 100, ci_low=r.ci_low * 100, ci_high=r.ci_high * 100)
        unit_of_relative = "percent"
    else:
        scale = 100.0 if value_type == "proportion" else 1.0  # a rate is already in percent
        relative = Interval(estimate=a.estimate * scale, ci_low=a.ci_low * scale, ci_high=a.ci_high * scale)
        unit_of_relative = "percentage_points"
    return Primary(basis="effect_in_month_12", unit=unit, absolute=a, relative=relative,
                   relative_unit=unit_of_relative)


def primary_result(pe, unit: str) -> Primary:
    """The pre-specified primary estimand from the model (:class:`evaluation.methods.its_estimand.PrimaryEstimand`):
    the average effect over the first 12 months after go-live (fewer when the data stop sooner)."""
    def interval(e) -> dict:
        return {"estimate": e.estimate, "ci_low": e.ci_low, "ci_high": e.ci_high}

    return Primary(months=pe.months, basis="average_months_1_to_12", unit=unit, absolute=interval(pe.absolute),
                   relative=interval(pe.relative), relative_unit=pe.relative_scale, complete=pe.complete,
                   p_value=pe.relative.p_value,
                   mde={"absolute": pe.mde.absolute, "relative_decrease": pe.mde.relative_decrease,
                        "relative_increase": pe.mde.relative_increase})


def sensitivity_rows(sens) -> list[dict]:
    """The go-live sensitivity and phase-in re-estimates (:class:`evaluation.methods.its_sensitivity
    .GoLiveSensitivity`), main analysis first."""
    rows = []
    for r in sens.rows:
        pe = r.primary
        rows.append({"kind": r.kind, "label": r.label, "go_live": r.go_live[:10], "note": r.note,
                     "months_after": None if pe is None else pe.months, "conclusion": r.conclusion,
                     "relative": None if pe is None else {"estimate": pe.relative.estimate,
                                                           "ci_low": pe.relative.ci_low,
                                                           "ci_high": pe.relative.ci_high}})
    return rows


def comparative_summary(comp: dict | None) -> Comparative | None:
    """The comparative results worth publishing: estimates, fit and inference, not per-donor series."""
    if comp is None:
        return None
    listed = {"comparators": comp.get("comparator_list", []), "caveat": comp.get("caveat", "")}
    if comp.get("status") != "ok":
        return Comparative.model_validate({"status": comp.get("status") or "skipped",
                                           "reason": comp.get("reason", ""), **listed})
    cits = comp.get("comparative_its")
    sc = comp.get("synthetic_control")
    synthetic = None
    if sc:
        weights = sc.get("weights") or {}
        top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_WEIGHTS]
        placebo = sc.get("placebo") or {}
        synthetic = {
            "design": sc.get("design"), "n_donors": sc.get("n_donors"), "pre_rmspe": sc.get("pre_rmspe"),
            "post_rmspe": sc.get("post_rmspe"), "rmspe_ratio": sc.get("rmspe_ratio"), "effect": sc.get("effect"),
            "top_weights": dict(top),
            "placebo": {k: placebo.get(k) for k in ("statistic", "p_value", "rank", "n_placebos")},
        }
    keep = ("design", "scale", "n_comparators", "n_pre", "n_post", "step", "slope", "did")
    return Comparative.model_validate({
        "status": "ok", "errors": comp.get("errors", {}), **listed,
        "comparative_its": {k: cits.get(k) for k in keep} if cits else None,
        "synthetic_control": synthetic,
    })


def covid_summary(cs: dict | None) -> dict | None:
    """The COVID-19 sensitivity with each coefficient's ``se`` named ``se_link`` like every other estimate."""
    if not cs:
        return None

    def fit(f: dict | None) -> dict | None:
        if not f:
            return None
        out = {**f, **{k: _renamed(f.get(k)) for k in ("step", "slope")}}
        pe = out.pop("primary", None)  # each model's primary estimand: its relative change is what is compared
        if isinstance(pe, dict) and isinstance(pe.get("relative"), dict):
            out["primary_relative"] = {k: pe["relative"].get(k) for k in ("estimate", "ci_low", "ci_high")}
        return out

    return {**cs, "main": fit(cs.get("main")), "covid_excluded": fit(cs.get("covid_excluded"))}


def _renamed(est: dict | None) -> dict | None:
    if est is None:
        return None
    out = {k: v for k, v in est.items() if k != "se"}
    out["se_link"] = est.get("se")
    return out


def spc_summary(xmr) -> SPCSummary | None:
    """The Making Data Count reading of an XmR chart."""
    if xmr is None:
        return None
    s = xmr.summary
    return SPCSummary(variation_icon=s.get("variation_icon"), assurance_icon=s.get("assurance_icon"),
                      mean=s.get("mean"), lpl=s.get("lpl"), upl=s.get("upl"), trial_limits=bool(s.get("trial", False)))


def measure_result(ev: DomainEvaluation, m: MeasureEvaluation, data_quality: dict | None = None) -> MeasureResult:
    """One measure's results (sentences not yet attached: see :func:`domain_result`)."""
    summary = its_summary(m.its) if m.its is not None else None
    if getattr(m, "primary", None) is not None:
        primary = primary_result(m.primary, m.measure.unit)
    else:
        primary = primary_estimand(summary, m.measure.value_type, m.measure.unit) if summary else None
    sens = getattr(m, "golive_sensitivity", None)
    return MeasureResult(
        measure_id=m.measure.id, name=m.measure.name, unit=m.measure.unit, value_type=m.measure.value_type,
        direction_of_improvement=m.measure.direction, headline=m is ev.headline,
        designated_headline=m.measure.headline, status=m.status, reason=m.reason, n_pre=m.n_pre, n_post=m.n_post,
        provisional_share_post=m.provisional_share_post, baseline_start=m.baseline_start, per_100k=m.per_100k,
        # The reading follows the first-year change the headline reports, not the model's step.
        direction=reading(m.status, primary, m.measure.direction), caveats=list(m.caveats), primary=primary,
        role=getattr(m, "role", "secondary"), p_holm=getattr(m, "p_holm", None),
        golive_sensitivity=sensitivity_rows(sens) if sens is not None else [],
        depends_on_go_live=sens.depends_on_date if sens is not None else None,
        its=summary, spc=spc_summary(m.xmr),
        placebo=m.placebo if summary else [], covid_sensitivity=covid_summary(m.covid_sensitivity) if summary else None,
        comparative=comparative_summary(m.comparative), data_quality=data_quality,
    )


def domain_result(ev: DomainEvaluation, *, inputs: list[dict] | None = None, input_files: list[dict] | None = None,
                  quality: dict[str, dict | None] | None = None, keep_outliers: bool = False,
                  comparator_min_coverage: float = 0.8, baseline_after_shift: bool = False) -> DomainResult:
    """The results file for one site x domain, every measure with its findings sentences."""
    quality = quality or {}
    bare = DomainResult(
        site=ev.site.id, site_name=ev.site.name, ods_code=ev.site.ods_code, domain=ev.domain_id,
        domain_name=ev.domain_name, data_source=ev.data_source, intervention_date=ev.intervention_date,
        intervention_label=ev.site.intervention_label, intervention_is_assumption=ev.site.intervention_is_assumption,
        intervention_set_by_analyst=ev.intervention_date != ev.site.intervention_date,
        parameters=RunParameters(keep_outliers=keep_outliers, comparator_min_coverage=comparator_min_coverage,
                                 baseline_after_shift=baseline_after_shift),
        inputs=sorted(inputs or [], key=lambda d: d["path"]),
        input_files=sorted(input_files or [], key=lambda d: d["path"]),
        headline_measure=ev.headline.measure.id,
        measures=[measure_result(ev, m, quality.get(m.measure.id)) for m in ev.measures],
        population_notes=list(ev.population_notes),
    )
    measures = [m.model_copy(update={"findings": findings(bare, m)}) for m in bare.measures]
    return bare.model_copy(update={"measures": measures})
