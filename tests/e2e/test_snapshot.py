"""The synthetic default build's headline numbers are pinned: a refactor that changes a number fails here.

The snapshot (``tests/snapshots/synthetic_headlines.json``) holds, per site x domain, the headline measure,
its months before/after, the reading, the step change with its 95% CI and the 12-month effect. Numbers are
compared at the tolerance the snapshot states: relative 1e-5 or absolute 1e-8. The results files keep 6
significant figures and two runs on one machine give identical files, but on another CPU a value whose 7th
figure is near 5 can round the other way (0.0892139 against 0.0892138): one unit in the 6th figure is up to
1e-5 of the value. The absolute part is for a bound near zero (an interval that
nearly touches no change has one): it is the difference of two numbers of order 0.01 to 100, so its sixth
figure is below what two CPUs' maths kernels agree on (an AVX-512 and an AVX2 machine differed by 1e-11 in
2.19e-05), while any change of method moves it by far more. A deliberate change of method updates the
snapshot in the same commit, with ``UPDATE_SNAPSHOT=1`` on this test.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SNAPSHOT = Path(__file__).resolve().parents[1] / "snapshots" / "synthetic_headlines.json"
INTERVAL = ("estimate", "ci_low", "ci_high")


def headline_numbers(results_dir: Path) -> dict[str, dict]:
    """The pinned numbers of every results file under ``results_dir``, keyed ``site/domain``."""
    from evaluation.results.files import read_results

    out = {}
    for r in read_results(results_dir):
        m = r.headline
        its = m.its
        e12 = its.effects.get("12") if its is not None else None
        out[f"{r.site}/{r.domain}"] = {
            "measure_id": m.measure_id, "status": m.status, "n_pre": m.n_pre, "n_post": m.n_post,
            "direction": m.direction,
            "scale": its.scale if its else None,
            "step": {k: getattr(its.step, k) for k in INTERVAL} if its else None,
            "effect_12m": ({kind: {k: getattr(getattr(e12, kind), k) for k in INTERVAL}
                            for kind in ("absolute", "relative")} if e12 else None),
            # The pre-specified primary estimand the headline reports (12-month average, absolute and relative).
            "primary": ({kind: {k: getattr(getattr(m.primary, kind), k) for k in INTERVAL}
                         for kind in ("absolute", "relative")} if m.primary else None),
        }
    return out


def _compare(path: str, got, want, rel: float, abs_tol: float, problems: list[str]) -> None:
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got)):
            _compare(f"{path}.{key}", got.get(key), want.get(key), rel, abs_tol, problems)
    elif isinstance(want, float) and isinstance(got, int | float) and not isinstance(got, bool):
        if not math.isclose(got, want, rel_tol=rel, abs_tol=abs_tol):
            problems.append(f"{path}: {got!r} != {want!r}")
    elif got != want:
        problems.append(f"{path}: {got!r} != {want!r}")


def test_headline_numbers_match_the_snapshot(built_results: Path):
    got = headline_numbers(built_results / "results")
    snapshot = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    if os.environ.get("UPDATE_SNAPSHOT") == "1":
        snapshot["headlines"] = got
        SNAPSHOT.write_text(json.dumps(snapshot, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tol = snapshot["tolerance"]
    problems: list[str] = []
    _compare("headlines", got, snapshot["headlines"], tol["rel"], tol["abs"], problems)
    assert not problems, "headline numbers moved:\n" + "\n".join(problems)
