"""The data source kind end to end (#18 item 4): the example trust of the local templates is "local" in its
results file, in the run manifest and in what assemble reads; the synthetic default is "synthetic" in both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.paths import DICTIONARY_DIR
from evaluation.pipeline.manifest import published_run, read_manifest
from evaluation.pipeline.runner import run
from evaluation.results.files import read_results

pytestmark = pytest.mark.e2e
EXAMPLE = DICTIONARY_DIR / "templates" / "example"


def test_the_example_trust_is_local_data_everywhere(tmp_path: Path):
    build = tmp_path / "build"
    summary = run(sites=["org_XX1"], domains=["staff_retention"], data_dir=str(EXAMPLE), intervention_date="2021-04",
                  build_dir=build, progress=False)
    assert not summary.failed, [o.error for o in summary.failed]
    assert summary.data_source == "local"
    result = json.loads((build / "results" / "org_xx1" / "staff_retention.json").read_text(encoding="utf-8"))
    assert result["data_source"] == "local"
    assert {i["path"] for i in result["inputs"]} == {"local_workforce.csv"}
    manifest = read_manifest(build)
    assert [(a.site, a.data_source) for a in manifest.analyses] == [("org_xx1", "local")]
    assert [i.path for i in manifest.analyses[0].inputs] == ["local_workforce.csv"]
    status = published_run(build)
    assert status["data_source"] == "local" and status["outcomes"][0]["data_source"] == "local"


def test_results_and_manifest_agree_on_the_synthetic_default(built_results: Path):
    manifest = read_manifest(built_results)
    kinds = {(a.site, a.domain): a.data_source for a in manifest.analyses}
    for r in read_results(built_results / "results"):
        assert r.data_source == kinds[(r.site, r.domain)] == "synthetic"
