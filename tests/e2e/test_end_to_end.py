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

from evaluation.dictionary.registry import default_registry
from evaluation.pipeline.runner import run
from evaluation.results.files import read_results

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def synthetic_build(built_results: Path) -> Path:
    """The session's synthetic default build (tests/e2e/conftest.py): every notebook executed once per session."""
    return built_results


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


@pytest.fixture(scope="module")
def built_site(synthetic_build: Path, tmp_path_factory) -> Path:
    """The synthetic build assembled and built with Sphinx (warnings as errors), once per module."""
    from evaluation.pipeline.manifest import published_run
    from evaluation.publish.pages import assemble

    tmp = tmp_path_factory.mktemp("site")
    docs = tmp / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=synthetic_build, docs_dir=docs, run=published_run(synthetic_build))
    out = tmp / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(docs),
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_site_builds_without_warnings_and_has_every_page(synthetic_build: Path, built_site: Path):
    out = built_site
    reg = default_registry()
    pages = ["index.html", "methods.html", "data_dictionary.html", "assumptions.html", "method_validation.html",
             "_generated/cross_site.html"]
    for s in reg.site_ids:
        pages += [f"_generated/sites/{s}/index.html", f"_generated/sites/{s}/data_quality.html",
                  f"_generated/sites/{s}/easy_read.html", f"_generated/sites/{s}/summary.html"]
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


def test_overview_has_one_sentence_per_site_and_domain_matching_its_numbers(synthetic_build: Path, built_site: Path):
    from test_site import check_overview  # the checker, unit-tested in tests/test_site.py

    results = read_results(synthetic_build / "results")
    assert check_overview((built_site / "index.html").read_text(encoding="utf-8"), results) == 12
    for s in default_registry().site_ids:
        summary = (built_site / "_generated" / "sites" / s / "summary.html").read_text(encoding="utf-8")
        assert check_overview(summary, [r for r in results if r["site"] == s]) == 3


def test_every_image_has_alt_text_naming_the_measure_and_the_site(built_site: Path):
    from test_site import check_img_alts

    assert check_img_alts(built_site) >= 12 * 2 + 7  # at least SPC and ITS per headline, and the forest plots


def test_results_csvs_and_every_figure_are_offered_as_downloads(synthetic_build: Path, built_site: Path):
    downloads = {p.name: p for p in (built_site / "_downloads").rglob("*") if p.is_file()}
    reg = default_registry()
    assert {"results_all_sites.csv", *(f"results_{s}.csv" for s in reg.site_ids)} <= set(downloads)
    for s in reg.site_ids:
        page = (built_site / "_generated" / "sites" / s / "index.html").read_text(encoding="utf-8")
        for fig in (synthetic_build / "figures" / s).rglob("*"):
            if fig.suffix in (".png", ".svg"):
                assert f"/{fig.name}\"" in page, f"{s}: no download link for {fig.name}"
                assert downloads[fig.name].is_file()


