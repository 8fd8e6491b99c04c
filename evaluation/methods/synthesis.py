"""Cross-site synthesis: random-effects meta-analysis of the four sites' effects.

Each site's ITS step (a rate ratio, odds ratio or difference) is pooled on its link scale (log for
ratios, identity for differences) with :func:`statsmodels.stats.meta_analysis.combine_effects`.

Method choice (four sites is a very small meta-analysis):

* **Between-site variance tau^2: Paule-Mandel** (statsmodels ``method_re="iterated"``) by default.
  DerSimonian-Laird is the traditional one-step moment estimator but is biased downwards when
  heterogeneity is large and the number of studies is small; Paule-Mandel is recommended over it by
  Veroniki et al. (2016, Res Synth Methods 7:55-79) and the Cochrane Handbook (v6, section 10.10.4).
  Both give tau^2 = 0 when Q <= k - 1, so they differ only when there is visible heterogeneity.
  ``method="dl"`` is available for comparison with older reports.
* **Interval for the pooled effect: Hartung-Knapp-Sidik-Jonkman** (t with k - 1 df and the
  weighted residual scale, floored at 1 -- the "modified" HKSJ of Knapp & Hartung 2003 and Roever et
  al. 2015) by default. With k = 4 the normal (Wald) interval of DerSimonian-Laird covers far less
  than 95% (IntHout et al. 2014, BMC Med Res Methodol 14:25). With Paule-Mandel the weighted
  residual scale is exactly 1 whenever tau^2 > 0, so the interval is simply the pooled estimate
  +/- t(k-1) x its standard error. ``ci_method="normal"`` gives the Wald interval.
  ``ci_method="knha"`` is metafor's ``test = "knha"`` (no floor at 1), which matters only for
  DerSimonian-Laird: with Paule-Mandel the scale is exactly 1.
* **Prediction interval** (the range of the effect in a new, similar site): Higgins, Thompson &
  Spiegelhalter (2009), estimate +/- t(k-2) x sqrt(tau^2 + SE^2); only for k >= 3 (``pi_method="higgins"``,
  default). ``pi_method="metafor"`` gives metafor's ``predict()`` interval: the confidence interval's
  quantile (t(k-1) for Knapp-Hartung, normal otherwise) times the same standard deviation.
* **I^2 and H^2** follow Higgins & Thompson (2002) as metafor computes them: I^2 = tau^2 / (tau^2 + s^2)
  and H^2 = (tau^2 + s^2) / s^2, with s^2 = (k - 1) sum(w) / ((sum w)^2 - sum(w^2)) the "typical"
  within-site variance and w = 1 / v. They follow the tau^2 estimate; for DerSimonian-Laird they equal
  the Q-based (Q - df) / Q and Q / df (truncated at 0 and 1). Tested against metafor in
  tests/unit/methods/test_known_answers.py.

statsmodels 0.15 leaves the DerSimonian-Laird tau^2 and I^2 untruncated (negative when Q < k - 1,
and I^2 = -inf when every estimate is equal); this module truncates both at zero, as the
estimators are defined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

__all__ = ["MetaResult", "SiteEffect", "random_effects_meta"]

RATIO_SCALES = ("rate_ratio", "odds_ratio", "risk_ratio", "ratio")
DIFFERENCE_SCALES = ("difference",)
_METHODS = {"pm": "paule_mandel", "dl": "dersimonian_laird"}
_CI_METHODS = ("hksj", "knha", "normal")
_PI_METHODS = ("higgins", "metafor")
# The site intervals are 95% intervals; their half-width on the link scale is this many SEs.
_Z95 = float(stats.norm.ppf(0.975))
# Paule-Mandel is solved to this tolerance on the Q scale (statsmodels' default, 1e-5, is looser
# than the agreement we test for).
_PM_ATOL = 1e-10
_PM_MAXITER = 1000


@dataclass(frozen=True)
class SiteEffect:
    """One site's input: estimate and 95% interval on the natural scale, SE on the link scale, and
    its relative weight (summing to 1 over the sites) in the random-effects pool."""

    label: str
    estimate: float
    ci_low: float
    ci_high: float
    se: float
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "estimate": float(self.estimate),
            "ci_low": float(self.ci_low),
            "ci_high": float(self.ci_high),
            "se": float(self.se),
            "weight": float(self.weight),
        }


@dataclass(frozen=True)
class MetaResult:
    """Result of :func:`random_effects_meta`.

    ``estimate``, ``ci_low``, ``ci_high``, ``pi_low`` and ``pi_high`` are on the natural scale
    (ratios or differences); ``se`` and ``tau2`` are on the link scale. ``pi_low``/``pi_high`` are
    None for fewer than three sites. ``excluded`` lists labels dropped for a missing or non-finite
    input.
    """

    scale: str
    link: str
    method: str
    ci_method: str
    k: int
    estimate: float
    ci_low: float
    ci_high: float
    se: float
    pi_low: float | None
    pi_high: float | None
    tau2: float
    i2: float  # Higgins-Thompson I^2 as a fraction (0..1); metafor prints 100 x this
    q: float
    q_df: int
    q_p_value: float
    sites: list[SiteEffect]
    excluded: list[str] = field(default_factory=list)
    h2: float = 1.0  # Higgins-Thompson H^2
    pi_method: str = "higgins"

    @property
    def tau(self) -> float:
        return math.sqrt(self.tau2)

    @property
    def weights(self) -> dict[str, float]:
        return {s.label: s.weight for s in self.sites}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of everything a forest plot and its caption need."""
        return {
            "scale": self.scale,
            "link": self.link,
            "method": self.method,
            "ci_method": self.ci_method,
            "k": int(self.k),
            "pooled": {
                "estimate": float(self.estimate),
                "ci_low": float(self.ci_low),
                "ci_high": float(self.ci_high),
                "se": float(self.se),
            },
            "prediction_interval": None
            if self.pi_low is None or self.pi_high is None
            else {"low": float(self.pi_low), "high": float(self.pi_high)},
            "heterogeneity": {
                "tau2": float(self.tau2),
                "tau": float(self.tau),
                "i2": float(self.i2),
                "h2": float(self.h2),
                "q": float(self.q),
                "df": int(self.q_df),
                "p_value": float(self.q_p_value),
            },
            "sites": [s.to_dict() for s in self.sites],
            "excluded": list(self.excluded),
        }


