"""Every sentence the site prints about a finding, made from the typed results (one module, one wording).

The headline reports the primary estimand (:class:`~evaluation.results.schema.Primary`): the change in the
first year after go-live, absolute per month and relative (percent for counts, percentage points for
proportions and rates), with its 95% confidence interval. No sentence claims more than that interval supports:
when it includes no change, the sentence says the data are consistent with no change and gives no direction.
Model-scale wording (rate ratio, odds ratio, difference) lives in :data:`SCALE_WORDS` and is used only where
a table shows the model's own coefficient; stakeholder sentences never mention odds.
"""

from __future__ import annotations

import re

from evaluation.dictionary.disclosure_facts import count_rounding
from evaluation.results.schema import (
    DomainResult,
    Findings,
    Interval,
    MeasureResult,
    MetaAnalysis,
    Primary,
    Reading,
)

#: The model scales in words (the one definition).
SCALE_WORDS = {"rate_ratio": "rate ratio", "odds_ratio": "odds ratio", "difference": "difference"}
#: The value of each scale that means "no change".
NULL = {"rate_ratio": 1.0, "odds_ratio": 1.0, "difference": 0.0}
#: Plural unit words and their singular.


def scale_words(scale: str) -> str:
    """A model scale in words ("rate ratio")."""
    return SCALE_WORDS.get(scale, scale.replace("_", " "))


def excludes(interval: Interval, null: float = 0.0) -> str | None:
    """"higher" or "lower" when the 95% interval lies wholly on one side of ``null``, else None."""
    if interval.ci_low is not None and interval.ci_low > null:
        return "higher"
    if interval.ci_high is not None and interval.ci_high < null:
        return "lower"
    return None


def reading(status: str, primary: Primary | None, improvement: str) -> Reading:
    """Whether the first-year change's 95% interval (the primary estimand the headline reports) shows
    improvement, deterioration, neither, or was not assessed (no estimate, or none yet a year after go-live)."""
    if status != "ok" or primary is None:
        return "not assessed"
    side = excludes(primary.relative)
    if side is None:
        return "no clear change"
    if improvement == "neutral":
        return side
    return "improvement" if (side == "higher") == (improvement == "increase") else "deterioration"


def tidy(text: str) -> str:
    """Text from elsewhere in the package with "month(s)"-style plurals made right ("1 month", "2 months")."""
    return re.sub(r"\b(\d[\d,]*) (\w+)\(s\)", lambda m: f"{m.group(1)} {m.group(2)}{'' if m.group(1) == '1' else 's'}",
                  text)


def go_live(result: DomainResult) -> str:
    """The go-live a result used, in words: the programme's label and month, or "go-live set by the analyst:
    <month>" when the run gave its own date (never the programme's milestone label then)."""
    if result.intervention_set_by_analyst:
        return f"go-live set by the analyst: {result.intervention_date:%B %Y}"
    return f"{result.intervention_label}, {result.intervention_date:%B %Y}"


def percent(x: float) -> str:
    """An unsigned percentage ("12%", below 1% with one decimal)."""
    x = abs(x)
    return f"{x:.0f}%" if x >= 1 else f"{x:.1f}%"


def _points_number(x: float) -> str:
    """An unsigned number of percentage points: one decimal, two below 0.05 so a small change is not shown as 0."""
    return f"{abs(x):.1f}" if abs(x) >= 0.05 else f"{abs(x):.2f}"


def points(x: float) -> str:
    """Unsigned percentage points, with the right number ("1.0 percentage point" is still plural in use)."""
    return f"{_points_number(x)} percentage points"


def quantity(x: float, unit: str) -> str:
    """An unsigned amount of a count measure a month, rounded as a published count is ("about 495 referrals
    per month"; below the disclosure threshold "under 5 referrals per month"), so a model estimate in words
    can never be read as an exact small count (``data_dictionary/disclosure.yaml``)."""
    threshold, base = count_rounding()
    n = abs(x)
    first, _, rest = unit.partition(" ")
    text = f"under {threshold}" if n < threshold else f"about {base * round(n / base):,}"
    return f"{text} {first}{' ' + rest if rest else ''}"


