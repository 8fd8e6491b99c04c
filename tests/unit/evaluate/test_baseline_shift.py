"""A level shift before go-live is a data-quality caveat; asked to, the evaluation starts the baseline after it,
and the estimability report (what validate prints) counts the same months."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import evaluate_domain
from evaluation.evaluate.estimability import ESTIMABLE, estimability

from ..panel.test_quality import make_panel

REG = default_registry()
SITE = REG.site("bradford")  # TAD, go-live April 2023 in the registry; the tests give their own


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    mean = np.full(84, 2850.0)  # Apr 2016 .. Mar 2023
    mean[29:] = 1900.0  # from September 2018
    values = rng.poisson(mean * np.exp(rng.normal(0, 0.03, 84))).astype(float)
    status = ["final"] * 84
    status[-12:] = ["provisional"] * 12
    return make_panel(values, org=SITE.ods_code, status=status)


def _mhs32(ev):
    return next(m for m in ev.measures if m.measure.id == "MHS32")


def test_the_shift_is_reported_and_the_baseline_spans_it_by_default():
    ev = evaluate_domain(REG, _panel(), SITE.id, "referral_acceptance", intervention_date="2021-06",
                         comparative=False)
    m = _mhs32(ev)
    assert m.status == "ok" and m.baseline_start is None and m.n_pre == 62
    shifted = [c for c in m.caveats if "level shifted from about 2," in c]
    assert shifted and "to 1,900 from September 2018" in shifted[0], m.caveats


def test_asked_to_the_baseline_starts_after_the_shift_and_estimability_agrees():
    panel = _panel()
    ev = evaluate_domain(REG, panel, SITE.id, "referral_acceptance", intervention_date="2021-06",
                         comparative=False, baseline_after_shift=True)
    m = _mhs32(ev)
    assert m.baseline_start == dt.date(2018, 9, 1) and m.n_pre == 33
    assert any(c.startswith("The baseline starts in September 2018") for c in m.caveats)
    [row] = [r for r in estimability(REG, panel, sites=[SITE.id], domains=["referral_acceptance"],
                                     intervention=dt.date(2021, 6, 1), baseline_after_shift=True)
             if r.measure_id == "MHS32"]
    assert (row.status, row.n_pre, row.n_post) == (ESTIMABLE, m.n_pre, m.n_post)


def test_the_share_of_provisional_months_after_go_live_is_carried():
    m = _mhs32(evaluate_domain(REG, _panel(), SITE.id, "referral_acceptance", intervention_date="2021-06",
                               comparative=False))
    assert m.n_post == 22 and abs(m.provisional_share_post - 12 / 22) < 1e-9
