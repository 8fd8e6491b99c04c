"""Inference for the segmented regression: an AR(1) latent process fitted by restricted pseudo-likelihood
with Kenward-Roger small-sample intervals (the default, ``cov_type="ar1_kr"`` of
:func:`evaluation.methods.its.fit_its`), and the AR(1)-working-correlation sandwich (``cov_type="ar1"``).

For rates (Gaussian, identity link) the restricted pseudo-likelihood is plain REML for a GLS model with AR(1)
errors and is tested against R's ``nlme::gls(correlation = corAR1(), method = "REML")``; for counts it is
tested against glmmTMB's REML fit of a Poisson model with an AR(1) latent term (tests/unit/methods/
test_its_known_answers.py). The Kenward-Roger adjustment has no external package answer for AR(1) (see
docs/assumptions.md); it is tested against a hand transcription of Kenward & Roger (1997) in R.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.genmod import families

__all__ = ["AR1Fit", "ar1_covariance", "fit_ar1_pseudo_likelihood"]


def ar1_covariance(result: Any, x: np.ndarray, periods: pd.Series, rho_hat: float) -> np.ndarray:
    """Sandwich covariance of GLM coefficients under an AR(1) working correlation of the errors.

    bread = (X' V X)^-1 with V the variance function times the trials (canonical links), meat =
    X' D R D X with D = V^(1/2) and R[i, j] = rho^|months apart|, scaled by the Pearson dispersion.
    rho is the residuals' lag-1 autocorrelation corrected for its small-sample downward bias
    (Kendall 1954: E[r1] ~ rho - (1 + 3 rho) / n; fitted regression terms bias it down by about k / n),
    clipped to [0, 0.95]: negative autocorrelation is treated as none, which keeps intervals from
    being narrower than the model-based ones.
    """
    n, k = x.shape
    family = result.model.family
    if isinstance(family, families.Gaussian):
        v = np.ones(n)
    else:
        v = np.asarray(family.variance(result.mu), dtype=float)
        if isinstance(family, families.Binomial):
            v = v * np.asarray(result.model.n_trials, dtype=float)
    dispersion = float(result.pearson_chi2 / result.df_resid)
    rho = float(np.clip(rho_hat + (1 + 3 * rho_hat) / n + k / n, 0.0, 0.95))
    months = np.asarray(pd.DatetimeIndex(periods).year * 12 + pd.DatetimeIndex(periods).month, dtype=float)
    corr = rho ** np.abs(np.subtract.outer(months, months))
    bread = np.linalg.inv(x.T @ (x * v[:, None]))
    dx = x * np.sqrt(v)[:, None]
    meat = dx.T @ corr @ dx
    return dispersion * bread @ meat @ bread


# --------------------------------------------------------------------------------------------------
# Default inference: AR(1) latent process, restricted pseudo-likelihood, Kenward-Roger


@dataclass(frozen=True)
class AR1Fit:
    """Result of :func:`fit_ar1_pseudo_likelihood`.

    ``beta`` are the coefficients on the link scale; ``cov`` is the Kenward-Roger adjusted covariance
    with the adjustment's negative part removed (no contrast more precise than plug-in),
    ``cov_kenward_roger`` the adjusted covariance exactly as Kenward & Roger (1997) define it, and
    ``cov_unadjusted`` the plug-in one, ``(X' V^-1 X)^-1``; ``rho`` and ``sigma2`` are the REML
    estimates of the AR(1) correlation and the variance of the latent process on the link scale;
    ``dcov`` holds the derivatives of the plug-in covariance with respect to the covariance parameters
    that are free (not on a bound) and ``w`` the inverse of their expected REML information, which
    :meth:`df_for` uses for Satterthwaite degrees of freedom. ``normalized_residuals`` are the working
    residuals whitened by the fitted covariance (Cholesky factor): white noise if the model holds.
    """

    beta: np.ndarray
    cov: np.ndarray
    cov_unadjusted: np.ndarray
    rho: float
    sigma2: float
    dcov: tuple[np.ndarray, ...]
    w: np.ndarray
    df_resid: int
    normalized_residuals: np.ndarray
    iterations: int
    cov_kenward_roger: np.ndarray | None = None

    def df_for(self, c: np.ndarray) -> float:
        """Kenward-Roger degrees of freedom of the contrast ``c' beta``.

        For one contrast this is the Satterthwaite (1946) df ``2 (c' Phi c)^2 / (g' W g)`` with the plug-in
        covariance Phi, ``g_i = d(c' Phi c) / d theta_i`` and W the inverse expected REML information
        (pbkrtest's convention; tested against the hand-coded Kenward-Roger values for nlme's AR(1)).
        Falls back to the residual degrees of freedom when no covariance parameter is free, and is
        capped there: estimating the correlation cannot make the reference distribution less spread.
        """
        if not self.dcov:
            return float(self.df_resid)
        g = np.array([float(c @ d @ c) for d in self.dcov])
        denom = float(g @ self.w @ g)
        v = float(c @ self.cov_unadjusted @ c)
        if denom <= 0 or v <= 0:
            return float(self.df_resid)
        return float(min(2.0 * v * v / denom, self.df_resid))


# Bounds for the REML search. rho >= 0: negative month-to-month correlation is implausible for these
# service series, and allowing it would let chance give intervals narrower than independent errors do.
_RHO_MAX = 0.95
_RHO_VAR_MAX = _RHO_MAX**2 / 4
_PL_MAX_ITER = 50
_PL_TOL = 1e-8


def _ar1_correlation(months: np.ndarray, rho: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R[i, j] = rho^|months apart| and its first and second derivatives in rho (gaps keep their spacing)."""
    d = month_distances(np.asarray(months, dtype=float))
    r, dr = _rho_powers(rho, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        d2r = np.where(d >= 2, d * (d - 1) * rho ** np.maximum(d - 2, 0), 0.0)
    return r, dr, d2r


def _rho_powers(rho: float, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rho^dist and its derivative in rho. Whole-month distances (the usual case) index a table of powers,
    which is several times faster than raising every cell: the search evaluates this thousands of times."""
    if dist.dtype.kind in "iu":
        k = np.arange(int(dist.max()) + 1 if dist.size else 1, dtype=float)
        table = rho**k
        slope = k * np.concatenate([[0.0], table[:-1]])  # k rho^(k-1); 1 at k = 1 even for rho = 0
        return table[dist], slope[dist]
    with np.errstate(divide="ignore", invalid="ignore"):
        return rho**dist, np.where(dist >= 1, dist * rho ** np.maximum(dist - 1, 0), 0.0)


def month_distances(months: np.ndarray) -> np.ndarray:
    """|months apart| for every pair, as integers when the months are whole (see :func:`_rho_powers`)."""
    dist = np.abs(np.subtract.outer(months, months))
    rounded = np.rint(dist)
    return rounded.astype(np.int64) if np.array_equal(rounded, dist) else dist.astype(float)


def _minus_reml(chol: np.ndarray, r: np.ndarray, resid: np.ndarray) -> float:
    """Minus the restricted log-likelihood (up to a constant) from the Cholesky factor of V, the R of the QR of
    the whitened design and the whitened GLS residuals: the one formula both searches' objectives use."""
    return 0.5 * (
        2.0 * float(np.sum(np.log(np.diag(chol))))
        + 2.0 * float(np.sum(np.log(np.abs(np.diag(r)))))
        + float(resid @ resid)
    )


def _reml_objective(
    theta: np.ndarray, x: np.ndarray, z: np.ndarray, d0: np.ndarray, dist: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """Minus the restricted log-likelihood (up to a constant) of z = X b + e, Var(e) = diag(d0) + s2 R(rho).

    ``theta`` is (log s2, rho). Returns the objective, the GLS coefficients and the Cholesky factor of V.
    """
    s2, rho = math.exp(theta[0]), float(theta[1])
    v = s2 * _rho_powers(rho, dist)[0]
    v[np.diag_indices_from(v)] += d0
    try:
        chol = np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        return float("inf"), np.full(x.shape[1], np.nan), v
    both = _lower_solve(chol, np.column_stack([x, z]))  # one solve: each LAPACK call has a fixed cost
    xt, zt = both[:, :-1], both[:, -1]
    q, r = np.linalg.qr(xt)
    beta = np.linalg.solve(r, q.T @ zt)
    resid = zt - xt @ beta
    return _minus_reml(chol, r, resid), beta, chol


def _reml_value(theta: np.ndarray, x: np.ndarray, z: np.ndarray, d0: np.ndarray, dist: np.ndarray) -> float:
    return _reml_objective(theta, x, z, d0, dist)[0]


def _reml_value_and_gradient(
    theta: np.ndarray, x: np.ndarray, z: np.ndarray, d0: np.ndarray, dist: np.ndarray
) -> tuple[float, np.ndarray]:
    """:func:`_reml_objective` and its exact gradient in (log s2, rho).

    d/dtheta_k = 0.5 [tr(P dV_k) - z' P dV_k P z], P = V^-1 - V^-1 X (X' V^-1 X)^-1 X' V^-1 (Harville 1977),
    computed from L^-1 (V = L L'): P = L^-T (I - Q Q') L^-1 with Q R the QR of L^-1 X, and P z = L^-T r with r
    the whitened residuals. The exact gradient matters: a finite-difference one is accurate only to about 1e-6
    here, no better than the optimiser's stopping rule, so where the search stopped -- and the sixth figure of
    an interval -- would depend on the machine's rounding.
    """
    from scipy.linalg import lapack

    s2, rho = math.exp(theta[0]), float(theta[1])
    r_mat, dr_mat = _rho_powers(rho, dist)
    v = s2 * r_mat
    v[np.diag_indices_from(v)] += d0
    try:
        chol = np.linalg.cholesky(v)
    except np.linalg.LinAlgError:
        return float("inf"), np.zeros(2)
    linv, info = lapack.dtrtri(chol, lower=1)
    if info != 0:
        return float("inf"), np.zeros(2)
    linv = np.tril(linv)
    xt, zt = linv @ x, linv @ z
    q, r = np.linalg.qr(xt)
    resid = zt - q @ (q.T @ zt)
    value = _minus_reml(chol, r, resid)
    a = linv.T @ q
    p_mat = linv.T @ linv - a @ a.T
    pz = linv.T @ resid
    grad = np.empty(2)
    for k, dv in enumerate((s2 * r_mat, s2 * dr_mat)):
        grad[k] = 0.5 * (float(np.sum(p_mat * dv)) - float(pz @ dv @ pz))
    return value, grad


#: Where the REML search for (s2, rho) also starts, besides the last estimate: the restricted likelihood of a
#: short series can have two maxima (say rho near 0.5 and rho at its bound), and a single local search lands on
#: one or the other as rounding falls -- on another CPU's maths kernels the same data gave a 5% different
#: headline. Searching from each start and keeping the highest maximum makes the estimate the REML estimate.
_RHO_STARTS = (0.2, 0.5, 0.8, _RHO_MAX)
#: A later start replaces an earlier one only when its restricted log-likelihood is higher by more than this,
#: so two maxima equal to rounding do not swap places between machines.
_REML_TIE = 1e-7


def _reml_search(
    theta: np.ndarray, x: np.ndarray, z: np.ndarray, d0: np.ndarray, dist: np.ndarray,
    bounds: list[tuple[float, float]], every_start: bool = True,
) -> np.ndarray:
    """The (log s2, rho) of the highest restricted likelihood found by L-BFGS-B from ``theta`` and (with
    ``every_start``) from each of :data:`_RHO_STARTS` at the same s2.

    Each start is searched to a loose tolerance, which is enough to tell which maximum it climbs; only the
    highest is then searched to the full tolerance (about a quarter fewer likelihood evaluations than
    searching every start fully, measured on a site's fits).
    """
    from scipy import optimize

    def climb(start: np.ndarray, ftol: float, gtol: float) -> tuple[float, np.ndarray]:
        opt = optimize.minimize(
            _reml_value_and_gradient, start, args=(x, z, d0, dist), method="L-BFGS-B", jac=True,
            bounds=bounds, options={"ftol": ftol, "gtol": gtol, "maxiter": 500},
        )  # fmt: skip
        return float(opt.fun), np.asarray(opt.x, dtype=float)

    if not every_start:
        return climb(np.asarray(theta, dtype=float), 1e-15, 1e-10)[1]
    best: tuple[float, np.ndarray] | None = None
    for rho0 in (float(theta[1]), *_RHO_STARTS):
        found = climb(np.array([theta[0], rho0]), 1e-9, 1e-5)
        if best is None or found[0] < best[0] - _REML_TIE:
            best = found
    assert best is not None
    return climb(best[1], 1e-15, 1e-10)[1]


def _lower_solve(chol: np.ndarray, b: np.ndarray) -> np.ndarray:
    from scipy.linalg import solve_triangular

    return solve_triangular(chol, b, lower=True, check_finite=False)


def _kenward_roger(
    x: np.ndarray, d0: np.ndarray, months: np.ndarray, sigma2: float, rho: float, free: list[int]
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
    """Kenward & Roger (1997) adjusted covariance of the GLS coefficients for V = diag(d0) + s2 R(rho).

    ``free`` lists the covariance parameters (0 = s2, 1 = rho) that are not on a bound; parameters on
    a bound are treated as known. Returns (adjusted covariance without the adjustment's negative part,
    plug-in covariance, derivatives of the plug-in covariance in each free parameter, inverse expected
    information of the free parameters, the adjusted covariance exactly as the paper defines it).
    The second-derivative term of the adjustment is kept: AR(1) is not linear in rho.
    """
    r, dr, d2r = _ar1_correlation(months, rho)
    v = sigma2 * r
    v[np.diag_indices_from(v)] += d0
    vi = np.linalg.inv(v)
    vix = vi @ x
    phi = np.linalg.inv(x.T @ vix)
    phi = (phi + phi.T) / 2
    if not free:
        return phi, phi, (), np.zeros((0, 0)), phi
    dv_all = {0: r, 1: sigma2 * dr}
    d2v_all = {(0, 0): np.zeros_like(r), (0, 1): dr, (1, 0): dr, (1, 1): sigma2 * d2r}
    dv = [dv_all[a] for a in free]
    proj = vi - vix @ phi @ vix.T
    pv = [proj @ m for m in dv]
    info = np.array([[0.5 * float(np.sum(pa * pb.T)) for pb in pv] for pa in pv])
    w = np.linalg.pinv(info)
    if 1 in free:
        # When the latent variance is small next to the sampling variance, rho is barely identified and
        # the inverse information for it explodes (to first order it scales as 1 / s2^2), which would
        # give absurd degrees of freedom. No estimator confined to [0, 0.95] can have a variance above
        # 0.95^2 / 4 (Popoviciu's inequality), so rho's variance is capped there, keeping correlations.
        k = free.index(1)
        if w[k, k] > _RHO_VAR_MAX:
            shrink = np.ones(len(free))
            shrink[k] = math.sqrt(_RHO_VAR_MAX / w[k, k])
            w = w * np.outer(shrink, shrink)
    p_i = [-(vix.T @ m @ vix) for m in dv]  # derivatives of X' V^-1 X
    adj = np.zeros_like(phi)
    for i, a in enumerate(free):
        for j, b in enumerate(free):
            q_ij = vix.T @ dv[i] @ vi @ dv[j] @ vix
            r_ij = vix.T @ d2v_all[(a, b)] @ vix
            adj += w[i, j] * (q_ij - p_i[i] @ phi @ p_i[j] - 0.25 * r_ij)
    inflation = 2.0 * phi @ adj @ phi
    inflation = (inflation + inflation.T) / 2
    # The adjustment is meant to widen intervals for the uncertainty in (s2, rho), but its
    # second-derivative term can make it indefinite when rho is poorly identified (little latent
    # variance), giving negative variances for some contrasts. Keeping only its non-negative part means
    # no contrast is ever reported as more precise than with the plug-in covariance.
    vals, vecs = np.linalg.eigh(inflation)
    cov = phi + (vecs * np.clip(vals, 0.0, None)) @ vecs.T
    cov = (cov + cov.T) / 2
    dcov = tuple(-(phi @ pi @ phi) for pi in p_i)
    return cov, phi, dcov, w, phi + inflation


def fit_ar1_pseudo_likelihood(
    x: np.ndarray,
    endog: np.ndarray,
    value_type: str,
    months: np.ndarray,
    start: np.ndarray,
    log_offset: np.ndarray | None = None,
) -> AR1Fit:
    """Fit the segmented regression with an AR(1) latent process by restricted pseudo-likelihood.

    The model, on the link scale: ``g(mu_t) = x_t' b + u_t`` with ``u`` a stationary AR(1) process
    (variance s2, correlation rho^|months apart|), and given ``u`` Poisson counts or binomial
    proportions (Zeger 1988: variance mu + s2 mu^2 for counts, with autocorrelation). Rates are
    Gaussian: ``u`` is then the whole error and the fit is GLS with AR(1) errors by REML.

    It is fitted as Wolfinger & O'Connell (1993) fit generalised linear mixed models (restricted
    pseudo-likelihood, as SAS PROC GLIMMIX's RMPL): linearise at the current fit to a working response
    ``z = eta + (y - mu) g'(mu)`` whose variance is ``diag(1 / w) + s2 R(rho)`` (``1 / w`` the
    Poisson or binomial sampling variance on the link scale), estimate (s2, rho) by REML for that
    linear model, update b by GLS, and repeat until b settles. Inference uses the Kenward & Roger (1997)
    small-sample adjusted covariance with Satterthwaite degrees of freedom per contrast.

    Why not the quasi-Poisson working variance (phi * mu)? With counts in the thousands the
    extra-Poisson variation is multiplicative (variance proportional to mu^2): weighting months by mu
    then mis-states the step's variance, and simulated intervals under-covered (about 93%).
    """
    n, p = x.shape
    off = np.zeros(n) if log_offset is None else np.asarray(log_offset, dtype=float)
    dist = month_distances(np.asarray(months, dtype=float))
    beta = np.asarray(start, dtype=float).copy()
    theta: np.ndarray | None = None
    every_start = True
    if value_type == "proportion":
        succ, fail = endog[:, 0], endog[:, 1]
        trials = succ + fail
    chol = np.eye(n)
    z = np.zeros(n)
    d0 = np.zeros(n)
    iterations = 0
    for iterations in range(1, _PL_MAX_ITER + 1):  # noqa: B007 (the count is reported)
        eta = x @ beta + off
        if value_type == "count":
            mu = np.exp(eta)
            d0 = 1.0 / mu
            z = eta - off + (endog - mu) / mu
        elif value_type == "proportion":
            prob = 1.0 / (1.0 + np.exp(-eta))
            wt = trials * prob * (1.0 - prob)
            d0 = 1.0 / wt
            z = eta + (succ - trials * prob) / wt
        else:
            d0 = np.zeros(n)
            z = np.asarray(endog, dtype=float)
        if theta is None:
            # Start from the moments of the independence fit's working residuals.
            e = z - x @ beta
            s2_0 = max(float(np.mean(e * e) - np.mean(d0)), 1e-4 * float(np.mean(e * e)) + 1e-12)
            r1 = float(np.sum(e[1:] * e[:-1]) / np.sum(e * e))
            theta = np.array([math.log(s2_0), min(max(r1, 0.05), 0.8)])
        # A latent variance below 1e-8 of the working variance is no latent process at all.
        scale = float(np.var(z - x @ beta)) + float(np.mean(d0)) + 1e-12
        bounds = [(math.log(1e-8 * scale), math.log(1e3 * scale)), (0.0, _RHO_MAX)]
        # Every start on the first working model and again once the fit has settled (if that finds a higher
        # maximum the iterations go on from it); in between, the search goes on from the last estimate.
        theta = _reml_search(theta, x, z, d0, dist, bounds, every_start=every_start)
        _, new_beta, chol = _reml_objective(theta, x, z, d0, dist)
        change = float(np.max(np.abs(new_beta - beta)))
        beta = new_beta
        settled = value_type == "rate" or change < _PL_TOL
        if settled and every_start:
            break
        every_start = settled
    assert theta is not None
    sigma2, rho = math.exp(theta[0]), float(theta[1])
    free = [
        k for k, (val, (lo, hi)) in enumerate(zip(theta, bounds, strict=True))
        if lo + 1e-6 < val < hi - 1e-6
    ]  # fmt: skip
    cov, phi, dcov, w, cov_kr = _kenward_roger(x, d0, months, sigma2, rho, free)
    normalized = _lower_solve(chol, z - x @ beta)
    return AR1Fit(
        beta=beta, cov=cov, cov_unadjusted=phi, rho=rho, sigma2=sigma2, dcov=dcov, w=w, df_resid=n - p,
        normalized_residuals=np.asarray(normalized, dtype=float), iterations=iterations, cov_kenward_roger=cov_kr,
    )  # fmt: skip
