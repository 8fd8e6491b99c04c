"""External known answers (R) for the default inference: nlme::gls corAR1 REML, glmmTMB REML, metafor.

Each test compares with the numbers in ``shared/data/known-answers/<name>/KNOWN_ANSWERS.md`` to the
tolerance stated there. Where the workbook differs by design (the Kenward-Roger adjustment's negative part
is dropped so no interval is narrower than plug-in; t rather than normal quantiles), the part that must
agree is tested and the difference is bounded (docs/assumptions.md, A62).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from evaluation.methods.its import fit_its
from evaluation.methods.its_inference import _reml_value, fit_ar1_pseudo_likelihood
from evaluation.methods.synthesis import random_effects_meta
from tests.unit.methods.known_answers import known_answer

Z975 = 1.959964

# --- nlme::gls(y ~ time + step + time_after + sin1 + cos1, correlation = corAR1(), method = "REML") -------
GLS_COEF = {  # term: (estimate, plug-in SE)
    "const": (101.4511381, 1.003970991),
    "time": (0.1978890464, 0.02823563828),
    "post": (-6.192205028, 1.497359761),
    "slope": (-0.1762534401, 0.06695453543),
    "sin1": (3.585654772, 0.4861702936),
    "cos1": (-1.992833469, 0.4731157903),
}
GLS_RHO, GLS_SIGMA, GLS_LOGLIK = 0.4694804842, 2.388966618, -208.5048679
# Kenward-Roger (hand transcription in R of Kenward & Roger 1997, theta = (sigma2, rho)): df, adjusted SE.
GLS_KR = {
    "const": (12.13628759, 0.9704896188),
    "time": (13.15742611, 0.02752367194),
    "post": (21.33126169, 1.520188274),
    "slope": (12.82145559, 0.06501145325),
    "sin1": (27.99018695, 0.4900139606),
    "cos1": (28.62418157, 0.4765119854),
}
GLS_W = np.array([[1.40307780, 0.08625154], [0.08625154, 0.01095207]])
GLS_STEP_KR_CI = (-9.350622908, -3.033787147)


@pytest.fixture(scope="module")
def gls_data() -> pd.DataFrame:
    return pd.read_csv(known_answer("its_ar1_gls", "data.csv"))


def _gls_design(d: pd.DataFrame) -> np.ndarray:
    return np.column_stack([np.ones(len(d)), d[["time", "step", "time_after", "sin1", "cos1"]].to_numpy(float)])


def test_gaussian_ar1_reml_matches_nlme_gls(gls_data: pd.DataFrame) -> None:
    """Coefficients, plug-in SEs, rho, sigma and the REML log-likelihood to 1e-6 relative."""
    x = _gls_design(gls_data)
    y = gls_data["y"].to_numpy(float)
    months = gls_data["t"].to_numpy(float)
    fit = fit_ar1_pseudo_likelihood(x, y, "rate", months, np.zeros(x.shape[1]))
    se = np.sqrt(np.diag(fit.cov_unadjusted))
    for j, (est, se_ref) in enumerate(GLS_COEF.values()):
        assert fit.beta[j] == pytest.approx(est, rel=1e-6)
        assert se[j] == pytest.approx(se_ref, rel=1e-6)
    assert fit.rho == pytest.approx(GLS_RHO, rel=1e-6)
    assert math.sqrt(fit.sigma2) == pytest.approx(GLS_SIGMA, rel=1e-6)
    dist = np.abs(np.subtract.outer(months, months))
    obj = _reml_value(np.array([math.log(fit.sigma2), fit.rho]), x, y, np.zeros(len(y)), dist)
    n, p = x.shape
    assert -obj - 0.5 * (n - p) * math.log(2 * math.pi) == pytest.approx(GLS_LOGLIK, rel=1e-6)
    assert fit.w == pytest.approx(GLS_W, rel=1e-6)


def test_kenward_roger_matches_the_hand_transcription(gls_data: pd.DataFrame) -> None:
    """KR df (expected information, pbkrtest convention) and the exact KR-adjusted SEs to 1e-6 relative;
    the reported covariance differs only where the adjustment would shrink an SE below plug-in."""
    x = _gls_design(gls_data)
    fit = fit_ar1_pseudo_likelihood(
        x, gls_data["y"].to_numpy(float), "rate", gls_data["t"].to_numpy(float), np.zeros(x.shape[1])
    )
    assert fit.cov_kenward_roger is not None
    se_kr = np.sqrt(np.diag(fit.cov_kenward_roger))
    se_reported = np.sqrt(np.diag(fit.cov))
    se_plugin = np.sqrt(np.diag(fit.cov_unadjusted))
    for j, (df_ref, se_ref) in enumerate(GLS_KR.values()):
        e = np.eye(x.shape[1])[j]
        assert fit.df_for(e) == pytest.approx(df_ref, rel=1e-6)
        assert se_kr[j] == pytest.approx(se_ref, rel=1e-6)
        assert se_reported[j] >= se_plugin[j] * (1 - 1e-12)  # never more precise than plug-in
        if se_ref > se_plugin[j]:  # where KR widens, the reported SE is KR's to 0.1%
            assert se_reported[j] == pytest.approx(se_ref, rel=1e-3)


def test_fit_its_reproduces_the_gls_step_with_kenward_roger_interval(gls_data: pd.DataFrame) -> None:
    """Through the public fit_its (calendar-month harmonics: the same fit, seasonal terms rotated).
    CI limits within 1% of the half-width of R's KR interval."""
    series = pd.DataFrame({"period": pd.to_datetime(gls_data["date"]), "value": gls_data["y"]})
    res = fit_its(series, intervention="2021-04-01", value_type="rate", covid=None, harmonics=1)
    assert res.step.estimate == pytest.approx(GLS_COEF["post"][0], rel=1e-6)
    assert res.slope is not None and res.slope.estimate == pytest.approx(GLS_COEF["slope"][0], rel=1e-6)
    assert res.params["sin1"] == pytest.approx(GLS_COEF["cos1"][0], rel=1e-6)  # b_sin(calendar) = b_cos1
    assert res.params["cos1"] == pytest.approx(-GLS_COEF["sin1"][0], rel=1e-6)  # b_cos(calendar) = -b_sin1
    half = (GLS_STEP_KR_CI[1] - GLS_STEP_KR_CI[0]) / 2
    assert res.step.ci_low == pytest.approx(GLS_STEP_KR_CI[0], abs=0.01 * half)
    assert res.step.ci_high == pytest.approx(GLS_STEP_KR_CI[1], abs=0.01 * half)
    assert res.error_model is not None and res.error_model["step_df"] == pytest.approx(GLS_KR["post"][0], rel=1e-6)


