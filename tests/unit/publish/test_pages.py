"""The site's words and downloads: overview sentences checked against the numbers, easy read, CSVs, alt text.

The checkers here (``check_overview``, ``check_img_alts``) are also run on a real built site by
tests/e2e/test_end_to_end.py. They re-derive every number from the results model's first-year change
(``MeasureResult.primary``: percent for counts, percentage points for proportions and rates) and compare with
what the sentence states, within display rounding; they never call the code that wrote the sentence. The
fixtures build the numbers and let :mod:`evaluation.results.sentences` write the sentences, so the checkers are
tested on the real wording.
"""

from __future__ import annotations

import csv
import html
import io
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.publish.cards import variation_label
from evaluation.publish.downloads import COLUMNS, FORBIDDEN_WORDS, results_csv, write_results_csvs
from evaluation.publish.easy_read import JARGON, easy_read_page, measure_sentences
from evaluation.publish.pages import overview_fragment, summary_page
from evaluation.results import sentences
from evaluation.results.schema import (
    DomainResult,
    Estimate,
    InputUsed,
    Interval,
    ITSSummary,
    MeasureResult,
    MetaAnalysis,
    Primary,
    SPCSummary,
)

NUM = r"(\d+(?:\.\d+)?)"


# ------------------------------------------------------------------------------------------------ checkers


class _Findings(HTMLParser):
    """Collects finding sentences, interval paragraphs and failure marks (by their class) with their data-*."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        kind = next((k for k in ("finding-sentence", "finding-verdict", "finding-interval", "finding-failed")
                     if k in classes), None)
        if tag == "p" and kind:
            self._open = {"kind": kind, "site": a.get("data-site"), "domain": a.get("data-domain"),
                          "measure": a.get("data-measure"), "text": ""}

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "p" and self._open is not None:
            self._open["text"] = " ".join(self._open["text"].split())
            self.items.append(self._open)
            self._open = None


def parse_findings(text: str) -> list[dict]:
    """Finding paragraphs in generated MyST or built HTML (both carry the same raw HTML)."""
    p = _Findings()
    p.feed(text)
    return p.items


def _close(stated: str, exact: float) -> bool:
    """A displayed number matches the exact one within its own rounding (1, 0.1 or 0.01)."""
    decimals = len(stated.split(".")[1]) if "." in stated else 0
    return abs(float(stated) - exact) <= 0.5 * 10 ** -decimals + 1e-9


_WHEN = {"effect_in_month_12": "a year after go-live",
         "average_months_1_to_12": "on average over the first year after go-live"}


def _rel_unit(p: Primary) -> str:
    """How the sentence writes the relative change's unit after a number."""
    return "%" if p.relative_unit == "percent" else " percentage points"


def _side(x: float) -> str:
    return "lower" if x < 0 else "higher"


def _check_side(stated: str, word: str, exact: float, sentence: str) -> None:
    """A stated size and its side word match a signed number (a size displayed as zero may take either side)."""
    assert _close(stated, abs(exact)), (sentence, exact)
    assert float(stated) == 0 or word == _side(exact), (sentence, exact)


def check_sentence(sentence: str, m: MeasureResult) -> None:
    """The headline states the first-year change (``primary``), in percent for counts (with the amount a month in
    the measure's units) or percentage points for proportions and rates, and its side, re-derived from the
    numbers; a clear claim only when the interval excludes 0, 'no clear change' and a best estimate otherwise;
    never odds, never a confidence interval (that is the interval sentence's), never a double negative."""
    assert "odds" not in sentence.lower() and "cannot be ruled out" not in sentence, sentence
    assert "95%" not in sentence and " CI " not in sentence, sentence
    p = m.primary
    if m.status != "ok" or p is None:
        assert "than expected" not in sentence and "%" not in sentence and "percentage point" not in sentence, sentence
        return
    est, lo, hi = p.relative.estimate, p.relative.ci_low, p.relative.ci_high
    direction = "lower" if hi < 0 else "higher" if lo > 0 else "no clear change"
    unit, when = _rel_unit(p), re.escape(_WHEN[p.basis])
    assert re.match(rf"(?i){when} \(", sentence), sentence
    if direction != "no clear change":
        assert "no clear change" not in sentence and "best estimate" not in sentence, sentence
        if p.relative_unit == "percent":
            pat = (rf"were {NUM}% (lower|higher) than expected from the earlier trend: (?:about|under) ([\d,]+) "
                   rf"[^.]*?(lower|higher)\.")
            found = re.search(pat, sentence)
            assert found, f"no clear-change wording in: {sentence}"
            pct, word, amount, word2 = found.groups()
            amount = float(amount.replace(",", ""))
            assert abs(amount - abs(p.absolute.estimate)) <= 5 or "under" in sentence, (sentence, p.absolute)
        else:
            found = re.search(rf"was {NUM} percentage points? (lower|higher) than expected from the earlier trend\.",
                              sentence)
            assert found, f"no clear-change wording in: {sentence}"
            pct, word = found.groups()
            word2 = word
        assert word == word2 == direction, sentence
        assert _close(pct, abs(est)), (sentence, est)
        return
    assert "no clear change" in sentence, sentence
    point = re.search(rf"Our best estimate is {NUM}{unit} (lower|higher)", sentence)
    assert point, sentence
    _check_side(point.group(1), point.group(2), est, sentence)


