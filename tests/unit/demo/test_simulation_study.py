"""Tests for evaluation.demo.simulation_study (validation of the ITS step change by simulation).

The full 500-replicate run takes minutes; these use a few dozen replicates, enough to catch a broken
generator or summary (a wrong truth, a sign error, a coverage computed on the wrong scale) but not
to judge the acceptance target, which is the full run's job.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.demo.generator import MEASURE_MODELS, known_effects
from evaluation.demo.simulation_study import (
    ACCEPTANCE,
    N_MONTHS,
    Scenario,
    default_scenarios,
    generate_replicates,
    simulate_its,
    simulation_table_markdown,
    write_simulation,
)


def _scenario(name: str) -> Scenario:
    return next(s for s in default_scenarios() if s.name == name)


def test_default_scenarios_cover_the_design_and_the_truth_file() -> None:
    scenarios = default_scenarios()
    assert len({s.name for s in scenarios}) == len(scenarios)
    for vt, measure in (("count", "MHS32"), ("proportion", "REF_ACCEPT"), ("rate", "SICKNESS_RATE")):
        mine = [s for s in scenarios if s.value_type == vt]
        # {no effect, effect} x {independent, autocorrelated}
        for phi in (0.0, 0.4):
            assert any(s.phi == phi and not s.has_effect for s in mine)
            assert any(s.phi == phi and s.has_effect for s in mine)
        null = 0.0 if vt == "rate" else 1.0
        truth = {e[measure][0] for e in known_effects().values() if e[measure][0] != null}
        assert {s.step for s in mine if s.has_effect and s.phi > 0} == truth


def test_generator_follows_the_model() -> None:
    # Rates are eta itself, so the noise can be read off exactly: AR(1) with phi 0.4 and the stated SD.
    sc = _scenario("rate | autocorrelated | step -0.2")
    values = generate_replicates(sc, 4000, seed=1)["value"]
    assert values.shape == (4000, N_MONTHS)
    u = values - values.mean(axis=0)
    assert u.std() == pytest.approx(sc.sd, rel=0.03)
    lag1 = np.mean(u[:, 1:] * u[:, :-1]) / np.mean(u * u)
    assert lag1 == pytest.approx(0.4, abs=0.02)
    # The step: the mean jumps by -0.2 at go-live (month 73), on top of the generator's trend.
    model = MEASURE_MODELS["SICKNESS_RATE"]
    jump = values[:, 72].mean() - values[:, 71].mean()
    season = (
        _season(model.season, 4) - _season(model.season, 3)  # go-live April 2022, month before March
    )
    assert jump == pytest.approx(-0.2 + model.trend + season, abs=0.03)
    # Independent counts are Poisson: variance about equal to the mean in each month.
    counts = generate_replicates(_scenario("count | independent | no effect"), 4000, seed=2)["value"]
    ratio = counts.var(axis=0, ddof=1) / counts.mean(axis=0)
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    props = generate_replicates(_scenario("proportion | independent | step 1.15"), 50, seed=3)
    assert np.all(props["numerator"] <= props["denominator"])
    assert np.allclose(props["value"], props["numerator"] / props["denominator"])


def _season(s: tuple[float, float, float, float], month: int) -> float:
    return sum(
        s[2 * j - 2] * math.sin(2 * math.pi * j * month / 12) + s[2 * j - 1] * math.cos(2 * math.pi * j * month / 12)
        for j in (1, 2)
    )


def test_small_run_structure_bias_and_coverage() -> None:
    scenarios = [
        _scenario("count | autocorrelated, overdispersed | no effect"),
        _scenario("proportion | independent | step 1.15"),
    ]
    df = simulate_its(replicates=60, scenarios=scenarios, seed=11)
    assert list(df["scenario"]) == [s.name for s in scenarios]
    for col in ("n", "bias", "rmse", "coverage", "rejection_rate", "rejection_is", "meets_target"):
        assert col in df.columns
    assert (df["n"] == 60).all() and (df["failed"] == 0).all()
    assert (df["bias"].abs() < 0.03).all()
    assert (df["rmse"] >= df["bias"].abs()).all()
    assert (df["coverage"] >= 0.85).all()
    count, prop = df.iloc[0], df.iloc[1]
    assert count["rejection_is"] == "false-positive rate" and count["rejection_rate"] <= 0.15
    assert prop["rejection_is"] == "power" and prop["rejection_rate"] >= 0.9  # OR 1.15 with pure binomial noise
    assert prop["true_link_step"] == pytest.approx(math.log(1.15))
    # The overdispersed counts look like the published MHS32 series (Pearson chi2/df around 40-50).
    assert 25 < count["mean_dispersion"] < 80
    assert count["meets_target"] in (True, False) and prop["meets_target"] is None
    assert df.attrs["replicates"] == 60 and df.attrs["elapsed_seconds"] > 0


def test_results_do_not_depend_on_workers_or_company() -> None:
    a = _scenario("rate | independent | no effect")
    b = _scenario("count | independent | step 1.06")
    one = simulate_its(replicates=8, scenarios=[a, b], seed=5, n_jobs=1)
    two = simulate_its(replicates=8, scenarios=[a, b], seed=5, n_jobs=2)
    alone = simulate_its(replicates=8, scenarios=[b], seed=5)
    cols = ["bias", "rmse", "coverage", "rejection_rate", "mean_se"]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    pd.testing.assert_frame_equal(one[cols].iloc[[1]].reset_index(drop=True), alone[cols])


def test_markdown_and_json_outputs(tmp_path) -> None:
    df = simulate_its(replicates=4, scenarios=[_scenario("rate | autocorrelated | no effect")], seed=3)
    md = simulation_table_markdown(df)
    lines = md.splitlines()
    assert lines[0].startswith("| Measure type | Noise | True step |")
    assert lines[2].startswith("| rate (SICKNESS_RATE) | autocorrelated | none | 4 |")
    assert "false-positive rate" in lines[2]
    assert f"{ACCEPTANCE['coverage_min']:.0%}" in md
    path = write_simulation(df, tmp_path / "out" / "simulation.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["settings"]["replicates"] == 4
    assert doc["scenarios"][0]["scenario"] == "rate | autocorrelated | no effect"
    assert doc["acceptance"] == ACCEPTANCE


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="replicates"):
        simulate_its(replicates=1)
    sc = _scenario("rate | independent | no effect")
    with pytest.raises(ValueError, match="unique"):
        simulate_its(replicates=2, scenarios=[sc, sc])
    with pytest.raises(ValueError, match="n_jobs"):
        simulate_its(replicates=2, scenarios=[sc], n_jobs=0)
