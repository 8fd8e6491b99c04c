"""Charts keep the rule (issue 14): an attacker reads the published SVGs of a small-count site back.

The site's monthly counts are 1-10, so a table shows most months as ``*``, 5 or 10. The test runs the
charting path the notebooks use (:meth:`evaluation.publish.notebook_view.NotebookView.measure_html`), then reads every
SVG it wrote as an attacker would: tick labels (matplotlib writes each label's text as a comment) and tick
positions give a linear map from SVG coordinates to data values; every marker and line vertex is mapped back.
It then tries the known attacks: observed points, the SPC mean line differenced against the points, the
synthetic-control index times its base, and the diagnostics residual combined with the ITS model line.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import evaluate_domain
from evaluation.evaluate.record import domain_result
from evaluation.panel.frame import coerce_panel
from evaluation.publish.chart_data import published_values
from evaluation.publish.disclosure import default_rules
from evaluation.publish.notebook_view import NotebookView

SVG = "{http://www.w3.org/2000/svg}"
XLINK = "{http://www.w3.org/1999/xlink}"


# --- the attacker: SVG -> data values ----------------------------------------------------------------------


@dataclass
class Axes:
    """One axes of a chart: tick maps and every drawn series, in data units."""

    y_map: tuple[float, float] | None
    x_map: tuple[float, float] | None
    series: dict[str, dict[str, list[tuple[float, float]]]] = field(default_factory=dict)


def _label_value(text: str, kind: str) -> float | None:
    text = text.strip().replace("\u2212", "-").replace(",", "")
    if kind == "x" and re.fullmatch(r"\d{4}(-\d{2})?|[A-Z][a-z]{2} \d{4}", text):
        return float(pd.Timestamp(text).toordinal())  # a date axis labelled with years or months
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float(pd.Timestamp(text).toordinal())
    except (ValueError, TypeError):
        return None


def _fit(pairs: list[tuple[float, float]]) -> tuple[float, float] | None:
    if len(pairs) < 2:
        return None
    px, val = np.array(pairs).T
    slope, intercept = np.polyfit(px, val, 1)
    return float(intercept), float(slope)


def _ticks(axis: ET.Element, kind: str) -> list[tuple[float, float]]:
    pairs = []
    for tick in axis.iter(f"{SVG}g"):
        if not tick.get("id", "").startswith(f"{kind}tick_"):
            continue
        pos = [u for u in tick.iter(f"{SVG}use") if u.get("x") is not None]
        labels = [c.text for c in tick.iter() if c.tag is ET.Comment]
        value = _label_value(labels[0], kind) if labels else None
        if pos and value is not None:
            pairs.append((float(pos[0].get("x" if kind == "x" else "y")), value))
    return pairs


def _vertices(d: str) -> list[tuple[float, float]]:
    nums = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(nums[0::2], nums[1::2], strict=False))


def read_svg(path: Path) -> list[Axes]:
    """Every axes of a matplotlib SVG with its series mapped back to data values."""
    root = ET.parse(path, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))).getroot()
    out = []
    for ax in root.iter(f"{SVG}g"):
        if not re.fullmatch(r"axes_\d+", ax.get("id", "")):
            continue
        xs, ys = [], []
        for child in ax:
            if child.get("id", "").startswith("matplotlib.axis"):
                xs += _ticks(child, "x")
                ys += _ticks(child, "y")
        found = Axes(_fit(ys), _fit(xs))
        for child in ax:
            gid = child.get("id", "")
            if gid.startswith(("matplotlib.axis", "legend", "patch", "text")):
                continue
            lines = [_vertices(p.get("d", "")) for p in child.iter(f"{SVG}path")
                     if p.get("d") and not _in_defs(child, p)]
            # Markers: the points of a line or a scatter (a band's single offset is not a point).
            marks = [(float(u.get("x")), float(u.get("y"))) for u in child.iter(f"{SVG}use")
                     if u.get("y") and gid.startswith(("line2d", "PathCollection"))]
            found.series[gid] = {"lines": [found.to_data(v) for line in lines for v in line],
                                 "markers": [found.to_data(v) for v in marks]}
        out.append(found)
    return out


def _in_defs(group: ET.Element, element: ET.Element) -> bool:
    return any(element in list(d.iter()) for d in group.iter(f"{SVG}defs"))


def _to_data(self: Axes, point: tuple[float, float]) -> tuple[float, float]:
    x = self.x_map[0] + self.x_map[1] * point[0] if self.x_map else math.nan
    y = self.y_map[0] + self.y_map[1] * point[1] if self.y_map else math.nan
    return x, y


Axes.to_data = _to_data  # type: ignore[attr-defined]


def _month(ordinal: float) -> pd.Timestamp:
    day = pd.Timestamp.fromordinal(int(round(ordinal)))
    return (day + pd.Timedelta(days=15)).to_period("M").to_timestamp()


# --- a small-count site ------------------------------------------------------------------------------------


def _panel() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    months = pd.date_range("2014-04-01", "2023-03-01", freq="MS")
    rows = []
    orgs = ["RDY"] + [f"ZC{i:02d}" for i in range(1, 8)]
    for org in orgs:
        for measure in ("CCR70", "CCR71"):
            values = rng.integers(1, 11, size=len(months))
            rows += [{"org_code": org, "period": p, "measure_id": measure, "value": float(v)}
                     for p, v in zip(months, values, strict=True)]
        rows += [{"org_code": org, "period": p, "measure_id": "MHS32", "value": 1500.0} for p in months]
    df = pd.DataFrame(rows).assign(period_type="month", numerator=np.nan, denominator=np.nan, status="final",
                                   suppressed=False, quality_flags="", source_file="small.csv")
    return coerce_panel(df)


@pytest.fixture(scope="module")
def small_site(tmp_path_factory):
    registry = default_registry()
    panel = _panel()
    ev = evaluate_domain(registry, panel, "dorset", "crisis_demand", data_source="synthetic")
    figures = tmp_path_factory.mktemp("figures")
    view = NotebookView(ev, domain_result(ev), [], figures)
    # Every chart the notebook steps draw (each saved as PNG and SVG for download), as the site shows them.
    charts = view.spc_charts(ev) + view.model_charts(ev) + view.comparison_charts(ev)
    html = "".join(chart._repr_mimebundle_()["text/html"] for chart in charts)
    return ev, figures, html


def _multiple_of_base(value: float, base: int, tol: float = 0.02) -> bool:
    return abs(value / base - round(value / base)) * base < tol


def test_the_site_really_has_small_counts(small_site):
    ev, figures, _ = small_site
    m = ev.measures[0]
    assert ((m.series["value"] >= 1) & (m.series["value"] <= 4)).sum() > 30
    kinds = {p.stem.split("_", 1)[1] for p in figures.glob("*.svg")}
    assert {"spc", "its", "diagnostics", "synthetic_control"} <= kinds


def test_observed_points_on_every_count_chart_are_published_values(small_site):
    ev, figures, _ = small_site
    base = default_rules().rounding_base
    checked = 0
    for svg in sorted(figures.glob("*_spc.svg")) + sorted(figures.glob("*_its.svg")):
        ax = read_svg(svg)[0]
        assert ax.y_map is not None, svg.name
        for gid, drawn in ax.series.items():
            # Every marker (an observed month) and every vertex of the line joining them.
            for _, y in drawn["markers"]:
                checked += 1
                assert not 0.5 < y < 4.5, f"{svg.name} {gid}: a count of {y:.3f} is drawn"
                assert _multiple_of_base(y, base), f"{svg.name} {gid}: {y:.4f} is finer than {base}"
    assert checked > 100


def test_spc_mean_line_follows_from_the_drawn_points(small_site):
    # Differencing attack: mean x n - sum of drawn points = the months the chart hides.
    ev, figures, _ = small_site
    for svg in figures.glob("*_spc.svg"):
        ax = read_svg(svg)[0]
        points = [p for d in ax.series.values() for p in d["markers"]]
        lines = [d["lines"] for gid, d in ax.series.items() if not d["markers"] and len(d["lines"]) >= 2]
        flat = [ln for ln in lines if max(y for _, y in ln) - min(y for _, y in ln) < 1e-6]
        means = []
        for ln in flat:
            x0, x1 = min(x for x, _ in ln), max(x for x, _ in ln)
            inside = [y for x, y in points if x0 - 1 <= x <= x1 + 1]
            if inside and min(inside) <= ln[0][1] <= max(inside):
                means.append((x0, ln[0][1]))
        assert means, svg.name
        # The limits come from the baseline before go-live and are carried forward: the first mean line drawn
        # must be the mean of the *published* baseline values (never of the values a table hides).
        m = next(x for x in ev.measures if svg.name == f"{x.measure.id}_spc.svg")
        shown = published_values(m.series, m.measure.value_type)
        baseline = float(shown[shown.index < pd.Timestamp(ev.intervention_date)].mean())
        raw = float(m.series.set_index("period")["value"][lambda s: s.index < pd.Timestamp(ev.intervention_date)]
                    .mean())
        first = min(means)[1]
        assert first == pytest.approx(baseline, abs=0.02), svg.name
        assert abs(baseline - raw) > 0.02, "the raw and published baselines coincide: the test would prove nothing"


def test_synthetic_control_index_gives_back_published_values_only(small_site):
    ev, figures, _ = small_site
    m = next(x for x in ev.measures if (x.comparative or {}).get("synthetic_control"))
    shown = published_values(m.series, "count")
    pre_mean = shown[shown.index < pd.Timestamp(ev.intervention_date)].mean()
    ax = read_svg(figures / f"{m.measure.id}_synthetic_control.svg")[0]
    site_markers = [d["markers"] for d in ax.series.values() if d["markers"]][0]
    assert len(site_markers) > 30
    for x, index in site_markers:
        count = index * pre_mean  # the attacker's base: any base gives these values up to one factor
        assert not 0.5 < count < 4.5
        assert _multiple_of_base(count, 5, tol=0.05)
        assert count == pytest.approx(shown.get(_month(x), np.nan), abs=0.05)


def test_diagnostics_residuals_with_the_model_line_give_back_published_values_only(small_site):
    # Pearson residual r and fitted mu: y = mu + r * sqrt(mu).
    ev, figures, _ = small_site
    for svg in figures.glob("*_diagnostics.svg"):
        measure = svg.name.removesuffix("_diagnostics.svg")
        its_ax = read_svg(figures / f"{measure}_its.svg")[0]
        model = max((d["lines"] for d in its_ax.series.values() if not d["markers"]), key=len)
        fitted = {_month(x): y for x, y in model}
        resid_ax = read_svg(svg)[0]
        residuals = [p for d in resid_ax.series.values() for p in d["markers"]]
        assert len(residuals) > 30
        recovered = 0
        for x, r in residuals:
            mu = fitted.get(_month(x))
            if mu is None:
                continue
            y = mu + r * math.sqrt(mu)
            recovered += 1
            assert not 0.5 < y < 4.5, f"{svg.name}: {y:.3f} recovered"
            assert _multiple_of_base(y, 5, tol=0.1), f"{svg.name}: {y:.3f} recovered"
        assert recovered > 30


def test_the_attack_recovers_raw_counts_from_an_unprotected_chart(tmp_path):
    # The attack is real: a chart of the raw series gives every value back, small counts included.
    from evaluation.publish import charts

    months = pd.date_range("2016-01-01", periods=48, freq="MS")
    values = np.random.default_rng(1).integers(1, 11, size=48).astype(float)
    frame = pd.DataFrame({"period": months, "observed": values, "fitted": values, "counterfactual": values,
                          "cf_low": values, "cf_high": values, "post": np.arange(48) >= 24})
    charts.save_figure(charts.its_chart(frame, title="t", ylabel="y", intervention=months[24]), tmp_path / "raw")
    ax = read_svg(tmp_path / "raw.svg")[0]
    markers = [p for d in ax.series.values() for p in d["markers"]]
    recovered = {_month(x): y for x, y in markers}
    assert [round(recovered[p]) for p in months] == list(values)
    assert any(0.5 < y < 4.5 for y in recovered.values())