def check_verdict(text: str, m: MeasureResult) -> None:
    """Whether the change is good follows the reading and the measure's direction of improvement."""
    if m.direction == "not assessed":
        assert text == "", text
        return
    better = {"decrease": "Lower is better here", "increase": "Higher is better here"}.get(m.direction_of_improvement)
    if better is None:
        assert "neither better nor worse" in text, text
    elif m.direction == "no clear change":
        assert text.startswith(better) and "no clear change" in text, text
    else:
        assert text.startswith(better), text
        assert ("an improvement" in text) == (m.direction == "improvement"), text
        assert ("for the worse" in text) == (m.direction == "deterioration"), text


def check_interval_words(text: str, m: MeasureResult) -> None:
    """The interval in words says whether it includes no change, with the same bounds in the same unit, and has
    no double negative."""
    assert "does not include no change" not in text, text
    p = m.primary
    if m.status != "ok" or p is None:
        assert "No interval" in text, text
        return
    lo, hi = p.relative.ci_low, p.relative.ci_high
    unit = _rel_unit(p)
    if lo <= 0 <= hi:
        assert "includes no change" in text and "cannot tell yet" in text, text
        assert "clear change" not in text, text
        found = re.search(rf"anything from {NUM}{unit} (lower|higher) to {NUM}{unit} (lower|higher) than expected",
                          text)
        assert found, text
        _check_side(found.group(1), found.group(2), lo, text)
        _check_side(found.group(3), found.group(4), hi, text)
    else:
        assert "so this is a clear change" in text and "cannot tell" not in text, text
        pct = "%" if unit == "%" else ""
        found = re.search(rf"between {NUM}{pct} and {NUM}{unit} (lower|higher) than expected", text)
        assert found, text
        a, b, word = found.groups()
        assert word == ("lower" if hi < 0 else "higher"), text
        assert f"The whole range is {word}" in text, text
        low, high = sorted([abs(lo), abs(hi)])
        assert _close(a, low) and _close(b, high) and float(a) > 0, (text, lo, hi)


def check_overview(text: str, results: list[DomainResult], failed: set[tuple[str, str]] = frozenset()) -> int:
    """Exactly one checked sentence per site x domain that ran, a failure mark for each that did not."""
    items = parse_findings(text)
    sentences = [i for i in items if i["kind"] == "finding-sentence"]
    intervals = [i for i in items if i["kind"] == "finding-interval"]
    keys = [(i["site"], i["domain"]) for i in sentences]
    expected = sorted((r.site, r.domain) for r in results if (r.site, r.domain) not in failed)
    assert sorted(keys) == expected, (keys, expected)
    assert len(intervals) == len(sentences)
    by_key = {(r.site, r.domain): r for r in results}
    for sent, interval in zip(sentences, intervals, strict=True):
        m = by_key[(sent["site"], sent["domain"])].headline
        assert m.headline and sent["measure"] == m.measure_id
        check_sentence(sent["text"], m)
        check_interval_words(interval["text"], m)
    verdicts = [i for i in items if i["kind"] == "finding-verdict"]
    for sent, verdict in zip([s for s in sentences if by_key[(s["site"], s["domain"])].headline.findings.verdict],
                             verdicts, strict=True):
        check_verdict(verdict["text"], by_key[(sent["site"], sent["domain"])].headline)
    marked = {(i["site"], i["domain"]) for i in items if i["kind"] == "finding-failed"}
    assert failed <= marked, (failed, marked)
    assert not re.search(r"\d\s?\*", text), "significance stars"
    return len(sentences)


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.alts: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))


