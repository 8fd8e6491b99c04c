"""The content-addressed cache on real notebook runs (#8), sharing the session build (tests/e2e/conftest.py):
a second run executes nothing; changing one site's rows re-executes only that site's notebook (and the
cross-site one) and a deleted output is rebuilt, both seen in one run; ``force`` re-executes; and shards
gathered give the same results files (and each shard the same figures) as the unsharded session run. Each test
works on its own copy of the session build."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.pipeline.runner import merge_shards, run

pytestmark = pytest.mark.e2e


def _results(build: Path, sites=None) -> dict[str, bytes]:
    files = sorted((build / "results").rglob("*.json"))
    if sites is not None:
        files = [p for p in files if p.parent.name in sites]
    return {p.relative_to(build).as_posix(): p.read_bytes() for p in files}


def _copy(built_results: Path, tmp_path: Path) -> Path:
    build = tmp_path / "build"
    shutil.copytree(built_results, build, ignore=shutil.ignore_patterns(".lock", "combined"))
    return build


def test_a_second_run_executes_nothing_and_changes_nothing(built_results: Path, tmp_path: Path):
    build = _copy(built_results, tmp_path)
    before = _results(build)
    summary = run(build_dir=build, progress=False)
    reg = default_registry()
    assert [o.cached for o in summary.outcomes] == [True] * (len(reg.site_ids) * len(reg.domain_ids) + 1)
    assert all(len(o.key) == 64 for o in summary.outcomes)
    assert _results(build) == before
    status = json.loads((build / "run_status.json").read_text())
    assert all(o["cached"] for o in status["outcomes"])


def test_changed_rows_and_a_deleted_output_reexecute_only_those_notebooks(built_results: Path, tmp_path: Path):
    """One site's rows changed and another site's results file deleted, in one run: exactly those two notebooks
    (and the cross-site one) are executed, and the rebuilt results file is the one the session build wrote."""
    build = _copy(built_results, tmp_path)
    data = tmp_path / "data"
    shutil.copytree(built_results / "data" / "synthetic", data)
    mhsds = data / "mhsds_timeseries.csv"
    with open(mhsds, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    col = {name: i for i, name in enumerate(rows[0])}
    for row in rows[1:]:
        dorset_crisis = row[col["PRIMARY_LEVEL"]] == "RDY" and row[col["MEASURE_ID"]] == "CCR70"
        if dorset_crisis and row[col["MEASURE_VALUE"]].isdigit():
            row[col["MEASURE_VALUE"]] = str(int(row[col["MEASURE_VALUE"]]) + 7)
            break
    else:
        pytest.fail("no Dorset CCR70 row found to change")
    with open(mhsds, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    # Staff retention: the cheapest notebook (fewest charts). Its rows are unchanged, only its output is gone.
    deleted = Path("results") / "lancashire" / "staff_retention.json"
    (build / deleted).unlink()
    summary = run(data_dir=str(data), build_dir=build, progress=False)
    executed = {(o.site, o.domain) for o in summary.outcomes if not o.cached}
    # Dorset's crisis notebook read the changed row; Lancashire's staff notebook lost its output; the cross-site
    # notebook reads every results file. The other ten site x domain notebooks come from the cache.
    assert executed == {("dorset", "crisis_demand"), ("lancashire", "staff_retention"), ("all", "cross_site")}, \
        executed
    assert len(summary.outcomes) == 13
    assert not summary.failed
    assert (build / deleted).read_bytes() == (built_results / deleted).read_bytes()


def test_force_reexecutes_and_leaves_only_this_runs_charts(built_results: Path, tmp_path: Path):
    build = _copy(built_results, tmp_path)
    stale = build / "figures" / "lancashire" / "staff_retention" / "MEASURE_FROM_ANOTHER_SOURCE_its.png"
    stale.write_bytes(b"not this run's chart")
    forced = run(sites=["lancashire"], domains=["staff_retention"], build_dir=build, progress=False,
                 cross_site=False, force=True)
    assert [o.cached for o in forced.outcomes] == [False]
    assert not stale.exists()  # an executed notebook's figures folder holds only this run's charts
    name = Path("results") / "lancashire" / "staff_retention.json"
    assert (build / name).read_bytes() == (built_results / name).read_bytes()


def test_shards_gathered_equal_the_unsharded_run(built_results: Path, tmp_path: Path):
    """Two shards (one notebook each), executed afresh into empty folders and gathered: the same results files,
    byte for byte, as the unsharded session run; the gathered cross-site job pools exactly the shards' results.

    This is also the byte-identity check: results files and figure downloads do not depend on the build folder,
    the time, the process or the other notebooks of the run, so each shard's results and figures (another
    folder, process and run than the session build's) equal the session build's byte for byte."""
    sites, domains = ["dorset", "lancashire"], ["staff_retention"]  # the cheapest notebooks
    data = built_results / "data" / "synthetic"
    shard_dirs = []
    for k in (1, 2):
        d = tmp_path / f"shard{k}"
        summary = run(sites=sites, domains=domains, data_dir=str(data), build_dir=d, progress=False, shard=(k, 2))
        assert len(summary.outcomes) == 1 and not summary.failed and not summary.outcomes[0].cached
        assert not (d / "synthesis").exists()  # a shard never runs the cross-site notebook
        written = sorted(p.relative_to(d) for p in d.rglob("*")
                         if p.is_file() and p.relative_to(d).parts[0] in ("results", "figures"))
        assert any(f.suffix == ".json" for f in written) and any(f.suffix == ".svg" for f in written)
        for f in written:
            assert (d / f).read_bytes() == (built_results / f).read_bytes(), f
        shard_dirs.append(d)
    merged = merge_shards(shard_dirs, tmp_path / "merged")
    assert not merged.failed
    assert {(o.site, o.domain) for o in merged.outcomes} == {*((s, d) for s in sites for d in domains),
                                                             ("all", "cross_site")}
    got = _results(tmp_path / "merged")
    assert got == {k: v for k, v in _results(built_results, sites).items() if k.endswith("/staff_retention.json")}
    pooled = json.loads((tmp_path / "merged" / "synthesis" / "cross_site.json").read_text())
    assert sorted(pooled["sites"]) == sites
