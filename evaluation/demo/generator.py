"""Synthetic demonstration data with a known truth, written in the real published layouts.

:func:`generate` writes, for the four evaluation sites and a pool of made-up comparator organisations:

* ``mhsds_timeseries.csv`` -- the MHSDS "Time Series data" long layout (every registry measure with
  layout ``mhsds_long``), with the quirks of the real file;
* ``sickness_absence.csv`` -- the NHS Sickness Absence Rates benchmarking CSV layout;
* ``local_referrals.csv`` and ``local_workforce.csv`` -- the two local extract templates;
* ``truth.json`` -- the effects put in at each site's intervention date and where every quirk is;
* ``README.md`` -- a plain statement that the numbers are made up.

The data-generating model is the analysis model of :mod:`evaluation.methods.its`, so the truth is
recoverable. For organisation ``o``, measure ``k`` and month ``t = 1..n`` (``t = 1`` at ``start``)::

    eta_t = level + trend*t + sum_{j=1,2} (a_j sin(2 pi j m/12) + b_j cos(2 pi j m/12))
            + covid*I(2020-03 <= month <= 2021-03) + step*post_t + slope*(t - t_last_pre)*post_t + u_t

on the link scale of the measure's ``value_type`` (log for counts, logit for proportions, identity for
rates), with ``m`` the calendar month, ``post_t = 1`` from the site's intervention month on and ``u_t``
AR(1) noise. Counts are Poisson(exp(eta)), proportions Binomial(denominator, expit(eta)), rates are
eta itself. Comparators have no intervention. Every series has its own random stream derived from
``(seed, organisation code, stream name)``, so adding organisations leaves the others' series unchanged.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import json
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.demo.four_week_wait import FOUR_WEEK_MEASURES, four_week_months, write_four_week_wait
from evaluation.dictionary.registry import Measure, Registry, default_registry

__all__ = ["GENERATOR_VERSION", "MEASURE_MODELS", "RECEIVED_MODEL", "SeriesModel", "generate", "known_effects"]

GENERATOR_VERSION = "1.0.0"

def known_effects(registry: Registry | None = None) -> dict[str, dict[str, tuple[float, float]]]:
    """The truth of the demonstration: (step, slope change) per site and measure, from
    ``data_dictionary/demonstration.yaml`` (:attr:`Registry.demonstration`).

    On the natural scale of the measure's value_type -- rate ratio for counts, odds ratio for proportions,
    difference in percentage points for rates; slope per month on the same scale. A site or measure
    missing gets no effect; a registry without a demonstration file gives no effects at all.
    """
    reg = default_registry() if registry is None else registry
    if reg.demonstration is None:
        return {}
    return {
        site: {m: (e.step, e.slope) for m, e in effects.items()}
        for site, effects in reg.demonstration.effects.items()
    }


_SCALES = {"count": "rate_ratio", "proportion": "odds_ratio", "rate": "difference"}

# Layout ids the generator writes (the layouts themselves, and which measures use them, come from the
# registry).
_MHSDS = "mhsds_long"
_SICKNESS = "sickness_benchmarking"
_REFERRALS = "local_referrals"
_WORKFORCE = "local_workforce"
_FILES = {
    _MHSDS: "mhsds_timeseries.csv",
    _SICKNESS: "sickness_absence.csv",
    _REFERRALS: "local_referrals.csv",
    _WORKFORCE: "local_workforce.csv",
}

# The real benchmarking CSVs order their columns differently from the registry's layout entry (which
# lists required columns first); readers match by name, but the demo should look like the real file.
_SICKNESS_HEADER = [
    "DATE", "NHSE_REGION_CODE", "NHSE_REGION_NAME", "ICS_CODE", "ICS_NAME", "ORG_CODE", "ORG_NAME",
    "CLUSTER_GROUP", "BENCHMARK_GROUP", "STAFF_GROUP", "FTE_DAYS_LOST", "FTE_DAYS_AVAILABLE",
    "SICKNESS_ABSENCE_RATE_PERCENT",
]  # fmt: skip
_ALL_STAFF = "All staff groups"
_OTHER_STAFF = "Nurses & health visitors"

# Region, ICS and benchmark group of the four sites as the real benchmarking CSVs (2023-2025) give them.
_MHLD = "Mental Health and Learning Disability"
_SITE_GEOGRAPHY: dict[str, tuple[str, str, str, str, str]] = {
    "RDY": ("Y58", "South West", "QVV", "Dorset", _MHLD),
    "TAD": ("Y63", "North East and Yorkshire", "QWO", "West Yorkshire", "Care Trust"),
    "RW5": ("Y62", "North West", "QE1", "Lancashire and South Cumbria", _MHLD),
    "RXA": ("Y62", "North West", "QYG", "Cheshire and Merseyside", _MHLD),
}
_UNKNOWN_GEOGRAPHY = ("ZR9", "Synthetic region 9", "ZI99", "Synthetic ICS 99", _MHLD)


@dataclass(frozen=True)
class SeriesModel:
    """Population values of one measure's model; each organisation draws its own around them."""

    level: float  # natural scale at t = 0: mean count for size 1, probability, or percent
    trend: float  # per month, link scale
    covid: float  # link scale
    season: tuple[float, float, float, float]  # a1, b1, a2, b2 on the link scale
    sd: float  # AR(1) innovation sd, link scale


