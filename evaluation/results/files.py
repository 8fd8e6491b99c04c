"""Results files and plain-English findings.

The results file (``build/results/<site>/<domain>.json``) is the contract between the notebooks and the
site: the overview and cross-site pages read these, never a notebook's internals. Keys may be added, never
renamed. Sentences are generated here, from the numbers, so a test can check that each sentence states
exactly what the interval supports.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from evaluation.evaluate.domain import DomainEvaluation, MeasureEvaluation
from evaluation.results.jsonsafe import json_safe

SCALE_WORDS = {
    "rate_ratio": "rate ratio",
    "odds_ratio": "odds ratio",
    "difference": "difference",
}


def _round(x: float | None, digits: int = 6) -> float | None:
    """Round for stable, readable JSON (identical inputs give identical bytes)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return None
    return float(f"{x:.{digits}g}")


def _pct(ratio: float) -> float:
    return abs(ratio - 1.0) * 100.0


def _fmt_pct(x: float) -> str:
    return f"{x:.0f}%" if x >= 1 else f"{x:.1f}%"


def _subject(m: MeasureEvaluation) -> str:
    name = m.measure.name
    subject = name[0].lower() + name[1:]
    # Counts read as plurals ("referrals were"); a rate is one thing ("the sickness absence rate was").
    return f"the {subject}" if m.measure.value_type == "rate" else subject


def finding_sentence(ev: DomainEvaluation, m: MeasureEvaluation) -> str:
    """One plain-English sentence for a measure's step change, never claiming more than the interval."""
    when = f"{ev.intervention_date:%B %Y}"
    label = ev.site.intervention_label
    subject = _subject(m)
    if m.status == "not_in_data":
        return f"{m.measure.name}: {m.reason}, so no finding can be given for {ev.site.name}."
    if m.status == "descriptive":
        return (f"{m.measure.name} is described with a control chart only ({m.reason}).")
    if m.status == "not_estimable":
        return f"{m.measure.name} could not be evaluated for {ev.site.name}: {m.reason}."
    step = m.its.step
    lead = f"After {label} ({when}), {subject}"
    if m.its.scale == "difference":
        unit = "percentage points"
        est, lo, hi = step.estimate, step.ci_low, step.ci_high
        if lo > 0 or hi < 0:
            word = "higher" if est > 0 else "lower"
            a, b = sorted([abs(lo), abs(hi)])
            return (f"{lead} was {abs(est):.2f} {unit} {word} than expected from the earlier trend "
                    f"(95% CI {a:.2f} to {b:.2f} {unit} {word}).")
        where = "about the same as expected" if abs(est) < 0.005 else (
            f"{abs(est):.2f} {unit} {'higher' if est > 0 else 'lower'}")
        return (f"{lead} showed no clear change from the earlier trend: the estimate was {where}, but the 95% CI "
                f"runs from {abs(lo):.2f} {unit} lower to {abs(hi):.2f} {unit} higher, so no change cannot be "
                "ruled out.")
    what = f"the odds of {m.measure.odds_event}" if m.its.scale == "odds_ratio" else subject
    lead = f"After {label} ({when}), {what}"
    verb = "were"
    est, lo, hi = step.estimate, step.ci_low, step.ci_high
    if lo > 1 or hi < 1:
        word = "higher" if est > 1 else "lower"
        a, b = sorted([_pct(lo), _pct(hi)])
        return (f"{lead} {verb} {_fmt_pct(_pct(est))} {word} than expected from the earlier trend "
                f"(95% CI {_fmt_pct(a)} to {_fmt_pct(b)} {word}).")
    return (f"{lead} showed no clear change from the earlier trend: the estimate was {_fmt_pct(_pct(est))} "
            f"{'higher' if est > 1 else 'lower'}, but the 95% CI runs from {_fmt_pct(_pct(lo))} lower to "
            f"{_fmt_pct(_pct(hi))} higher, so no change cannot be ruled out.")