def check_img_alts(html_dir: Path) -> int:
    """Every ``<img>`` on every page has alt text naming a measure and the site(s) it shows."""
    reg = default_registry()
    measures = [m.name.lower() for m in reg.measures]
    n = 0
    for page in sorted(html_dir.rglob("*.html")):
        rel = page.relative_to(html_dir)
        if rel.parts[0] in ("_static", "_sources", "_downloads", "_images"):
            continue
        parser = _Images()
        parser.feed(page.read_text(encoding="utf-8"))
        site_id = rel.parts[2] if rel.parts[:2] == ("_generated", "sites") else None
        sites = [reg.site(site_id).name] if site_id else [s.name for s in reg.sites]
        for alt in parser.alts:
            n += 1
            assert alt and alt.strip(), f"{rel}: an image without alt text"
            low = alt.lower()
            assert any(name in low for name in measures), f"{rel}: alt names no measure: {alt[:120]}"
            # A site page's charts name that site; a cross-site chart names every site it shows.
            missing = [s for s in sites if s.lower() not in low]
            assert not missing if site_id else len(missing) < len(sites), f"{rel}: alt lacks {missing}: {alt[:160]}"
    return n


# ------------------------------------------------------------------------------------------------ fixtures

REG = default_registry()


def _measure(mid: str, *, step: tuple[float, float, float] | None = None, scale: str = "rate_ratio",
             first_year: tuple[tuple[float, float, float], tuple[float, float, float]] | None = None,
             status: str = "ok", reason: str = "", n_post: int = 40,
             spc_icon: str | None = "common_cause") -> MeasureResult:
    """A headline measure from its numbers: the model's step (``step`` on ``scale``) and the first-year change
    (``first_year``: absolute per month in the measure's unit, then relative in percent for counts or percentage
    points otherwise). Its reading comes from :func:`sentences.reading`; sentences are attached by ``_result``."""
    info = REG.measure(mid)
    its = None
    if step is not None and status == "ok":
        its = ITSSummary(scale=scale, model="quasi-poisson", cov_type="HAC",
                         step=Estimate(**dict(zip(("estimate", "ci_low", "ci_high"), step, strict=True))),
                         pre_slope=Estimate(estimate=1.0, ci_low=0.99, ci_high=1.01))
    primary = None
    if first_year is not None and its is not None:
        absolute, relative = (Interval(**dict(zip(("estimate", "ci_low", "ci_high"), x, strict=True)))
                              for x in first_year)
        primary = Primary(basis="effect_in_month_12", unit=info.unit, absolute=absolute, relative=relative,
                          relative_unit="percent" if info.value_type == "count" else "percentage_points")
    return MeasureResult(
        measure_id=mid, name=info.name, unit=info.unit, value_type=info.value_type,
        direction_of_improvement=info.direction, headline=True, designated_headline=True, status=status,
        reason=reason, n_pre=60, n_post=n_post, direction=sentences.reading(status, primary, info.direction),
        caveats=["a caveat"], primary=primary, its=its,
        spc=None if spc_icon is None else SPCSummary(variation_icon=spc_icon))


def _result(site: str, domain: str, m: MeasureResult) -> DomainResult:
    """A results file for one site x domain, its sentences made by :mod:`evaluation.results.sentences`."""
    s = REG.site(site)
    bare = DomainResult(
        site=site, site_name=s.name, ods_code=s.ods_code, domain=domain, domain_name=REG.domain(domain).name,
        data_source="synthetic", intervention_date=s.intervention_date, intervention_label=s.intervention_label,
        intervention_is_assumption=s.intervention_is_assumption,
        inputs=[InputUsed(path="x.csv", layout="mhsds_long", rows_sha256="a" * 64)],
        headline_measure=m.measure_id, measures=[m])
    return bare.model_copy(update={"measures": [m.model_copy(update={"findings": sentences.findings(bare, m)})]})


def _restated(result: DomainResult, **findings: str) -> DomainResult:
    """The same results with the headline measure's sentences replaced (the numbers unchanged)."""
    m = result.headline
    m = m.model_copy(update={"findings": m.findings.model_copy(update=findings)})
    return result.model_copy(update={"measures": [m]})