MEASURE_MODELS: dict[str, SeriesModel] = {
    "CCR70": SeriesModel(130.0, 0.002, -0.10, (0.03, 0.05, 0.02, -0.01), 0.04),
    "CCR71": SeriesModel(80.0, 0.002, -0.10, (0.03, 0.04, 0.01, -0.01), 0.04),
    "MHS32": SeriesModel(5000.0, 0.002, -0.25, (0.02, 0.06, -0.02, 0.02), 0.04),
    # The monthly count of people whose rolling 12-month sum is published.
    "MHS108": SeriesModel(520.0, 0.0015, -0.10, (0.01, 0.02, 0.0, 0.01), 0.04),
    "REF_ACCEPT": SeriesModel(0.70, 0.0, -0.10, (0.02, 0.03, 0.0, 0.01), 0.05),
    "LEAVER_RATE": SeriesModel(0.011, -0.001, -0.10, (0.05, -0.03, 0.02, 0.0), 0.05),
    # The monthly retention probability; the published index is its product over the 12 months to date
    # (0.9865 ** 12 is about 0.85), so each value overlaps the previous 11 (see _ROLLING_PRODUCT).
    "STABILITY_12M": SeriesModel(0.9865, 0.0005, -0.05, (0.01, 0.02, 0.0, 0.0), 0.05),
    "SICKNESS_RATE": SeriesModel(4.8, 0.003, 0.8, (0.10, 0.35, 0.05, 0.10), 0.15),
}
# Fallbacks so a measure added to the registry still gets sensible data (and no effect).
_DEFAULT_MODELS: dict[str, SeriesModel] = {
    "count": SeriesModel(100.0, 0.002, -0.10, (0.02, 0.03, 0.0, 0.0), 0.04),
    "proportion": SeriesModel(0.5, 0.0, -0.05, (0.02, 0.02, 0.0, 0.0), 0.05),
    "rate": SeriesModel(5.0, 0.0, 0.5, (0.1, 0.2, 0.0, 0.0), 0.15),
}
# Proportions published as a 12-month window: the value is the product of 12 monthly probabilities, so
# an effect on the monthly probability reaches the published value over a year and months overlap.
_ROLLING_PRODUCT = frozenset({"STABILITY_12M"})
# Models of the denominators, which are not measures themselves.
RECEIVED_MODEL = SeriesModel(1200.0, 0.002, -0.25, (0.02, 0.06, -0.02, 0.02), 0.04)
_STAFF_BASE = 3500.0

# MEASURE_NAME wording changes as in the real publication: (first month of the new wording, old, new).
_MHSDS_NAMES: dict[str, tuple[str, str, str]] = {
    "CCR70": (
        "2021-04-01",
        "New Emergency Referrals to Crisis Care teams in the Reporting Period",
        "CCR70 - New emergency referrals to crisis care teams in the RP",
    ),
    "CCR71": (
        "2021-04-01",
        "New Urgent Referrals to Crisis Care teams in the Reporting Period",
        "CCR71 - New urgent referrals to crisis care teams in the RP",
    ),
    "MHS32": ("2019-04-01", "Referrals starting in RP", "New referrals starting in the reporting period"),
    "MHS108": (
        "2022-05-01",
        "MHS108 - Number of people accessing community mental health services for adults and older adults "
        "with serious mental illness who received 2 or more care contacts within the RP (this is based on "
        "a 12 month rolling RP)",
        "Number of people accessing community mental health services for adults and older adults with "
        "serious mental illness who received 2 or more care contacts within the RP (this is based on a 12 "
        "month rolling RP)",
    ),
}
# Quirks of the real MHSDS file, each placed on one measure (skipped if the registry drops it).
_QUARTERLY_MEASURE = ("MHS32", "New referrals")
_ENGLAND_MEASURE = "MHS32"
_SMALL_COUNT_MEASURE = "CCR71"
_SUPPRESS_BELOW = 5
_INCOMPLETE_FACTOR = 0.4
# Which comparator (1-based) carries each comparator-only quirk; fixed numbers rather than "the last one"
# so that asking for more organisations does not move a quirk.
_UPPER_CASE_COMPARATOR = 2
_SMALL_COMPARATOR = 3
_RENAMED_COMPARATOR = 4
_INCOMPLETE_COMPARATOR = 5

# Made-up comparator names: stem + ending + suffix. Checked not to spell a real trust's name.
_STEMS = (
    "Ald", "Bram", "Cal", "Dun", "Elder", "Fen", "Gold", "Hollin", "Iver", "Kes", "Lark",
    "Mor", "Ock", "Pell", "Quen", "Ros", "Sil", "Tarn", "Ulls", "Wend", "Yarl", "Thistle",
)  # fmt: skip
_ENDINGS = (
    "vale", "moor", "mere", "wick", "stow", "holme", "brook", "combe", "ridge", "haven", "field", "dene",
)  # fmt: skip
_SUFFIXES = (
    "Mental Health NHS Trust",
    "Mental Health NHS Foundation Trust",
    "Partnership NHS Foundation Trust",
    "Care NHS Trust",
    "Healthcare NHS Foundation Trust",
)
_MAX_COMPARATORS = 99  # codes are ZC01..ZC99
_LEAD_MONTHS = 12  # months simulated before start: MHS108's rolling window and the 12-month stability index


@dataclass(frozen=True)
class _Org:
    code: str
    name: str
    role: str
    site_id: str | None
    intervention: dt.date | None
    size: float
    key: int
    geography: tuple[str, str, str, str, str]
    former_name: str | None = None
    renamed_from: dt.date | None = None

    def name_at(self, month: dt.date) -> str:
        if self.former_name is not None and self.renamed_from is not None and month < self.renamed_from:
            return self.former_name
        return self.name


