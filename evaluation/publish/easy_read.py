"""Easy-read pages: what changed at a site and how sure we are, in short sentences without jargon.

Generated from the results files, like every other page, so the words follow the numbers. The one rule that
matters most: never claim more than the 95% confidence interval supports. When the interval includes "no
change", the page says "we cannot tell yet" and gives no direction at all, not even the point estimate's.
"""

from __future__ import annotations

from evaluation.dictionary.registry import Registry
from evaluation.publish.templates import render

# Plain names for the three outcome areas (presentation only; the definitions stay in data_dictionary/).
PLAIN_DOMAIN = {
    "crisis_demand": "People needing urgent (crisis) help",
    "referral_acceptance": "Getting help when you are referred",
    "staff_retention": "Staff staying in their jobs",
}
# Words an easy-read page must not use: statistics jargon a reader should not need. Checked by the tests.
JARGON = ("confidence interval", "statistic", "significant", "counterfactual", "odds", "percentage point",
          "trend", "regression", "variation", "p-value", "ratio", "spc", "its ", "95%")


def _sure_words(lo: float, hi: float, null: float) -> str | None:
    """'lower'/'higher' when the interval excludes the null value, else None (cannot tell)."""
    if hi < null:
        return "lower"
    if lo > null:
        return "higher"
    return None


def measure_sentences(measure: dict, odds_event: str | None = None) -> list[str]:
    """Easy-read sentences for one measure from its results entry (see the module docstring for the rule)."""
    name = measure["name"]
    out = [f"We looked at: {name[0].lower() + name[1:]}."]
    its = measure.get("its")
    if measure.get("status") != "ok" or not its:
        return out + ["We could not check this with the numbers we have."]
    step = its["step"]
    null = 0.0 if its["scale"] == "difference" else 1.0
    word = _sure_words(step["ci_low"], step["ci_high"], null)
    if word is None:
        out += ["We cannot tell yet if this changed.",
                "It may have gone up, gone down or stayed the same.",
                "We need more months of numbers to know."]
        return out
    if its["scale"] == "odds_ratio":
        event = odds_event or "this"
        likely = "more" if word == "higher" else "less"
        out.append(f"After the change, {event} was {likely} likely than we expected.")
    else:
        out.append(f"After the change, this was {word} than we expected.")
    if its["scale"] == "rate_ratio":
        # A rate ratio of 0.83 is "83 for every 100 expected": whole numbers, no percentages.
        est, lo, hi = (round(step[k] * 100) for k in ("estimate", "ci_low", "ci_high"))
        out.append(f"For every 100 we expected, there were about {est}.")
        out.append(f"The real number is likely to be between {lo} and {hi}.")
    out.append(f"We are fairly sure it was {word}.")
    better = measure.get("direction_of_improvement")
    if better in ("increase", "decrease"):
        good = (word == "higher") == (better == "increase")
        out.append(f"{'Higher' if better == 'increase' else 'Lower'} is better here, so this looks like "
                   f"{'good' if good else 'bad'} news.")
    return out


def easy_read_page(registry: Registry, site_id: str, results: list[dict], failed: dict[str, str],
                   synthetic: bool) -> str:
    """The easy-read page for a site (MyST from ``templates/easy_read.md.j2``), headline measure per outcome
    area."""
    by_domain = {r["domain"]: r for r in results if r["site"] == site_id}
    sections = []
    for domain in registry.domains:
        res = by_domain.get(domain.id)
        sentences = None
        if domain.id not in failed and res is not None:
            m = next(x for x in res["measures"] if x["headline"])
            known = m["measure_id"] in {x.id for x in registry.measures}
            sentences = measure_sentences(m, registry.measure(m["measure_id"]).odds_event if known else None)
        sections.append({"title": PLAIN_DOMAIN.get(domain.id, domain.name), "failed": domain.id in failed,
                         "sentences": sentences})
    return str(render("easy_read.md.j2", site=registry.site(site_id), sections=sections, synthetic=synthetic))
