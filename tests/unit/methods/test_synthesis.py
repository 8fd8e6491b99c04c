"""Tests for evaluation.methods.synthesis (random-effects meta-analysis of site effects).

Expected values are computed here from the published formulas (DerSimonian & Laird 1986; Paule &
Mandel 1982 as a root of the generalised Q; Higgins et al. 2009 for the prediction interval;
Knapp & Hartung 2003 for the modified HKSJ interval), never by calling statsmodels.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import optimize, stats

from evaluation.methods.synthesis import MetaResult, random_effects_meta

Z = 1.959963984540054
LABELS = ["dorset", "bradford", "lancashire", "cheshire_wirral"]
RR = np.array([0.85, 1.00, 0.80, 0.92])
SE = np.array([0.045, 0.054, 0.067, 0.039])


def _dl_by_hand(y: np.ndarray, se: np.ndarray) -> dict[str, float | np.ndarray]:
    v = se**2
    w = 1 / v
    mu_fe = np.sum(w * y) / np.sum(w)
    q = float(np.sum(w * (y - mu_fe) ** 2))
    k = len(y)
    c = np.sum(w) - np.sum(w**2) / np.sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c)
    ws = 1 / (v + tau2)
    mu = float(np.sum(ws * y) / np.sum(ws))
    se_mu = float(1 / math.sqrt(np.sum(ws)))
    return {
        "q": q, "tau2": tau2, "mu": mu, "se": se_mu, "weights": ws / ws.sum(),
        "i2": max(0.0, (q - (k - 1)) / q), "hksj_scale": float(np.sum(ws * (y - mu) ** 2) / (k - 1)),
    }  # fmt: skip


def test_dersimonian_laird_matches_hand_computation() -> None:
    y = np.log(RR)
    hand = _dl_by_hand(y, SE)
    assert hand["tau2"] > 0  # the example is heterogeneous, so the random-effects part is exercised
    res = random_effects_meta(RR, np.exp(y - Z * SE), np.exp(y + Z * SE), labels=LABELS, scale="rate_ratio",
                              ses=SE, method="dl", ci_method="normal")
    assert isinstance(res, MetaResult)
    assert res.method == "dersimonian_laird" and res.link == "log" and res.k == 4
    assert res.q == pytest.approx(hand["q"], rel=1e-8)
    assert res.q_df == 3
    assert res.q_p_value == pytest.approx(stats.chi2.sf(hand["q"], 3), rel=1e-8)
    assert res.tau2 == pytest.approx(hand["tau2"], rel=1e-8)
    assert res.i2 == pytest.approx(hand["i2"], rel=1e-8)
    assert res.se == pytest.approx(hand["se"], rel=1e-8)
    assert res.estimate == pytest.approx(math.exp(hand["mu"]), rel=1e-8)
    assert res.ci_low == pytest.approx(math.exp(hand["mu"] - Z * hand["se"]), rel=1e-8)
    assert res.ci_high == pytest.approx(math.exp(hand["mu"] + Z * hand["se"]), rel=1e-8)
    half = stats.t.ppf(0.975, 2) * math.sqrt(hand["tau2"] + hand["se"] ** 2)
    assert res.pi_low == pytest.approx(math.exp(hand["mu"] - half), rel=1e-8)
    assert res.pi_high == pytest.approx(math.exp(hand["mu"] + half), rel=1e-8)
    assert [s.weight for s in res.sites] == pytest.approx(list(hand["weights"]), rel=1e-8)
    assert sum(res.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert [s.label for s in res.sites] == LABELS


def test_modified_hksj_interval_matches_hand_computation() -> None:
    y = np.log(RR)
    hand = _dl_by_hand(y, SE)
    res = random_effects_meta(RR, np.exp(y - Z * SE), np.exp(y + Z * SE), labels=LABELS, scale="rate_ratio",
                              ses=SE, method="dl", ci_method="hksj")
    se_h = hand["se"] * math.sqrt(max(1.0, hand["hksj_scale"]))
    t3 = stats.t.ppf(0.975, 3)
    assert res.ci_low == pytest.approx(math.exp(hand["mu"] - t3 * se_h), rel=1e-8)
    assert res.ci_high == pytest.approx(math.exp(hand["mu"] + t3 * se_h), rel=1e-8)


def test_standard_errors_are_recovered_from_the_intervals() -> None:
    y = np.log(RR)
    lo, hi = np.exp(y - Z * SE), np.exp(y + Z * SE)
    given = random_effects_meta(RR, lo, hi, labels=LABELS, scale="odds_ratio", ses=SE)
    recovered = random_effects_meta(RR, lo, hi, labels=LABELS, scale="odds_ratio")
    assert [s.se for s in recovered.sites] == pytest.approx(list(SE), rel=1e-10)
    assert recovered.estimate == pytest.approx(given.estimate, rel=1e-10)
    assert recovered.tau2 == pytest.approx(given.tau2, rel=1e-8)


def test_paule_mandel_solves_the_generalised_q_equation() -> None:
    y = np.log(RR)
    v = SE**2

    def gen_q(tau2: float) -> float:
        w = 1 / (v + tau2)
        mu = np.sum(w * y) / np.sum(w)
        return float(np.sum(w * (y - mu) ** 2)) - 3

    tau2 = optimize.brentq(gen_q, 0.0, 1.0, xtol=1e-15)
    res = random_effects_meta(RR, np.exp(y - Z * SE), np.exp(y + Z * SE), labels=LABELS, scale="rate_ratio",
                              ses=SE)  # defaults: Paule-Mandel, modified HKSJ
    assert res.method == "paule_mandel" and res.ci_method == "hksj"
    assert res.tau2 == pytest.approx(tau2, rel=1e-8)
    w = 1 / (v + tau2)
    mu, se_mu = np.sum(w * y) / np.sum(w), 1 / math.sqrt(np.sum(w))
    # With Paule-Mandel the weighted residual scale is 1, so HKSJ is the estimate +/- t(k-1) x SE.
    t3 = stats.t.ppf(0.975, 3)
    assert res.ci_low == pytest.approx(math.exp(mu - t3 * se_mu), rel=1e-8)
    assert res.ci_high == pytest.approx(math.exp(mu + t3 * se_mu), rel=1e-8)
    # Paule-Mandel finds more heterogeneity than DerSimonian-Laird here (DL's known downward bias).
    assert res.tau2 > _dl_by_hand(y, SE)["tau2"]


@pytest.mark.parametrize("method", ["dl", "pm"])
def test_equal_estimates_give_no_heterogeneity(method: str) -> None:
    se = np.array([0.05, 0.08, 0.1, 0.06])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = random_effects_meta([0.9] * 4, 0.9 * np.exp(-Z * se), 0.9 * np.exp(Z * se), labels=LABELS,
                                  scale="rate_ratio", method=method, ci_method="normal")
    assert res.i2 == 0.0
    assert res.tau2 == 0.0
    assert res.q == pytest.approx(0.0, abs=1e-12)
    assert res.q_p_value == pytest.approx(1.0)
    assert res.estimate == pytest.approx(0.9, rel=1e-12)
    se_fe = 1 / math.sqrt(np.sum(1 / se**2))
    assert res.ci_high == pytest.approx(0.9 * math.exp(Z * se_fe), rel=1e-8)


def test_dersimonian_laird_tau2_is_truncated_at_zero() -> None:
    # Q < k - 1: the untruncated moment estimate is negative; the estimator is max(0, .), i.e. the
    # fixed-effect pool, and I^2 is 0.
    y = np.array([0.10, 0.12, 0.11, 0.10])
    se = np.sqrt([0.01, 0.02, 0.015, 0.01])
    hand = _dl_by_hand(y, se)
    assert hand["q"] < 3 and hand["tau2"] == 0.0
    res = random_effects_meta(y, y - Z * se, y + Z * se, labels=LABELS, scale="difference", method="dl",
                              ci_method="normal")
    assert res.link == "identity"
    assert res.tau2 == 0.0 and res.i2 == 0.0
    assert res.estimate == pytest.approx(hand["mu"], rel=1e-10)
    assert res.ci_low == pytest.approx(hand["mu"] - Z * hand["se"], rel=1e-10)
    assert all(s.weight > 0 for s in res.sites)


def test_missing_sites_are_left_out_and_listed() -> None:
    y = np.log(RR)
    lo = list(np.exp(y - Z * SE))
    hi = list(np.exp(y + Z * SE))
    est = list(RR)
    est[1], lo[1], hi[1] = None, None, None
    res = random_effects_meta(est, lo, hi, labels=LABELS, scale="rate_ratio")
    assert res.k == 3 and res.excluded == ["bradford"]
    assert [s.label for s in res.sites] == ["dorset", "lancashire", "cheshire_wirral"]
    two = random_effects_meta(RR[:2], lo[:1] + [0.9], hi[:1] + [1.11], labels=LABELS[:2], scale="rate_ratio")
    assert two.pi_low is None and two.pi_high is None  # no prediction interval below three sites
    d = json.loads(json.dumps(two.to_dict()))
    assert d["prediction_interval"] is None
    assert set(d["heterogeneity"]) == {"tau2", "tau", "i2", "h2", "q", "df", "p_value"}


def test_to_dict_is_json_safe() -> None:
    y = np.log(RR)
    res = random_effects_meta(RR, np.exp(y - Z * SE), np.exp(y + Z * SE), labels=LABELS, scale="rate_ratio")
    d = json.loads(json.dumps(res.to_dict()))
    assert d["pooled"]["estimate"] == pytest.approx(res.estimate)
    assert d["prediction_interval"]["low"] < d["pooled"]["ci_low"] or res.tau2 == 0
    assert [s["label"] for s in d["sites"]] == LABELS


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unknown scale"):
        random_effects_meta(RR, RR - 0.1, RR + 0.1, labels=LABELS, scale="log_odds")
    with pytest.raises(ValueError, match="must be > 0"):
        random_effects_meta([0.9, -1.0], [0.8, 0.5], [1.0, 1.5], labels=["a", "b"], scale="rate_ratio")
    with pytest.raises(ValueError, match="at least 2 sites"):
        random_effects_meta([0.9, None], [0.8, None], [1.0, None], labels=["a", "b"], scale="rate_ratio")
    with pytest.raises(ValueError, match="expected 4"):
        random_effects_meta(RR[:3], RR, RR, labels=LABELS, scale="rate_ratio")
    with pytest.raises(ValueError, match="unknown method"):
        random_effects_meta(RR, RR - 0.1, RR + 0.1, labels=LABELS, scale="rate_ratio", method="reml")
