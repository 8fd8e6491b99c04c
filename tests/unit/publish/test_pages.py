"""The site's words and downloads: overview sentences checked against the numbers, easy read, CSVs, alt text.

The checkers here (``check_overview``, ``check_img_alts``) are also run on a real built site by
tests/test_end_to_end.py. They re-derive every number from the results entry (percentages from the ratios,
percentage points from the differences) and compare with what the sentence states, within display rounding;
they never call the code that wrote the sentence.
"""

from __future__ import annotations

import copy
import csv
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
        kind = next((k for k in ("finding-sentence", "finding-interval", "finding-failed") if k in classes), None)
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


def check_sentence(sentence: str, m: dict) -> None:
    """Direction word, percentage (or percentage points) and both interval bounds, from the results entry."""
    its = m.get("its")
    if m.get("status") != "ok" or not its:
        assert "than expected" not in sentence and "%" not in sentence, sentence
        return
    est, lo, hi = (its["step"][k] for k in ("estimate", "ci_low", "ci_high"))
    diff = its["scale"] == "difference"
    null = 0.0 if diff else 1.0
    direction = "lower" if hi < null else "higher" if lo > null else "no clear change"
    size = (lambda x: abs(x)) if diff else (lambda x: abs(x - 1.0) * 100)  # noqa: E731 - the scale's size
    unit = r" percentage points" if diff else "%"
    if direction != "no clear change":
        pat = (rf"(?:was|were) {NUM}{unit} (lower|higher) than expected from the earlier trend "
               rf"\(95% CI {NUM}(?:{unit})? to {NUM}{unit} (lower|higher)\)")
        found = re.search(pat, sentence)
        assert found, f"no clear-change wording in: {sentence}"
        pct, word, a, b, word2 = found.groups()
        assert word == word2 == direction, sentence
        assert _close(pct, size(est)), (sentence, est)
        low, high = sorted([size(lo), size(hi)])
        assert _close(a, low) and _close(b, high), (sentence, lo, hi)
        return
    assert "no clear change" in sentence and "cannot be ruled out" in sentence, sentence
    assert "than expected from the earlier trend (95% CI" not in sentence, sentence
    found = re.search(rf"runs from {NUM}{unit} lower to {NUM}{unit} higher", sentence)
    assert found, sentence
    assert _close(found.group(1), size(lo)) and _close(found.group(2), size(hi)), (sentence, lo, hi)
    point = re.search(rf"the estimate was {NUM}{unit} (lower|higher)", sentence)
    if point:
        assert _close(point.group(1), size(est)), (sentence, est)
        assert point.group(2) == ("lower" if est < null else "higher"), sentence
    else:
        assert diff and "about the same as expected" in sentence and abs(est) < 0.005, sentence


def check_interval_words(text: str, m: dict) -> None:
    """The interval in words says whether it includes no change, with the same bounds."""
    its = m.get("its")
    if m.get("status") != "ok" or not its:
        assert "No interval" in text, text
        return
    lo, hi = its["step"]["ci_low"], its["step"]["ci_high"]
    null = 0.0 if its["scale"] == "difference" else 1.0
    if lo <= null <= hi:
        assert "includes no change" in text and "cannot tell yet" in text, text
    else:
        assert "does not include no change" in text and "cannot tell" not in text, text
        assert ("lower" if hi < null else "higher") in text, text


def check_overview(text: str, results: list[dict], failed: set[tuple[str, str]] = frozenset()) -> int:
    """Exactly one checked sentence per site x domain that ran, a failure mark for each that did not."""
    items = parse_findings(text)
    sentences = [i for i in items if i["kind"] == "finding-sentence"]
    intervals = [i for i in items if i["kind"] == "finding-interval"]
    keys = [(i["site"], i["domain"]) for i in sentences]
    expected = sorted((r["site"], r["domain"]) for r in results if (r["site"], r["domain"]) not in failed)
    assert sorted(keys) == expected, (keys, expected)
    assert len(intervals) == len(sentences)
    by_key = {(r["site"], r["domain"]): r for r in results}
    for sent, interval in zip(sentences, intervals, strict=True):
        m = next(x for x in by_key[(sent["site"], sent["domain"])]["measures"] if x["headline"])
        assert sent["measure"] == m["measure_id"]
        check_sentence(sent["text"], m)
        check_interval_words(interval["text"], m)
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