def direction_word(m: MeasureEvaluation) -> str:
    """Whether the interval shows a change in the improving direction, the worsening one, or neither."""
    if m.status != "ok":
        return "not assessed"
    null = 0.0 if m.its.scale == "difference" else 1.0
    lo, hi = m.its.step.ci_low, m.its.step.ci_high
    if lo <= null <= hi:
        return "no clear change"
    up = lo > null
    if m.measure.direction == "neutral":
        return "higher" if up else "lower"
    improving = up == (m.measure.direction == "increase")
    return "improvement" if improving else "deterioration"


def _estimate_dict(est) -> dict:
    return {
        "estimate": _round(est.estimate),
        "ci_low": _round(est.ci_low),
        "ci_high": _round(est.ci_high),
        "se_link": _round(est.se),
        "p_value": _round(est.p_value, 4),
    }


def _rounded(obj):
    """Round every float in a nested structure (stable JSON)."""
    if isinstance(obj, float):
        return _round(obj)
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj


def robustness_sentence(m: MeasureEvaluation) -> str:
    """The 12-month effect, placebo dates and COVID-19 sensitivity in plain English ('' without a model)."""
    if m.its is None:
        return ""
    parts = []
    twelve = (m.its.effects or {}).get("12")
    if twelve:
        rel = twelve["relative"]
        word = "lower" if rel["estimate"] < 0 else "higher"
        parts.append(f"Twelve months after go-live the model puts the measure {abs(rel['estimate']) * 100:.0f}% {word} "
                     f"than expected (95% CI {rel['ci_low'] * 100:+.0f}% to {rel['ci_high'] * 100:+.0f}%).")
    if m.placebo:
        hits = sum(bool(p["excludes_null"]) for p in m.placebo)
        reading = "as expected when nothing happened" if hits == 0 else "a warning that the series moves on its own"
        parts.append(f"{hits} of {len(m.placebo)} placebo go-live dates before the real one showed a change "
                     f"({reading}).")
    cs = m.covid_sensitivity
    if cs and cs.get("covid_excluded"):
        s = cs["covid_excluded"]["step"]
        parts.append(f"Leaving out the COVID-19 months instead of modelling them gives a step of {s['estimate']:.2f} "
                     f"(95% CI {s['ci_low']:.2f} to {s['ci_high']:.2f}).")
    return " ".join(parts)


def comparative_dict(comp: dict | None) -> dict | None:
    """The comparative results worth publishing: estimates, fit and inference, not per-donor series."""
    if comp is None:
        return None
    listed = {"comparators": comp.get("comparator_list", []), "caveat": comp.get("caveat", "")}
    if comp.get("status") != "ok":
        return {"status": comp.get("status"), "reason": comp.get("reason", ""), **listed}
    out: dict = {"status": "ok", "errors": comp.get("errors", {}), **listed}
    cits = comp.get("comparative_its")
    if cits:
        out["comparative_its"] = {k: cits.get(k) for k in
                                  ("design", "scale", "n_comparators", "n_pre", "n_post", "step", "slope", "did")}
    sc = comp.get("synthetic_control")
    if sc:
        weights = sc.get("weights") or {}
        top = sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
        placebo = sc.get("placebo") or {}
        out["synthetic_control"] = {
            "design": sc.get("design"), "n_donors": sc.get("n_donors"), "pre_rmspe": sc.get("pre_rmspe"),
            "post_rmspe": sc.get("post_rmspe"), "rmspe_ratio": sc.get("rmspe_ratio"), "effect": sc.get("effect"),
            "top_weights": dict(top),
            "placebo": {k: placebo.get(k) for k in ("statistic", "p_value", "rank", "n_placebos")},
        }
    return _rounded(out)