def _step_size(x: float, scale: str) -> str:
    return points(x) if scale == "difference" else percent((x - 1) * 100)


def step_change(step: Interval, scale: str) -> str:
    """A step change as an unsigned size and a side: "12% lower" for ratios, "0.5 percentage points higher"."""
    return f"{_step_size(step.estimate, scale)} {_side(step.estimate - NULL[scale])}"


def step_range(step: Interval, scale: str) -> str:
    """A step's 95% interval in words: "from 5% lower to 20% higher"."""
    lo, hi = step.ci_low, step.ci_high
    return (f"from {_step_size(lo, scale)} {_side(lo - NULL[scale])} to {_step_size(hi, scale)} "
            f"{_side(hi - NULL[scale])}")


def relative_text(p: Primary, x: float) -> str:
    """A relative change in its unit, unsigned."""
    return percent(x) if p.relative_unit == "percent" else points(x)


def _subject(m: MeasureResult) -> str:
    subject = m.name[0].lower() + m.name[1:]
    # Counts read as plurals ("referrals were"); a share or a rate is one thing ("the share ... was").
    return subject if m.value_type == "count" else f"the {subject}" if not subject.startswith("the ") else subject


def _when(p: Primary) -> str:
    if p.basis != "average_months_1_to_12":
        return "a year after go-live"
    if not p.complete:  # fewer than 12 months after go-live in the data: say over how many
        return f"on average over the {p.months} {'month' if p.months == 1 else 'months'} after go-live in the data"
    return "on average over the first year after go-live"


def _interval_range(p: Primary) -> str:
    r = p.relative
    return f"from {relative_text(p, r.ci_low)} {_side(r.ci_low)} to {relative_text(p, r.ci_high)} {_side(r.ci_high)}"


def _side(x: float) -> str:
    return "lower" if x < 0 else "higher"


def headline_sentence(result: DomainResult, m: MeasureResult) -> str:
    """What happened, in one plain sentence: the first-year change (primary estimand) in percent or percentage
    points and, for counts, in the measure's own units; no direction when its interval includes no change.
    How sure we are is :func:`interval_sentence`; whether it is good is :func:`verdict_sentence`."""
    if m.status == "not_in_data":
        return f"{m.name}: {tidy(m.reason)}, so we have no finding for {result.site_name}."
    if m.status == "descriptive":
        return f"{m.name} is shown as a chart of the monthly figures only ({tidy(m.reason)})."
    if m.status == "not_estimable":
        return f"We could not measure a change in {_lower(m.name)} for {result.site_name}: {tidy(m.reason)}."
    verb = "were" if m.value_type == "count" else "was"
    p = m.primary
    if p is None:
        n = m.n_post
        return (f"It is too soon to measure a change in {_subject(m)}: the data hold {n} "
                f"{'month' if n == 1 else 'months'} after go-live and we need 12.")
    when = _when(p)
    lead = f"{when[0].upper()}{when[1:]} ({result.intervention_date:%B %Y}), {_subject(m)}"
    side = excludes(p.relative)
    r = p.relative
    if side is not None:
        if p.relative_unit == "percent":
            return (f"{lead} {verb} {percent(r.estimate)} {side} than expected from the earlier trend: "
                    f"{quantity(p.absolute.estimate, p.unit)} {side}.")
        return f"{lead} {verb} {points(r.estimate)} {side} than expected from the earlier trend."
    best = f"{relative_text(p, r.estimate)} {_side(r.estimate)} than expected"
    if p.relative_unit == "percent":
        best += f" ({quantity(p.absolute.estimate, p.unit)})"
    return f"{lead} showed no clear change from the earlier trend. Our best estimate is {best}."


def _lower(name: str) -> str:
    return name[0].lower() + name[1:]


#: Whether a change is good, by the measure's direction of improvement.
_BETTER = {"decrease": "Lower is better here", "increase": "Higher is better here"}


