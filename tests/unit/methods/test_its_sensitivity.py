"""Tests for evaluation.methods.its_sensitivity (go-live shifts and phase-in) and .multiplicity (Holm)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.its import fit_its
from evaluation.methods.its_sensitivity import GoLiveSensitivity, SensitivityRow, golive_sensitivity
from evaluation.methods.multiplicity import holm_adjust


def _series(n: int, go: int, step: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = rng.poisson(np.exp(math.log(300) + 0.001 * t + math.log(step) * (t >= go) + rng.normal(0, 0.03, n)))
    y = y.astype(float)
    return pd.DataFrame({"period": pd.date_range("2017-01-01", periods=n, freq="MS"), "value": y,
                         "numerator": y, "denominator": np.nan})


def test_rows_are_main_shifts_then_phase_in_with_the_dates_used() -> None:
    s = _series(72, 48, 0.7)
    go = s["period"].iloc[48]
    sens = golive_sensitivity(s, intervention=go, value_type="count", covid=None)
    assert [r.kind for r in sens.rows] == ["main", "shift", "shift", "shift", "shift", "phase_in"]
    assert [r.shift_months for r in sens.rows] == [0, -6, -3, 3, 6, 3]
    assert [r.go_live for r in sens.rows] == [f"{go + pd.DateOffset(months=k):%Y-%m-%d}" for k in (0, -6, -3, 3, 6, 3)]
    main = fit_its(s, intervention=go, value_type="count", covid=None).primary_estimand()
    assert sens.main.primary is not None
    assert sens.main.primary.absolute.estimate == pytest.approx(main.absolute.estimate)
    phase = sens.rows[-1]
    assert phase.n_post == sens.main.n_post - 3 and phase.n_pre == sens.main.n_pre  # the 3 months are dropped
    # A 30% drop exactly at go-live: seen from 3 months earlier (the drop falls in the first 12 months) and
    # with the phase-in left out, but not from 3 months later (the drop is then in the "before" period).
    conclusions = dict(zip(sens.table()["analysis"], sens.table()["conclusion"], strict=True))
    assert conclusions["as recorded"] == "decrease"
    assert conclusions["go-live 3 months earlier"] == "decrease"
    assert conclusions["first 3 months left out (phase-in)"] == "decrease"
    assert conclusions["go-live 3 months later"] == "no clear change"
    assert sens.depends_on_date


def test_a_shift_that_cannot_be_fitted_keeps_its_row_with_the_reason() -> None:
    s = _series(52, 48, 1.0)
    sens = golive_sensitivity(s, intervention=s["period"].iloc[48], value_type="count", covid=None, phase_in=0)
    later = [r for r in sens.rows if r.shift_months > 0]
    assert all(r.primary is None and "at least" in r.note for r in later)
    assert len(sens.rows) == 5  # no phase-in row when phase_in=0
    assert not sens.depends_on_date  # unfitted rows do not count as a different conclusion


def test_depends_on_date_when_a_shift_changes_the_conclusion() -> None:
    s = _series(72, 48, 0.7)
    pe = fit_its(s, intervention=s["period"].iloc[48], value_type="count", covid=None).primary_estimand()
    null = dataclasses.replace(pe, absolute=dataclasses.replace(pe.absolute, ci_high=1.0))
    rows = [SensitivityRow("main", "as recorded", 0, "2021-01-01", 48, 24, pe),
            SensitivityRow("shift", "go-live 3 months later", 3, "2021-04-01", 51, 21, null)]
    assert GoLiveSensitivity(rows).depends_on_date
    assert not GoLiveSensitivity(rows[:1]).depends_on_date


def test_holm_matches_the_step_down_by_hand_and_skips_missing() -> None:
    got = holm_adjust({"a": 0.01, "b": 0.04, "c": 0.03, "d": None, "e": float("nan")})
    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01, max(0.03, 2 x 0.03), max(0.06, 1 x 0.04)
    assert got == {"a": pytest.approx(0.03), "c": pytest.approx(0.06), "b": pytest.approx(0.06), "d": None, "e": None}
    assert holm_adjust({}) == {}
    with pytest.raises(ValueError):
        holm_adjust({"a": 1.5})
