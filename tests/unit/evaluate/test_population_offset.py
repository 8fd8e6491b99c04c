"""Counts are modelled with the catchment population by month as exposure and also shown per 100,000 by year."""

from __future__ import annotations

import numpy as np

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import evaluate_domain
from evaluation.sources.population import SitePopulation

from ..panel.test_quality import make_panel

REG = default_registry()
SITE = REG.site("cheshire_wirral")


def _mhs32(population):
    # Referrals exactly proportional to a population that jumps by a quarter between mid-2019 and mid-2020:
    # per head nothing changes, so a model with the population as exposure finds no change at go-live.
    pop = SitePopulation(SITE.id, {2016: 800_000.0, 2017: 800_000.0, 2018: 800_000.0, 2019: 800_000.0,
                                   2020: 1_000_000.0, 2021: 1_000_000.0, 2022: 1_000_000.0})
    from evaluation.sources.population import monthly_population

    panel = make_panel(np.zeros(78), org=SITE.ods_code)  # Apr 2016 .. Sep 2022
    panel["value"] = panel["numerator"] = np.round(monthly_population(pop, panel["period"]).to_numpy() / 400)
    ev = evaluate_domain(REG, panel, SITE.id, "referral_acceptance", intervention_date="2020-01",
                         comparative=False, population=pop if population else None)
    return next(m for m in ev.measures if m.measure.id == "MHS32"), ev


def test_the_population_by_month_is_the_models_exposure():
    with_pop, ev = _mhs32(True)
    without, _ = _mhs32(False)
    assert with_pop.status == "ok" and without.status == "ok"
    assert abs(with_pop.its.step.estimate - 1) < 0.01  # per head: no change
    assert without.its.step.estimate > 1.03 or without.its.slope.estimate > 1.003  # raw counts: growth


def test_counts_are_shown_per_100k_by_year_and_only_with_a_population():
    with_pop, _ = _mhs32(True)
    without, _ = _mhs32(False)
    assert [r["year"] for r in with_pop.per_100k] == list(range(2016, 2023))
    assert abs(with_pop.per_100k[0]["per_100k"] - 250.0) < 0.1  # 2,000 a month of 800,000
    assert without.per_100k == []


def test_staff_counts_are_never_per_population():
    staff = REG.measure("STAFF_HC")
    assert staff.value_type == "count" and not staff.per_population
    assert all(m.per_population for m in REG.measures if m.domain != "staff_retention" and m.value_type == "count")
