"""Validation of the ITS step-change estimate by simulation.

For each scenario, :func:`simulate_its` draws many series from the model of
:mod:`evaluation.demo.generator` -- on the link scale a level, a linear trend, two Fourier harmonics, the
COVID-19 level shift (March 2020 to March 2021), a step at go-live and AR(1) noise; then Poisson
counts, binomial proportions or Gaussian rates -- over the demonstration period (108 months, April
2016 to March 2025, go-live April 2022: 72 months before, 36 after), and fits each one with
:func:`evaluation.methods.its.fit_its` with its defaults (so the default ``cov_type``). It reports
for the step change: bias and RMSE on the link scale (log rate ratio, log odds ratio, difference),
coverage of the 95% interval, and the rejection rate at alpha = 0.05 -- power when there is an effect,
the false-positive rate when there is none.

The series are generated here, vectorised over replicates, rather than by writing files with
:func:`evaluation.demo.generator.generate`: thousands of replicates through CSV would take hours and
test the readers, not the estimator. The trend, COVID-19 shift and seasonal coefficients are the
generator's own (``evaluation.demo.generator.MEASURE_MODELS``) and the effects are the truth file's
(``data_dictionary/demonstration.yaml``, :func:`evaluation.demo.generator.known_effects`), so the two
cannot drift apart silently.

Noise levels. "Independent" scenarios have no extra noise for counts and proportions (pure Poisson /
binomial) and white Gaussian noise for rates. The "autocorrelated, overdispersed" scenarios use
AR(1) noise with phi = 0.4 and a marginal SD on the link scale at the level of the published files:

* counts, modelled on MHS32 (referrals starting; the count the real MHSDS file carries for all four
  sites): mean about 4,000 a month and extra-Poisson SD 0.11 on the log scale; the four sites'
  2016-2022 series have means 2,300-8,300, residual SDs 0.09-0.13 (Pearson chi2/df 37-44, one site
  with a break much higher) and lag-1 residual autocorrelation 0.1-0.45;
* rates, modelled on the sickness absence rate (%): level 5.5 and SD 0.53 percentage points; the
  sites' 2013-2023 series have residual variance 0.16-0.38 and lag-1 autocorrelation 0.35-0.54;
* proportions, modelled on the share of referrals accepted (local data only, so no published
  level): the counts' SD of 0.11, on the logit scale, with about 1,200 referrals a month.

The truth file's slope changes for these measures are all "no change", so the slope is 0 here.
Effects come from the truth file: each value type's smallest non-null step appears with both noise
settings, and every other non-null step with the realistic noise only, so that power is reported at
each effect size the demonstration data carry.
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
from evaluation.results.jsonsafe import json_safe

__all__ = [
    "ACCEPTANCE",
    "Scenario",
    "default_scenarios",
    "generate_replicates",
    "simulate_its",
    "simulation_table_markdown",
    "write_simulation",
]

START = "2016-04-01"
N_MONTHS = 108
GO_LIVE = "2022-04-01"
ALPHA = 0.05
PHI = 0.4
#: The issue's acceptance target for the autocorrelated, overdispersed scenarios.
ACCEPTANCE: dict[str, float] = {"coverage_min": 0.93, "coverage_max": 0.97, "false_positive_max": 0.06}

# Marginal (stationary) SD of the AR(1) noise on the link scale, from the published files (module
# docstring); the innovation SD is this times sqrt(1 - phi^2).
_COUNT_SD = 0.11
_RATE_SD = 0.53
_PROPORTION_SD = 0.11
_COUNT_LEVEL = 4000.0
_RATE_LEVEL = 5.5
_REFERRALS_LEVEL = 1200.0
_MEASURES = {"count": "MHS32", "proportion": "REF_ACCEPT", "rate": "SICKNESS_RATE"}
_INDEPENDENT = "independent"
_AUTOCORRELATED = "autocorrelated, overdispersed"
_BLOCK = 25  # replicates per task: small enough to balance two workers, large enough to amortise pickling


@dataclass(frozen=True)
class Scenario:
    """One simulation setting.

    ``step`` is on the natural scale (rate ratio, odds ratio, or difference in percentage points);
    ``sd`` is the marginal SD of the AR(1) link-scale noise (0 for none; for rates the Gaussian noise
    itself); ``level`` is the mean count, the probability, or the rate at the start.
    """

    name: str
    value_type: str
    measure_id: str
    noise: str
    step: float
    phi: float
    sd: float
    level: float
    effect_source: str = ""

    @property
    def link_step(self) -> float:
        return self.step if self.value_type == "rate" else math.log(self.step)

    @property
    def has_effect(self) -> bool:
        return self.link_step != 0.0


def _truth_steps(measure_id: str, value_type: str) -> list[tuple[float, str]]:
    """Distinct non-null steps the truth file gives this measure, smallest effect first, with sites."""
    null = 0.0 if value_type == "rate" else 1.0
    by_step: dict[float, list[str]] = {}
    for site, effects in known_effects().items():
        step = effects.get(measure_id, (null, null))[0]
        if step != null:
            by_step.setdefault(float(step), []).append(site)

    def size(step: float) -> float:
        return abs(step if value_type == "rate" else math.log(step))

    return [(s, ", ".join(by_step[s])) for s in sorted(by_step, key=size)]


def default_scenarios() -> list[Scenario]:
    """The validation scenarios: per value type, {no effect, truth-file effect} x {independent,
    autocorrelated and overdispersed}, plus power at the truth file's other effect sizes."""
    out: list[Scenario] = []
    settings = {
        "count": (_COUNT_LEVEL, _COUNT_SD, 0.0),
        "proportion": (MEASURE_MODELS["REF_ACCEPT"].level, _PROPORTION_SD, 0.0),
        # Rates always have noise: "independent" means white noise at the real files' SD.
        "rate": (_RATE_LEVEL, _RATE_SD, _RATE_SD),
    }
    for value_type, measure_id in _MEASURES.items():
        level, sd, independent_sd = settings[value_type]
        null = 0.0 if value_type == "rate" else 1.0
        steps = _truth_steps(measure_id, value_type)
        # A Gaussian rate has no fixed variance to exceed, so its realistic setting is only autocorrelated.
        realistic = "autocorrelated" if value_type == "rate" else _AUTOCORRELATED
        for noise, phi, noise_sd in ((_INDEPENDENT, 0.0, independent_sd), (realistic, PHI, sd)):
            chosen = [(null, "no effect")] + (steps if phi > 0 else steps[:1])
            for step, source in chosen:
                label = "no effect" if step == null else f"step {step:g}"
                out.append(
                    Scenario(
                        name=f"{value_type} | {noise} | {label}",
                        value_type=value_type,
                        measure_id=measure_id,
                        noise=noise,
                        step=float(step),
                        phi=phi,
                        sd=noise_sd,
                        level=level,
                        effect_source=source if step == null else f"truth file ({measure_id}: {source})",
                    )
                )
    return out


