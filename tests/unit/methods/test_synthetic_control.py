"""Synthetic control: the fast simplex solver against pysyncon's, the placebo pre-fit filter, the conformal
interval."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.synthetic_control import conformal_interval, simplex_least_squares, synthetic_control


def _pysyncon_solver():  # noqa: ANN202
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pysyncon import Synth
    return Synth.w_optimize


@pytest.mark.parametrize("seed", range(8))
def test_simplex_solver_is_never_worse_than_pysyncons_and_weights_agree(seed: int) -> None:
    """The promise of simplex_least_squares' docstring: on random problems with a diagonal V (as this package
    uses), the objective is never worse than pysyncon's own SLSQP solver's, and the weights agree."""
    rng = np.random.default_rng(seed)
    m, c = int(rng.integers(24, 72)), int(rng.integers(5, 40))
    x0 = rng.normal(10, 2, size=(m, c)) + np.linspace(0, 3, m)[:, None] * rng.normal(0, 1, c)
    true_w = rng.dirichlet(np.ones(c) * 0.3)
    x1 = x0 @ true_w + rng.normal(0, 0.5, m)
    v = np.diag(rng.uniform(0.5, 2.0, m))
    w_ours, f_ours = simplex_least_squares(v, x0, x1)
    w_lib, f_lib = _pysyncon_solver()(v, x0, x1)
    assert w_ours.min() >= 0 and w_ours.sum() == pytest.approx(1.0, abs=1e-12)
    assert f_ours <= f_lib + 1e-9 * max(1.0, abs(f_lib))
    assert np.max(np.abs(w_ours - np.asarray(w_lib))) < 2e-3


def _panel(rng: np.random.Generator, effect: float, n: int = 48, go: int = 36, noise: float = 0.3,
           extra: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    t = np.arange(n, dtype=float)
    donors = {f"D{i}": 10 + rng.normal(0, 1) + 0.05 * i * t + np.sin(t / (2 + i)) + rng.normal(0, noise, n)
              for i in range(8)}
    donors |= extra or {}
    site = 0.5 * donors["D1"] + 0.5 * donors["D2"] + rng.normal(0, noise, n) + effect * (t >= go)
    months = pd.date_range("2019-01-01", periods=n, freq="MS")
    return pd.DataFrame([{"u": u, "m": mo, "y": v} for u, s in {**donors, "S": site}.items()
                         for mo, v in zip(months, s, strict=True)])


def test_placebos_with_a_poor_pre_period_fit_are_left_out_and_listed() -> None:
    rng = np.random.default_rng(1)
    t = np.arange(48, dtype=float)
    wild = {"WILD": 40 + 5 * np.sin(t) + rng.normal(0, 3, 48)}  # far above every other unit: no convex fit
    df = _panel(rng, effect=-2.0, extra=wild)
    kw = {"unit": "u", "time": "m", "outcome": "y", "treated_unit": "S", "treatment_time": "2022-01-01"}
    res = synthetic_control(df, **kw, interval=False)
    plc = res["placebo"]
    assert "WILD" in plc["excluded_poor_pre_fit"] and plc["rmspe_cutoff"] == 5.0
    assert plc["pre_rmspe"]["WILD"] > 5 * res["pre_rmspe"]
    assert plc["n_placebos"] == 9 - len(plc["excluded_poor_pre_fit"])
    everything = synthetic_control(df, **kw, interval=False, rmspe_cutoff=float("inf"))["placebo"]
    assert everything["n_placebos"] == 9 and everything["excluded_poor_pre_fit"] == []


def test_conformal_interval_covers_the_effect_and_excludes_no_change() -> None:
    df = _panel(np.random.default_rng(2), effect=-2.0)
    res = synthetic_control(df, unit="u", time="m", outcome="y", treated_unit="S", treatment_time="2022-01-01")
    eff = res["effect"]
    assert eff["ci_low"] < -2.0 < eff["ci_high"] < 0
    assert eff["ci_low"] < eff["mean_gap"] < eff["ci_high"]
    assert res["interval"]["p_value_no_effect"] <= 0.05 and not res["interval"]["open_low"]


def test_conformal_interval_coverage_with_no_effect() -> None:
    """60 null panels with independent noise: the 95% set covers 0 in at least 88% (binomial SD 2.8%)."""
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(60):
        df = _panel(rng, effect=0.0)
        wide = df.pivot(index="m", columns="u", values="y")
        pre = np.asarray(wide.index < "2022-01-01")
        ci = conformal_interval(wide.drop(columns="S").to_numpy(), wide["S"].to_numpy(), pre)
        covered += ci["ci_low"] is not None and ci["ci_low"] <= 0 <= ci["ci_high"]
    assert covered / 60 >= 0.88