def _measure(mid: str, scale: str | None, est: float, lo: float, hi: float, *, status: str = "ok",
             summary: str = "", direction_of_improvement: str = "decrease", spc_icon: str | None = "common_cause"):
    its = None if scale is None else {"scale": scale, "model": "m", "step": {"estimate": est, "ci_low": lo,
                                                                            "ci_high": hi}}
    return {"measure_id": mid, "name": f"Measure {mid}", "headline": True, "status": status, "n_pre": 60,
            "n_post": 40, "its": its, "summary": summary, "direction": "x", "caveats": ["a caveat"],
            "direction_of_improvement": direction_of_improvement,
            "spc": None if spc_icon is None else {"variation_icon": spc_icon, "assurance_icon": None}}


def _result(site: str, domain: str, m: dict) -> dict:
    return {"site": site, "domain": domain, "site_name": site, "domain_name": domain, "data_source": "synthetic",
            "intervention_date": "2022-04-01", "inputs": [{"path": "x.csv", "sha256": "a" * 64}], "measures": [m]}


# Sentences as report.finding_sentence writes them, typed here so the checker is tested on its own.
CASES = [
    ("dorset", "crisis_demand", _measure(
        "CCR70", "rate_ratio", 0.833364, 0.755863, 0.918812, spc_icon="concern_high",
        summary="After X (August 2021), new referrals were 17% lower than expected from the earlier trend "
                "(95% CI 8% to 24% lower).")),
    ("dorset", "referral_acceptance", _measure(
        "REF_ACCEPT", "odds_ratio", 1.22, 1.13, 1.32, direction_of_improvement="increase",
        summary="After X (August 2021), the odds of a referral being accepted were 22% higher than expected "
                "from the earlier trend (95% CI 13% to 32% higher).")),
    ("dorset", "staff_retention", _measure(
        "LEAVER_RATE", "odds_ratio", 0.88, 0.73, 1.06,
        summary="After X (August 2021), the odds of a member of staff leaving in a month showed no clear change "
                "from the earlier trend: the estimate was 12% lower, but the 95% CI runs from 27% lower to 6% "
                "higher, so no change cannot be ruled out.")),
    ("lancashire", "staff_retention", _measure(
        "SICKNESS_RATE", "difference", -0.51, -0.70, -0.32,
        summary="After X (April 2022), the sickness absence rate was 0.51 percentage points lower than expected "
                "from the earlier trend (95% CI 0.32 to 0.70 percentage points lower).")),
    ("lancashire", "referral_acceptance", _measure(
        "SICKNESS_RATE", "difference", 0.002, -0.2, 0.21,
        summary="After X (April 2022), the sickness absence rate showed no clear change from the earlier trend: "
                "the estimate was about the same as expected, but the 95% CI runs from 0.20 percentage points "
                "lower to 0.21 percentage points higher, so no change cannot be ruled out.")),
    ("lancashire", "crisis_demand", _measure(
        "CCR70", None, 0, 0, 0, status="not_in_data", spc_icon=None,
        summary="New emergency referrals: not in these files, so no finding can be given for Lancashire.")),
]


@pytest.fixture
def results() -> list[dict]:
    return [_result(s, d, copy.deepcopy(m)) for s, d, m in CASES]


# ------------------------------------------------------------------------------------------------ tests


def test_every_overview_sentence_states_the_numbers_it_came_from(results):
    reg = default_registry()
    status = {"outcomes": [{"site": "bradford", "domain": "crisis_demand", "ok": False,
                            "error": "cell 3: ValueError: broken file\nTraceback..."}]}
    text = overview_fragment(reg, results, status)
    assert check_overview(text, results, {("bradford", "crisis_demand")}) == len(CASES)
    assert "Analysis failed: no finding." in text and "broken file" in text and "Traceback" not in text


@pytest.mark.parametrize("wrong", [
    ("17% lower", "17% higher"),  # direction word
    ("17% lower", "27% lower"),  # the percentage
    ("(95% CI 8% to 24% lower)", "(95% CI 8% to 34% lower)"),  # an interval bound
])
def test_the_checker_catches_a_sentence_that_misstates_its_numbers(results, wrong):
    reg = default_registry()
    results[0]["measures"][0]["summary"] = results[0]["measures"][0]["summary"].replace(*wrong)
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(reg, results, {}), results)


