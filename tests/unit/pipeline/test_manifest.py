"""The run manifest (#14 item 3): written atomically, schema committed, checked against the files on disk so
a published site never mixes two runs' results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.pipeline import manifest
from evaluation.provenance import sha256_file as sha256_path


def _analysis(build: Path, site: str, domain: str, source: str = "synthetic", text: str = "{}") -> manifest.Analysis:
    results = build / "results" / site / f"{domain}.json"
    notebook = build / "notebooks" / site / f"{domain}.ipynb"
    for f in (results, notebook):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text + site + domain)
    return manifest.Analysis(site=site, domain=domain, status="ok", data_source=source,
                             results_file=results.relative_to(build).as_posix(), results_sha256=sha256_path(results),
                             notebook=notebook.relative_to(build).as_posix(), notebook_sha256=sha256_path(notebook))


def _write(build: Path, analyses: list, source: str = "synthetic") -> None:
    manifest.write_manifest(build, manifest.RunManifest(data_dir=str(build / "data"), data_source=source,
                                                        parameters={}, analyses=analyses))


def test_committed_schema_is_the_models_schema():
    assert manifest.SCHEMA_PATH.read_text(encoding="utf-8") == manifest.schema_text(), \
        "regenerate data_dictionary/schemas/run_manifest.schema.json from evaluation.pipeline.manifest"


def test_manifest_round_trips_and_leaves_no_temporary_file(tmp_path):
    _write(tmp_path, [_analysis(tmp_path, "dorset", "crisis_demand")])
    m = manifest.read_manifest(tmp_path)
    assert [a.site for a in m.analyses] == ["dorset"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "results", "run_manifest.json"]


def test_no_manifest_means_nothing_to_publish(tmp_path):
    with pytest.raises(manifest.ManifestError, match="no run manifest"):
        manifest.published_run(tmp_path)
    (tmp_path / "run_manifest.json").write_text('{"analyses": [')  # a truncated file from an older writer
    with pytest.raises(manifest.ManifestError, match="not a valid run manifest"):
        manifest.published_run(tmp_path)


def test_deleted_results_file_is_shown_as_failed_with_the_rerun_command(tmp_path):
    """Fault test: a results file deleted after the run."""
    _write(tmp_path, [_analysis(tmp_path, "dorset", "crisis_demand"), _analysis(tmp_path, "bradford", "crisis_demand")])
    (tmp_path / "results" / "dorset" / "crisis_demand.json").unlink()
    run = manifest.published_run(tmp_path)
    assert run["results_files"] == ["results/bradford/crisis_demand.json"]
    bad = next(o for o in run["outcomes"] if o["site"] == "dorset")
    assert not bad["ok"] and "was deleted after the run" in bad["error"]
    assert "evaluation run --site dorset --domain crisis_demand" in bad["error"]


def test_results_rewritten_by_another_run_are_never_published(tmp_path):
    """Fault test: stale results — run A's manifest, then a later run rewrote one site's results (on other data)
    without finishing: that site is failed, and nothing of the later run is published."""
    _write(tmp_path, [_analysis(tmp_path, "dorset", "crisis_demand"), _analysis(tmp_path, "bradford", "crisis_demand")])
    (tmp_path / "results" / "dorset" / "crisis_demand.json").write_text('{"data_source": "published"}')
    run = manifest.published_run(tmp_path)
    assert run["results_files"] == ["results/bradford/crisis_demand.json"]
    assert "rewritten after the run" in next(o["error"] for o in run["outcomes"] if o["site"] == "dorset")


def test_a_later_finished_run_replaces_the_earlier_one_entirely(tmp_path):
    """Fault test: re-running one site on other data — the site then shows only that run, under its source;
    the other sites' older results files stay on disk but are not published."""
    _write(tmp_path, [_analysis(tmp_path, s, "crisis_demand") for s in ("dorset", "bradford", "lancashire")])
    _write(tmp_path, [_analysis(tmp_path, "dorset", "referral_acceptance", source="local", text="other data")],
           source="published")
    run = manifest.published_run(tmp_path)
    assert run["results_files"] == ["results/dorset/referral_acceptance.json"]
    assert {(o["site"], o["domain"]) for o in run["outcomes"]} == {("dorset", "referral_acceptance")}
    assert run["data_source"] == "local"


def test_mixed_sources_label_the_site_local(tmp_path):
    """Fault test: one data folder with published files and a local extract — each site has one source, and
    a site that read a local template is labelled local (never 'published', never beside synthetic)."""
    _write(tmp_path, [_analysis(tmp_path, "dorset", "crisis_demand", source="published"),
                      _analysis(tmp_path, "dorset", "referral_acceptance", source="local")], source="published")
    m = manifest.read_manifest(tmp_path)
    assert m.site_source("dorset") == "local"
    run = m.as_status()
    assert run["data_source"] == "local" and {o["data_source"] for o in run["outcomes"]} == {"local"}


def test_cross_site_results_are_not_a_site_result(tmp_path):
    a = _analysis(tmp_path, "dorset", "crisis_demand")
    cross = manifest.Analysis(site="all", domain="cross_site", status="ok", data_source="synthetic",
                              results_file="synthesis/cross_site.json")
    m = manifest.RunManifest(data_dir="d", data_source="synthetic", parameters={}, analyses=[a, cross])
    assert m.results_files(tmp_path) == [tmp_path / "results" / "dorset" / "crisis_demand.json"]
    assert json.loads(json.dumps(m.as_status()))["results_files"] == ["results/dorset/crisis_demand.json"]
