"""Every sentence a stakeholder reads, measured on the synthetic build: reading ease, grammar, jargon.

Reading ease is textstat 0.7.4's Flesch reading ease (later releases fetch NLTK data at run time). The sentences
are the results files' own (``Findings``): the headline box (what happened, whether it is good, how sure we are,
the note on the icon), the plain summaries (robustness, comparison with other providers) and the easy read. The
jargon check reads the pages the site is built from (docs/*.md and the generated MyST of the overview, site
pages, easy read, summaries and data quality pages), leaving out the collapsed "Technical detail" sections.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import pytest

from evaluation.results.files import read_results

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

#: Average Flesch reading ease the issue asks for (60-70 is plain English; 50 is "fairly difficult").
HEADLINE_MIN, EASY_READ_MIN = 50.0, 70.0
#: Words kept out of the main text of every page (technical sections excepted).
JARGON = ("p-value", "p =", "p=", "odds", "AR(1)", "Ljung", "HKSJ", "Callaway", "placebo", "rate ratio")
#: Double negatives and hedges that read as one.
DOUBLE_NEGATIVES = (r"\bnot include no\b", r"cannot be ruled out", r"\bno\b[^.]*\bcannot\b[^.]*\bno\b",
                    r"\bnot un\w+", r"\bnever no\b")


def _flesch(text: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # textstat 0.7.4 imports pkg_resources, which warns
        import textstat
    return textstat.flesch_reading_ease(text)


@pytest.fixture(scope="module")
def results(built_results: Path) -> list:
    return read_results(built_results / "results")


@pytest.fixture(scope="module")
def sentences(results) -> dict[str, list[str]]:
    """The stakeholder sentences of the build, by kind."""
    out: dict[str, list[str]] = {"headline": [], "summary": [], "easy_read": []}
    for r in results:
        for m in r.measures:
            f = m.findings
            out["headline"] += [t for t in (f.headline, f.verdict, f.interval, f.spc_note) if t]
            out["summary"] += [t for t in (f.robustness, f.comparative) if t]
            out["easy_read"] += list(f.easy_read)
    return out


@pytest.fixture(scope="module")
def pages(built_results: Path, tmp_path_factory) -> dict[str, str]:
    """The site's Markdown sources (docs/*.md and everything assemble generates), by path."""
    from evaluation.pipeline.manifest import published_run
    from evaluation.publish.pages import assemble

    docs = tmp_path_factory.mktemp("readability") / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=built_results, docs_dir=docs, run=published_run(built_results))
    return {str(p.relative_to(docs)): p.read_text(encoding="utf-8") for p in sorted(docs.rglob("*.md"))}


def test_reading_ease_of_headlines_and_easy_read(sentences, record_property):
    scores = {kind: [_flesch(t) for t in texts] for kind, texts in sentences.items()}
    means = {kind: sum(v) / len(v) for kind, v in scores.items() if v}
    record_property("flesch_means", means)
    print("\nFlesch reading ease (mean, n): " + "; ".join(f"{k} {means[k]:.1f} (n={len(scores[k])})" for k in means))
    assert means["headline"] >= HEADLINE_MIN, means
    assert means["easy_read"] >= EASY_READ_MIN, means
    assert means.get("summary", HEADLINE_MIN) >= HEADLINE_MIN, means


def test_no_double_negatives_wrong_plurals_or_mixed_number_formats(sentences):
    for kind, texts in sentences.items():
        for t in texts:
            assert "(s)" not in t, (kind, t)
            assert not re.search(r"(?<![\d.,])1 (months|referrals|people)\b", t), (kind, t)
            assert not re.search(r"(?<![\d.,])(?:[02-9]|\d{2,}) month\b", t), (kind, t)
            for pat in DOUBLE_NEGATIVES:
                assert not re.search(pat, t), (kind, pat, t)
            # One number format: no signed numbers, no scientific notation, thousands with commas (years apart).
            assert not re.search(r"(?<![\w-])[+\-\u2212]\d", t), (kind, t)
            assert not re.search(r"\d[eE][+-]?\d", t), (kind, t)
            for n in re.findall(r"(?<![\d,.])\d{4,}(?![\d,])", t):
                assert 1990 <= int(n) <= 2100, (kind, t)


def _main_text(source: str) -> str:
    """A page source without its collapsed technical sections."""
    return re.sub(r'<details class="technical-detail">.*?</details>', "", source, flags=re.S)


#: The pages stakeholders read that this package writes (notebook pages are checked by their own tests; the
#: methods, validation, assumptions and disclosure pages are technical by design).
PLAIN_FRAGMENTS = ("intro.md", "reading_guide.md", "overview.md")


def test_no_jargon_in_the_main_text_of_any_page(pages):
    assert any(k.startswith("_generated/sites/") for k in pages) and "index.md" in pages
    plain = [k for k in pages if k.startswith("_generated/sites/") or k == "index.md"
             or k in {f"_generated/fragments/{f}" for f in PLAIN_FRAGMENTS}]
    assert len(plain) >= 4 * 4 + 4
    for path in plain:
        text = _main_text(pages[path])
        for word in JARGON:
            assert word.lower() not in text.lower(), (path, word)


def test_the_statistics_are_one_click_away(pages):
    site = pages["_generated/sites/dorset/index.md"]
    assert site.count('<details class="technical-detail">') >= 3
    technical = " ".join(re.findall(r'<details class="technical-detail">.*?</details>', site, flags=re.S))
    assert "p = " in technical and "Placebo" in technical


def test_no_jargon_in_the_main_text_of_the_notebook_pages(built_site: Path):
    """The domain and cross-site pages (executed notebooks) keep statistics under Technical detail too: the
    built HTML of every such page, with its collapsed technical sections taken out, has none of the words."""
    pages = sorted(built_site.glob("_generated/sites/*/*.html"))
    notebooks = [p for p in pages if p.stem not in ("index", "easy_read", "summary", "data_quality")]
    notebooks += [built_site / "_generated" / "cross_site.html"]
    assert len(notebooks) >= 12 + 1
    for page in notebooks:
        source = page.read_text(encoding="utf-8")
        body = source.split('<article class="bd-article"', 1)[-1].split("</article>", 1)[0]
        text = re.sub(r"<[^>]+>", " ", _main_text(body))
        assert "go-live" in text.lower(), page  # the page's own text was read, not an empty shell
        for word in JARGON:
            assert word.lower() not in text.lower(), (page.relative_to(built_site).as_posix(), word)