# --- glmmTMB Poisson + ar1 latent term, REML (Laplace) ------------------------------------------------------
COUNT_REML = {"rr": 0.860942744, "lo": 0.7774280977, "hi": 0.9534288902, "rho": 0.4135728781}
COUNT_REML_SLOPE = (1.000702125, 0.996417442, 1.005005232)


def test_count_model_matches_glmmtmb_reml() -> None:
    """Step rate ratio within 1%, CI limits within 3%, rho within 0.05 of glmmTMB's REML column."""
    d = pd.read_csv(known_answer("its_ar1_counts", "data.csv"))
    y = d["y"].astype(float)
    series = pd.DataFrame({"period": pd.to_datetime(d["date"]), "value": y, "numerator": y, "denominator": np.nan})
    res = fit_its(series, intervention="2021-04-01", value_type="count", covid=None, harmonics=1)
    assert res.step.estimate == pytest.approx(COUNT_REML["rr"], rel=0.01)
    assert res.step.ci_low == pytest.approx(COUNT_REML["lo"], rel=0.03)
    assert res.step.ci_high == pytest.approx(COUNT_REML["hi"], rel=0.03)
    assert res.error_model is not None and res.error_model["rho"] == pytest.approx(COUNT_REML["rho"], abs=0.05)
    assert res.slope is not None
    assert res.slope.estimate == pytest.approx(COUNT_REML_SLOPE[0], rel=0.01)
    assert res.slope.ci_low == pytest.approx(COUNT_REML_SLOPE[1], rel=0.03)
    assert res.slope.ci_high == pytest.approx(COUNT_REML_SLOPE[2], rel=0.03)
    # The part that must agree more closely: the Wald interval from our SE (normal quantile, as glmmTMB).
    b = math.log(res.step.estimate)
    assert math.exp(b - Z975 * res.step.se) == pytest.approx(COUNT_REML["lo"], rel=0.005)
    assert math.exp(b + Z975 * res.step.se) == pytest.approx(COUNT_REML["hi"], rel=0.005)


