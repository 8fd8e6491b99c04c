"""The whole path on the synthetic default: runner -> notebooks -> results files -> Sphinx site.

Executes all 12 site x domain notebooks once (module fixture), checks the results against the generator's
truth.json, builds the site with warnings as errors, and checks the runner's failure reporting.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.registry import default_registry
from evaluation.report import read_results
from evaluation.runner import run

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def synthetic_build(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("build")
    summary = run(build_dir=build, progress=False)
    failures = [f"{o.site}/{o.domain}: {o.error}" for o in summary.failed]
    assert not failures, failures
    return build


def test_every_site_and_domain_writes_a_results_file(synthetic_build: Path):
    reg = default_registry()
    results = read_results(synthetic_build / "results")
    assert sorted((r["site"], r["domain"]) for r in results) == sorted(
        (s, d) for s in reg.site_ids for d in reg.domain_ids)
    for r in results:
        assert r["data_source"] == "synthetic"
        assert r["inputs"] and all(len(i["rows_sha256"]) == 64 for i in r["inputs"])
        assert sum(m["headline"] for m in r["measures"]) == 1
        for m in r["measures"]:
            assert m["summary"]


def test_cross_site_synthesis_pools_every_its_measure(synthetic_build: Path):
    reg = default_registry()
    data = json.loads((synthetic_build / "synthesis" / "cross_site.json").read_text())
    its_measures = {m.id for m in reg.measures if m.analysis == "its"}
    assert set(data["meta_analysis"]) == its_measures
    for meta in data["meta_analysis"].values():
        assert meta["k"] == 4
        assert meta["pooled"]["ci_low"] <= meta["pooled"]["estimate"] <= meta["pooled"]["ci_high"]
    assert data["staggered_did"]["CCR70"]["status"] == "ok"


def test_headline_comparative_results_cover_truth(synthetic_build: Path):
    truth = json.loads((synthetic_build / "data" / "synthetic" / "truth.json").read_text())
    covered = 0
    for r in read_results(synthetic_build / "results"):
        head = next(m for m in r["measures"] if m["headline"])
        comp = head["comparative"]
        assert comp["status"] == "ok", comp
        step = comp["comparative_its"]["step"]
        covered += step["ci_low"] <= truth["effects"][r["site"]][head["measure_id"]]["step"] <= step["ci_high"]
        weights = comp["synthetic_control"]["top_weights"]
        assert all(w >= 0 for w in weights.values())
        assert 0 < comp["synthetic_control"]["placebo"]["p_value"] <= 1
    assert covered >= 10


def test_headline_step_interval_covers_truth_in_at_least_10_of_12(synthetic_build: Path):
    truth = json.loads((synthetic_build / "data" / "synthetic" / "truth.json").read_text())
    covered, cases = 0, []
    for r in read_results(synthetic_build / "results"):
        head = next(m for m in r["measures"] if m["headline"])
        assert head["designated_headline"], f"{r['site']}/{r['domain']}: designated headline missing"
        true_step = truth["effects"][r["site"]][head["measure_id"]]["step"]
        step = head["its"]["step"]
        ok = step["ci_low"] <= true_step <= step["ci_high"]
        covered += ok
        cases.append(f"{r['site']}/{head['measure_id']}: truth {true_step} CI {step['ci_low']}-{step['ci_high']}")
    assert len(cases) == 12
    assert covered >= 10, cases


def test_executed_notebooks_are_in_build_not_in_templates(synthetic_build: Path):
    executed = sorted(p.relative_to(synthetic_build / "notebooks").as_posix()
                      for p in (synthetic_build / "notebooks").glob("*/*.ipynb"))
    assert len(executed) == 13 and "all/cross_site.ipynb" in executed
    assert not list((ROOT / "notebooks").glob("*/*.ipynb"))


def test_site_builds_without_warnings_and_has_every_page(synthetic_build: Path, tmp_path: Path):
    from evaluation.site import assemble

    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=synthetic_build, docs_dir=docs)
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(docs),
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reg = default_registry()
    pages = ["index.html", "methods.html", "data_dictionary.html", "assumptions.html", "method_validation.html",
             "_generated/cross_site.html"]
    for s in reg.site_ids:
        pages += [f"_generated/sites/{s}/index.html", f"_generated/sites/{s}/data_quality.html"]
        pages += [f"_generated/sites/{s}/{d}.html" for d in reg.domain_ids]
    for page in pages:
        text = (out / page).read_text(encoding="utf-8")
        assert "Synthetic demonstration data" in text, f"{page} lacks the synthetic banner"
    overview = (out / "index.html").read_text(encoding="utf-8")
    for r in read_results(synthetic_build / "results"):
        head = next(m for m in r["measures"] if m["headline"])
        assert f"{head['its']['step']['estimate']:.2f}" in overview
    cross = (out / "_generated" / "cross_site.html").read_text(encoding="utf-8")
    assert "Across 4 sites" in cross and "Staggered difference-in-differences" in cross
    dictionary = (out / "data_dictionary.html").read_text(encoding="utf-8")
    for m in reg.measures:
        assert m.name in dictionary


def test_runner_reports_a_failing_notebook_and_runs_the_others(tmp_path: Path):
    from evaluation.cli import main

    data = tmp_path / "data"
    data.mkdir()
    # An MHSDS-like file with a required column missing: loading the data fails inside the notebook.
    (data / "broken.csv").write_text("REPORTING_PERIOD_START,STATUS,MEASURE_ID\n01/04/2020,Final,MHS32\n")
    build = tmp_path / "build"
    status = main(["run", "--site", "dorset", "--domain", "crisis_demand", "--domain", "staff_retention",
                   "--data-dir", str(data), "--build-dir", str(build), "--quiet"])
    assert status == 1
    outcomes = json.loads((build / "run_status.json").read_text())["outcomes"]
    assert [(o["site"], o["domain"]) for o in outcomes] == [("dorset", "crisis_demand"), ("dorset", "staff_retention")]
    for o in outcomes:
        assert not o["ok"]
        assert "broken.csv" in o["error"] and "cell" in o["error"]


def test_one_failing_notebook_does_not_stop_the_others(synthetic_build: Path, tmp_path: Path):
    import nbformat

    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    nb = nbformat.read(notebooks / "staff_retention.ipynb", as_version=4)
    nb.cells.insert(3, nbformat.v4.new_code_cell('raise RuntimeError("deliberate failure for the test")'))
    nbformat.write(nb, notebooks / "staff_retention.ipynb")
    summary = run(sites=["bradford"], domains=["crisis_demand", "staff_retention"], build_dir=tmp_path / "build",
                  data_dir=str(synthetic_build / "data" / "synthetic"), progress=False, notebook_dir=notebooks)
    by_domain = {o.domain: o for o in summary.outcomes}
    assert by_domain["crisis_demand"].ok
    failed = by_domain["staff_retention"]
    assert not failed.ok
    assert "RuntimeError: deliberate failure for the test" in failed.error
    assert failed.error.startswith("cell ")
    assert Path(failed.notebook).is_file()  # the partly executed copy is kept for diagnosis


REAL_DATA = ROOT.parent / "shared" / "data" / "real"


@pytest.mark.realdata
@pytest.mark.skipif(not REAL_DATA.is_dir(), reason=f"published NHS files not found at {REAL_DATA}")
def test_real_data_build_runs_every_site_and_builds_the_site(tmp_path: Path):
    """The four sites on the published files: measures the files lack are 'not in these files', not errors."""
    from evaluation.site import assemble

    build = tmp_path / "build"
    summary = run(data_dir=str(REAL_DATA), build_dir=build, progress=False)
    assert not summary.failed, [f"{o.site}/{o.domain}: {o.error}" for o in summary.failed]
    assert summary.data_source == "published"
    results = {(r["site"], r["domain"]): r for r in read_results(build / "results")}
    assert len(results) == 12
    for (site, domain), r in results.items():
        assert r["data_source"] == "published"
        by_id = {m["measure_id"]: m for m in r["measures"]}
        if domain == "crisis_demand":  # CCR70/71 are not in the time-series file
            assert {m["status"] for m in r["measures"]} == {"not_in_data"}
            assert "not in these files" in by_id["CCR70"]["summary"]
        if domain == "referral_acceptance":
            assert by_id["REF_ACCEPT"]["status"] == "not_in_data"
            assert by_id["MHS108"]["status"] == "descriptive"
            # Bradford's assumed go-live (April 2023) is after the file ends (November 2022).
            expected = "not_estimable" if site == "bradford" else "ok"
            assert by_id["MHS32"]["status"] == expected, by_id["MHS32"]["reason"]
        if domain == "staff_retention":
            assert by_id["SICKNESS_RATE"]["status"] == "ok"
            assert by_id["SICKNESS_RATE"]["n_pre"] >= 90  # the Excel table's baseline from April 2013
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=build, docs_dir=docs)
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(docs),
                           str(tmp_path / "html")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    overview = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "Synthetic demonstration data" not in overview
    quality = (tmp_path / "html" / "_generated" / "sites" / "lancashire" / "data_quality.html").read_text()
    assert "Row accounting" in quality and "2016-11" in quality  # RW5's incomplete MHS32 month is listed


def test_two_builds_of_the_same_inputs_are_byte_identical(synthetic_build: Path, tmp_path: Path):
    """Results files and figure downloads do not depend on the build folder, the time or the process."""
    data = str(synthetic_build / "data" / "synthetic")
    for name in ("a", "b"):
        summary = run(sites=["cheshire_wirral"], domains=["referral_acceptance"], data_dir=data,
                      build_dir=tmp_path / name, progress=False, cross_site=False)
        assert not summary.failed
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and p.parts[len((tmp_path / "a").parts)] in ("results", "figures"))
    assert any(f.suffix == ".json" for f in files) and any(f.suffix == ".svg" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