def verdict_sentence(m: MeasureResult) -> str:
    """Whether the first-year change is good news, from the measure's direction of improvement ('' when there is
    no estimate): "Lower is better here: this looks like an improvement."."""
    if m.direction == "not assessed":
        return ""
    if m.role == "secondary" and not m.headline and m.direction in ("improvement", "deterioration"):
        # Many measures are checked: a secondary one is exploratory, never called an improvement on its own.
        return ("This is one of several measures checked, so treat it as exploratory: it points to a change "
                f"{'for the better' if m.direction == 'improvement' else 'for the worse'}, not a firm finding.")
    better = _BETTER.get(m.direction_of_improvement)
    if better is None:
        return "For this measure, higher is neither better nor worse."
    if m.direction == "no clear change":
        return f"{better}, but there is no clear change yet."
    good = m.direction == "improvement"
    return f"{better}: this looks like {'an improvement' if good else 'a change for the worse'}."


def interval_sentence(m: MeasureResult) -> str:
    """How sure we are: the 95% confidence interval of the first-year change in words, saying plainly whether
    the whole range lies on one side of no change or includes it (no double negative)."""
    p = m.primary
    if m.status != "ok" or p is None:
        return "No interval: this measure has no first-year estimate."
    r = p.relative
    side = excludes(r)
    if side is not None:
        a, b = sorted([abs(r.ci_low), abs(r.ci_high)])
        if p.relative_unit == "percent":
            span = f"{percent(a)} and {percent(b)}"
        else:  # one precision for both bounds
            digits = 2 if min(a, b) < 0.05 else 1
            span = f"{a:.{digits}f} and {b:.{digits}f} percentage points"
        return (f"How sure we are: the change is likely to be between {span} {side} than expected (95% confidence "
                f"interval). The whole range is "
                f"{side}, so this is a clear change.")
    return (f"How sure we are: the change could be anything {_interval_range(p)} than expected (95% confidence "
            f"interval). That includes no change, so we cannot tell yet.{mde_clause(p)}")


def mde_clause(p: Primary) -> str:
    """Beside a finding whose interval includes no change: the smallest change this much data would usually
    detect (80% power, 5% two-sided), so "no clear change" is not read as "no change" ('' without one)."""
    if p.mde is None or p.mde.relative_decrease is None or p.mde.relative_increase is None:
        return ""
    down, up = abs(p.mde.relative_decrease), abs(p.mde.relative_increase)
    size = (f"{percent(down)} down or {percent(up)} up" if p.relative_unit == "percent"
            else f"{_points_number(down)} percentage points either way")
    return f" With this much data, a change smaller than about {size} would usually be missed."


def golive_clause(m: MeasureResult) -> str:
    """When moving the go-live date by 3 or 6 months, or leaving out the first months, changes the conclusion
    ('' when it does not, or when it was not checked)."""
    if not m.depends_on_go_live:
        return ""
    return (" This conclusion depends on the go-live date: with the date moved by a few months, or the first "
            "months left out, the answer changes (the site page shows each date tried).")


#: What each Making Data Count variation icon says about the latest month, by the reading it would match.
_ICON_AGREES = {"improvement": ("improvement_",), "deterioration": ("concern_",), "no clear change": ("common_cause",),
                "higher": ("neutral_high", "improvement_high", "concern_high"),
                "lower": ("neutral_low", "improvement_low", "concern_low")}


def spc_note(m: MeasureResult) -> str:
    """One line when the Making Data Count icon seems to disagree with the headline ('' when they agree): the
    icon describes month-to-month variation, the headline the change against the expected trend."""
    icon = m.spc.variation_icon if m.spc else None
    if not icon or m.direction == "not assessed" or icon.startswith(_ICON_AGREES.get(m.direction, ())):
        return ""
    return ("Why the icon can differ: it compares recent months with the months before, while the headline "
            "compares the first year with the trend we expected.")


def estimate_text(m: MeasureResult) -> str:
    """The first-year change with its interval, signed, for tables ("-15% (-26% to -4%)")."""
    p = m.primary
    if m.status != "ok" or p is None:
        return "not estimated"
    r = p.relative
    if p.relative_unit == "percent":
        return f"{r.estimate:+.0f}% ({r.ci_low:+.0f}% to {r.ci_high:+.0f}%)"
    return f"{r.estimate:+.1f} points ({r.ci_low:+.1f} to {r.ci_high:+.1f})"