# The numbers each case starts from; the sentences are the package's own, so the checkers are tested on them.
CASES = [
    # A count, clearly lower: 17% (8% to 24%) fewer referrals than expected.
    ("dorset", "crisis_demand", _measure(
        "CCR70", step=(0.833364, 0.755863, 0.918812), first_year=((-20.31, -30.12, -9.84),
                                                                   (-16.6364, -24.4137, -8.1188)),
        spc_icon="concern_high")),
    # A proportion, clearly higher, in percentage points (its model is on the odds scale).
    ("dorset", "referral_acceptance", _measure(
        "REF_ACCEPT", scale="odds_ratio", step=(1.22, 1.13, 1.32),
        first_year=((0.0423, 0.0208, 0.0637), (4.23, 2.08, 6.37)))),
    # A proportion whose interval includes no change.
    ("dorset", "staff_retention", _measure(
        "LEAVER_RATE", scale="odds_ratio", step=(0.88, 0.73, 1.06),
        first_year=((-0.00124, -0.00311, 0.00068), (-0.124, -0.311, 0.068)))),
    # A rate, clearly lower, in percentage points.
    ("lancashire", "staff_retention", _measure(
        "SICKNESS_RATE", scale="difference", step=(-0.51, -0.70, -0.32),
        first_year=((-0.51, -0.70, -0.32), (-0.51, -0.70, -0.32)))),
    # A proportion with a point estimate of almost nothing and an interval either side of it.
    ("lancashire", "referral_acceptance", _measure(
        "REF_ACCEPT", scale="odds_ratio", step=(1.0001, 0.991, 1.0102),
        first_year=((0.00002, -0.002, 0.0021), (0.002, -0.2, 0.21)))),
    # Not in the files: no finding.
    ("lancashire", "crisis_demand", _measure("CCR70", status="not_in_data", reason="not in these files",
                                             spc_icon=None)),
    # A count whose interval includes no change.
    ("cheshire_wirral", "crisis_demand", _measure(
        "CCR70", step=(0.95, 0.86, 1.05), first_year=((-6.2, -18.1, 7.3), (-5.23, -15.34, 6.11)))),
    # Fitted, but fewer than 12 months after go-live: no first-year change to report yet.
    ("cheshire_wirral", "staff_retention", _measure("LEAVER_RATE", scale="odds_ratio", step=(0.7, 0.6, 0.8),
                                                    n_post=8)),
    # A small clear change in percentage points: its interval must not be shown reaching 0.
    ("bradford", "staff_retention", _measure(
        "LEAVER_RATE", scale="odds_ratio", step=(0.9, 0.84, 0.97),
        first_year=((-0.0015, -0.0026, -0.0004), (-0.15, -0.26, -0.04)))),
]


@pytest.fixture
def results() -> list[DomainResult]:
    return [_result(s, d, m) for s, d, m in CASES]


# ------------------------------------------------------------------------------------------------ tests


def test_the_cases_cover_every_kind_of_sentence(results):
    """Each wording the checkers know is exercised: clear and unclear, percent and percentage points, none."""
    kinds = set()
    for r in results:
        p = r.headline.primary
        if p is None:
            kinds.add((r.headline.status, None))
            continue
        kinds.add((p.relative_unit, p.relative.ci_low > 0 or p.relative.ci_high < 0))
    assert kinds == {("percent", True), ("percent", False), ("percentage_points", True),
                     ("percentage_points", False), ("ok", None), ("not_in_data", None)}


def test_every_overview_sentence_states_the_numbers_it_came_from(results):
    status = {"outcomes": [{"site": "bradford", "domain": "crisis_demand", "ok": False,
                            "error": "cell 3: ValueError: broken file\nTraceback..."}]}
    text = overview_fragment(REG, results, status)
    assert check_overview(text, results, {("bradford", "crisis_demand")}) == len(CASES)
    assert "Analysis failed: no finding." in text and "broken file" in text and "Traceback" not in text


def test_headlines_read_as_expected(results):
    """The checkers' patterns match what the sentences say (a checker that matched nothing would prove nothing)."""
    said = {(r.site, r.domain): r.headline.findings.headline for r in results}
    assert said["dorset", "crisis_demand"] == (
        "A year after go-live (August 2021), new emergency referrals to crisis care teams were 17% lower than "
        "expected from the earlier trend: about 20 referrals per month lower.")
    assert ("the share of referrals accepted was 4.2 percentage points higher than expected from the earlier "
            "trend.") in said["dorset", "referral_acceptance"]
    assert ("showed no clear change from the earlier trend. Our best estimate is 5% lower than expected (about 5 "
            "referrals per month).") in said["cheshire_wirral", "crisis_demand"]
    verdicts = {(r.site, r.domain): r.headline.findings.verdict for r in results}
    assert verdicts["dorset", "crisis_demand"] == "Lower is better here: this looks like an improvement."
    assert verdicts["cheshire_wirral", "crisis_demand"] == "Lower is better here, but there is no clear change yet."


@pytest.mark.parametrize("wrong", [
    ("lower than expected", "higher than expected"),  # the direction of the change
    ("17% lower", "17% higher"),  # the direction of the relative change
    ("17% lower", "27% lower"),  # the percentage
    ("about 20 referrals", "about 30 referrals"),  # the change per month
    ("per month lower.", "per month higher."),  # the side of the change per month
    ("A year after go-live", "On average over the first year after go-live"),  # the estimand
])
def test_the_checker_catches_a_sentence_that_misstates_its_numbers(results, wrong):
    assert wrong[0] in results[0].headline.findings.headline
    results[0] = _restated(results[0], headline=results[0].headline.findings.headline.replace(*wrong))
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, results, {}), results)


