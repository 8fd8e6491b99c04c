"""Tests for evaluation.methods.comparative: comparative ITS, staggered DiD and synthetic control.

Two kinds of check: hand-made noise-free panels where the answer is known exactly, and the synthetic
demonstration data (evaluation.demo.generator), whose truth.json says what effect was put in at each site.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from evaluation.demo.generator import generate
from evaluation.methods.comparative import (
    MIN_NEVER_TREATED,
    comparative_its,
    site_vs_comparators,
    staggered_did,
    staggered_from_panel,
    synthetic_control,
)
from evaluation.sources import load_panel

# Seed of the synthetic data. Any seed should do for most checks; see test_synthetic_control_null_site for
# the one check that a seed can fail by chance (a rank test with 21 units).
SEED = 7
SITES = {"RDY": "dorset", "TAD": "bradford", "RW5": "lancashire", "RXA": "cheshire_wirral"}
MEASURE = "CCR70"


# --------------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("synthetic")
    truth = generate(out, seed=SEED)
    panel, _ = load_panel(out)
    comparators = [o["org_code"] for o in truth["organisations"] if o["role"] == "comparator"]
    starts = {code: truth["effects"][site][MEASURE]["intervention_date"] for code, site in SITES.items()}
    return {"panel": panel, "truth": truth, "comparators": comparators, "starts": starts}


@pytest.fixture(scope="module")
def staggered_synthetic(synthetic: dict) -> dict:
    return staggered_from_panel(
        synthetic["panel"],
        measure_id=MEASURE,
        sites=synthetic["starts"],
        comparator_orgs=synthetic["comparators"],
        value_type="count",
    )


def _true_step(synthetic: dict, code: str) -> float:
    return synthetic["truth"]["effects"][SITES[code]][MEASURE]["step"]


def _deterministic_panel(n_never: int, *, dates: bool = False) -> pd.DataFrame:
    """Two treated units (first treated in periods 6 and 8) and ``n_never`` never-treated, no noise.

    Outcome = unit level + a shared non-linear time path - 5 from first treatment on, so every 2x2
    difference-in-differences is exactly -5 after treatment and exactly 0 before.
    """
    rows = []
    first = {"A": 6, "B": 8} | {f"N{i}": 0 for i in range(n_never)}
    for k, (unit, g) in enumerate(first.items()):
        for t in range(1, 13):
            y = 10.0 + 1.7 * k + 0.5 * t + 0.03 * t**2 + math.sin(t) - (5.0 if g and t >= g else 0.0)
            rows.append({"unit": unit, "t": t, "y": y, "g": g})
    df = pd.DataFrame(rows)
    if dates:
        month = pd.Timestamp("2020-01-01")
        df["t"] = [month + pd.DateOffset(months=int(t) - 1) for t in df["t"]]
        df["g"] = [pd.NaT if g == 0 else month + pd.DateOffset(months=int(g) - 1) for g in df["g"]]
    return df


# --------------------------------------------------------------------------------------------------
# the module imports cheaply


def test_import_does_not_load_heavy_libraries():
    code = (
        "import sys, evaluation.methods.comparative\n"
        "heavy = [m for m in ('statsmodels', 'csdid', 'pysyncon', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------------------------------
# staggered difference-in-differences: exact answers


@pytest.mark.parametrize("dates", [False, True], ids=["integer-time", "month-time"])
@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_staggered_did_recovers_constant_effect_exactly(control_group: str, dates: bool):
    df = _deterministic_panel(MIN_NEVER_TREATED, dates=dates)
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", control_group=control_group)

    post = res.att_gt[res.att_gt["post"]]
    pre = res.att_gt[~res.att_gt["post"]]
    assert len(post) == 7 + 5 and len(pre) == 4 + 6  # 2 cohorts x 11 cells (varying base)
    np.testing.assert_allclose(post["att"], -5.0, atol=1e-8)
    np.testing.assert_allclose(pre["att"], 0.0, atol=1e-8)
    for agg in (res.simple, res.group_overall, res.event_time_overall):
        assert agg["estimate"] == pytest.approx(-5.0, abs=1e-8)
    np.testing.assert_allclose(res.group["att"], -5.0, atol=1e-8)
    events = res.event_time.set_index("event_time")["att"]
    np.testing.assert_allclose(events[events.index >= 0], -5.0, atol=1e-8)
    np.testing.assert_allclose(events[events.index < 0], 0.0, atol=1e-8)
    assert res.pretrend["statistic"] == pytest.approx(0.0, abs=1e-12)
    assert res.pretrend["max_abs_pre_att"] == pytest.approx(0.0, abs=1e-8)
    # Noise-free data: every placebo estimate is 0, so the interval collapses onto the estimate.
    assert res.simple["ci_low"] == pytest.approx(-5.0, abs=1e-8)
    assert res.simple["ci_high"] == pytest.approx(-5.0, abs=1e-8)
    # 5 comparators into two one-unit pseudo-cohorts: 5 x 4 distinct placebo assignments, all used.
    assert res.info["placebo_exact"] and res.info["n_placebo"] == 20
    if dates:
        assert set(res.group["group"]) == {pd.Timestamp("2020-06-01"), pd.Timestamp("2020-08-01")}
    json.dumps(res.to_dict())


def test_staggered_did_three_never_treated_units():
    df = _deterministic_panel(3)
    # csdid (like R did) refuses a never-treated control group smaller than 5 units; say so plainly ...
    with pytest.raises(ValueError, match=f"at least {MIN_NEVER_TREATED}"):
        staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g")
    # ... while the not-yet-treated design runs on the same 2 treated + 3 never-treated panel.
    res = staggered_did(df, unit="unit", time="t", outcome="y", first_treated="g", control_group="not_yet_treated")
    assert res.simple["estimate"] == pytest.approx(-5.0, abs=1e-8)
    assert res.pretrend["statistic"] == pytest.approx(0.0, abs=1e-12)


def _noisy_panel(seed: int, pre_trend: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    first = {"A": 10, "B": 10, "C": 14} | {f"N{i:02d}": 0 for i in range(15)}
    rows = []
    for unit, g in first.items():
        level = rng.normal(0, 1)
        for t in range(1, 21):
            drift = pre_trend * min(t - g, 0) if g else 0.0
            effect = -1.0 if g and t >= g else 0.0
            rows.append({"unit": unit, "t": t, "y": level + 0.1 * t + drift + effect + rng.normal(0, 0.1), "g": g})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("base_period", ["varying", "universal"])
@pytest.mark.parametrize("control_group", ["never_treated", "not_yet_treated"])
def test_staggered_did_aggregations_follow_group_time_effects(control_group: str, base_period: str):
    res = staggered_did(
        _noisy_panel(1),
        unit="unit",
        time="t",
        outcome="y",
        first_treated="g",
        control_group=control_group,
        base_period=base_period,
        n_placebo=200,
    )
    tab = res.att_gt
    post = tab[tab["post"]]
    size = post["group"].map({10: 2, 14: 1})
    assert res.simple["estimate"] == pytest.approx(float(np.average(post["att"], weights=size)), abs=1e-10)
    by_group = post.groupby("group")["att"].mean()
    np.testing.assert_allclose(res.group.set_index("group")["att"], by_group, atol=1e-10)
    # The effect is -1 and the noise sd 0.1: the headline interval covers it and excludes 0.
    assert res.simple["ci_low"] < -1.0 < res.simple["ci_high"] < 0
    assert 0.0 <= res.simple["p_value"] <= 1.0
    assert (tab["ci_low"] <= tab["att"]).all() and (tab["att"] <= tab["ci_high"]).all()


def test_staggered_pretrend_test_detects_a_pre_trend():
    flat = staggered_did(_noisy_panel(2), unit="unit", time="t", outcome="y", first_treated="g", n_placebo=300)
    trending = staggered_did(
        _noisy_panel(2, pre_trend=0.3), unit="unit", time="t", outcome="y", first_treated="g", n_placebo=300
    )
    assert trending.pretrend["p_value"] < 0.05
    assert trending.pretrend["statistic"] > flat.pretrend["statistic"]


# --------------------------------------------------------------------------------------------------
# comparative ITS and synthetic control: exact answers


def _two_level_panel(value_type: str) -> tuple[pd.DataFrame, float]:
    """Six comparators sharing a time path, and a site with its own trend, a step and no noise."""
    months = pd.date_range("2018-01-01", periods=48, freq="MS")
    t = np.arange(48)
    common = 0.2 * np.sin(2 * np.pi * t / 12) + 0.004 * t + 0.1 * (t > 20)
    post = (months >= "2021-01-01").astype(float)
    step = {"count": math.log(0.7), "proportion": math.log(1.5), "rate": -2.0}[value_type]
    inverse = {"count": np.exp, "proportion": lambda x: 1 / (1 + np.exp(-x)), "rate": lambda x: x + 5.0}
    rows = []
    for i in range(6):
        level = {"count": 3.0 + 0.3 * i, "proportion": -0.5 + 0.1 * i, "rate": 0.4 * i}[value_type]
        rows += [
            {"org": f"C{i}", "month": m, "v": inverse[value_type](level + c)}
            for m, c in zip(months, common, strict=True)
        ]
    site = {"count": 4.0, "proportion": 0.2, "rate": 1.0}[value_type] + common + 0.002 * t + step * post
    rows += [{"org": "SITE", "month": m, "v": v} for m, v in zip(months, inverse[value_type](site), strict=True)]
    natural = math.exp(step) if value_type != "rate" else step
    return pd.DataFrame(rows), natural


@pytest.mark.parametrize("value_type", ["count", "proportion", "rate"])
def test_comparative_its_recovers_step_exactly(value_type: str):
    df, step = _two_level_panel(value_type)
    res = comparative_its(
        df,
        unit="org",
        time="month",
        outcome="v",
        treated_unit="SITE",
        treatment_time="2021-01-01",
        value_type=value_type,
    )
    assert res["step"]["estimate"] == pytest.approx(step, rel=1e-8, abs=1e-8)
    assert res["slope"]["estimate"] == pytest.approx(0.0 if value_type == "rate" else 1.0, abs=1e-8)
    assert res["n_pre"] == 36 and res["n_post"] == 12 and res["n_comparators"] == 6
    json.dumps(res)


def test_comparative_its_drops_comparator_with_gap():
    df, _ = _two_level_panel("count")
    df = df[~((df["org"] == "C3") & (df["month"] == pd.Timestamp("2019-05-01")))]
    res = comparative_its(df, unit="org", time="month", outcome="v", treated_unit="SITE", treatment_time="2021-01-01")
    assert "C3" in res["dropped_comparators"] and res["n_comparators"] == 5


def test_synthetic_control_recovers_convex_combination():
    months = pd.date_range("2019-01-01", periods=36, freq="MS")
    t = np.arange(36, dtype=float)
    donors = {
        "D1": 10 + 0.2 * t + np.sin(t / 2),
        "D2": 12 - 0.1 * t + np.cos(t / 3),
        "D3": 8 + 0.3 * t,
        "D4": 11 + np.sin(t / 5) * 2,
        "D5": 9 + 0.05 * t**1.2,
    }
    post = months >= "2021-07-01"
    treated = 0.3 * donors["D1"] + 0.7 * donors["D2"] - 0.5 * post
    rows = [
        {"u": u, "m": m, "y": v} for u, s in {**donors, "T": treated}.items() for m, v in zip(months, s, strict=True)
    ]
    res = synthetic_control(
        pd.DataFrame(rows), unit="u", time="m", outcome="y", treated_unit="T", treatment_time="2021-07-01",
        rmspe_cutoff=float("inf"),  # the site's fit is exact, so the 5x filter would leave out every placebo
    )
    w = res["weights"]
    assert w["D1"] == pytest.approx(0.3, abs=1e-4) and w["D2"] == pytest.approx(0.7, abs=1e-4)
    assert min(w.values()) >= 0 and sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    assert res["pre_rmspe"] < 1e-3
    assert res["effect"]["mean_gap"] == pytest.approx(-0.5, abs=1e-3)
    # A perfect pre-period fit with a real effect ranks first among the 6 units.
    assert res["placebo"]["p_value"] == pytest.approx(res["placebo"]["min_possible_p_value"])
    json.dumps(res)


# --------------------------------------------------------------------------------------------------
# the synthetic demonstration data: recover what truth.json says was put in


def test_comparative_its_covers_true_step_at_three_of_four_sites(synthetic: dict):
    covered = {}
    for code in SITES:
        res = site_vs_comparators(
            synthetic["panel"],
            measure_id=MEASURE,
            site_org=code,
            comparator_orgs=synthetic["comparators"],
            intervention=synthetic["starts"][code],
            value_type="count",
            placebo=False,
        )
        step = res["comparative_its"]["step"]
        truth = math.log(_true_step(synthetic, code))
        covered[code] = math.log(step["ci_low"]) <= truth <= math.log(step["ci_high"])
        assert res["comparative_its"]["scale"] == "rate_ratio"
        assert step["estimate"] == pytest.approx(math.exp(step["estimate_link"]))
    assert sum(covered.values()) >= 3, covered


def test_synthetic_control_lancashire_finds_the_reduction(synthetic: dict):
    res = site_vs_comparators(
        synthetic["panel"],
        measure_id=MEASURE,
        site_org="RW5",
        comparator_orgs=synthetic["comparators"],
        intervention=synthetic["starts"]["RW5"],
        value_type="count",
    )
    json.dumps(res)
    sc = res["synthetic_control"]
    assert _true_step(synthetic, "RW5") == 0.80
    eff = sc["effect"]
    assert eff["mean_gap"] < 0 and eff["relative_change"] < 0
    # The relative interval is the gap's interval on the relative change's scale, so it holds the relative change
    # as the gap's interval holds the gap (a gap interval printed as percent once said '0.3% below' for -15%).
    assert eff["ci_low"] <= eff["mean_gap"] <= eff["ci_high"]
    assert eff["relative_ci_low"] <= eff["relative_change"] <= eff["relative_ci_high"]
    synth_mean = eff["mean_synthetic_post"]
    assert eff["relative_ci_low"] == pytest.approx(eff["ci_low"] / synth_mean)
    assert eff["relative_ci_high"] == pytest.approx(eff["ci_high"] / synth_mean)
    weights = np.array(list(sc["weights"].values()))
    assert (weights >= 0).all() and weights.sum() == pytest.approx(1.0, abs=1e-9)
    assert set(sc["weights"]) == set(synthetic["comparators"])
    assert 0.0 <= sc["placebo"]["p_value"] <= 1.0
    assert sc["placebo"]["n_placebos"] == len(synthetic["comparators"])
    assert sc["pre_rmspe"] > 0 and sc["rmspe_ratio"] == pytest.approx(sc["post_rmspe"] / sc["pre_rmspe"])


def test_synthetic_control_null_site(synthetic: dict):
    # Bradford's programme excludes crisis care: no CCR70 effect was put in. Its placebo p-value is a rank
    # among 21 units, so about 1 seed in 21 puts Bradford first (p = 1/21) by chance; the generator's
    # default seed is one (Bradford's own drawn trend is the second steepest of the 24 organisations).
    assert _true_step(synthetic, "TAD") == 1.0
    res = site_vs_comparators(
        synthetic["panel"],
        measure_id=MEASURE,
        site_org="TAD",
        comparator_orgs=synthetic["comparators"],
        intervention=synthetic["starts"]["TAD"],
        value_type="count",
    )
    p = res["synthetic_control"]["placebo"]["p_value"]
    assert 0.0 <= p <= 1.0
    assert p > 0.05


def test_staggered_did_on_synthetic_data(staggered_synthetic: dict):
    res = staggered_synthetic
    json.dumps(res)
    # Three of the four sites had reductions put in, Bradford none.
    assert res["simple"]["estimate"] < 0
    assert res["simple"]["natural"]["estimate"] == pytest.approx(math.exp(res["simple"]["estimate"]))
    # No pre-trends by construction.
    assert res["pretrend"]["p_value"] > 0.01
    assert res["pretrend"]["n_cells"] == 3 * 12  # three cohorts (Lancashire and Cheshire share a month)
    events = pd.DataFrame(res["event_time"]["by_event_time"])
    post = events[events["post"]]
    assert res["event_time"]["overall"]["estimate"] < 0
    assert (post["att"] < 0).mean() >= 0.75
    assert res["info"]["cohorts"] == {"2021-08-01": ["RDY"], "2022-04-01": ["RW5", "RXA"], "2023-04-01": ["TAD"]}


def test_staggered_placebo_inference_is_calibrated_where_analytic_is_not(staggered_synthetic: dict):
    # The reason for the placebo inference: with one organisation per cohort the library's analytic standard
    # errors leave out the site's own noise. The pre-treatment ATT(g,t) are zero in truth, so about 5% of
    # them should be "significant" at the 5% level.
    tab = pd.DataFrame(staggered_synthetic["att_gt"])
    pre = tab[~tab["post"]]
    placebo_rejects = (pre["p_value"] < 0.05).mean()
    analytic_rejects = (pre["att"].abs() / pre["se_analytic"] > 1.96).mean()
    assert placebo_rejects <= 0.15
    assert analytic_rejects >= 0.25
    assert pre["se"].median() > pre["se_analytic"].median()
    assert staggered_synthetic["pretrend"]["library_wald"]["p_value"] is None
