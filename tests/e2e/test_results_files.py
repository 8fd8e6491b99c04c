"""Every results file of the synthetic build validates against the committed JSON Schema and reads as models."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from evaluation.results import schema
from evaluation.results.files import read_results

pytestmark = pytest.mark.e2e
COMMITTED = Path(schema.__file__).with_name("results.schema.json")


def test_every_results_file_validates_against_the_committed_schema(built_results: Path):
    validator = jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))
    files = sorted((built_results / "results").glob("*/*.json"))
    assert len(files) == 12
    for f in files:
        errors = [e.message for e in validator.iter_errors(json.loads(f.read_text(encoding="utf-8")))]
        assert not errors, (f, errors[:3])


def test_results_read_back_as_models_with_a_primary_estimand_for_every_headline(built_results: Path):
    for r in read_results(built_results / "results"):
        head = r.headline
        assert head.findings is not None and head.findings.headline
        if head.status == "ok" and head.n_post >= 12:
            assert head.primary is not None
            assert head.primary.relative_unit == ("percent" if head.value_type == "count" else "percentage_points")
            assert "odds" not in head.findings.headline.lower()