@pytest.mark.parametrize("wrong", [
    ("Lower is better here: this looks like an improvement.", "Lower is better here: this looks like a change for "
                                                               "the worse."),
    ("Lower is better here", "Higher is better here"),
])
def test_the_checker_catches_a_wrong_verdict(results, wrong):
    text = results[0].headline.findings.verdict
    results[0] = _restated(results[0], verdict=text.replace(*wrong))
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, results, {}), results)


def test_the_box_reads_what_happened_then_whether_good_then_how_sure(results):
    text = overview_fragment(REG, results, {})
    items = parse_findings(text)
    first = next(n for n, i in enumerate(items) if (i["site"], i["domain"]) == ("dorset", "crisis_demand"))
    assert [i["kind"] for i in items[first:first + 3]] == ["finding-sentence", "finding-verdict", "finding-interval"]


def test_an_icon_that_seems_to_disagree_is_explained_and_one_that_agrees_is_not(results):
    dorset = results[0].headline  # clearly lower (an improvement) beside a "concern (high)" icon
    assert dorset.direction == "improvement" and dorset.spc.variation_icon == "concern_high"
    assert "Why the icon can differ" in dorset.findings.spc_note
    assert "Why the icon can differ" in overview_fragment(REG, results, {})
    agree = dorset.model_copy(update={"spc": SPCSummary(variation_icon="improvement_low")})
    assert sentences.spc_note(agree) == ""
    unclear = results[2].headline  # no clear change beside common cause: they agree
    assert unclear.direction == "no clear change" and unclear.findings.spc_note == ""


@pytest.mark.parametrize("case,wrong", [
    (1, ("4.2 percentage points higher", "4.8 percentage points higher")),  # percentage points
    (3, ("0.5 percentage points lower", "0.5 percentage points higher")),
    (2, ("estimate is 0.1 percentage points lower", "estimate is 0.1 percentage points higher")),
    (2, ("estimate is 0.1 percentage points lower", "estimate is 0.3 percentage points lower")),
    (6, ("estimate is 5% lower", "estimate is 15% lower")),
    (6, ("estimate is 5% lower", "estimate is 5% higher")),
    (6, ("no clear change", "a change")),
])
def test_the_checker_catches_misstated_percentage_points_and_unclear_intervals(results, case, wrong):
    sentence = results[case].headline.findings.headline
    assert wrong[0] in sentence, sentence
    results[case] = _restated(results[case], headline=sentence.replace(*wrong))
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, results, {}), results)


@pytest.mark.parametrize("case,wrong", [
    (0, ("between 8% and 24% lower", "between 8% and 24% higher")),
    (0, ("The whole range is lower, so this is a clear change.", "")),
    (0, ("between 8% and 24% lower", "between 6% and 24% lower")),
    (6, ("from 15% lower", "from 25% lower")),
    (6, ("That includes no change, so we cannot tell yet.", "")),
])
def test_the_checker_catches_interval_words_that_misstate_the_interval(results, case, wrong):
    text = results[case].headline.findings.interval
    assert wrong[0] in text, text
    results[case] = _restated(results[case], interval=text.replace(*wrong))
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, results, {}), results)


def test_a_clear_claim_on_an_interval_that_crosses_no_change_is_caught(results):
    m = results[2].headline  # leaver rate: -0.12 points (-0.31 to +0.07)
    assert m.primary.relative.ci_low < 0 < m.primary.relative.ci_high
    claim = ("A year after go-live (August 2021), the monthly leaver rate was 0.1 percentage points lower than "
             "expected from the earlier trend.")
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, [*results[:2], _restated(results[2], headline=claim), *results[3:]],
                                         {}), results)
    sure = ("How sure we are: the change is likely to be between 0.1 and 0.3 percentage points lower than expected "
            "(95% confidence interval). The whole range is lower, so this is a clear change.")
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(REG, [*results[:2], _restated(results[2], interval=sure), *results[3:]],
                                         {}), results)


def test_a_finding_for_a_measure_without_a_first_year_estimate_states_no_numbers(results):
    no_data, too_soon = results[5].headline, results[7].headline
    for m in (no_data, too_soon):
        with pytest.raises(AssertionError):
            check_sentence("After X, referrals were 12% lower than expected from the earlier trend.", m)
        with pytest.raises(AssertionError):
            check_interval_words("How sure we are: the data fit a change anywhere between 2% and 9% lower.", m)
    assert "8 months after go-live" in too_soon.findings.headline