def test_a_folder_with_no_readable_input_is_refused_before_any_notebook(tmp_path: Path, capsys):
    from evaluation.cli import main

    data = tmp_path / "data"
    data.mkdir()
    # An MHSDS-like file with required columns missing: no reader recognises it.
    (data / "broken.csv").write_text("REPORTING_PERIOD_START,STATUS,MEASURE_ID\n01/04/2020,Final,MHS32\n")
    build = tmp_path / "build"
    status = main(["run", "--site", "dorset", "--domain", "crisis_demand", "--data-dir", str(data),
                   "--build-dir", str(build), "--quiet"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.csv" in err[0]
    assert not (build / "notebooks").exists()


def test_one_sites_corrupt_extract_stops_only_that_site(synthetic_build: Path, tmp_path: Path, capsys):
    """#7: one site's broken data: the other sites' pages are built, the failed one says what failed and
    how to reproduce it, the overview marks it, and the command exits non-zero."""
    from evaluation.cli import main
    from evaluation.pipeline.manifest import published_run
    from evaluation.publish.pages import assemble

    data = tmp_path / "data"
    shutil.copytree(synthetic_build / "data" / "synthetic", data)
    # Dorset sends its own referrals extract (a valid split of the shared file), with one cell corrupted.
    shared = (data / "local_referrals.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    header, rows = shared[0], shared[1:]
    dorset = [r for r in rows if r.startswith("RDY,")]
    (data / "local_referrals.csv").write_text(header + "".join(r for r in rows if not r.startswith("RDY,")),
                                              encoding="utf-8")
    cells = dorset[5].rstrip("\n").split(",")
    cells[3] = "lots"  # REFERRALS_ACCEPTED
    dorset[5] = ",".join(cells) + "\n"
    (data / "local_referrals_dorset.csv").write_text(header + "".join(dorset), encoding="utf-8")
    build = tmp_path / "build"
    status = main(["run", "--domain", "referral_acceptance", "--domain", "crisis_demand", "--data-dir", str(data),
                   "--build-dir", str(build), "--quiet"])
    assert status == 1
    err = capsys.readouterr().err
    outcomes = {(o["site"], o["domain"]): o for o in json.loads((build / "run_status.json").read_text())["outcomes"]}
    failed = {k for k, o in outcomes.items() if not o["ok"]}
    assert failed == {("dorset", "referral_acceptance")}, failed
    assert "local_referrals_dorset.csv" in outcomes[("dorset", "referral_acceptance")]["error"]
    assert "REFERRALS_ACCEPTED" in outcomes[("dorset", "referral_acceptance")]["error"]
    assert "FAILED dorset / referral_acceptance" in err
    assert outcomes[("dorset", "crisis_demand")]["ok"]  # Dorset's other domain never read that file
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("_build", "_generated"))
    assemble(build_dir=build, docs_dir=docs, run=published_run(build))
    sites = docs / "_generated" / "sites"
    for site in ("bradford", "cheshire_wirral", "lancashire"):
        assert (sites / site / "referral_acceptance.ipynb").is_file()
    assert not (sites / "dorset" / "referral_acceptance.ipynb").exists()
    page = (sites / "dorset" / "index.md").read_text(encoding="utf-8")
    assert "Analysis failed" in page and "evaluation run --site dorset --domain referral_acceptance" in page
    overview = (docs / "_generated" / "fragments" / "overview.md").read_text(encoding="utf-8")
    assert overview.count("Analysis failed") >= 1 and "local_referrals_dorset.csv" in overview


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
    from evaluation.pipeline.manifest import published_run
    from evaluation.publish.pages import assemble

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
    assemble(build_dir=build, docs_dir=docs, run=published_run(build))
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(docs),
                           str(tmp_path / "html")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    overview = (tmp_path / "html" / "index.html").read_text(encoding="utf-8")
    assert "Synthetic demonstration data" not in overview
    quality = (tmp_path / "html" / "_generated" / "sites" / "lancashire" / "data_quality.html").read_text()
    assert "Row accounting" in quality and "2016-11" in quality  # RW5's incomplete MHS32 month is listed


def test_two_builds_of_the_same_inputs_are_byte_identical(synthetic_build: Path, tmp_path: Path):
    """Results files and figure downloads do not depend on the build folder, the time, the process or the other
    notebooks of the run: one notebook run afresh equals the session build's (another folder, process and run)."""
    data = str(synthetic_build / "data" / "synthetic")
    summary = run(sites=["cheshire_wirral"], domains=["referral_acceptance"], data_dir=data,
                  build_dir=tmp_path / "a", progress=False, cross_site=False)
    assert not summary.failed and not summary.outcomes[0].cached
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*")
                   if p.is_file() and p.parts[len((tmp_path / "a").parts)] in ("results", "figures"))
    assert any(f.suffix == ".json" for f in files) and any(f.suffix == ".svg" for f in files)
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (synthetic_build / f).read_bytes(), f
