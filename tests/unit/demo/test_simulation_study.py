"""Tests for evaluation.demo.simulation_study (validation of the ITS primary estimand by simulation).

The full 500-replicate run takes tens of minutes; these use a few dozen replicates, enough to catch a broken
generator, truth or summary (a wrong truth, a sign error, a coverage computed on the wrong scale) but not
to judge the acceptance target, which is the full run's job.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.demo.generator import MEASURE_MODELS
from evaluation.demo.simulation_study import (
    ACCEPTANCE,
    N_PRE,
    POST_MONTHS,
    REPORT_SEED,
    TUNING_SEED,
    Scenario,
    default_scenarios,
    generate_replicates,
    primary_truth,
    simulate_its,
    simulation_table_markdown,
    write_simulation,
)


def _scenario(name: str) -> Scenario:
    return next(s for s in default_scenarios() if s.name == name)


def test_default_scenarios_cover_the_design_the_data_have() -> None:
    scenarios = default_scenarios()
    assert len({s.name for s in scenarios}) == len(scenarios)
    for vt in ("count", "proportion", "rate"):
        mine = [s for s in scenarios if s.value_type == vt and s.misspecification == "none"]
        assert {s.n_post for s in mine} == set(POST_MONTHS) == {8, 12, 16, 36}
        for n_post in POST_MONTHS:
            assert {s.has_effect for s in mine if s.n_post == n_post} == {True, False}
    mis = {(s.value_type, s.misspecification) for s in scenarios if s.misspecification != "none"}
    assert mis == {(v, m) for v in ("count", "rate") for m in ("covid_ramp", "golive_late_3")}
    assert TUNING_SEED != REPORT_SEED


def test_primary_truth_follows_the_definition() -> None:
    count = _scenario("count | 12 months after | none | step 1.06")
    assert primary_truth(count) == pytest.approx(6.0, abs=1e-9)  # constant ratio: exactly the step
    rate = _scenario("rate | 12 months after | none | step -0.2")
    assert primary_truth(rate) == pytest.approx(-0.2, abs=1e-12)
    late = _scenario("rate | 12 months after | golive_late_3 | step -0.2")
    assert primary_truth(late) == pytest.approx(-0.2 * 9 / 12, abs=1e-12)  # the change misses 3 of 12 months
    ramp = _scenario("count | 12 months after | covid_ramp | no effect")
    assert primary_truth(ramp) == 0.0
    prop = _scenario("proportion | 12 months after | none | step 1.15")
    assert 2.0 < primary_truth(prop) < 4.0  # OR 1.15 at about 70% accepted is about 3 points


def test_generator_follows_the_model() -> None:
    # Rates are eta itself, so the noise can be read off exactly: AR(1) with phi 0.4 and the stated SD.
    sc = _scenario("rate | 36 months after | none | step -0.2")
    values = generate_replicates(sc, 4000, seed=1)["value"]
    assert values.shape == (4000, N_PRE + 36)
    u = values - values.mean(axis=0)
    assert u.std() == pytest.approx(sc.sd, rel=0.03)
    lag1 = np.mean(u[:, 1:] * u[:, :-1]) / np.mean(u * u)
    assert lag1 == pytest.approx(0.4, abs=0.02)
    model = MEASURE_MODELS["SICKNESS_RATE"]
    jump = values[:, N_PRE].mean() - values[:, N_PRE - 1].mean()
    season = _season(model.season, 8) - _season(model.season, 7)  # go-live August 2021, month before July
    assert jump == pytest.approx(-0.2 + model.trend + season, abs=0.03)
    # The recovery ramp: the COVID-19 shift fades over the 12 months after March 2021 instead of ending.
    flat = generate_replicates(_scenario("rate | 12 months after | none | no effect"), 2000, seed=2)["value"]
    ramp = generate_replicates(_scenario("rate | 12 months after | covid_ramp | no effect"), 2000, seed=2)["value"]
    april_2021 = 60  # month index (0-based) of April 2021
    diff = ramp[:, april_2021].mean() - flat[:, april_2021].mean()
    assert diff == pytest.approx(model.covid * 11 / 12, abs=0.05)
    props = generate_replicates(_scenario("proportion | 8 months after | none | step 1.15"), 50, seed=3)
    assert np.all(props["numerator"] <= props["denominator"])
    assert np.allclose(props["value"], props["numerator"] / props["denominator"])


def _season(s: tuple[float, float, float, float], month: int) -> float:
    return sum(
        s[2 * j - 2] * math.sin(2 * math.pi * j * month / 12) + s[2 * j - 1] * math.cos(2 * math.pi * j * month / 12)
        for j in (1, 2)
    )


def test_small_run_structure_bias_and_coverage() -> None:
    scenarios = [
        _scenario("count | 12 months after | none | no effect"),
        _scenario("rate | 16 months after | none | step -0.2"),
        _scenario("count | 12 months after | golive_late_3 | step 1.06"),
    ]
    df = simulate_its(replicates=40, scenarios=scenarios, seed=TUNING_SEED)
    assert list(df["scenario"]) == [s.name for s in scenarios]
    assert (df["n"] == 40).all() and (df["failed"] == 0).all()
    assert (df["primary_coverage"] >= 0.8).all()
    count, rate, late = df.iloc[0], df.iloc[1], df.iloc[2]
    assert count["rejection_is"] == "false-positive rate" and count["primary_rejection_rate"] <= 0.15
    assert abs(count["primary_bias"]) < 5  # percent
    assert rate["rejection_is"] == "power" and abs(rate["primary_bias"]) < 0.2
    assert count["mde_increase"] > 0 > count["mde_decrease"]
    assert count["meets_target"] in (True, False) and late["meets_target"] is None
    assert math.isnan(late["step_coverage"]) and late["true_primary"] < 6.0
    assert df.attrs["replicates"] == 40 and df.attrs["elapsed_seconds"] > 0


def test_results_do_not_depend_on_workers_or_company() -> None:
    a = _scenario("rate | 8 months after | none | no effect")
    b = _scenario("count | 8 months after | none | step 1.06")
    one = simulate_its(replicates=6, scenarios=[a, b], seed=5, n_jobs=1)
    two = simulate_its(replicates=6, scenarios=[a, b], seed=5, n_jobs=2)
    alone = simulate_its(replicates=6, scenarios=[b], seed=5)
    cols = ["primary_bias", "primary_coverage", "primary_rejection_rate", "mean_se"]
    pd.testing.assert_frame_equal(one[cols], two[cols])
    pd.testing.assert_frame_equal(one[cols].iloc[[1]].reset_index(drop=True), alone[cols])


def test_markdown_and_json_outputs(tmp_path) -> None:
    df = simulate_its(replicates=4, scenarios=[_scenario("rate | 12 months after | none | no effect")], seed=3)
    md = simulation_table_markdown(df)
    lines = md.splitlines()
    assert lines[0].startswith("| Measure | Months after go-live | Model |")
    assert lines[2].startswith("| rate (SICKNESS_RATE) | 12 | as fitted | +0.00 pts |")
    assert "false-positive rate" in lines[2]
    assert f"{ACCEPTANCE['coverage_min']:.0%}" in md
    path = write_simulation(df, tmp_path / "out" / "simulation.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["settings"]["replicates"] == 4 and doc["design"]["months_after"] == [8, 12, 16, 36]
    assert doc["scenarios"][0]["scenario"] == "rate | 12 months after | none | no effect"
    assert doc["acceptance"] == ACCEPTANCE


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="replicates"):
        simulate_its(replicates=1)
    sc = _scenario("rate | 8 months after | none | no effect")
    with pytest.raises(ValueError, match="unique"):
        simulate_its(replicates=2, scenarios=[sc, sc])
    with pytest.raises(ValueError, match="n_jobs"):
        simulate_its(replicates=2, scenarios=[sc], n_jobs=0)
