"""Names from the data are text, never markup: a site built from hostile file names, reasons, errors and
sentences shows them as text only (issue 14, item 2).

The build folder is written by hand (typed results, the run as the manifest gives it, data log and one-cell
notebooks: what ``evaluation run`` leaves), then assembled and built with Sphinx (warnings as errors); the
HTML Sphinx produces is parsed, not grepped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from evaluation.publish.pages import assemble
from evaluation.results.files import write_result
from evaluation.results.schema import DomainResult, MeasureResult

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

IMG = "<img src=x onerror=alert(1)>"
# Each lands somewhere different: a file name, a reader's reason, an error, a sentence, a caveat, a publisher.
FILE = f"in`{IMG}`put {{{{ 7*7 }}}}.csv"
REASON = f"bad {{doc}}`x <index>` row :::{{warning}} {IMG}"
ERROR = f"cell 3: \x1b[31mValueError\x1b[0m {IMG} `{{download}}`x <y.csv>``"
SENTENCE = f"After X, referrals were {IMG} lower {{{{ config }}}} `code` **bold** | pipe"
CAVEAT = "- caveat\n\n:::{danger}\ninjected\n:::"
PUBLISHER = f"{{eval-rst}}`x` {IMG}"


def _measure(summary: str) -> MeasureResult:
    return MeasureResult.model_validate({
        "measure_id": "CCR70", "name": "New emergency referrals to crisis care teams", "unit": "referrals per month",
        "value_type": "count", "direction_of_improvement": "decrease", "headline": True,
        "designated_headline": True, "status": "ok", "n_pre": 60, "n_post": 40, "direction": "improvement",
        "caveats": [CAVEAT],
        "primary": {"basis": "effect_in_month_12", "unit": "referrals per month", "relative_unit": "percent",
                    "absolute": {"estimate": -20, "ci_low": -30, "ci_high": -10},
                    "relative": {"estimate": -17, "ci_low": -24, "ci_high": -8}},
        "its": {"scale": "rate_ratio", "model": "quasi-poisson", "cov_type": "ar1_kr",
                "step": {"estimate": 0.83, "ci_low": 0.76, "ci_high": 0.92},
                "pre_slope": {"estimate": 1.0, "ci_low": 0.99, "ci_high": 1.01}},
        "spc": {"variation_icon": "concern_high", "assurance_icon": None},
        "data_quality": {"first_month": "2016-04", "last_month": "2025-03", "months_present": 108,
                         "missing_months": [REASON], "outlier_months": [], "provisional_months": [],
                         "period_types": {"month": 108}, "share_suppressed": 0.0},
        "findings": {"headline": summary, "interval": summary, "robustness": CAVEAT, "comparative": REASON,
                     "easy_read": [summary]},
    })


def _write_build(build: Path) -> dict:
    """Write the build folder by hand; return the run in the form ``assemble`` reads (the manifest's)."""
    run = {"data_source": "synthetic", "data_dir": "x", "outcomes": [], "results_files": []}
    for domain in ("crisis_demand", "referral_acceptance", "staff_retention"):
        failed = domain == "staff_retention"
        run["outcomes"].append({"site": "dorset", "domain": domain, "ok": not failed,
                                "error": ERROR if failed else "", "data_source": "synthetic"})
        if failed:
            continue
        result = DomainResult.model_validate({
            "site": "dorset", "domain": domain, "site_name": "Dorset", "ods_code": "RDY", "domain_name": domain,
            "data_source": "synthetic", "intervention_date": "2021-08-01", "intervention_label": FILE,
            "intervention_is_assumption": False, "headline_measure": "CCR70",
            "inputs": [{"path": FILE, "layout": "mhsds_long", "rows_sha256": "a" * 64}],
            "input_files": [{"path": FILE, "layout": "mhsds_long", "rows_read": 3, "rows_kept": 2,
                             "rows_rejected": 1, "rejected": {REASON: 1}}],
            "measures": [_measure(SENTENCE).model_dump()]})
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {domain}")])
        (build / "notebooks" / "dorset").mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, build / "notebooks" / "dorset" / f"{domain}.ipynb")
        write_result(result, build / "results" / "dorset" / f"{domain}.json")
        run["results_files"].append(f"results/dorset/{domain}.json")
    log = {"files": [{"path": FILE, "publisher": PUBLISHER, "layout": "mhsds_long", "first_month": "2016-04",
                      "last_month": "2025-03", "rows_read": 3, "rows_kept": 2, "rows_rejected": 1,
                      "sha256": "b" * 64}]}
    (build / "data_log.json").write_text(json.dumps(log), encoding="utf-8")
    return run


class _Page(HTMLParser):
    """Elements with their attributes, and the page's text (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("hostile")
    run = _write_build(tmp / "build")
    docs = tmp / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=tmp / "build", docs_dir=docs, run=run)
    out = tmp / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html", str(docs), str(out)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _pages(html_dir: Path) -> dict[str, _Page]:
    pages = {}
    for path in sorted(html_dir.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        pages[path.relative_to(html_dir).as_posix()] = page
    return pages


def test_no_element_or_attribute_is_made_from_a_name(hostile_site: Path):
    for name, page in _pages(hostile_site).items():
        for tag, attrs in page.elements:
            assert not any(k.startswith("on") for k in attrs), (name, tag, attrs)
            assert not (tag == "img" and attrs.get("src") == "x"), (name, attrs)
            assert not any("onerror" in (v or "") for v in attrs.values()), (name, tag, attrs)
        text = " ".join(page.text)
        assert "\x1b" not in text, name
        assert "injected" not in text or "danger" in text, name  # the caveat's directive stayed text


def test_each_name_is_shown_as_the_text_it_was(hostile_site: Path):
    pages = {k: " ".join(" ".join(p.text).split()) for k, p in _pages(hostile_site).items()}
    quality = pages["_generated/sites/dorset/data_quality.html"]
    assert FILE in quality and f"{REASON}: 1" in quality
    assert FILE in pages["data_dictionary.html"] and PUBLISHER in pages["data_dictionary.html"]
    summary = pages["_generated/sites/dorset/summary.html"]
    assert FILE in summary and " ".join(CAVEAT.split()) in summary
    overview = pages["index.html"]
    assert " ".join(SENTENCE.split()) in overview
    assert f"{IMG} `{{download}}`x <y.csv>``" in overview  # the error, escape sequences removed
    assert "ValueError" in overview and "[31m" not in overview