def _calendar() -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    periods = pd.date_range(START, periods=N_MONTHS, freq="MS")
    t = np.arange(1, N_MONTHS + 1, dtype=float)
    c_start, c_end = default_registry().analysis.covid.months
    covid = np.asarray((periods >= c_start) & (periods <= c_end), dtype=float)
    post = np.asarray(periods >= GO_LIVE, dtype=float)
    return periods, t, covid, post


def _seasonal(season: tuple[float, float, float, float], months: np.ndarray) -> np.ndarray:
    out = np.zeros(len(months))
    for j in (1, 2):
        angle = 2 * np.pi * j * months / 12
        out += season[2 * j - 2] * np.sin(angle) + season[2 * j - 1] * np.cos(angle)
    return out


def _ar1(rng: np.random.Generator, replicates: int, phi: float, sd: float) -> np.ndarray:
    """AR(1) paths (one per row) started in the stationary distribution, with marginal SD ``sd``."""
    if sd == 0:
        return np.zeros((replicates, N_MONTHS))
    eps = rng.normal(0.0, sd * math.sqrt(1 - phi * phi), size=(replicates, N_MONTHS))
    eps[:, 0] = rng.normal(0.0, sd, size=replicates)  # u_0 from the stationary distribution
    return lfilter([1.0], [1.0, -phi], eps, axis=1)