def test_a_clear_claim_on_an_interval_that_crosses_no_change_is_caught(results):
    results[2]["measures"][0]["summary"] = ("After X (August 2021), the odds were 12% lower than expected from the "
                                            "earlier trend (95% CI 6% to 27% lower).")
    with pytest.raises(AssertionError):
        check_overview(overview_fragment(default_registry(), results, {}), results)


def test_overview_is_finding_first_with_icons_labels_and_an_accessible_table(results):
    text = overview_fragment(default_registry(), results, {})
    first_table = text.index("<table")
    assert text.index('class="finding finding-sentence"') < first_table  # sentences before the table
    assert "<caption>" in text and 'scope="col"' in text and 'scope="row"' in text
    assert variation_label("concern_high") in text and 'aria-hidden="true"' in text  # label beside every icon
    assert text.count('class="mdc-icon"') == text.count("mdc-variation") + text.count("mdc-assurance")
    assert "{doc}`Charts and details: crisis demand in Dorset <_generated/sites/dorset/crisis_demand>`" in text
    headings = re.findall(r"^(#+) ", text, flags=re.M)
    assert headings[0] == "##" and set(headings) == {"##", "###"}  # under the page's h1, in order


def test_easy_read_never_claims_a_direction_the_interval_does_not_support(results):
    reg = default_registry()
    for _, _, m in CASES:
        words = " ".join(measure_sentences(m, "a referral being accepted")).lower()
        its = m["its"]
        if m["status"] != "ok":
            assert "could not check" in words
            continue
        null = 0.0 if its["scale"] == "difference" else 1.0
        crosses = its["step"]["ci_low"] <= null <= its["step"]["ci_high"]
        if crosses:
            assert "cannot tell yet" in words
            assert not re.search(r"\b(lower|higher|more likely|less likely|fairly sure|good news|bad news)\b",
                                 words), words
        else:
            assert "fairly sure" in words and "cannot tell" not in words
            word = "lower" if its["step"]["ci_high"] < null else "higher"
            assert word in words or ("less likely" if word == "lower" else "more likely") in words
    page = easy_read_page(reg, "dorset", results, {"staff_retention": "boom"}, synthetic=True)
    assert "made up" in page and "could not check this" in page.lower()
    assert "For every 100 we expected, there were about 83." in page
    assert "The real number is likely to be between 76 and 92." in page


def test_easy_read_uses_short_sentences_and_no_jargon(results):
    page = easy_read_page(default_registry(), "dorset", results, {}, synthetic=False)
    prose = [ln for ln in page.splitlines() if ln and not ln.startswith(("#", "{", "<", ":"))]
    prose += [re.sub(r"<[^>]+>", "", ln) for ln in page.splitlines() if ln.startswith("<p")]
    for line in prose:
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            assert len(sentence.split()) <= 20, sentence
            low = sentence.lower()
            assert not [j for j in JARGON if j in low], sentence


def test_summary_page_has_findings_caveats_and_provenance(results):
    info = {"data_source": "synthetic", "commit": "abc1234", "built_at": "2025-01-01 00:00 UTC"}
    page = summary_page(default_registry(), "dorset", results, {}, info)
    assert check_overview(page, [r for r in results if r["site"] == "dorset"]) == 3
    for part in ("## Key caveats", "## Provenance", "abc1234", "Synthetic demonstration data", "a caveat",
                 "rate ratio 0.83 (0.76 to 0.92)"):
        assert part in page


def test_results_csv_is_deterministic_sorted_and_has_no_count_like_columns(results, tmp_path: Path):
    a, b = write_results_csvs(results, tmp_path / "a"), write_results_csvs(list(reversed(results)), tmp_path / "b")
    assert sorted(p.name for p in a.values()) == ["results_all_sites.csv", "results_dorset.csv",
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
    assert first["spc_variation_icon"] == "concern_high" and first["headline"] == "true"
    missing = next(r for r in rows if r["status"] == "not_in_data")
    assert missing["step_estimate"] == "" and missing["spc_variation_icon"] == ""


def test_results_csv_bytes_do_not_depend_on_input_order(results):
    shuffled = results[:]
    random.Random(1).shuffle(shuffled)
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