@dataclass(frozen=True)
class _Grid:
    """The monthly calendar: ``_LEAD_MONTHS`` lead-in months, then the ``n`` observed months."""

    months: list[dt.date]  # all months, lead-in first
    n: int  # observed months

    @property
    def observed(self) -> list[dt.date]:
        return self.months[_LEAD_MONTHS:]

    @property
    def t(self) -> np.ndarray:
        # t = 1 at the first observed month, as in the analysis model; lead-in months get t <= 0.
        return np.arange(len(self.months), dtype=float) - _LEAD_MONTHS + 1


def generate(
    out_dir: Path | str,
    *,
    seed: int = 20240401,
    organisations: int = 24,
    start: str = "2016-04-01",
    end: str = "2025-03-01",
) -> dict:
    """Write the synthetic demonstration data set to ``out_dir`` and return its truth.

    Parameters
    ----------
    out_dir:
        Folder to write into (created if missing). Existing files of the same names are overwritten.
    seed:
        Non-negative integer seed; the same seed gives byte-identical files.
    organisations:
        Total number of organisations, the registry's sites included; the rest are made-up comparators
        coded ``ZC01``, ``ZC02``, ... (at least one, at most 99).
    start, end:
        First and last month (ISO dates on the first of a month); at least 24 months.

    Returns
    -------
    dict
        The content of ``truth.json``: seed, period, COVID-19 window, organisations, the known effects
        per site and measure (natural scale), and the quirks of the files with where each one is.

    Raises
    ------
    ValueError
        For a bad seed, organisation count or period, or a ``demonstration.yaml`` effect naming a site or
        measure the registry does not have.
    """
    registry = default_registry()
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    first, last = _parse_month(start, "start"), _parse_month(end, "end")
    n = _months_between(last, first) + 1
    if n < 24:
        raise ValueError(f"the period {start} to {end} has {n} months; at least 24 are needed")
    n_sites = len(registry.sites)
    n_comp = organisations - n_sites
    if not 1 <= n_comp <= _MAX_COMPARATORS:
        raise ValueError(
            f"organisations must be between {n_sites + 1} and {n_sites + _MAX_COMPARATORS} "
            f"({n_sites} sites plus 1 to {_MAX_COMPARATORS} comparators), got {organisations}"
        )
    _check_known_effects(registry)

    grid = _Grid([_add_months(first, k - _LEAD_MONTHS) for k in range(n + _LEAD_MONTHS)], n)
    orgs = _organisations(registry, n_comp, seed, grid)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    quirks: list[dict[str, Any]] = []
    primary: dict[str, dict[str, Any]] = {}
    quirks += _write_mhsds(out / _FILES[_MHSDS], registry, orgs, grid, seed, primary)
    workforce = {o.code: _staff_series(o, grid, seed) for o in orgs}
    quirks += _write_sickness(out / _FILES[_SICKNESS], registry, orgs, grid, seed, workforce, primary)
    _write_local(out / _FILES[_REFERRALS], _REFERRALS, registry, orgs, grid, seed, workforce, primary)
    _write_local(out / _FILES[_WORKFORCE], _WORKFORCE, registry, orgs, grid, seed, workforce, primary)
    write_four_week_wait(out, registry, [(o.code, o.name, o.size) for o in orgs],
                         four_week_months(first, last, registry), seed)
    renamed = [o for o in orgs if o.former_name]
    for o in renamed:
        quirks.append(
            {
                "id": "organisation_renamed",
                "files": [_FILES[_MHSDS], _FILES[_SICKNESS]],
                "org_code": o.code,
                "former_name": o.former_name,
                "name": o.name,
                "from_month": _iso(o.renamed_from),
                "description": "The organisation's name changes (it became a foundation trust); match "
                "organisations by code, not name.",
            }
        )

    truth = {
        "seed": int(seed),
        "start": first.isoformat(),
        "end": last.isoformat(),
        "generator_version": GENERATOR_VERSION,
        "covid": {"start": _covid_window()[0], "end": _covid_window()[1]},
        "organisations": [
            {"org_code": o.code, "name": o.name, "role": o.role, "site_id": o.site_id} for o in orgs
        ],
        "effects": _effects_table(registry, primary),
        "quirks": sorted(quirks, key=lambda q: q["id"]),
    }
    with (out / "truth.json").open("w", encoding="utf-8", newline="\n") as fh:
        json.dump(truth, fh, indent=2, sort_keys=True, ensure_ascii=False)
        fh.write("\n")
    (out / "README.md").write_bytes(_readme(registry, orgs, first, last, seed).encode("utf-8"))
    return truth


# --- calendar helpers ------------------------------------------------------------------------------


def _parse_month(value: str, what: str) -> dt.date:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what} must be an ISO date such as 2016-04-01, got {value!r}") from None
    if day.day != 1:
        raise ValueError(f"{what} must be the first day of a month, got {value!r}")
    return day


