"""Validation by simulation of the interrupted time series on the design the data have.

For each scenario, :func:`simulate_its` draws many series from the model of
:mod:`evaluation.demo.generator` -- on the link scale a level, a linear trend, two Fourier harmonics, the
COVID-19 level shift (March 2020 to March 2021), a step at go-live and AR(1) noise; then Poisson counts,
binomial proportions or Gaussian rates -- with the design of the published files: 64 months before go-live
(April 2016 to July 2021, Dorset's go-live August 2021) and **8, 12, 16 or 36 months after** (the real
files give 8-16). Each series is fitted with :func:`evaluation.methods.its.fit_its` with its defaults,
and the study reports, for the **primary estimand** (:meth:`ITSResult.primary_estimand`: the average
effect over the first 12 months from go-live, or the months available) on its natural scale -- percent
for counts, percentage points for proportions and rates -- the bias, the coverage of the 95% interval, the
rejection rate (power, or the false-positive rate with no effect) and the average minimum detectable
effect; and the same for the step on the link scale, as before.

Two **misspecified** scenarios check what the model omits: a COVID-19 *recovery ramp* (the COVID-19 shift
fades linearly over the 12 months after March 2021 instead of ending at once, so the recovery overlaps
go-live) and a *go-live wrong by 3 months* (the change happens 3 months after the recorded date; the
estimand is still the first 12 months from the recorded date, so its truth is the smaller effect those
months carry). The truth of the primary estimand is computed from the noise-free linear predictor, the
counterfactual including the recovery ramp where there is one.

The series are generated here, vectorised over replicates, rather than by writing files with
:func:`evaluation.demo.generator.generate`: thousands of replicates through CSV would take hours and
test the readers, not the estimator. The trend, COVID-19 shift and seasonal coefficients are the
generator's own (``evaluation.demo.generator.MEASURE_MODELS``) and the effects are the truth file's
(``data_dictionary/demonstration.yaml``, :func:`evaluation.demo.generator.known_effects`), so the two
cannot drift apart silently.

Noise. AR(1) noise with phi = 0.4 and a marginal SD on the link scale at the level of the published files:

* counts, modelled on MHS32 (referrals starting): mean about 4,000 a month and extra-Poisson SD 0.11 on
  the log scale (the four sites' 2016-2022 series have residual SDs 0.09-0.13 and lag-1 residual
  autocorrelation 0.1-0.45);
* rates, modelled on the sickness absence rate (%): level 5.5 and SD 0.53 percentage points;
* proportions, modelled on the share of referrals accepted: SD 0.11 on the logit scale, about 1,200
  referrals a month.

Seeds. The default inference was developed and tuned on :data:`TUNING_SEED`; the published table is run
on :data:`REPORT_SEED`, which was not used while developing.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from evaluation.demo.generator import MEASURE_MODELS, RECEIVED_MODEL, known_effects
from evaluation.dictionary.registry import default_registry
from evaluation.methods.its import fit_its
from evaluation.methods.plain import json_safe

__all__ = [
    "ACCEPTANCE",
    "POST_MONTHS",
    "primary_truth",
    "REPORT_SEED",
    "TUNING_SEED",
    "Scenario",
    "default_scenarios",
    "generate_replicates",
    "simulate_its",
    "simulation_table_markdown",
    "write_simulation",
]

START = "2016-04-01"
N_PRE = 64
GO_LIVE = "2021-08-01"
#: Months after go-live simulated: the real files give 8-16; 36 is the former (optimistic) design.
POST_MONTHS: tuple[int, ...] = (8, 12, 16, 36)
ALPHA = 0.05
PHI = 0.4
#: Seed the default inference was developed and tuned on; never used for the published table.
TUNING_SEED = 20240401
#: Seed of the published table.
REPORT_SEED = 20261201
#: The issue's acceptance target for the primary estimand, in every correctly specified scenario with at
#: least ``min_post`` months after go-live.
ACCEPTANCE: dict[str, float] = {
    "coverage_min": 0.93, "coverage_max": 0.97, "false_positive_max": 0.06, "min_post": 12,
}  # fmt: skip
MISSPECIFICATIONS = ("none", "covid_ramp", "golive_late_3")

# Marginal (stationary) SD of the AR(1) noise on the link scale, from the published files (module
# docstring); the innovation SD is this times sqrt(1 - phi^2).
_COUNT_SD = 0.11
_RATE_SD = 0.53
_PROPORTION_SD = 0.11
_COUNT_LEVEL = 4000.0
_RATE_LEVEL = 5.5
_REFERRALS_LEVEL = 1200.0
_MEASURES = {"count": "MHS32", "proportion": "REF_ACCEPT", "rate": "SICKNESS_RATE"}
_RAMP_MONTHS = 12
_LATE_MONTHS = 3
_BLOCK = 25  # replicates per task: small enough to balance two workers, large enough to amortise pickling
_COLS = ("b", "se", "lo", "hi", "p_est", "p_lo", "p_hi", "mde_lo", "mde_hi", "disp", "rho")


@dataclass(frozen=True)
class Scenario:
    """One simulation setting.

    ``step`` is on the natural scale (rate ratio, odds ratio, or difference in percentage points);
    ``sd`` is the marginal SD of the AR(1) link-scale noise; ``level`` is the mean count, the probability,
    or the rate at the start; ``n_post`` the months after the recorded go-live; ``misspecification`` one of
    "none", "covid_ramp" and "golive_late_3" (module docstring).
    """

    name: str
    value_type: str
    measure_id: str
    step: float
    phi: float
    sd: float
    level: float
    n_post: int = 12
    misspecification: str = "none"
    effect_source: str = ""

    @property
    def link_step(self) -> float:
        return self.step if self.value_type == "rate" else math.log(self.step)

    @property
    def has_effect(self) -> bool:
        return self.link_step != 0.0

    @property
    def n_months(self) -> int:
        return N_PRE + self.n_post


def _smallest_truth_step(measure_id: str, value_type: str) -> tuple[float, str]:
    """The smallest non-null step the truth file gives this measure, with its sites."""
    null = 0.0 if value_type == "rate" else 1.0
    by_step: dict[float, list[str]] = {}
    for site, effects in known_effects().items():
        step = effects.get(measure_id, (null, null))[0]
        if step != null:
            by_step.setdefault(float(step), []).append(site)

    def size(step: float) -> float:
        return abs(step if value_type == "rate" else math.log(step))

    step = min(by_step, key=size)
    return step, ", ".join(by_step[step])


def default_scenarios() -> list[Scenario]:
    """Per value type: {no effect, the truth file's smallest effect} x 8, 12, 16 and 36 months after go-live;
    for counts and rates also the two misspecified scenarios at 12 months."""
    settings = {
        "count": (_COUNT_LEVEL, _COUNT_SD),
        "proportion": (MEASURE_MODELS["REF_ACCEPT"].level, _PROPORTION_SD),
        "rate": (_RATE_LEVEL, _RATE_SD),
    }
    out: list[Scenario] = []
    for value_type, measure_id in _MEASURES.items():
        level, sd = settings[value_type]
        null = 0.0 if value_type == "rate" else 1.0
        effect, sites = _smallest_truth_step(measure_id, value_type)
        cases = [(n, "none") for n in POST_MONTHS]
        if value_type != "proportion":
            cases += [(12, "covid_ramp"), (12, "golive_late_3")]
        for n_post, mis in cases:
            for step in (null, effect):
                label = "no effect" if step == null else f"step {step:g}"
                out.append(Scenario(
                    name=f"{value_type} | {n_post} months after | {mis} | {label}", value_type=value_type,
                    measure_id=measure_id, step=float(step), phi=PHI, sd=sd, level=level, n_post=n_post,
                    misspecification=mis,
                    effect_source="no effect" if step == null else f"truth file ({measure_id}: {sites})",
                ))  # fmt: skip
    return out


def _calendar(n_months: int) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    periods = pd.date_range(START, periods=n_months, freq="MS")
    t = np.arange(1, n_months + 1, dtype=float)
    c_start, c_end = default_registry().analysis.covid.months
    covid = np.asarray((periods >= c_start) & (periods <= c_end), dtype=float)
    months_after = (periods.year - pd.Timestamp(c_end).year) * 12 + (periods.month - pd.Timestamp(c_end).month)
    ramp = np.clip(1 - np.asarray(months_after, dtype=float) / _RAMP_MONTHS, 0, 1) * (months_after > 0)
    return periods, t, covid, ramp


def _seasonal(season: tuple[float, float, float, float], months: np.ndarray) -> np.ndarray:
    out = np.zeros(len(months))
    for j in (1, 2):
        angle = 2 * np.pi * j * months / 12
        out += season[2 * j - 2] * np.sin(angle) + season[2 * j - 1] * np.cos(angle)
    return out


def _ar1(rng: np.random.Generator, replicates: int, n: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) paths (one per row) started in the stationary distribution, with marginal SD ``sd``."""
    if sd == 0:
        return np.zeros((replicates, n))
    eps = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), size=(replicates, n))
    eps[:, 0] = rng.normal(0.0, sd, size=replicates)  # u_0 from the stationary distribution
    return lfilter([1.0], [1.0, -phi], eps, axis=1)