def model_estimate_text(m: MeasureResult) -> str:
    """The step change on the model's own scale, for readers of the method ("rate ratio 0.84 (0.74 to 0.95)")."""
    if m.status != "ok" or m.its is None:
        return "not estimated"
    s = m.its.step
    return f"{scale_words(m.its.scale)} {s.estimate:.3f} (95% CI {s.ci_low:.3f} to {s.ci_high:.3f})"


def chart_caption(m: MeasureResult, kind: str) -> str:
    """A chart's caption that states the finding, then how to read the chart (``kind``: "its", "spc" or
    "synthetic_control"), for the notebooks' figures."""
    f = m.findings
    finding = f.headline if f else ""
    if kind == "its":
        return (f"{finding} Solid line: the model. Dashed line and grey band: what the earlier trend predicted "
                "without the change.").strip()
    if kind == "spc":
        return ("Each point is a month. The dashed lines show the usual range, worked out from the months before "
                "go-live and carried forward; a point outside it, or a long run on one side of the mean, is unusual.")
    if kind == "synthetic_control":
        return (f"{f.comparative if f else ''} Solid line: the site. Dashed line: a blend of other providers "
                "matched on the years before go-live.").strip()
    return finding


def robustness_sentence(m: MeasureResult) -> str:
    """The checks of the headline in plain words: made-up earlier go-live dates and the COVID-19 months ('' without
    a model). The numbers behind them are in :func:`technical_sentences`."""
    if m.its is None:
        return ""
    parts = []
    if m.placebo:
        hits = sum(p.excludes_null for p in m.placebo)
        n = len(m.placebo)
        found = ("none of them showed a change, as we would hope" if hits == 0
                 else f"{hits} of them showed a change, a warning that the figures move on their own")
        parts.append(f"We also tried {n} made-up go-live {'date' if n == 1 else 'dates'} before the real one: "
                     f"{found}.")
    cs = m.covid_sensitivity
    if cs is not None and cs.covid_excluded is not None:
        same = (excludes(cs.covid_excluded.step, NULL[cs.covid_excluded.scale])
                == excludes(cs.main.step, NULL[cs.main.scale]))
        parts.append(f"Leaving out the COVID-19 months {'gives the same answer' if same else 'changes the answer'}.")
    return " ".join(parts)


def comparative_sentence(m: MeasureResult) -> str:
    """The comparison with other providers in plain words ('' when there is none); the designs' names and
    statistics are in :func:`technical_sentences`."""
    comp = m.comparative
    if comp is None:
        return ""
    if comp.status != "ok":
        return f"No comparison with other providers: {tidy(comp.reason) or 'not available'}."
    parts = []
    cits = comp.comparative_its
    if cits is not None:
        n = cits.n_comparators
        side = excludes(cits.step, NULL[cits.scale])
        verdict = ("we found no clear difference from them" if side is None
                   else f"the change at go-live was {step_change(cits.step, cits.scale)} than theirs")
        parts.append(f"Compared with {n} other {'provider' if n == 1 else 'providers'}, {verdict}.")
    sc = comp.synthetic_control
    if sc is not None and sc.effect is not None and sc.effect.relative_change is not None:
        rel = sc.effect.relative_change
        span = ""
        # The relative interval, on the point estimate's scale (ci_low / ci_high are the gap's, in outcome units).
        if sc.effect.relative_ci_low is not None and sc.effect.relative_ci_high is not None:
            lo, hi = sc.effect.relative_ci_low * 100, sc.effect.relative_ci_high * 100
            span = (f" (95% interval {percent(lo)} {'below' if lo < 0 else 'above'} to {percent(hi)} "
                    f"{'below' if hi < 0 else 'above'})")
        parts.append(f"Against a blend of those providers matched on the years before go-live, the site was "
                     f"{percent(rel * 100)} {'below' if rel < 0 else 'above'} the blend after go-live{span}.")
    if parts and comp.caveat:
        # The caveat in plain words (its exact wording is in the technical detail).
        parts.append("The other providers also had money to change their services from 2021/22, so this shows "
                     "only what the site's own programme added, and may understate it.")
    return " ".join(parts)


