"""End to end on record-level demonstration tables: the runner computes the measures from records and the
headline estimates cover the known truth, as for the aggregate demonstration data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def records_build(tmp_path_factory) -> Path:
    from evaluation.demo.records import generate_records
    from evaluation.pipeline.runner import run

    root = tmp_path_factory.mktemp("records_e2e")
    # The four sites and two comparators: each organisation's series is the same whatever the count (the
    # generator seeds per organisation), and the ITS headline needs no comparators; fewer records, faster.
    generate_records(root / "records", organisations=6, start="2018-04-01", end="2025-03-01")
    summary = run(sites=["dorset"], domains=["referral_acceptance", "crisis_demand"], data_dir=root / "records",
                  build_dir=root / "build", progress=False, jobs=1)
    assert not summary.failed, [o.error for o in summary.failed]
    return root


def test_measures_from_records_and_truth_covered(records_build: Path):
    truth = json.loads((records_build / "records" / "truth.json").read_text())
    for domain, headline in (("referral_acceptance", "REF_ACCEPT"), ("crisis_demand", "CCR70")):
        result = json.loads((records_build / "build" / "results" / "dorset" / f"{domain}.json").read_text())
        assert result["data_source"] != "synthetic" or result["inputs"]
        ids = {m["measure_id"] for m in result["measures"]}
        assert headline in ids
        head = next(m for m in result["measures"] if m["headline"])
        step = head["its"]["step"]
        assert step["ci_low"] <= truth["effects"]["dorset"][headline]["step"] <= step["ci_high"], step