def _linear_predictors(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free link-scale paths with (f) and without (c) the effect; c includes any recovery ramp."""
    periods, t, covid, ramp = _calendar(scenario.n_months)
    model = MEASURE_MODELS[scenario.measure_id]
    months = periods.month.to_numpy().astype(float)
    if scenario.value_type == "count":
        base = math.log(scenario.level)
    elif scenario.value_type == "proportion":
        base = math.log(scenario.level / (1 - scenario.level))
    else:
        base = scenario.level
    shift = covid + (ramp if scenario.misspecification == "covid_ramp" else 0.0)
    c = base + model.trend * t + model.covid * shift + _seasonal(model.season, months)
    start = pd.Timestamp(GO_LIVE) + pd.DateOffset(months=_LATE_MONTHS if scenario.misspecification == "golive_late_3"
                                                   else 0)
    post = np.asarray(periods >= start, dtype=float)
    return c + scenario.link_step * post, c


def primary_truth(scenario: Scenario) -> float:
    """The true primary estimand on its relative scale: percent for counts, percentage points otherwise,
    averaged over the first 12 months from the recorded go-live (or the months simulated)."""
    f, c = _linear_predictors(scenario)
    horizon = default_registry().analysis.its.primary_horizon_months
    sl = slice(N_PRE, N_PRE + min(horizon, scenario.n_post))
    if scenario.value_type == "count":
        return 100.0 * (float(np.exp(f[sl]).sum()) / float(np.exp(c[sl]).sum()) - 1.0)
    if scenario.value_type == "proportion":
        return 100.0 * float(np.mean(1 / (1 + np.exp(-f[sl])) - 1 / (1 + np.exp(-c[sl]))))
    return float(np.mean(f[sl] - c[sl]))


def generate_replicates(scenario: Scenario, replicates: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``replicates`` series of a scenario at once.

    Returns ``{"value": (replicates, months)}`` plus ``"numerator"`` and ``"denominator"`` for
    proportions. The random stream depends on ``seed`` and the scenario's name only, so a scenario
    gives the same draws whatever other scenarios are run with it.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(scenario.name.encode())]))
    n = scenario.n_months
    periods, t, covid, _ = _calendar(n)
    eta, _ = _linear_predictors(scenario)
    eta = eta[None, :] + _ar1(rng, replicates, n, scenario.phi, scenario.sd)
    if scenario.value_type == "count":
        return {"value": rng.poisson(np.exp(eta)).astype(float)}
    if scenario.value_type == "proportion":
        # Referrals received follow the generator's own denominator model (without its noise).
        rec = RECEIVED_MODEL
        months = periods.month.to_numpy().astype(float)
        den_eta = math.log(_REFERRALS_LEVEL) + rec.trend * t + rec.covid * covid + _seasonal(rec.season, months)
        den = rng.poisson(np.exp(np.broadcast_to(den_eta, eta.shape))).astype(float)
        num = rng.binomial(den.astype(np.int64), 1 / (1 + np.exp(-eta))).astype(float)
        return {"value": num / den, "numerator": num, "denominator": den}
    return {"value": eta}


def _fit_block(value_type: str, data: dict[str, np.ndarray]) -> np.ndarray:
    """Fit every row; columns as ``_COLS`` (step on the link scale; primary estimand on its relative scale;
    its minimum detectable effect), NaN rows for fits that failed."""
    n, n_months = data["value"].shape
    periods = pd.date_range(START, periods=n_months, freq="MS")
    out = np.full((n, len(_COLS)), np.nan)
    for i in range(n):
        value = data["value"][i]
        frame = pd.DataFrame({
            "period": periods, "numerator": data["numerator"][i] if "numerator" in data else value,
            "denominator": data["denominator"][i] if "denominator" in data else np.nan, "value": value,
        })  # fmt: skip
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an odd replicate's convergence warning is counted, not shown
                res = fit_its(frame, intervention=GO_LIVE, value_type=value_type)
                pe = res.primary_estimand()
        except (ValueError, np.linalg.LinAlgError):
            continue
        step = res.step
        if value_type == "rate":
            b, lo, hi = step.estimate, step.ci_low, step.ci_high
        else:
            b, lo, hi = math.log(step.estimate), math.log(step.ci_low), math.log(step.ci_high)
        rel = pe.relative
        out[i] = (b, step.se, lo, hi, rel.estimate, rel.ci_low, rel.ci_high, pe.mde.relative_decrease,
                  pe.mde.relative_increase, res.dispersion, res.autocorrelation)
    return out


def _summarise(scenario: Scenario, fits: np.ndarray, replicates: int) -> dict[str, Any]:
    ok = np.isfinite(fits[:, 0]) & np.isfinite(fits[:, 4])
    col = {name: fits[ok, j] for j, name in enumerate(_COLS)}
    n = int(ok.sum())
    truth = primary_truth(scenario)
    covered = (col["p_lo"] <= truth) & (truth <= col["p_hi"])
    rejects = (col["p_lo"] > 0) | (col["p_hi"] < 0)
    coverage = float(covered.mean()) if n else float("nan")
    rejection = float(rejects.mean()) if n else float("nan")
    step_truth = scenario.link_step if scenario.misspecification == "none" else float("nan")
    step_cov = (float(((col["lo"] <= step_truth) & (step_truth <= col["hi"])).mean())
                if n and scenario.misspecification == "none" else float("nan"))
    meets: bool | None = None
    if scenario.misspecification == "none" and scenario.n_post >= ACCEPTANCE["min_post"] and n:
        meets = ACCEPTANCE["coverage_min"] <= coverage <= ACCEPTANCE["coverage_max"]
        if not scenario.has_effect:
            meets = meets and rejection <= ACCEPTANCE["false_positive_max"]
    mean = lambda a: float(np.mean(a)) if len(a) else float("nan")  # noqa: E731
    return {
        "scenario": scenario.name, "value_type": scenario.value_type, "measure_id": scenario.measure_id,
        "n_post": scenario.n_post, "misspecification": scenario.misspecification, "phi": scenario.phi,
        "noise_sd": scenario.sd, "effect": "effect" if scenario.has_effect else "no effect",
        "true_step": scenario.step, "true_link_step": scenario.link_step, "effect_source": scenario.effect_source,
        "relative_scale": "percent" if scenario.value_type == "count" else "percentage points",
        "true_primary": truth, "replicates": int(replicates), "n": n, "failed": int(replicates - n),
        "primary_bias": mean(col["p_est"] - truth),
        "primary_rmse": float(np.sqrt(np.mean((col["p_est"] - truth) ** 2))) if n else float("nan"),
        "primary_coverage": coverage,
        "primary_coverage_mcse": float(math.sqrt(coverage * (1 - coverage) / n)) if n else float("nan"),
        "primary_rejection_rate": rejection,
        "rejection_is": "power" if truth != 0 else "false-positive rate",
        "mde_decrease": mean(col["mde_lo"]), "mde_increase": mean(col["mde_hi"]),
        "step_bias": mean(col["b"] - scenario.link_step), "step_coverage": step_cov,
        "mean_se": mean(col["se"]), "mean_dispersion": mean(col["disp"]),
        "mean_lag1_autocorrelation": mean(col["rho"]), "meets_target": meets,
    }  # fmt: skip


def simulate_its(
    *,
    replicates: int = 500,
    scenarios: Sequence[Scenario] | None = None,
    seed: int = REPORT_SEED,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Run the validation simulation; one row per scenario.

    Parameters
    ----------
    replicates:
        Series per scenario (500 for the published table: the Monte Carlo SE of a 95% coverage is then
        about 1 percentage point).
    scenarios:
        Defaults to :func:`default_scenarios`.
    seed:
        Base seed (default :data:`REPORT_SEED`); each scenario's stream is derived from it and the
        scenario's name, so results do not depend on ``n_jobs`` or on which other scenarios are run.
    n_jobs:
        Worker processes (``concurrent.futures.ProcessPoolExecutor``); 1 runs in this process, None
        uses every CPU.

    Returns
    -------
    pandas.DataFrame
        One row per scenario: its settings, ``true_primary`` (relative scale), ``primary_bias``,
        ``primary_rmse``, ``primary_coverage`` (with ``primary_coverage_mcse``), ``primary_rejection_rate``
        (``rejection_is``: power or false-positive rate), the average minimum detectable effect
        (``mde_decrease``, ``mde_increase``), ``step_bias`` and ``step_coverage`` (link scale; NaN for the
        misspecified scenarios, whose step truth is ambiguous), ``meets_target`` (None where the target does
        not apply). ``attrs`` holds ``replicates``, ``seed``, ``n_jobs`` and ``elapsed_seconds``.
    """
    if replicates < 2:
        raise ValueError(f"replicates must be at least 2, got {replicates}")
    scenarios = list(default_scenarios() if scenarios is None else scenarios)
    if not scenarios:
        raise ValueError("no scenarios to run")
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError("scenario names must be unique (they seed the random streams)")
    workers = (os.cpu_count() or 1) if n_jobs is None else int(n_jobs)
    if workers < 1:
        raise ValueError(f"n_jobs must be >= 1 or None, got {n_jobs}")

    began = time.perf_counter()
    tasks: list[tuple[int, str, dict[str, np.ndarray]]] = []
    for k, sc in enumerate(scenarios):
        data = generate_replicates(sc, replicates, seed)
        for lo in range(0, replicates, _BLOCK):
            tasks.append((k, sc.value_type, {key: arr[lo : lo + _BLOCK] for key, arr in data.items()}))
    if workers == 1:
        blocks = [_fit_block(vt, d) for _, vt, d in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            blocks = list(pool.map(_fit_block, [vt for _, vt, _ in tasks], [d for _, _, d in tasks]))
    rows = []
    for k, sc in enumerate(scenarios):
        fits = np.vstack([b for (j, _, _), b in zip(tasks, blocks, strict=True) if j == k])
        rows.append(_summarise(sc, fits, replicates))
    out = pd.DataFrame(rows)
    out.attrs.update(
        replicates=int(replicates), seed=int(seed), n_jobs=workers, elapsed_seconds=time.perf_counter() - began
    )
    return out


def _pct(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{100 * x:.1f}%"


def simulation_table_markdown(df: pd.DataFrame) -> str:
    """The results as a Markdown table for the "Method validation" page, led by what they mean for a reader."""
    unit = {"count": "%", "proportion": " pts", "rate": " pts"}
    lines = [
        "| Measure | Months after go-live | Model | True effect (12-month average) | Bias | 95% CI coverage "
        "| Rejects no change | Smallest detectable (80% power) | Step coverage | Target met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    model = {"none": "as fitted", "covid_ramp": "COVID-19 recovery ramp omitted",
             "golive_late_3": "go-live 3 months late"}
    for r in df.itertuples(index=False):
        target = "–" if r.meets_target is None or pd.isna(r.meets_target) else ("yes" if r.meets_target else "no")
        u = unit[r.value_type]
        lines.append(
            f"| {r.value_type} ({r.measure_id}) | {r.n_post} | {model[r.misspecification]} "
            f"| {r.true_primary:+.2f}{u} | {r.primary_bias:+.2f}{u} "
            f"| {_pct(r.primary_coverage)} (± {_pct(1.96 * r.primary_coverage_mcse)}) "
            f"| {_pct(r.primary_rejection_rate)} ({r.rejection_is}) "
            f"| {r.mde_decrease:+.1f}{u} / {r.mde_increase:+.1f}{u} | {_pct(r.step_coverage)} | {target} |"
        )
    lines += [
        "",
        "The effect is the primary estimand: the average change over the first 12 months after go-live (or "
        "the months available), in percent for counts and percentage points for proportions and rates. "
        "Coverage is the share of 95% intervals containing the true effect, with its Monte Carlo 95% margin; "
        "\"rejects no change\" is the share of intervals excluding zero (the false-positive rate when the "
        "true effect is zero, the power otherwise). \"Smallest detectable\" is the average minimum "
        "detectable effect (80% power, 5% two-sided) for a decrease and an increase. The target applies to the "
        f"correctly specified scenarios with at least {ACCEPTANCE['min_post']:.0f} months after go-live: "
        f"coverage between {ACCEPTANCE['coverage_min']:.0%} and {ACCEPTANCE['coverage_max']:.0%} and, with no "
        f"effect, a false-positive rate of at most {ACCEPTANCE['false_positive_max']:.0%}.",
    ]
    return "\n".join(lines)


def write_simulation(df: pd.DataFrame, path: Path | str) -> Path:
    """Write the results and their settings to a JSON file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "description": ("Validation by simulation of the ITS primary estimand and step change "
                        "(evaluation.demo.simulation_study.simulate_its)"),
        "design": {
            "start": START,
            "months_before": N_PRE,
            "months_after": list(POST_MONTHS),
            "go_live": GO_LIVE,
            "tuning_seed": TUNING_SEED,
            "report_seed": REPORT_SEED,
            "covid_window": list(default_registry().analysis.covid.months),
            "alpha": ALPHA,
            "fit": "evaluation.methods.its.fit_its defaults",
        },
        "acceptance": ACCEPTANCE,
        "settings": {k: df.attrs.get(k) for k in ("replicates", "seed", "n_jobs", "elapsed_seconds")},
        "scenarios": [json_safe(dict(r)) for r in df.to_dict(orient="records")],
    }
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        json.dump(json_safe(doc), fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return path