def technical_sentences(m: MeasureResult) -> list[str]:
    """The statistics behind a measure's plain sentences, for a collapsed "Technical detail" section: the model
    and its step change, its checks, the placebo dates, the COVID-19 sensitivity and the comparative designs."""
    its = m.its
    if its is None:
        return []
    out = [f"Model: segmented regression ({its.model}, {its.cov_type} standard errors); step change at go-live "
           f"{model_estimate_text(m)}"
           + (f", p = {its.step.p_value:.3g}" if its.step.p_value is not None else "") + "."]
    checks = [t.interpretation for t in [its.autocorrelation_test] if t is not None and t.interpretation]
    checks += [t.family_check for t in [its.overdispersion_test] if t is not None and t.family_check]
    if checks:
        out.append("Model checks: " + "; ".join(checks) + ".")
    if m.placebo:
        hits = sum(p.excludes_null for p in m.placebo)
        out.append(f"Placebo go-live dates: {hits} of {len(m.placebo)} had a 95% interval excluding no change.")
    cs = m.covid_sensitivity
    if cs is not None and cs.covid_excluded is not None:
        s, main = cs.covid_excluded.step, cs.main.step
        out.append(f"COVID-19 sensitivity: step with those months left out {step_change(s, cs.covid_excluded.scale)} "
                   f"(95% CI {step_range(s, cs.covid_excluded.scale)}); main model "
                   f"{step_change(main, cs.main.scale)}.")
    comp = m.comparative
    if comp is not None and comp.status == "ok":
        cits = comp.comparative_its
        if cits is not None:
            out.append(f"Comparative interrupted time series against {cits.n_comparators} comparator providers: "
                       f"{scale_words(cits.scale)} {cits.step.estimate:.3f} (95% CI {cits.step.ci_low:.3f} to "
                       f"{cits.step.ci_high:.3f}).")
        sc = comp.synthetic_control
        if sc is not None:
            pl = sc.placebo
            p_text = f"placebo test p = {pl.p_value:.2f}" if pl.p_value is not None else "no placebo test"
            rank = f" (rank {pl.rank} of {(pl.n_placebos or 0) + 1})" if pl.rank is not None else ""
            out.append(f"Synthetic control from {sc.n_donors} donor providers: {p_text}{rank}.")
        if comp.caveat:
            out.append(comp.caveat)
    return out


def easy_read_sentences(m: MeasureResult) -> list[str]:
    """Easy-read sentences: short, no jargon, and no direction at all when the interval includes no change."""
    out = [f"We looked at: {m.name[0].lower() + m.name[1:]}."]
    p = m.primary
    if m.status != "ok" or p is None:
        return out + ["We could not check this with the numbers we have."]
    side = excludes(p.relative)
    if side is None:
        return out + ["We cannot tell yet if this changed.",
                      "It may have gone up, gone down or stayed the same.",
                      "We need more months of numbers to know."]
    out.append(f"After the change, this was {side} than we expected.")
    if p.relative_unit == "percent":
        # "83 for every 100 expected": whole numbers, no percentages.
        est, lo, hi = (round(100 + x) for x in (p.relative.estimate, p.relative.ci_low, p.relative.ci_high))
        out.append(f"For every 100 we expected, there were about {est}.")
        out.append(f"The real number is likely to be between {lo} and {hi}.")
    out.append(f"We are fairly sure it was {side}.")
    if m.direction_of_improvement in ("increase", "decrease"):
        good = (side == "higher") == (m.direction_of_improvement == "increase")
        out.append(f"{'Higher' if m.direction_of_improvement == 'increase' else 'Lower'} is better here, so this "
                   f"looks like {'good' if good else 'bad'} news.")
    return out


# --- provisional months (issue 15): one clause added to the headline, kept apart from the sentences above ---


def provisional_clause(m: MeasureResult) -> str:
    """' Most of the months after go-live (75%) are provisional figures that may still be revised.' when more
    than half of them are ('' otherwise, and for a measure with no months after go-live)."""
    share = m.provisional_share_post
    if share is None or share <= 0.5 or m.status == "not_in_data":
        return ""
    if share >= 1:
        return " Every month after go-live is a provisional figure that may still be revised."
    return f" Most of the months after go-live ({share:.0%}) are provisional figures that may still be revised."