def comparative_sentence(m: MeasureEvaluation) -> str:
    """Plain-English summary of the comparison with other providers ('' when there is none)."""
    comp = m.comparative
    if not comp:
        return ""
    if comp.get("status") != "ok":
        return f"No comparison with other providers: {comp.get('reason', 'not available')}."
    parts = []
    cits = comp.get("comparative_its")
    if cits:
        s = cits["step"]
        scale = cits["scale"].replace("_", " ")
        parts.append(f"Against the average of {cits['n_comparators']} comparator providers (comparative interrupted "
                     f"time series), the step change was a {scale} of {s['estimate']:.2f} "
                     f"(95% CI {s['ci_low']:.2f} to {s['ci_high']:.2f}).")
    sc = comp.get("synthetic_control")
    if sc and sc.get("effect"):
        rel = sc["effect"].get("relative_change")
        placebo = sc.get("placebo") or {}
        if rel is not None:
            word = "below" if rel < 0 else "above"
            parts.append(f"A synthetic control built from those providers put the site {abs(rel) * 100:.0f}% {word} "
                         f"its synthetic comparison after go-live; placebo test p = {placebo.get('p_value', 1):.2f} "
                         f"(rank {placebo.get('rank')} of {(placebo.get('n_placebos') or 0) + 1}).")
    if parts and comp.get("caveat"):
        parts.append(comp["caveat"])
    return " ".join(parts)


def measure_dict(ev: DomainEvaluation, m: MeasureEvaluation) -> dict:
    """The results-file entry for one measure."""
    entry: dict = {
        "measure_id": m.measure.id,
        "name": m.measure.name,
        "headline": m is ev.headline,
        "designated_headline": m.measure.headline,
        "value_type": m.measure.value_type,
        "direction_of_improvement": m.measure.direction,
        "status": m.status,
        "reason": m.reason,
        "n_pre": m.n_pre,
        "n_post": m.n_post,
        "its": None,
        "spc": None,
        "direction": direction_word(m),
        "summary": finding_sentence(ev, m),
        "caveats": list(m.caveats),
        "comparative": comparative_dict(m.comparative),
        "comparative_summary": comparative_sentence(m),
    }
    if m.its is not None:
        its = m.its
        entry["its"] = {
            "scale": its.scale,
            "model": its.model,
            "cov_type": its.cov_type,
            "hac_maxlags": its.hac_maxlags,
            "dispersion": _round(its.dispersion),
            "step": _estimate_dict(its.step),
            "slope": _estimate_dict(its.slope),
            "pre_slope": _estimate_dict(its.pre_slope),
            "autocorrelation": _round(its.autocorrelation),
            "effects": _rounded(json_safe(its.effects)),
            "overdispersion_test": _rounded(json_safe(its.overdispersion_test)),
            "autocorrelation_test": _rounded(json_safe(its.autocorrelation_test)),
        }
        entry["placebo"] = _rounded(json_safe(m.placebo))
        entry["covid_sensitivity"] = _rounded(json_safe(m.covid_sensitivity))
        entry["robustness_summary"] = robustness_sentence(m)
    if m.xmr is not None:
        s = m.xmr.summary
        entry["spc"] = {
            "variation_icon": s.get("variation_icon"),
            "assurance_icon": s.get("assurance_icon"),
            "mean": _round(s.get("mean")),
            "lpl": _round(s.get("lpl")),
            "upl": _round(s.get("upl")),
            "trial_limits": bool(s.get("trial", False)),
        }
    return entry


def results_dict(ev: DomainEvaluation, inputs: list[dict]) -> dict:
    """The results file for one site x domain, in the DESIGN.md schema (plus added keys)."""
    return {
        "site": ev.site.id,
        "site_name": ev.site.name,
        "ods_code": ev.site.ods_code,
        "domain": ev.domain_id,
        "domain_name": ev.domain_name,
        "data_source": ev.data_source,
        "inputs": sorted(inputs, key=lambda d: d["path"]),
        "intervention_date": ev.intervention_date.isoformat(),
        "intervention_label": ev.site.intervention_label,
        "intervention_is_assumption": ev.site.intervention_is_assumption,
        "headline_measure": ev.headline.measure.id,
        "measures": [measure_dict(ev, m) for m in ev.measures],
    }


def write_json(data: dict, path: Path | str) -> Path:
    """Write JSON deterministically (sorted keys, fixed indent, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_results(results_dir: Path | str) -> list[dict]:
    """Every results file under ``results_dir``, sorted by site then domain."""
    files = sorted(Path(results_dir).glob("*/*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]