def test_overview_is_finding_first_with_icons_labels_and_an_accessible_table(results):
    text = overview_fragment(REG, results, {})
    first_table = text.index("<table")
    assert text.index('class="finding finding-sentence"') < first_table  # sentences before the table
    assert "<caption>" in text and 'scope="col"' in text and 'scope="row"' in text
    assert variation_label("concern_high") in text and 'aria-hidden="true"' in text  # label beside every icon
    assert text.count('class="mdc-icon"') == text.count("mdc-variation") + text.count("mdc-assurance")
    assert "{doc}`Charts and details: crisis demand in Dorset <_generated/sites/dorset/crisis_demand>`" in text
    headings = re.findall(r"^(#+) ", text, flags=re.M)
    assert headings[0] == "##" and set(headings) == {"##", "###"}  # under the page's h1, in order
    # The table gives the same first-year change as the sentence, signed ("-17% (-24% to -8%)").
    assert '<td class="num" data-label="Change in the first year (95% CI)">-17% (-24% to -8%)</td>' in text


DIRECTION_WORDS = r"\b(lower|higher|more likely|less likely|fairly sure|good news|bad news|up|down)\b"


def test_easy_read_never_claims_a_direction_the_interval_does_not_support(results):
    for r in results:
        m = r.headline
        words = " ".join(measure_sentences(m)).lower()
        p = m.primary
        if m.status != "ok" or p is None:
            assert "could not check" in words
            assert not re.search(DIRECTION_WORDS, words), words
            continue
        lo, hi = p.relative.ci_low, p.relative.ci_high
        if lo <= 0 <= hi:
            assert "cannot tell yet" in words
            # Every possibility named together is no claim; any other direction word is.
            assert not re.search(DIRECTION_WORDS, words.replace("gone up, gone down or stayed the same", "")), words
        else:
            word = "lower" if hi < 0 else "higher"
            assert "fairly sure" in words and "cannot tell" not in words
            assert word in words and ("higher" if word == "lower" else "lower") not in words.replace(
                f"{'lower' if m.direction_of_improvement == 'decrease' else 'higher'} is better", ""), words
            good = (word == "lower") == (m.direction_of_improvement == "decrease")
            assert ("good news" if good else "bad news") in words
            assert ("bad news" if good else "good news") not in words
    page = easy_read_page(REG, "dorset", results, {"staff_retention": "boom"}, synthetic=True)
    assert "made up" in page and "could not check this" in page.lower()
    assert "For every 100 we expected, there were about 83." in page
    assert "The real number is likely to be between 76 and 92." in page


def test_easy_read_page_gives_no_direction_for_an_interval_that_includes_no_change(results):
    page = easy_read_page(REG, "cheshire_wirral", results, {}, synthetic=True)
    section = page.split(f"## {REG.domain('crisis_demand').plain_name}\n")[1].split("\n## ")[0].lower()
    assert "cannot tell yet" in section and "for every 100" not in section
    assert not re.search(DIRECTION_WORDS, section.replace("gone up, gone down or stayed the same", "")), section


def test_easy_read_uses_short_sentences_and_no_jargon(results):
    for site in ("dorset", "lancashire", "cheshire_wirral", "bradford"):
        page = easy_read_page(REG, site, results, {}, synthetic=False)
        prose = [ln for ln in page.splitlines() if ln and not ln.startswith(("#", "{", "<", ":"))]
        prose += [re.sub(r"<[^>]+>", "", ln) for ln in page.splitlines() if ln.startswith("<p")]
        assert prose
        for line in prose:
            for sentence in re.split(r"(?<=[.!?])\s+", line):
                assert len(sentence.split()) <= 20, sentence
                low = sentence.lower()
                assert not [j for j in JARGON if j in low], sentence
                assert "%" not in low, sentence


def test_summary_page_has_findings_caveats_and_provenance(results):
    info = {"data_source": "synthetic", "commit": "abc1234", "built_at": "2025-01-01 00:00 UTC"}
    page = summary_page(REG, "dorset", results, {}, info)
    assert check_overview(page, [r for r in results if r.site == "dorset"]) == 3
    page = html.unescape(page)  # as the reader sees it (MyST decodes the character references)
    for part in ("## Key caveats", "## Provenance", "abc1234", "Synthetic demonstration data",
                 "New emergency referrals to crisis care teams: a caveat",
                 "New emergency referrals to crisis care teams: -17% (-24% to -8%).",
                 "Share of referrals accepted: +4.2 points (+2.1 to +6.4).",
                 "Monthly leaver rate: -0.1 points (-0.3 to +0.1)."):
        assert part in page, part


