"""Every sentence the site prints about a finding, made from the typed results (one module, one wording).

The headline reports the primary estimand (:class:`~evaluation.results.schema.Primary`): the change in the
first year after go-live, absolute per month and relative (percent for counts, percentage points for
proportions and rates), with its 95% confidence interval. No sentence claims more than that interval supports:
when it includes no change, the sentence says the data are consistent with no change and gives no direction.
Model-scale wording (rate ratio, odds ratio, difference) lives in :data:`SCALE_WORDS` and is used only where
a table shows the model's own coefficient; stakeholder sentences never mention odds.
"""

from __future__ import annotations

from evaluation.dictionary.disclosure_facts import count_rounding
from evaluation.results.schema import (
    DomainResult,
    Findings,
    Interval,
    ITSSummary,
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


def reading(status: str, its: ITSSummary | None, improvement: str) -> Reading:
    """Whether the step change's interval shows improvement, deterioration, neither, or was not assessed."""
    if status != "ok" or its is None:
        return "not assessed"
    side = excludes(its.step, NULL[its.scale])
    if side is None:
        return "no clear change"
    if improvement == "neutral":
        return side
    return "improvement" if (side == "higher") == (improvement == "increase") else "deterioration"


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
    return ("on average over the first year after go-live" if p.basis == "average_months_1_to_12"
            else "a year after go-live")


def _interval_range(p: Primary) -> str:
    r = p.relative
    return f"from {relative_text(p, r.ci_low)} {_side(r.ci_low)} to {relative_text(p, r.ci_high)} {_side(r.ci_high)}"


def _side(x: float) -> str:
    return "lower" if x < 0 else "higher"


def headline_sentence(result: DomainResult, m: MeasureResult) -> str:
    """One plain-English sentence for a measure: the primary estimand, never claiming more than its interval."""
    if m.status == "not_in_data":
        return f"{m.name}: {m.reason}, so no finding can be given for {result.site_name}."
    if m.status == "descriptive":
        return f"{m.name} is described with a control chart only ({m.reason})."
    if m.status == "not_estimable":
        return f"{m.name} could not be evaluated for {result.site_name}: {m.reason}."
    lead = f"After {result.intervention_label} ({result.intervention_date:%B %Y}), {_subject(m)}"
    verb = "were" if m.value_type == "count" else "was"
    p = m.primary
    if p is None:
        return (f"{lead} cannot yet be compared with the earlier trend a year after go-live: the data hold "
                f"{m.n_post} {'month' if m.n_post == 1 else 'months'} after go-live.")
    side = excludes(p.relative)
    r = p.relative
    if side is not None:
        a, b = sorted([abs(r.ci_low), abs(r.ci_high)])
        if p.relative_unit == "percent":
            size = (f"{quantity(p.absolute.estimate, p.unit)} {side} than expected from the earlier trend "
                    f"{_when(p)} ({percent(r.estimate)} {side}; 95% CI {percent(a)} to {percent(b)} {side})")
        else:
            size = (f"{points(r.estimate)} {side} than expected from the earlier trend {_when(p)} "
                    f"(95% CI {_points_number(a)} to {_points_number(b)} points {side})")
        return f"{lead} {verb} {size}."
    return (f"{lead} showed no clear change from the earlier trend {_when(p)}: the estimate was "
            f"{relative_text(p, r.estimate)} {_side(r.estimate)} than expected, and the 95% CI runs "
            f"{_interval_range(p)}, so the data are consistent with no change.")


def interval_sentence(m: MeasureResult) -> str:
    """The 95% confidence interval of the primary estimand in words, saying plainly when it includes no change."""
    p = m.primary
    if m.status != "ok" or p is None:
        return "No interval: this measure has no first-year estimate."
    r = p.relative
    side = excludes(r)
    if side is not None:
        a, b = sorted([abs(r.ci_low), abs(r.ci_high)])
        return (f"How sure we are: the data fit a change anywhere between {relative_text(p, a)} and "
                f"{relative_text(p, b)} {side} than expected (95% confidence interval), a range that does not "
                "include no change.")
    return (f"How sure we are: the data fit anything {_interval_range(p)} than expected (95% confidence "
            "interval). That includes no change, so we cannot tell yet.")


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


def robustness_sentence(m: MeasureResult) -> str:
    """Placebo dates and the COVID-19 sensitivity in plain English ('' without a model)."""
    if m.its is None:
        return ""
    parts = []
    if m.placebo:
        hits = sum(p.excludes_null for p in m.placebo)
        n = len(m.placebo)
        reading_ = "as expected when nothing happened" if hits == 0 else "a warning that the series moves on its own"
        parts.append(f"{hits} of {n} placebo go-live {'date' if n == 1 else 'dates'} before the real one "
                     f"showed a change ({reading_}).")
    cs = m.covid_sensitivity
    if cs is not None and cs.covid_excluded is not None:
        s, main = cs.covid_excluded.step, cs.main.step
        same = excludes(s, NULL[cs.covid_excluded.scale]) == excludes(main, NULL[cs.main.scale])
        parts.append(f"Leaving out the COVID-19 months instead of modelling them "
                     f"{'leads to the same conclusion' if same else 'changes the conclusion'} "
                     f"(step at go-live {step_change(s, cs.covid_excluded.scale)}, 95% CI "
                     f"{step_range(s, cs.covid_excluded.scale)}; main model {step_change(main, cs.main.scale)}).")
    return " ".join(parts)


def comparative_sentence(m: MeasureResult) -> str:
    """The comparison with other providers in plain English ('' when there is none)."""
    comp = m.comparative
    if comp is None:
        return ""
    if comp.status != "ok":
        return f"No comparison with other providers: {comp.reason or 'not available'}."
    parts = []
    cits = comp.comparative_its
    if cits is not None:
        n = cits.n_comparators
        side = excludes(cits.step, NULL[cits.scale])
        verdict = ("the data are consistent with no difference from them" if side is None
                   else f"the step at go-live was {step_change(cits.step, cits.scale)} than theirs")
        parts.append(f"Against the average of {n} comparator {'provider' if n == 1 else 'providers'} "
                     f"(comparative interrupted time series), {verdict} "
                     f"(95% CI {step_range(cits.step, cits.scale)}).")
    sc = comp.synthetic_control
    if sc is not None and sc.effect is not None and sc.effect.relative_change is not None:
        rel = sc.effect.relative_change
        pl = sc.placebo
        parts.append(f"A synthetic control built from those providers put the site {percent(rel * 100)} "
                     f"{'below' if rel < 0 else 'above'} its synthetic comparison after go-live; placebo test "
                     f"p = {(pl.p_value if pl.p_value is not None else 1):.2f} (rank {pl.rank} of "
                     f"{(pl.n_placebos or 0) + 1}).")
    if parts and comp.caveat:
        parts.append(comp.caveat)
    return " ".join(parts)


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


def findings(result: DomainResult, m: MeasureResult) -> Findings:
    """Every sentence for one measure."""
    return Findings(headline=headline_sentence(result, m), interval=interval_sentence(m),
                    robustness=robustness_sentence(m), comparative=comparative_sentence(m),
                    easy_read=easy_read_sentences(m))


def _pooled_size(x: float, scale: str) -> str:
    """A pooled value as a change in words ("12% lower", "0.4 percentage points higher")."""
    return f"{_step_size(x, scale)} {_side(x - NULL[scale])}"


def meta_sentence(meta: MetaAnalysis) -> str:
    """One plain-English sentence on the sites' pooled step change and how much they differ.

    Counts (rate ratios) are given in percent and rates (differences) in percentage points. A proportion's
    model scale is the odds ratio, which converts to percentage points only at a known baseline: its pooled
    change is given in words (higher, lower or no clear change), never as odds.
    """
    name = meta.name[0].lower() + meta.name[1:]
    subject = name if meta.value_type == "count" else f"the {name}"
    lead = f"Across {meta.k} {'site' if meta.k == 1 else 'sites'}, {subject}"
    p, scale = meta.pooled, meta.scale
    side = excludes(p, NULL[scale])
    spread = "little" if meta.heterogeneity.i2 < 0.3 else "moderately" if meta.heterogeneity.i2 < 0.6 else "a lot"
    differ = f" The sites differ {spread} (I\u00b2 = {meta.heterogeneity.i2 * 100:.0f}%)."
    pi = meta.prediction_interval
    if scale == "odds_ratio":
        verdict = (f"{lead} showed no clear change at go-live on average: the data are consistent with no change."
                   if side is None else f"{lead} was {side} after go-live than the earlier trend predicted, on "
                   "average (the 95% confidence interval does not include no change).")
        new_site = ""
        if pi is not None:
            covers = pi.low <= NULL[scale] <= pi.high
            new_site = (" A new site like these could see a rise, a fall or no change (95% prediction interval)."
                        if covers else f" A new site like these could also expect it to be {side or 'different'}.")
        return verdict + differ + new_site
    est = f"{_pooled_size(p.estimate, scale)} (95% CI {step_range(p, scale)})"
    verdict = ("no clear change on average: the data are consistent with no change" if side is None
               else "a change on average")
    new_site = ""
    if pi is not None:
        new_site = (f" A new site like these could expect anything from {_pooled_size(pi.low, scale)} to "
                    f"{_pooled_size(pi.high, scale)} (95% prediction interval).")
    return f"{lead} showed {verdict}; pooled step change at go-live {est}.{differ}{new_site}"