def findings(result: DomainResult, m: MeasureResult) -> Findings:
    """Every sentence for one measure."""
    # The reading and the icons are read from ``m``: the model is complete before its sentences are made.
    return Findings(headline=headline_sentence(result, m) + provisional_clause(m) + golive_clause(m),
                    verdict=verdict_sentence(m),
                    interval=interval_sentence(m), spc_note=spc_note(m), robustness=robustness_sentence(m),
                    comparative=comparative_sentence(m), technical=technical_sentences(m),
                    easy_read=easy_read_sentences(m))


def _pooled_size(x: float, scale: str) -> str:
    """A pooled value as a change in words ("12% lower", "0.4 percentage points higher")."""
    return f"{_step_size(x, scale)} {_side(x - NULL[scale])}"


def meta_sentence(meta: MetaAnalysis) -> str:
    """The sites' combined change at go-live in plain words: its size, whether it is clear, how sure we are and
    how much the sites differ (the statistics are in :func:`meta_technical`).

    Counts (rate ratios) are given in percent and rates (differences) in percentage points. A proportion's
    model scale is the odds ratio, which converts to percentage points only at a known baseline: its combined
    change is given in words (higher, lower or no clear change), never as odds.
    """
    name = meta.name[0].lower() + meta.name[1:]
    subject = name if meta.value_type == "count" else f"the {name}"
    sites = f"{meta.k} {'site' if meta.k == 1 else 'sites'}"
    pooled, scale = meta.pooled, meta.scale
    side = excludes(pooled, NULL[scale])
    i2 = meta.heterogeneity.i2
    spread = "a little" if i2 < 0.3 else "moderately" if i2 < 0.6 else "a lot"
    differ = f" The sites differ {spread} from each other."
    if scale == "odds_ratio":
        head = (f"Taking the {sites} together, {subject} showed no clear change at go-live: the data are "
                "consistent with no change." if side is None else
                f"Taking the {sites} together, {subject} was {side} after go-live than the earlier trend "
                "predicted, on average.")
        return head + differ
    if side is None:
        head = (f"Taking the {sites} together, {subject} showed no clear change at go-live. The combined estimate "
                f"is {step_change(pooled, scale)}, but the data fit anything {step_range(pooled, scale)}.")
    else:
        verb = "were" if meta.value_type == "count" else "was"
        head = (f"Taking the {sites} together, {subject} {verb} {step_change(pooled, scale)} at go-live than the "
                f"earlier trend predicted, on average. The data fit a change {step_range(pooled, scale)}.")
    return head + differ


def meta_technical(scale: str, i2: float, prediction: tuple[float, float] | None = None) -> list[str]:
    """The statistics behind :func:`meta_sentence`, for a collapsed technical section."""
    out = [f"Random-effects meta-analysis of the sites' step changes ({scale_words(scale)} scale); "
           f"heterogeneity I\u00b2 = {i2 * 100:.0f}%."]
    if prediction is not None:
        out.append(f"95% prediction interval for a new site: {prediction[0]:.2f} to {prediction[1]:.2f} "
                   f"({scale_words(scale)}).")
    return out


def cross_site_guide(site_names: list[str], did_site_names: list[str] | None = None) -> list[str]:
    """What the cross-site page shows, in plain words, for the top of that page: what pooling means, which
    sites each figure includes and why the table against other providers can differ from the pooled figure."""
    sites = _and(site_names)
    out = [f"This page puts the sites together: {sites}. For each measure, the combined figure is an average of "
           "the sites' changes at go-live, giving more weight to sites whose figures are more certain.",
           "The chart shows each site's change with its range, and the combined change as a diamond at the bottom."]
    did = _and(did_site_names) if did_site_names else sites
    out.append(f"The table compares the sites ({did}) with other providers that did not start the programme in "
               "the same period, over all the months after go-live. It asks a different question from the combined "
               "figure, which compares each site with its own earlier trend at go-live, so the two can differ.")
    return out


def _and(names: list[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else "none"
