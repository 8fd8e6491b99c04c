"""Easy-read pages: what changed at a site and how sure we are, in short sentences without jargon.

Generated from the results files, like every other page, so the words follow the numbers. The one rule that
matters most: never claim more than the 95% confidence interval supports. When the interval includes "no
change", the page says "we cannot tell yet" and gives no direction at all, not even the point estimate's.
"""

from __future__ import annotations

from evaluation.dictionary.registry import Registry

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
    """The easy-read page for a site (MyST), headline measure per outcome area."""
    site = registry.site(site_id)
    by_domain = {r["domain"]: r for r in results if r["site"] == site_id}
    start = f"{site.intervention_date:%B %Y}"
    # No container around the page (MyST drops headings nested in a directive): the first paragraph's class
    # lets the stylesheet enlarge the whole page (.bd-article:has(.easy-read-intro)).
    out = [f"# {site.name}: what changed, in easy words", "",
           f'<p class="easy-read-intro">This page is about a change to mental health services in {site.name}.</p>',
           "", "## About this page", "",
           f"The change is called {site.programme}.", ""]
    if site.intervention_is_assumption:
        out += [f"We think the change started in {start}.", "", "The papers do not give an exact date.", ""]
    else:
        out += [f"The change started in {start}.", ""]
    out += ["We looked at numbers from before and after the change.", "",
            "We worked out what the numbers would have been without the change.", "",
            "Then we compared them with what really happened.", ""]
    if synthetic:
        out += ["**The numbers on this page are made up.** They show how the checks work. They are not real.", ""]
    for domain in registry.domains:
        out += [f"## {PLAIN_DOMAIN.get(domain.id, domain.name)}", ""]
        if domain.id in failed:
            out += ["We could not check this.", "", "The computer checks did not finish.", ""]
            continue
        res = by_domain.get(domain.id)
        if res is None:
            out += ["We have not checked this yet.", ""]
            continue
        m = next(x for x in res["measures"] if x["headline"])
        odds_event = None
        if m["measure_id"] in {x.id for x in registry.measures}:
            odds_event = registry.measure(m["measure_id"]).odds_event
        for sentence in measure_sentences(m, odds_event):
            out += [sentence, ""]
    out += ["## What we cannot say", "",
            "These numbers cannot prove the change caused what we saw.", "",
            "Other things happened at the same time, like COVID-19.", "",
            "We will check again when there are more numbers.", "",
            "The full findings, with charts and the numbers behind them, are on the "
            f"{{doc}}`{site.name} page <index>`.", ""]
    return "\n".join(out)