def test_results_csv_is_deterministic_sorted_and_has_no_count_like_columns(results, tmp_path: Path):
    a, b = write_results_csvs(results, tmp_path / "a"), write_results_csvs(list(reversed(results)), tmp_path / "b")
    assert sorted(p.name for p in a.values()) == ["results_all_sites.csv", "results_bradford.csv",
                                                  "results_cheshire_wirral.csv", "results_dorset.csv",
                                                  "results_lancashire.csv"]
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes()
    again = write_results_csvs(results, tmp_path / "a")
    assert all(again[k].read_bytes() == a[k].read_bytes() for k in a)
    assert not [c for c in COLUMNS for w in FORBIDDEN_WORDS if w in c.lower()]
    rows = list(csv.DictReader(io.StringIO(results_csv(results))))
    assert len(rows) == len(CASES)
    assert [(r["site"], r["domain"]) for r in rows] == sorted((r["site"], r["domain"]) for r in rows)
    first = next(r for r in rows if r["measure_id"] == "CCR70" and r["site"] == "dorset")
    assert first["step_estimate"] == "0.833364" and first["n_months_before"] == "60"
    assert first["first_year_relative_estimate"] == "-16.6364" and first["first_year_relative_unit"] == "percent"
    assert first["first_year_absolute_ci_low"] == "-30.12" and first["direction"] == "improvement"
    assert first["spc_variation_icon"] == "concern_high" and first["headline"] == "true"
    assert first["summary"] == results[0].headline.findings.headline
    missing = next(r for r in rows if r["status"] == "not_in_data")
    assert missing["step_estimate"] == "" and missing["spc_variation_icon"] == ""
    assert missing["first_year_relative_estimate"] == "" and missing["direction"] == "not assessed"


def test_results_csv_bytes_do_not_depend_on_input_order(results):
    shuffled = results[:]
    random.Random(1).shuffle(shuffled)
    assert shuffled != results
    assert results_csv(shuffled).encode() == results_csv(results).encode()


def test_img_alt_checker_rejects_missing_or_unnamed_alt(tmp_path: Path):
    page = tmp_path / "_generated" / "sites" / "dorset" / "crisis_demand.html"
    page.parent.mkdir(parents=True)
    good = '<img src="a.png" alt="Chart of new emergency referrals to crisis care teams at Dorset">'
    page.write_text(good)
    assert check_img_alts(tmp_path) == 1
    for bad in ('<img src="a.png" alt="">', '<img src="a.png">',
                '<img src="a.png" alt="Chart of new emergency referrals to crisis care teams">',
                '<img src="a.png" alt="A chart at Dorset">'):
        page.write_text(good + bad)
        with pytest.raises(AssertionError):
            check_img_alts(tmp_path)


# ------------------------------------------------------------------------------------------------ issues 17/18


def _analyst_dated(result: DomainResult) -> DomainResult:
    """The same result as if the run had been given its own go-live (April 2022)."""
    import datetime as dt
    bare = result.model_copy(update={"intervention_date": dt.date(2022, 4, 1), "intervention_set_by_analyst": True})
    m = bare.headline
    return bare.model_copy(update={"measures": [m.model_copy(update={"findings": sentences.findings(bare, m)})]})


def test_an_analyst_go_live_is_labelled_as_such_everywhere_never_as_the_programme_milestone(results):
    from evaluation.publish.pages import site_page

    dorset = [_analyst_dated(r) if r.site == "dorset" else r for r in results]
    label = REG.site("dorset").intervention_label
    pages = {"overview": overview_fragment(REG, dorset, {}),
             "site": site_page(REG, "dorset", dorset, {}, []),
             "summary": summary_page(REG, "dorset", dorset, {}, {"data_source": "published"}),
             "easy read": easy_read_page(REG, "dorset", dorset, {}, data_source="published")}
    for name, page in pages.items():
        text = html.unescape(page)
        if name != "easy read":
            assert "go-live set by the analyst: April 2022" in text, name
        else:
            assert "chose the start date: April 2022" in text
        if name == "overview":
            text = text[text.index("## Dorset"):text.index("## Bradford") if "## Bradford" in text else None]
        assert label not in text, (name, label)
    assert "A year after go-live (April 2022)" in dorset[0].headline.findings.headline


def test_the_intro_names_only_the_sites_built(results):
    from evaluation.publish.pages import intro_fragment

    one = [r for r in results if r.site == "dorset"]
    text = html.unescape(intro_fragment(REG, one, {}))
    assert "Dorset" in text and "Bradford" not in text and "Cheshire" not in text and "four" not in text.lower()
    everyone = html.unescape(intro_fragment(REG, results, {}))
    assert all(s.name in everyone for s in REG.sites)


@pytest.mark.parametrize("source,words", [("local", "Local data"), ("synthetic", "Synthetic demonstration data"),
                                          ("published", "Published data")])
