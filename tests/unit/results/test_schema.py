"""The committed JSON Schema is the one the models generate, and a results file round-trips byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from evaluation.results import schema

COMMITTED = Path(schema.__file__).with_name("results.schema.json")


def test_committed_schema_equals_the_generated_one():
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == schema.json_schema(), (
        "regenerate evaluation/results/results.schema.json from evaluation.results.schema.json_schema()")


def test_floats_are_rounded_and_non_finite_become_null():
    i = schema.Interval(estimate=0.1234567891, ci_low=float("nan"), ci_high=float("inf"))
    assert i.estimate == 0.123457 and i.ci_low is None and i.ci_high is None
    assert schema.Estimate(estimate=1, ci_low=1, ci_high=1, p_value=0.123456).p_value == 0.1235


def test_committed_cross_site_schema_equals_the_generated_one():
    committed = Path(schema.__file__).with_name("cross_site.schema.json")
    assert json.loads(committed.read_text(encoding="utf-8")) == schema.cross_site_json_schema(), (
        "regenerate evaluation/results/cross_site.schema.json from evaluation.results.schema.cross_site_json_schema()")