# --- metafor::rma(yi, sei, method = "PM" / "DL", test = "knha" / "z") ---------------------------------------
META_PM_EXACT = {
    "est": -0.1648700282, "se": 0.121895516, "lo": -0.5527959626, "hi": 0.2230559061,
    "pi_lo": -0.9368168077, "pi_hi": 0.6070767512, "tau2": 0.04397875806, "i2": 80.05549448,
    "h2": 5.013912224, "q": 19.08226496, "q_p": 0.000262896954,
}  # fmt: skip
META_DL_KNHA = {
    "est": -0.1628367921, "se": 0.1216431187, "lo": -0.5499594858, "hi": 0.2242859015,
    "pi_lo": -1.025817415, "pi_hi": 0.7001438308, "tau2": 0.0587355511, "i2": 84.27859582, "h2": 6.360754986,
}  # fmt: skip
META_DL_Z = {
    "est": -0.1628367921, "se": 0.1367246396, "lo": -0.4308121615, "hi": 0.1051385772,
    "pi_lo": -0.7082183095, "pi_hi": 0.3825447252,
}  # fmt: skip


@pytest.fixture(scope="module")
def meta_data() -> pd.DataFrame:
    return pd.read_csv(known_answer("meta_pm_hksj", "data.csv"))


def _meta(d: pd.DataFrame, **kw: str):  # noqa: ANN202
    rr = np.exp(d["yi"].to_numpy(float))
    return random_effects_meta(rr, [np.nan] * 4, [np.nan] * 4, labels=list(d["study"]), scale="rate_ratio",
                               ses=d["sei"].to_numpy(float), pi_method="metafor", **kw)


def _check(res, ref: dict[str, float], rel: float) -> None:  # noqa: ANN001
    log = math.log
    assert log(res.estimate) == pytest.approx(ref["est"], rel=rel)
    se = (log(res.ci_high) - log(res.ci_low)) / 2  # half-width / quantile is checked through the limits
    assert se > 0
    assert log(res.ci_low) == pytest.approx(ref["lo"], rel=rel)
    assert log(res.ci_high) == pytest.approx(ref["hi"], rel=rel)
    assert log(res.pi_low) == pytest.approx(ref["pi_lo"], rel=rel)
    assert log(res.pi_high) == pytest.approx(ref["pi_hi"], rel=rel)
    if "tau2" in ref:
        assert res.tau2 == pytest.approx(ref["tau2"], rel=rel)
        assert 100 * res.i2 == pytest.approx(ref["i2"], rel=rel)
        assert res.h2 == pytest.approx(ref["h2"], rel=rel)


def test_paule_mandel_knapp_hartung_matches_metafor_exact_root(meta_data: pd.DataFrame) -> None:
    """The default (PM + HKSJ, which equals metafor's knha at the PM root) to 1e-7 relative."""
    res = _meta(meta_data, method="pm", ci_method="hksj")
    _check(res, META_PM_EXACT, 1e-7)
    assert res.se == pytest.approx(META_PM_EXACT["se"], rel=1e-7)
    assert res.q == pytest.approx(META_PM_EXACT["q"], rel=1e-7)
    assert res.q_p_value == pytest.approx(META_PM_EXACT["q_p"], rel=1e-7)


def test_dersimonian_laird_matches_metafor(meta_data: pd.DataFrame) -> None:
    """Closed form: 1e-9 relative, both with Knapp-Hartung (unmodified) and normal intervals; I^2 and H^2 by
    metafor's (Higgins-Thompson) definition."""
    _check(_meta(meta_data, method="dl", ci_method="knha"), META_DL_KNHA, 1e-9)
    z = _meta(meta_data, method="dl", ci_method="normal")
    _check(z, META_DL_Z, 1e-9)
    assert z.se == pytest.approx(META_DL_Z["se"], rel=1e-9)


def test_default_prediction_interval_is_higgins_and_wider_than_metafors(meta_data: pd.DataFrame) -> None:
    """The page's default prediction interval uses t(k - 2) (Higgins et al. 2009), not metafor's t(k - 1)."""
    rr = np.exp(meta_data["yi"].to_numpy(float))
    res = random_effects_meta(rr, [np.nan] * 4, [np.nan] * 4, labels=list(meta_data["study"]), scale="rate_ratio",
                              ses=meta_data["sei"].to_numpy(float))
    sd = math.sqrt(META_PM_EXACT["tau2"] + META_PM_EXACT["se"] ** 2)
    from scipy import stats

    assert math.log(res.pi_high) == pytest.approx(META_PM_EXACT["est"] + stats.t.ppf(0.975, 2) * sd, rel=1e-7)
    assert res.pi_high > math.exp(META_PM_EXACT["pi_hi"])