def test_every_generated_page_says_where_its_numbers_come_from(results, source, words):
    from evaluation.publish.pages import data_quality_page, reading_guide_fragment, site_page

    pages = [reading_guide_fragment(source), site_page(REG, "dorset", results, {"data_source": source}, []),
             summary_page(REG, "dorset", results, {}, {"data_source": source}),
             data_quality_page(REG, "dorset", results, source)]
    for page in pages:
        assert words in html.unescape(page)
    if source == "local":
        assert "Local data" in easy_read_page(REG, "dorset", results, {}, data_source="local")


def test_the_reading_guide_shows_every_icon_with_its_meaning():
    from evaluation.publish.cards import ASSURANCE, VARIATION
    from evaluation.publish.pages import reading_guide_fragment

    text = reading_guide_fragment("synthetic")
    assert text.count('class="mdc-icon"') == len(VARIATION) + len(ASSURANCE)
    for key in [*VARIATION, *ASSURANCE]:
        assert html.escape(variation_label(key)) in text or key in ASSURANCE
    for part in ("What happened?", "Is that good?", "How sure are we?", "95% confidence interval", "made up"):
        assert part in html.unescape(text), part


def test_site_pages_keep_statistics_in_a_collapsed_technical_section(results):
    from evaluation.publish.pages import site_page

    page = site_page(REG, "dorset", results, {}, [])
    main = re.sub(r'<details class="technical-detail">.*?</details>', "", page, flags=re.S)
    assert page.count('<details class="technical-detail">') == 3
    for word in ("rate ratio", "odds", "p = ", "placebo"):
        assert word not in main.lower(), word
    assert "rate ratio 0.833" in page  # one click away


def test_site_page_offers_each_charts_data_as_csv(results):
    from evaluation.publish.pages import site_page

    page = site_page(REG, "dorset", results, {}, ["crisis_demand"], {"crisis_demand": ["CCR70_its", "CCR70_spc"]},
                     {"crisis_demand": {"CCR70_its"}})
    assert page.count("Download the data for this chart (CSV)") == 1
    assert "figures/crisis_demand/CCR70_its.csv" in page and "CCR70_spc.csv" not in page


def test_chart_captions_state_the_finding(results):
    m = results[0].headline
    assert sentences.chart_caption(m, "its").startswith(m.findings.headline)


def test_cross_site_sentences_are_plain_and_explain_the_page():
    text = sentences.meta_sentence(MetaAnalysis(
        measure_id="CCR70", name="New emergency referrals", domain="crisis_demand", value_type="count",
        scale="rate_ratio", link="log", method="paule_mandel", ci_method="hksj", k=4,
        pooled={"estimate": 0.87, "ci_low": 0.76, "ci_high": 1.01}, prediction_interval={"low": 0.6, "high": 1.2},
        heterogeneity={"tau2": 0.0, "tau": 0.0, "i2": 0.64, "q": 1.0, "df": 3, "p_value": 0.5}, sites=[]))
    assert "no clear change" in text and "from 24% lower to 1% higher" in text
    for word in ("I\u00b2", "CI", "pooled step", "0.87"):
        assert word not in text, word
    assert any("I\u00b2 = 64%" in t for t in sentences.meta_technical("rate_ratio", 0.64, (0.6, 1.2)))
    guide = " ".join(sentences.cross_site_guide(["Dorset", "Bradford"], ["Dorset"]))
    assert "Dorset and Bradford" in guide and "different question" in guide and "Callaway" not in guide


def test_disclosure_page_fragment_states_this_builds_figures(tmp_path):
    from evaluation.publish.pages import disclosure_build_fragment

    (tmp_path / "sites" / "a").mkdir(parents=True)
    (tmp_path / "sites" / "a" / "index.md").write_text("# A\n")
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "results.csv").write_text("site,observed\na,10\n")
    text = html.unescape(disclosure_build_fragment(tmp_path))
    assert "1 generated page and 1 download" in text and "read 1 downloadable file" in text
    assert "no published count" in text
    (tmp_path / "downloads" / "bad.csv").write_text("site,observed\na,3\n")
    assert "found 1 problem" in html.unescape(disclosure_build_fragment(tmp_path))


def test_reading_ease_of_the_fixture_sentences(results):
    """The package's own wording on the fixture cases (the e2e test measures a whole synthetic build)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        textstat = pytest.importorskip("textstat")
    box = [t for r in results for f in [r.headline.findings] for t in (f.headline, f.verdict, f.interval, f.spc_note)
           if t]
    easy = [t for r in results for t in r.headline.findings.easy_read]
    assert sum(map(textstat.flesch_reading_ease, box)) / len(box) >= 50
    assert sum(map(textstat.flesch_reading_ease, easy)) / len(easy) >= 70