def _add_months(day: dt.date, k: int) -> dt.date:
    idx = day.year * 12 + day.month - 1 + k
    return dt.date(idx // 12, idx % 12 + 1, 1)


def _months_between(later: dt.date, earlier: dt.date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


def _month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _dmy(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


# --- organisations -----------------------------------------------------------------------------------


def _rng(seed: int, org: _Org | str, stream: str) -> np.random.Generator:
    # crc32 rather than hash(): stable across processes, so files are byte-identical run to run.
    key = org.key if isinstance(org, _Org) else zlib.crc32(org.encode())
    return np.random.default_rng(np.random.SeedSequence([int(seed), key, zlib.crc32(stream.encode())]))


def _comparator_name(i: int) -> str:
    # i is 0-based; stems and endings pair up without repeats for the first 264 comparators.
    stem = _STEMS[i % len(_STEMS)] + _ENDINGS[(i + i // len(_STEMS)) % len(_ENDINGS)]
    return f"{stem} {_SUFFIXES[(3 * i) % len(_SUFFIXES)]}"


def _organisations(registry: Registry, n_comp: int, seed: int, grid: _Grid) -> list[_Org]:
    orgs: list[_Org] = []
    for site in registry.sites:
        code = site.ods_code
        rng = _rng(seed, code, "organisation")
        geography = _SITE_GEOGRAPHY.get(code, _UNKNOWN_GEOGRAPHY)
        size = float(rng.uniform(0.8, 1.2))
        orgs.append(
            _Org(code=code, name=site.provider_name, role="site", site_id=site.id,
                 intervention=site.intervention_date, size=size, key=zlib.crc32(code.encode()),
                 geography=geography)
        )  # fmt: skip
    real_names = {s.provider_name.casefold() for s in registry.sites}
    rename_month = _add_months(grid.observed[0], min(48, grid.n // 2))
    for i in range(1, n_comp + 1):
        code = f"ZC{i:02d}"
        name = _comparator_name(i - 1)
        if name.casefold() in real_names:  # pragma: no cover - the word lists cannot spell one
            raise ValueError(f"made-up comparator name {name!r} is a real provider's name")
        rng = _rng(seed, code, "organisation")
        size = float(rng.uniform(0.4, 1.6))
        ics = (i - 1) // 3 + 1
        region = (ics - 1) % 4 + 1
        geography = (
            f"ZR{region}",
            f"Synthetic region {region}",
            f"ZI{ics:02d}",
            f"Synthetic ICS {ics:02d}",
            "Care Trust" if i % 6 == 0 else _MHLD,
        )
        former, renamed_from = None, None
        if i == min(_RENAMED_COMPARATOR, n_comp):
            base = re.sub(r" NHS (Foundation )?Trust$", "", name)
            name, former, renamed_from = f"{base} NHS Foundation Trust", f"{base} NHS Trust", rename_month
        if i == min(_SMALL_COMPARATOR, n_comp):
            size = 0.5
        orgs.append(
            _Org(code=code, name=name, role="comparator", site_id=None, intervention=None, size=size,
                 key=zlib.crc32(code.encode()), geography=geography, former_name=former,
                 renamed_from=renamed_from)
        )  # fmt: skip
    return orgs


def _quirk_comparator(orgs: Sequence[_Org], number: int) -> _Org:
    comps = [o for o in orgs if o.role == "comparator"]
    return comps[min(number, len(comps)) - 1]


# --- effects ------------------------------------------------------------------------------------------


def _check_known_effects(registry: Registry) -> None:
    # A renamed site or measure in the registry must not silently drop its truth.
    measure_ids = {m.id for m in registry.measures}
    for site_id, effects in known_effects(registry).items():
        if site_id not in registry.site_ids:
            raise ValueError(f"demonstration.yaml: effects name site {site_id!r}, which is not in the registry")
        for measure_id, (step, slope) in effects.items():
            if measure_id not in measure_ids:
                raise ValueError(f"demonstration.yaml: effects[{site_id!r}]: measure {measure_id!r} is not a measure")
            if registry.measure(measure_id).value_type != "rate" and (step <= 0 or slope <= 0):
                raise ValueError(f"demonstration.yaml: effects[{site_id!r}][{measure_id!r}]: ratios must be positive")


def _covid_window() -> tuple[str, str]:
    """The COVID-19 window (inclusive month starts) from ``data_dictionary/analysis.yaml``."""
    return default_registry().analysis.covid.months


def _natural_effect(site_id: str | None, measure: Measure) -> tuple[float, float]:
    null = (0.0, 0.0) if measure.value_type == "rate" else (1.0, 1.0)
    if site_id is None:
        return null
    return known_effects().get(site_id, {}).get(measure.id, null)


def _link_effect(site_id: str | None, measure: Measure) -> tuple[float, float]:
    step, slope = _natural_effect(site_id, measure)
    if measure.value_type == "rate":
        return step, slope
    return math.log(step), math.log(slope)


def _effects_table(registry: Registry, primary: dict[str, dict[str, Any]] | None = None,
                   ) -> dict[str, dict[str, dict[str, Any]]]:
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for site in registry.sites:
        table[site.id] = {}
        for m in registry.measures:
            step, slope = _natural_effect(site.id, m)
            table[site.id][m.id] = {
                "intervention_date": site.intervention_date.isoformat(),
                "scale": _SCALES[m.value_type],
                "step": step,
                "slope": slope,
                "analysis": m.analysis,
                # The true primary estimand (average effect over the first 12 months from go-live).
                "primary_estimand": (primary or {}).get(site.id, {}).get(m.id),
            }
    return table


# --- the model ----------------------------------------------------------------------------------------


def _model_for(measure: Measure) -> SeriesModel:
    return MEASURE_MODELS.get(measure.id, _DEFAULT_MODELS[measure.value_type])


def _linear_predictor(
    model: SeriesModel,
    value_type: str,
    org: _Org,
    grid: _Grid,
    rng: np.random.Generator,
    effect: tuple[float, float] = (0.0, 0.0),
    level: float | None = None,
    systematic: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """eta over the whole grid (lead-in included) on the link scale, with the organisation's own draws.

    ``systematic``, when given, receives the noise-free linear predictor with the effect (``"f"``) and
    without it (``"c"``): what the primary estimand's truth is computed from."""
    base = model.level if level is None else level
    if value_type == "count":
        intercept = math.log(base * org.size) + rng.normal(0.0, 0.1)
        trend = model.trend + rng.normal(0.0, 0.0008)
    elif value_type == "proportion":
        intercept = math.log(base / (1.0 - base)) + rng.normal(0.0, 0.15)
        trend = model.trend + rng.normal(0.0, 0.0005)
    else:
        intercept = base + rng.normal(0.0, 0.4)
        trend = model.trend + rng.normal(0.0, 0.002)
    season = np.asarray(model.season) * rng.uniform(0.8, 1.2, size=4)
    phi = rng.uniform(0.3, 0.5)

    t = grid.t
    m = np.array([d.month for d in grid.months], dtype=float)
    covid_start, covid_end = (dt.date.fromisoformat(d) for d in _covid_window())
    covid = np.array([covid_start <= d <= covid_end for d in grid.months], dtype=float)
    eta = intercept + trend * t + model.covid * covid
    for j in (1, 2):
        angle = 2 * np.pi * j * m / 12
        eta += season[2 * j - 2] * np.sin(angle) + season[2 * j - 1] * np.cos(angle)
    counterfactual = eta.copy()
    if org.intervention is not None:
        # Same parametrisation as evaluation.methods.its: slope is 1 in the go-live month.
        post = np.array([d >= org.intervention for d in grid.months], dtype=float)
        t_last_pre = _months_between(org.intervention, grid.observed[0])
        eta += effect[0] * post + effect[1] * (t - t_last_pre) * post
    if systematic is not None:
        systematic["f"], systematic["c"] = eta.copy(), counterfactual
    return eta + _ar1(len(t), phi, model.sd, rng)


def _primary_truth(value_type: str, parts: dict[str, np.ndarray], grid: _Grid, go_live: dt.date) -> dict[str, Any]:
    """The true primary estimand (:mod:`evaluation.methods.its_estimand`) of one site's series: the average
    of expected-with-effect minus expected-without over the first ``primary_horizon_months`` from go-live
    (fewer when the data end sooner), absolute per month and relative (percent for counts, percentage
    points otherwise), from the noise-free linear predictor."""
    horizon = default_registry().analysis.its.primary_horizon_months
    i0 = grid.months.index(go_live) if go_live in grid.months else len(grid.months)
    months = max(0, min(horizon, len(grid.months) - i0))
    if months == 0:
        return {"months": 0, "absolute": None, "relative": None, "relative_scale": None}
    f, c = parts["f"][i0 : i0 + months], parts["c"][i0 : i0 + months]
    if value_type == "count":
        f, c = np.exp(f), np.exp(c)
        relative, scale = 100.0 * (f.sum() / c.sum() - 1.0), "percent"
    elif value_type == "proportion":
        f, c = _expit(f), _expit(c)
        relative, scale = 100.0 * float(np.mean(f - c)), "percentage_points"
    else:
        relative, scale = float(np.mean(f - c)), "percentage_points"
    return {"months": int(months), "absolute": float(np.mean(f - c)), "relative": float(relative),
            "relative_scale": scale}


def _ar1(n: int, phi: float, sd: float, rng: np.random.Generator) -> np.ndarray:
    eps = rng.normal(0.0, sd, size=n)
    u = np.empty(n)
    u[0] = eps[0] / math.sqrt(1.0 - phi * phi)  # start in the stationary distribution
    for i in range(1, n):
        u[i] = phi * u[i - 1] + eps[i]
    return u


def _record_primary(primary: dict[str, dict[str, Any]] | None, org: _Org, measure: Measure,
                    parts: dict[str, np.ndarray], grid: _Grid) -> None:
    if primary is not None and org.site_id is not None and org.intervention is not None:
        primary.setdefault(org.site_id, {})[measure.id] = _primary_truth(measure.value_type, parts, grid,
                                                                         org.intervention)


def _rolling_product_logit(eta: np.ndarray) -> np.ndarray:
    """Logit of the product of the 12 monthly probabilities expit(eta) to date (NaN for the first 11)."""
    log_p = -np.log1p(np.exp(-eta))
    window = np.convolve(log_p, np.ones(12), mode="full")[: len(eta)]
    window[:11] = np.nan
    p = np.exp(window)
    return np.log(p / (1.0 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _staff_series(org: _Org, grid: _Grid, seed: int) -> np.ndarray:
    """Staff in post (headcount) over the whole grid: a slow-moving stock, 2,000-6,000 for most trusts."""
    rng = _rng(seed, org, "staff")
    level = _STAFF_BASE * min(max(org.size, 0.6), 1.7)
    trend = rng.normal(0.001, 0.001)
    # Strongly autocorrelated: headcount drifts rather than jumps month to month.
    drift = _ar1(len(grid.months), 0.9, 0.004, rng)
    return np.rint(level * np.exp(trend * grid.t + drift)).astype(np.int64)


# --- MHSDS ----------------------------------------------------------------------------------------------


def _status_rows(i: int, n: int) -> list[str]:
    # The last two months are provisional only; the month before them has both a provisional and a final
    # row (the real file keeps the Performance row after the month is refreshed).
    if i >= n - 2:
        return ["Performance"]
    if i == n - 3:
        return ["Final", "Performance"]
    return ["Final"]


def _mhsds_name(measure: Measure, month: dt.date) -> str:
    wording = _MHSDS_NAMES.get(measure.id)
    if wording is None:
        return measure.name
    change, old, new = wording
    return new if month >= dt.date.fromisoformat(change) else old


def _fmt_count(value: int) -> str:
    return "*" if value < _SUPPRESS_BELOW else str(int(value))


def _provisional(final: int, rng: np.random.Generator) -> int:
    # A provisional figure is usually a little lower (late submissions); never equal to the final one, so
    # a reader that lets the wrong row win is caught.
    value = int(round(final * rng.uniform(0.93, 0.99)))
    if value == final:
        value = final - 1 if final > 0 else 1
    return value


def _write_mhsds(path: Path, registry: Registry, orgs: list[_Org], grid: _Grid, seed: int,
                 primary: dict[str, dict[str, Any]] | None = None) -> list[dict]:
    # The 4-week-wait measures have their own supplementary files (evaluation.demo.four_week_wait).
    measures = [m for m in registry.measures if m.layout == _MHSDS and m.source_measure_id not in FOUR_WEEK_MEASURES]
    for m in measures:
        if m.value_type != "count" or m.period_type not in ("month", "rolling_12_months"):
            raise ValueError(f"measure {m.id}: only monthly or rolling 12-month counts can be generated")
    ids = {m.id for m in measures}
    n, obs = grid.n, grid.observed
    upper = _quirk_comparator(orgs, _UPPER_CASE_COMPARATOR)
    small = _quirk_comparator(orgs, _SMALL_COMPARATOR)
    incomplete = _quirk_comparator(orgs, _INCOMPLETE_COMPARATOR)
    incomplete_i = min(31, n - 6)  # pre-COVID by default (November 2018), away from the provisional months
    last_quarters = [(n - 12 + 3 * q, n - 10 + 3 * q) for q in range(4)]  # index ranges, inclusive

    rows: list[tuple] = []
    suppressed: dict[tuple[str, str], list[str]] = {}
    england: dict[tuple[int, str], int] = {}
    incomplete_measures: list[str] = []

    def add(
        org_code: str,
        desc: str,
        breakdown: str,
        m_id: str,
        name: str,
        p_start: dt.date,
        p_end: dt.date,
        status: str,
        value: int,
    ) -> None:
        text = _fmt_count(value)
        if text == "*":
            suppressed.setdefault((org_code, m_id), []).append(p_end.isoformat())
        rows.append((org_code, m_id, p_end, p_start, status, breakdown, desc, name, text))

    for org in orgs:
        breakdown = "PROVIDER" if org is upper else "Provider"
        for m in measures:
            rng = _rng(seed, org, m.id)
            level = None
            if org is small and m.id == _SMALL_COUNT_MEASURE:
                # About 7 a month, so some months fall under the suppression threshold.
                level = 7.0 / org.size
            effect = _link_effect(org.site_id, m)
            parts: dict[str, np.ndarray] = {}
            eta = _linear_predictor(_model_for(m), m.value_type, org, grid, rng, effect, level, parts)
            _record_primary(primary, org, m, parts, grid)
            counts = rng.poisson(np.exp(eta)).astype(np.int64)
            if m.period_type == "rolling_12_months":
                values = np.convolve(counts, np.ones(12, dtype=np.int64), mode="valid")[-n:]
            else:
                values = counts[_LEAD_MONTHS:].copy()
                if org is incomplete:
                    values[incomplete_i] = rng.binomial(values[incomplete_i], _INCOMPLETE_FACTOR)
                    incomplete_measures.append(m.id)
            prov_rng = _rng(seed, org, f"{m.id}:provisional")
            written: dict[int, int] = {}
            for i, month in enumerate(obs):
                p_end = _month_end(month)
                p_start = _add_months(month, -11) if m.period_type == "rolling_12_months" else month
                desc = org.name_at(month).upper()
                for status in _status_rows(i, n):
                    value = int(values[i])
                    if status == "Performance" and i == n - 3:
                        value = _provisional(value, prov_rng)
                    else:
                        written[i] = value
                    add(org.code, desc, breakdown, m.source_measure_id, _mhsds_name(m, month), p_start, p_end,
                        status, value)
                    if m.id == _ENGLAND_MEASURE:
                        england[(i, status)] = england.get((i, status), 0) + value
            if m.id == _QUARTERLY_MEASURE[0]:
                for lo, hi in last_quarters:
                    status = "Final" if hi < n - 3 else "Performance"
                    total = sum(written[i] for i in range(lo, hi + 1))
                    add(
                        org.code,
                        desc,
                        breakdown,
                        m.source_measure_id,
                        _QUARTERLY_MEASURE[1],
                        obs[lo],
                        _month_end(obs[hi]),
                        status,
                        total,
                    )

    if _ENGLAND_MEASURE in ids:
        m = registry.measure(_ENGLAND_MEASURE)
        for (i, status), total in england.items():
            add(
                "England",
                "England",
                "England",
                m.source_measure_id,
                _mhsds_name(m, obs[i]),
                obs[i],
                _month_end(obs[i]),
                status,
                total,
            )

    rows.sort(key=lambda r: (r[0], r[1], r[2], r[3], r[4]))
    header = [c.name for c in registry.layout(_MHSDS).columns]
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        for code, m_id, p_end, p_start, status, breakdown, desc, name, text in rows:
            dates = [_dmy(p_start), _dmy(p_end)]
            w.writerow([*dates, status, breakdown, code, desc, "NONE", "NONE", m_id, name, text])

    f = path.name
    quirks: list[dict[str, Any]] = [
        {
            "id": "provisional_months",
            "file": f,
            "months": [obs[n - 2].isoformat(), obs[n - 1].isoformat()],
            "description": "The last two months are STATUS 'Performance' (provisional) only.",
        },
        {
            "id": "final_and_performance_rows",
            "file": f,
            "month": obs[n - 3].isoformat(),
            "description": "This month has both a 'Final' and a 'Performance' row for every organisation and "
            "measure, with different values; the Final row is the truth and must win.",
        },
        {
            "id": "rolling_12_month_periods",
            "file": f,
            "measure_ids": sorted(m.id for m in measures if m.period_type == "rolling_12_months"),
            "description": "Rolling 12-month rows: REPORTING_PERIOD_START is 11 months before the month, "
            "REPORTING_PERIOD_END the month's last day.",
        },
        {
            "id": "measure_name_wording",
            "file": f,
            "changes": {
                m_id: {"from_month": change, "before": old, "after": new}
                for m_id, (change, old, new) in sorted(_MHSDS_NAMES.items())
                if m_id in ids
            },
            "description": "MEASURE_NAME wording changes over time; match measures by MEASURE_ID.",
        },
        {
            "id": "breakdown_upper_case",
            "file": f,
            "org_code": upper.code,
            "label": "PROVIDER",
            "description": "This organisation's rows have BREAKDOWN 'PROVIDER' instead of 'Provider'.",
        },
        {
            "id": "incomplete_submission",
            "file": f,
            "org_code": incomplete.code,
            "month": obs[incomplete_i].isoformat(),
            "measure_ids": sorted(incomplete_measures),
            "factor": _INCOMPLETE_FACTOR,
            "description": "An incomplete submission: the monthly counts of this month are about 40% of the "
            "organisation's neighbouring months. Comparator only; the sites are clean.",
        },
    ]
    if _QUARTERLY_MEASURE[0] in ids:
        quirks.append(
            {
                "id": "quarterly_rows",
                "file": f,
                "measure_id": _QUARTERLY_MEASURE[0],
                "measure_name": _QUARTERLY_MEASURE[1],
                "periods": [[_iso(obs[lo]), _iso(_month_end(obs[hi]))] for lo, hi in last_quarters],
                "description": "Quarterly rows (3-month sums) for the last year's quarters; they must never "
                "enter a monthly series.",
            }
        )
    if _ENGLAND_MEASURE in ids:
        quirks.append(
            {
                "id": "england_rows",
                "file": f,
                "measure_id": _ENGLAND_MEASURE,
                "breakdown": "England",
                "description": "England-level rows (BREAKDOWN and PRIMARY_LEVEL 'England', the sum of the "
                "synthetic providers); readers must keep provider rows only.",
            }
        )
    if suppressed:
        quirks.append(
            {
                "id": "suppressed_counts",
                "file": f,
                "symbol": "*",
                "threshold": _SUPPRESS_BELOW,
                "cells": [
                    {"org_code": code, "measure_id": m_id, "period_ends": sorted(set(ends))}
                    for (code, m_id), ends in sorted(suppressed.items())
                ],
                "description": f"Counts below {_SUPPRESS_BELOW} are written '*' (disclosure control).",
            }
        )
    return quirks


# --- sickness absence -----------------------------------------------------------------------------------


def _write_sickness(
    path: Path, registry: Registry, orgs: list[_Org], grid: _Grid, seed: int, staff: dict[str, np.ndarray],
    primary: dict[str, dict[str, Any]] | None = None,
) -> list[dict]:
    measures = [m for m in registry.measures if m.layout == _SICKNESS]
    if len(measures) != 1 or measures[0].value_type != "rate":
        found = [m.id for m in measures]
        raise ValueError(f"layout {_SICKNESS}: expected exactly one rate measure, found {found}")
    measure = measures[0]
    registry_cols = {c.name for c in registry.layout(_SICKNESS).columns}
    if registry_cols != set(_SICKNESS_HEADER):
        raise ValueError(
            f"layout {_SICKNESS}: registry columns {sorted(registry_cols)} differ from the real file"
        )

    records: list[tuple[dt.date, str, int, list[str]]] = []
    for org in orgs:
        rng = _rng(seed, org, measure.id)
        effect = _link_effect(org.site_id, measure)
        parts: dict[str, np.ndarray] = {}
        rate = _linear_predictor(_model_for(measure), "rate", org, grid, rng, effect, systematic=parts)
        _record_primary(primary, org, measure, parts, grid)
        rate = np.maximum(rate, 0.5)[_LEAD_MONTHS:]
        other = _rng(seed, org, f"{measure.id}:other_staff_group")
        # Roughly 21 working days per member of staff a month, varying a little with the calendar.
        available = staff[org.code][_LEAD_MONTHS:] * 21.0 * other.uniform(0.97, 1.03, size=grid.n)
        share = other.uniform(0.30, 0.36)
        nurse_rate = np.maximum(rate + 0.9 + other.normal(0.0, 0.3, size=grid.n), 0.1)
        region_code, region_name, ics_code, ics_name, bench = org.geography
        for i, month in enumerate(grid.observed):
            name = org.name_at(month)
            for order, (group, pct, avail) in enumerate(
                ((_ALL_STAFF, rate[i], available[i]), (_OTHER_STAFF, nurse_rate[i], available[i] * share))
            ):
                avail = round(float(avail), 5)
                lost = round(float(pct) / 100.0 * avail, 5)
                place = [region_code, region_name, ics_code, ics_name, org.code, name, "Mental Health", bench]
                numbers = [f"{lost:.5f}", f"{avail:.5f}", f"{100 * lost / avail:.2f}"]
                records.append((month, org.code, order, [_dmy(_month_end(month)), *place, group, *numbers]))
    records.sort(key=lambda r: r[:3])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(_SICKNESS_HEADER)
        w.writerows(r[3] for r in records)
    return [
        {
            "id": "other_staff_group_rows",
            "file": path.name,
            "staff_group": _OTHER_STAFF,
            "description": f"Each organisation-month also has a '{_OTHER_STAFF}' row; only '{_ALL_STAFF}' "
            f"rows give {measure.id}.",
        }
    ]


# --- local extracts -------------------------------------------------------------------------------------


def _ratio_columns(measure: Measure) -> tuple[str, str]:
    found = re.match(r"^\s*([A-Z0-9_]+)\s*/\s*([A-Z0-9_]+)\s*$", measure.source_measure_id)
    if not found:
        got = measure.source_measure_id
        raise ValueError(f"measure {measure.id}: source_measure_id {got!r} is not 'NUMERATOR / DENOMINATOR'")
    return found.group(1), found.group(2)


def _write_local(
    path: Path,
    layout_id: str,
    registry: Registry,
    orgs: list[_Org],
    grid: _Grid,
    seed: int,
    staff: dict[str, np.ndarray],
    primary: dict[str, dict[str, Any]] | None = None,
) -> None:
    header = [c.name for c in registry.layout(layout_id).columns]
    measures = [m for m in registry.measures if m.layout == layout_id]
    rows: list[list[str]] = []
    for org in orgs:
        lead = _LEAD_MONTHS
        columns: dict[str, np.ndarray] = {}
        if "REFERRALS_RECEIVED" in header:
            rng = _rng(seed, org, "REFERRALS_RECEIVED")
            eta = _linear_predictor(RECEIVED_MODEL, "count", org, grid, rng)
            columns["REFERRALS_RECEIVED"] = rng.poisson(np.exp(eta))[lead:]
        if "STAFF_IN_POST" in header:
            columns["STAFF_IN_POST"] = staff[org.code][lead:]
        if "STAFF_IN_POST_12M_AGO" in header:
            columns["STAFF_IN_POST_12M_AGO"] = staff[org.code][: grid.n]  # the lead-in is exactly 12 months
        for m in measures:
            num, den = _ratio_columns(m)
            if den not in columns:
                raise ValueError(f"measure {m.id}: no generator for denominator column {den}")
            rng = _rng(seed, org, m.id)
            parts: dict[str, np.ndarray] = {}
            eta = _linear_predictor(_model_for(m), "proportion", org, grid, rng, _link_effect(org.site_id, m),
                                    systematic=parts)
            if m.id in _ROLLING_PRODUCT:
                eta = _rolling_product_logit(eta)
                parts = {k: _rolling_product_logit(v) for k, v in parts.items()}
            _record_primary(primary, org, m, parts, grid)
            columns[num] = rng.binomial(columns[den], _expit(eta[lead:]))
        if "REFERRALS_REJECTED" in header and "REFERRALS_ACCEPTED" in columns:
            rng = _rng(seed, org, "REFERRALS_REJECTED")
            rest = columns["REFERRALS_RECEIVED"] - columns["REFERRALS_ACCEPTED"]
            columns["REFERRALS_REJECTED"] = rng.binomial(rest, rng.uniform(0.45, 0.65))
            columns["REFERRALS_SIGNPOSTED"] = rest - columns["REFERRALS_REJECTED"]
        missing = [c for c in header if c not in columns and c not in ("ORG_CODE", "PERIOD_START")]
        if missing:
            raise ValueError(f"layout {layout_id}: no generator for column(s) {', '.join(missing)}")
        for i, month in enumerate(grid.observed):
            cells = {"ORG_CODE": org.code, "PERIOD_START": _dmy(month)}
            rows.append([cells[c] if c in cells else str(int(columns[c][i])) for c in header])
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


# --- README ---------------------------------------------------------------------------------------------


_FILE_DESCRIPTIONS: dict[str, str] = {
    _MHSDS: "MHSDS time-series long file: crisis referrals, referrals starting, people with two or more "
    "community contacts (rolling 12 months); with the quirks of the real file (provisional months, Final "
    "and Performance rows for one month, quarterly rows, England rows, suppressed counts `*`, changing "
    "measure and organisation names, an upper-case breakdown label, one incomplete submission)",
    _SICKNESS: f"NHS Sickness Absence Rates benchmarking CSV: FTE days lost and available per month, "
    f'"{_ALL_STAFF}" and one other staff group',
    _REFERRALS: "local referral extract: referrals received, accepted, rejected and signposted per month",
    _WORKFORCE: "local workforce extract: staff in post, leavers and the 12-month stability counts per month",
}


def _file_table() -> str:
    lines = ["| file | layout | what it holds |", "|---|---|---|"]
    lines += [f"| `{_FILES[lay]}` | {lay} | {text} |" for lay, text in _FILE_DESCRIPTIONS.items()]
    lines.append(
        "| `truth.json` | - | the truth: the effects put in at each site (step and slope change, natural "
        "scale) and where each quirk is |"
    )
    return "\n".join(lines)


def _readme(registry: Registry, orgs: Iterable[_Org], first: dt.date, last: dt.date, seed: int) -> str:
    orgs = list(orgs)
    sites = ", ".join(f"{s.provider_name} ({s.ods_code})" for s in registry.sites)
    n_comp = sum(o.role == "comparator" for o in orgs)
    span = f"{first:%B %Y} to {last:%B %Y}"
    return f"""# Synthetic demonstration data

**These data are synthetic. Every number in these files is made up.** They were written by
`evaluation.demo.generator.generate` (version {GENERATOR_VERSION}, seed {seed}) to demonstrate and test the
evaluation workbook. They must not be read as the performance of any organisation.

- The four evaluation sites appear under their real codes and names ({sites}) so that the workbook can
  be run for them, but their figures are invented.
- The {n_comp} comparator organisations (codes `ZC01`, `ZC02`, ...) are made up, and so are their names,
  regions and integrated care systems.

Months covered: {span}. Each series has a trend, seasonality, a COVID-19 disruption
({_covid_window()[0]} to {_covid_window()[1]}), autocorrelated noise and, at each site's intervention date, a
known effect (some of them zero).

## Files

{_file_table()}

`truth.json` holds the known effects, so the methods can be checked against what was put in.
"""