def _as_floats(values: Sequence[float | None] | np.ndarray, name: str, k: int) -> np.ndarray:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    if arr.shape != (k,):
        raise ValueError(f"{name} has {arr.size} values; expected {k} (one per label)")
    return arr


def random_effects_meta(
    estimates: Sequence[float | None] | np.ndarray,
    ci_lows: Sequence[float | None] | np.ndarray,
    ci_highs: Sequence[float | None] | np.ndarray,
    *,
    labels: Sequence[str],
    scale: str,
    ses: Sequence[float | None] | np.ndarray | None = None,
    method: str = "pm",
    ci_method: str = "hksj",
    alpha: float = 0.05,
    pi_method: str = "higgins",
) -> MetaResult:
    """Pool site effects by random-effects meta-analysis on the link scale.

    Parameters
    ----------
    estimates, ci_lows, ci_highs:
        Each site's effect and 95% interval on the natural scale (ratios > 0, or differences).
    labels:
        Site names, one per estimate.
    scale:
        ``"rate_ratio"``, ``"odds_ratio"``, ``"risk_ratio"`` or ``"ratio"`` (pooled on the log scale),
        or ``"difference"`` (identity).
    ses:
        Standard errors on the link scale (e.g. :attr:`evaluation.methods.its.Estimate.se`). Better
        than the default, which recovers each SE from its interval as (g(hi) - g(lo)) / (2 x 1.96):
        that assumes a normal-based 95% interval, whereas the default ITS intervals use t quantiles
        (wider by about 1% at 100 residual df), so recovered SEs are slightly too large.
    method:
        ``"pm"`` (Paule-Mandel, default) or ``"dl"`` (DerSimonian-Laird) for tau^2; see the module
        docstring for why.
    ci_method:
        ``"hksj"`` (modified Hartung-Knapp-Sidik-Jonkman, default), ``"knha"`` (unmodified, as metafor's
        ``test = "knha"``) or ``"normal"``.
    pi_method:
        ``"higgins"`` (t with k - 2 df, default) or ``"metafor"`` (the confidence interval's quantile).
    alpha:
        1 - level of the pooled confidence and prediction intervals.

    Sites with a missing or non-finite input are left out and listed in ``excluded``.

    Raises
    ------
    ValueError
        For an unknown scale, method or ci_method; inputs of different lengths; a non-positive ratio
        or SE; or fewer than two usable sites.
    """
    if scale in RATIO_SCALES:
        link = "log"
    elif scale in DIFFERENCE_SCALES:
        link = "identity"
    else:
        raise ValueError(f"unknown scale {scale!r}; expected one of {', '.join(RATIO_SCALES + DIFFERENCE_SCALES)}")
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected 'pm' or 'dl'")
    if ci_method not in _CI_METHODS:
        raise ValueError(f"unknown ci_method {ci_method!r}; expected one of {', '.join(_CI_METHODS)}")
    if pi_method not in _PI_METHODS:
        raise ValueError(f"unknown pi_method {pi_method!r}; expected one of {', '.join(_PI_METHODS)}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    labels = [str(x) for x in labels]
    k_all = len(labels)
    est = _as_floats(estimates, "estimates", k_all)
    lo = _as_floats(ci_lows, "ci_lows", k_all)
    hi = _as_floats(ci_highs, "ci_highs", k_all)
    se_in = None if ses is None else _as_floats(ses, "ses", k_all)

    if se_in is not None:
        usable = np.isfinite(est) & np.isfinite(se_in)
    else:
        usable = np.isfinite(est) & np.isfinite(lo) & np.isfinite(hi)
    if link == "log":
        checked = [est[usable]] + ([] if se_in is not None else [lo[usable], hi[usable]])
        if any((a <= 0).any() for a in checked):
            raise ValueError(f"{scale} estimates and interval limits must be > 0")
    g = np.log if link == "log" else (lambda x: x)
    y = g(np.where(usable, est, 1.0))
    if se_in is not None:
        se = se_in
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            se = (g(np.where(usable, hi, 1.0)) - g(np.where(usable, lo, 1.0))) / (2 * _Z95)
    if (se[usable] <= 0).any():
        bad = [labels[i] for i in np.flatnonzero(usable & (se <= 0))]
        raise ValueError(f"standard errors must be > 0 (check the intervals of: {', '.join(bad)})")
    excluded = [labels[i] for i in range(k_all) if not usable[i]]
    idx = np.flatnonzero(usable)
    k = len(idx)
    if k < 2:
        raise ValueError(f"a meta-analysis needs at least 2 sites with an estimate; got {k}")
    y, se = y[idx], se[idx]
    var = se**2

    kwds: dict[str, Any] = {"atol": _PM_ATOL, "maxiter": _PM_MAXITER} if method == "pm" else {}
    # statsmodels divides by Q for its own (untruncated) I^2, which warns when every estimate is equal.
    with np.errstate(divide="ignore", invalid="ignore"):
        res = combine_effects(y, var, method_re="iterated" if method == "pm" else "dl", use_t=False, **kwds)
    tau2 = float(res.tau2)
    if tau2 > 0:
        mean, se_pool = float(res.mean_effect_re), float(res.sd_eff_w_re)
        weights = np.asarray(res.weights_rel_re, dtype=float)
        scale_hksj = float(res.var_hksj_re) / se_pool**2
    else:
        # tau^2 <= 0 (statsmodels' DL is not truncated): the random-effects model is the fixed-effect
        # one, which statsmodels computes alongside.
        tau2 = 0.0
        mean, se_pool = float(res.mean_effect_fe), float(res.sd_eff_w_fe)
        weights = np.asarray(res.weights_rel_fe, dtype=float)
        scale_hksj = float(res.var_hksj_fe) / se_pool**2
    if method == "pm" and tau2 > 0 and abs(scale_hksj - 1.0) > 1e-6:
        raise RuntimeError(f"Paule-Mandel did not converge (generalised Q / df = {scale_hksj:.8f}, not 1)")

    q, df_q = float(res.q), k - 1
    q_p = float(stats.chi2.sf(q, df_q))
    w0 = 1.0 / var
    s2 = df_q * float(w0.sum()) / (float(w0.sum()) ** 2 - float((w0**2).sum()))
    i2 = tau2 / (tau2 + s2)
    h2 = (tau2 + s2) / s2

    if ci_method in ("hksj", "knha"):
        se_ci = se_pool * math.sqrt(max(1.0, scale_hksj) if ci_method == "hksj" else scale_hksj)
        crit = float(stats.t.ppf(1 - alpha / 2, df_q))
    else:
        se_ci = se_pool
        crit = float(stats.norm.ppf(1 - alpha / 2))
    back = np.exp if link == "log" else (lambda x: x)
    ci_low, ci_high = float(back(mean - crit * se_ci)), float(back(mean + crit * se_ci))
    pi_low = pi_high = None
    if pi_method == "metafor":
        half = crit * math.sqrt(tau2 + se_ci**2)
        pi_low, pi_high = float(back(mean - half)), float(back(mean + half))
    elif k >= 3:
        half = float(stats.t.ppf(1 - alpha / 2, k - 2)) * math.sqrt(tau2 + se_pool**2)
        pi_low, pi_high = float(back(mean - half)), float(back(mean + half))

    sites = []
    for j, i in enumerate(idx):
        site_lo = float(lo[i]) if np.isfinite(lo[i]) else float(back(y[j] - _Z95 * se[j]))
        site_hi = float(hi[i]) if np.isfinite(hi[i]) else float(back(y[j] + _Z95 * se[j]))
        sites.append(SiteEffect(labels[i], float(est[i]), site_lo, site_hi, float(se[j]), float(weights[j])))
    return MetaResult(
        scale=scale,
        link=link,
        method=_METHODS[method],
        ci_method=ci_method,
        k=k,
        estimate=float(back(mean)),
        ci_low=ci_low,
        ci_high=ci_high,
        se=se_pool,
        pi_low=pi_low,
        pi_high=pi_high,
        tau2=tau2,
        i2=float(i2),
        q=q,
        q_df=df_q,
        q_p_value=q_p,
        sites=sites,
        excluded=excluded,
        h2=float(h2),
        pi_method=pi_method,
    )