def generate_replicates(scenario: Scenario, replicates: int, seed: int) -> dict[str, np.ndarray]:
    """Draw ``replicates`` series of a scenario at once.

    Returns ``{"value": (replicates, 108)}`` plus ``"numerator"`` and ``"denominator"`` for
    proportions. The random stream depends on ``seed`` and the scenario's name only, so a scenario
    gives the same draws whatever other scenarios are run with it.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(scenario.name.encode())]))
    periods, t, covid, post = _calendar()
    model = MEASURE_MODELS[scenario.measure_id]
    months = periods.month.to_numpy().astype(float)
    if scenario.value_type == "count":
        base = math.log(scenario.level)
    elif scenario.value_type == "proportion":
        base = math.log(scenario.level / (1 - scenario.level))
    else:
        base = scenario.level
    eta = base + model.trend * t + model.covid * covid + _seasonal(model.season, months) + scenario.link_step * post
    eta = eta[None, :] + _ar1(rng, replicates, scenario.phi, scenario.sd)
    if scenario.value_type == "count":
        counts = rng.poisson(np.exp(eta)).astype(float)
        return {"value": counts}
    if scenario.value_type == "proportion":
        # Referrals received follow the generator's own denominator model (without its noise).
        rec = RECEIVED_MODEL
        den_eta = math.log(_REFERRALS_LEVEL) + rec.trend * t + rec.covid * covid + _seasonal(rec.season, months)
        den = rng.poisson(np.exp(np.broadcast_to(den_eta, eta.shape))).astype(float)
        num = rng.binomial(den.astype(np.int64), 1 / (1 + np.exp(-eta))).astype(float)
        return {"value": num / den, "numerator": num, "denominator": den}
    return {"value": eta}


def _fit_block(value_type: str, data: dict[str, np.ndarray]) -> np.ndarray:
    """Fit every row; columns: link estimate, SE, link CI low, link CI high, dispersion, lag-1 r (NaN
    rows for fits that failed)."""
    periods = pd.date_range(START, periods=N_MONTHS, freq="MS")
    n = data["value"].shape[0]
    out = np.full((n, 6), np.nan)
    for i in range(n):
        value = data["value"][i]
        frame = pd.DataFrame(
            {
                "period": periods,
                "numerator": data["numerator"][i] if "numerator" in data else value,
                "denominator": data["denominator"][i] if "denominator" in data else np.nan,
                "value": value,
            }
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an odd replicate's convergence warning is counted, not shown
                res = fit_its(frame, intervention=GO_LIVE, value_type=value_type)
        except (ValueError, np.linalg.LinAlgError):
            continue
        step = res.step
        if value_type == "rate":
            b, lo, hi = step.estimate, step.ci_low, step.ci_high
        else:
            b, lo, hi = math.log(step.estimate), math.log(step.ci_low), math.log(step.ci_high)
        out[i] = (b, step.se, lo, hi, res.dispersion, res.autocorrelation)
    return out


def _summarise(scenario: Scenario, fits: np.ndarray, replicates: int) -> dict[str, Any]:
    ok = np.isfinite(fits[:, 0])
    b, se, lo, hi, disp, rho = (fits[ok, j] for j in range(6))
    n = int(ok.sum())
    truth = scenario.link_step
    covered = (lo <= truth) & (truth <= hi)
    rejects = (lo > 0) | (hi < 0)
    coverage = float(covered.mean()) if n else float("nan")
    rejection = float(rejects.mean()) if n else float("nan")
    meets: bool | None = None
    if scenario.phi > 0 and n:
        meets = ACCEPTANCE["coverage_min"] <= coverage <= ACCEPTANCE["coverage_max"]
        if not scenario.has_effect:
            meets = meets and rejection <= ACCEPTANCE["false_positive_max"]
    return {
        "scenario": scenario.name,
        "value_type": scenario.value_type,
        "measure_id": scenario.measure_id,
        "noise": scenario.noise,
        "phi": scenario.phi,
        "noise_sd": scenario.sd,
        "effect": "effect" if scenario.has_effect else "no effect",
        "true_step": scenario.step,
        "true_link_step": truth,
        "effect_source": scenario.effect_source,
        "replicates": int(replicates),
        "n": n,
        "failed": int(replicates - n),
        "bias": float(np.mean(b - truth)) if n else float("nan"),
        "rmse": float(np.sqrt(np.mean((b - truth) ** 2))) if n else float("nan"),
        "empirical_sd": float(np.std(b, ddof=1)) if n > 1 else float("nan"),
        "mean_se": float(np.mean(se)) if n else float("nan"),
        "coverage": coverage,
        "coverage_mcse": float(math.sqrt(coverage * (1 - coverage) / n)) if n else float("nan"),
        "rejection_rate": rejection,
        "rejection_is": "power" if scenario.has_effect else "false-positive rate",
        "mean_dispersion": float(np.mean(disp)) if n else float("nan"),
        "mean_lag1_autocorrelation": float(np.mean(rho)) if n else float("nan"),
        "meets_target": meets,
    }


def simulate_its(
    *,
    replicates: int = 500,
    scenarios: Sequence[Scenario] | None = None,
    seed: int = 20240401,
    n_jobs: int | None = 1,
) -> pd.DataFrame:
    """Run the validation simulation; one row per scenario.

    Parameters
    ----------
    replicates:
        Series per scenario (the issue asks for at least 500: the Monte Carlo SE of a 95% coverage
        is then about 1 percentage point).
    scenarios:
        Defaults to :func:`default_scenarios`.
    seed:
        Base seed; each scenario's stream is derived from it and the scenario's name, so results do
        not depend on ``n_jobs`` or on which other scenarios are run.
    n_jobs:
        Worker processes (``concurrent.futures.ProcessPoolExecutor``); 1 runs in this process, None
        uses every CPU.

    Returns
    -------
    pandas.DataFrame
        Columns ``scenario``, ``value_type``, ``measure_id``, ``noise``, ``phi``, ``noise_sd``,
        ``effect``, ``true_step`` (natural scale), ``true_link_step``, ``effect_source``,
        ``replicates``, ``n`` (fits that succeeded), ``failed``, ``bias``, ``rmse``,
        ``empirical_sd`` and ``mean_se`` (link scale), ``coverage`` and ``coverage_mcse``,
        ``rejection_rate`` with ``rejection_is`` ("power" or "false-positive rate"),
        ``mean_dispersion``, ``mean_lag1_autocorrelation`` and ``meets_target`` (the acceptance
        target, for the autocorrelated scenarios only; None otherwise). ``attrs`` holds
        ``replicates``, ``seed``, ``n_jobs`` and ``elapsed_seconds``.
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
    """The results as a Markdown table for the "Method validation" page, with a note on reading it."""
    header = (
        "| Measure type | Noise | True step | Fits | Bias | RMSE | 95% CI coverage | Rejects null (α = 0.05) "
        "| Target met |"
    )
    lines = [header, "|---|---|---|---|---|---|---|---|---|"]
    for r in df.itertuples(index=False):
        target = "–" if r.meets_target is None or pd.isna(r.meets_target) else ("yes" if r.meets_target else "no")
        step = "none" if r.effect == "no effect" else f"{r.true_step:g}"
        lines.append(
            f"| {r.value_type} ({r.measure_id}) | {r.noise} | {step} | {r.n} | {r.bias:+.4f} | {r.rmse:.4f} "
            f"| {_pct(r.coverage)} (± {_pct(1.96 * r.coverage_mcse)}) | {_pct(r.rejection_rate)} "
            f"({r.rejection_is}) | {target} |"
        )
    lines += [
        "",
        "Bias and RMSE are on the model's link scale: log rate ratio (counts), log odds ratio (proportions), "
        "percentage points (rates). Coverage is the share of 95% intervals containing the true step, with "
        "its Monte Carlo 95% margin. The target (autocorrelated, overdispersed scenarios) is coverage between "
        f"{ACCEPTANCE['coverage_min']:.0%} and {ACCEPTANCE['coverage_max']:.0%} and, with no effect, a "
        f"false-positive rate of at most {ACCEPTANCE['false_positive_max']:.0%}.",
    ]
    return "\n".join(lines)


def write_simulation(df: pd.DataFrame, path: Path | str) -> Path:
    """Write the results and their settings to a JSON file; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "description": ("Validation by simulation of the ITS step change "
                        "(evaluation.demo.simulation_study.simulate_its)"),
        "design": {
            "start": START,
            "months": N_MONTHS,
            "go_live": GO_LIVE,
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
