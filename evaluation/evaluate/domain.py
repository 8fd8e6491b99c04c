"""Evaluate one site x domain from the measure panel: SPC and interrupted time series per measure.

This is the logic the domain notebooks call. It reads only the panel (never a file layout) and the
registry, and returns plain objects that :mod:`evaluation.results.files` turns into results files and sentences.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from evaluation.dictionary.months import parse_month
from evaluation.dictionary.registry import NO_GO_LIVE, AnalysisFacts, Measure, Registry, Site, default_registry
from evaluation.panel.frame import monthly_series


@dataclass
class MeasureEvaluation:
    """Everything the workbook found for one measure at one site."""

    measure: Measure
    status: str  # "ok" | "not_in_data" | "not_estimable" | "descriptive"
    reason: str = ""
    series: pd.DataFrame | None = None
    its: object | None = None  # evaluation.methods.its.ITSResult
    xmr: object | None = None  # evaluation.methods.spc.XmRResult
    n_pre: int = 0
    n_post: int = 0
    caveats: list[str] = field(default_factory=list)
    comparative: dict | None = None  # evaluation.methods.comparative.site_vs_comparators output
    placebo: list[dict] = field(default_factory=list)  # in-time placebo go-live dates
    covid_sensitivity: dict | None = None  # main model vs COVID-19 months left out
    provisional_share_post: float | None = None  # share of the months from go-live on that are provisional
    baseline_start: dt.date | None = None  # set when the baseline was started after a level shift
    per_100k: list[dict] = field(default_factory=list)  # evaluation.sources.population.rates_per_100k
    national_peak_months: tuple[str, ...] = ()  # months most trusts moved together (YYYY-MM), named as such
    offset: pd.Series | None = None  # the count's exposure by month (catchment population), indexed by period
    # The pre-specified primary estimand (evaluation.methods.its_estimand.PrimaryEstimand): average effect
    # over the first 12 months from go-live, absolute and relative, with its minimum detectable effect.
    primary: object | None = None
    # "primary" for the domain's headline measure, "secondary" (exploratory) for the others.
    role: str = "secondary"
    # Holm-adjusted p-value of the primary estimand among the domain's secondary measures (None for the
    # primary measure and for measures without a model).
    p_holm: float | None = None
    # Go-live sensitivity (-6, -3, +3, +6 months) and phase-in (evaluation.methods.its_sensitivity
    # .GoLiveSensitivity); for the headline measure.
    golive_sensitivity: object | None = None


@dataclass
class DomainEvaluation:
    """One site x domain: the measures, in headline-first order."""

    site: Site
    domain_id: str
    domain_name: str
    intervention_date: dt.date
    data_source: str
    measures: list[MeasureEvaluation]
    population_notes: list[str] = field(default_factory=list)

    @property
    def headline(self) -> MeasureEvaluation:
        """The designated headline measure where it could be estimated, else the first that could."""
        for m in self.measures:
            if m.status == "ok":
                return m
        return self.measures[0]


def parse_intervention(value: str | dt.date | None, site: Site) -> dt.date:
    """The intervention date to use: the parameter if given (YYYY-MM or YYYY-MM-DD), else the registry's."""
    if value is None or value == "":
        if site.intervention_date == NO_GO_LIVE:
            raise ValueError(f"site {site.id} has no go-live date in the registry; give one with "
                             "--intervention-date YYYY-MM")
        return site.intervention_date
    return parse_month(value)


def describe_measure(measure: Measure, series: pd.DataFrame, intervention: dt.date, *,
                     baseline_shift: object | None = None, baseline_after_shift: bool = False) -> MeasureEvaluation:
    """The SPC (XmR) chart of one site's series, limits from the pre-go-live baseline carried forward (recalculated
    only after a sustained shift), with the data's caveats.

    The result is ``descriptive`` (or ``not_in_data``) until :func:`fit_measure` fits the time series model.
    ``baseline_shift``: a level shift before go-live (:class:`evaluation.panel.quality.LevelShift`), reported
    as a caveat; with ``baseline_after_shift`` the months before it are left out.
    """
    from evaluation.methods.spc import xmr

    if series.empty:
        return MeasureEvaluation(measure, "not_in_data", reason="not in these files")
    usable = series[series["value"].notna()]
    if usable.empty:
        return MeasureEvaluation(measure, "not_in_data", reason="every value suppressed or missing", series=series)
    go_live = pd.Timestamp(intervention)
    shift_caveat, start = _baseline_shift_caveat(baseline_shift, baseline_after_shift)
    if start is not None:
        series = series[series["period"] >= start]
        usable = usable[usable["period"] >= start]
    pre_len = int((series["period"] < go_live).sum())
    chart = xmr(
        series["value"].to_numpy(dtype=float),
        improvement=measure.direction,
        baseline_end=pre_len if 0 < pre_len < len(series) else None,
        periods=list(series["period"]),
    )
    caveats: list[str] = []
    n_suppressed = int(series["suppressed"].sum())
    if n_suppressed:
        caveats.append(f"{n_suppressed} month(s) were suppressed in the published data and are left out.")
    n_provisional = int((series["status"] == "provisional").sum())
    if n_provisional:
        caveats.append(f"{n_provisional} month(s) are provisional figures that may be revised.")
    if shift_caveat:
        caveats.append(shift_caveat)
    post = series[series["period"] >= go_live]
    result = MeasureEvaluation(measure, "descriptive", series=series, xmr=chart,
                               n_pre=int((usable["period"] < go_live).sum()),
                               n_post=int((usable["period"] >= go_live).sum()), caveats=caveats,
                               baseline_start=None if start is None else start.date(),
                               provisional_share_post=float((post["status"] == "provisional").mean())
                               if len(post) else None)
    if measure.analysis != "its":
        result.reason = (
            "described only: each value covers the 12 months to date and overlaps the previous 11, so a step at "
            "go-live would be smeared over a year and a model treating months as independent would mislead"
        )
        result.caveats.append(
            "Each point overlaps the previous 11 months, so runs and trends on the chart are expected and are "
            "not special cause on their own.")
    return result


def fit_measure(
    result: MeasureEvaluation,
    intervention: dt.date,
    *,
    offset: pd.Series | None = None,
    keep_outliers: bool = False,
    analysis: AnalysisFacts | None = None,
) -> MeasureEvaluation:
    """The segmented regression (with placebo dates and the COVID-19 sensitivity) of a described measure
    analysed by ITS; ``result`` is updated and returned (other measures are returned unchanged).

    Months flagged as data-quality outliers (see :mod:`evaluation.panel.quality`) stay on the charts but are
    left out of the model fit unless ``keep_outliers`` is true. The minimum months and the COVID-19 window are
    the data dictionary's (``analysis``, default: the registry's ``analysis.yaml``).
    """
    from evaluation.methods.its import covid_sensitivity, fit_its, placebo_its
    from evaluation.panel.quality import exclude_outliers

    if result.status != "descriptive" or result.xmr is None or result.measure.analysis != "its":
        return result  # nothing to model, or fitted already
    measure = result.measure
    analysis = analysis or default_registry().analysis
    facts = analysis.its
    go_live = pd.Timestamp(intervention)
    usable = result.series[result.series["value"].notna()]
    n_pre, n_post = result.n_pre, result.n_post
    if n_pre < facts.min_pre_months or n_post < facts.min_post_months:
        result.status = "not_estimable"
        result.reason = (
            f"{n_pre} month(s) before and {n_post} after {go_live:%B %Y} in these files; the time series model "
            f"needs at least {facts.min_pre_months} before and {facts.min_post_months} after"
        )
        return result
    fit_rows = usable
    if not keep_outliers:
        fit_rows, excluded = exclude_outliers(usable)
        if len(excluded):
            result.caveats.append(_outlier_caveat(excluded["period"], result.national_peak_months))
        n_pre = int((fit_rows["period"] < go_live).sum())
        n_post = int((fit_rows["period"] >= go_live).sum())
        result.n_pre, result.n_post = n_pre, n_post
        if n_pre < facts.min_pre_months or n_post < facts.min_post_months:
            result.status = "not_estimable"
            result.reason = (f"{n_pre} usable month(s) before and {n_post} after {go_live:%B %Y}; the time series "
                             f"model needs at least {facts.min_pre_months} before and {facts.min_post_months} after")
            return result
    degenerate = degenerate_series_reason(fit_rows, go_live)
    if degenerate:
        result.status, result.reason = "not_estimable", degenerate
        return result
    fit_frame = fit_rows[["period", "numerator", "denominator", "value"]]
    offset = offset if offset is not None else result.offset
    exposure = None
    if offset is not None and len(offset) and measure.value_type == "count":
        exposure = fit_frame["period"].map(offset).astype(float)
        if exposure.isna().any():
            exposure = None  # the population does not cover every month: no offset rather than a partial one
    try:
        its = fit_its(
            fit_frame,
            intervention=go_live,
            value_type=measure.value_type,
            covid=analysis.covid.months,
            offset=exposure,
        )
    except (ValueError, np.linalg.LinAlgError) as exc:
        result.status, result.reason = "not_estimable", f"the time series model could not be fitted ({exc})"
        return result
    step = [its.step.estimate, its.step.ci_low, its.step.ci_high]
    if not np.isfinite(np.asarray(step, dtype=float)).all():
        # Never report a NaN or infinite estimate as a finding.
        result.status = "not_estimable"
        result.reason = "the time series model gave no finite estimate of the change at go-live from this series"
        return result
    result.its = its
    result.primary = its.primary_estimand()
    result.status = "ok"
    # Robustness: in-time placebo dates (pre-period only) and the model with the COVID-19 months left out.
    try:
        placebo = placebo_its(fit_frame, intervention=go_live, value_type=measure.value_type)
        result.placebo = placebo.to_dict("records")
    except ValueError as exc:
        result.caveats.append(f"Placebo dates could not be tested: {exc}.")
    try:
        result.covid_sensitivity = covid_sensitivity(fit_frame, intervention=go_live, value_type=measure.value_type)
    except ValueError as exc:
        result.caveats.append(f"The COVID-19 sensitivity analysis could not be run: {exc}.")
    if n_post < facts.early_days_months:
        result.caveats.append(f"Only {n_post} months after go-live: early days for judging a lasting change.")
    return result


def _baseline_shift_caveat(shift, after_shift: bool) -> tuple[str, pd.Timestamp | None]:
    """The caveat for a level shift before go-live, and the month the baseline starts from (None: unchanged)."""
    if shift is None:
        return "", None
    if after_shift:
        text = (f"The baseline starts in {shift.month:%B %Y}, after a level shift {shift.describe()} (the run "
                "was asked to start the baseline after a shift); earlier months are left out of the model.")
        return text, shift.month
    return (f"Data quality: the level shifted {shift.describe()}, before go-live; the baseline spans the shift "
            "(a run can start the baseline after it instead)."), None


def _outlier_caveat(periods: pd.Series, national_peak_months: tuple[str, ...]) -> str:
    """Months left out of the model, those in a national peak (e.g. a COVID-19 wave) named as such."""
    peaks = set(national_peak_months)
    peak = [p for p in periods if f"{p:%Y-%m}" in peaks]
    other = [p for p in periods if f"{p:%Y-%m}" not in peaks]
    parts = []
    if peak:
        parts.append(f"{', '.join(f'{p:%b %Y}' for p in peak)} (a national peak, such as a COVID-19 or winter "
                     "wave, that moved this trust further than most)")
    if other:
        parts.append(f"{', '.join(f'{p:%b %Y}' for p in other)} (out of line with their neighbours and with the "
                     "national pattern, for example an incomplete submission)")
    return (f"{len(periods)} month(s) far out of line with their neighbours were left out of the model: "
            + "; ".join(parts) + ".")


def degenerate_series_reason(rows: pd.DataFrame, go_live: pd.Timestamp) -> str:
    """Why a series cannot give a time series estimate although it has enough months ("" when it can): every
    month zero, only zeros before or after go-live, more than ``its.max_zero_share`` of months zero
    (``data_dictionary/analysis.yaml``), or one value throughout."""
    from evaluation.dictionary.registry import default_registry

    values = rows["value"].to_numpy(dtype=float)
    before = values[(rows["period"] < go_live).to_numpy()]
    after = values[(rows["period"] >= go_live).to_numpy()]
    zeros = int((values == 0).sum())
    limit = default_registry().analysis.its.max_zero_share
    if zeros == len(values):
        return f"every one of the {len(values)} months is zero, so there is no change to estimate"
    if (before == 0).all() or (after == 0).all():
        side = "before" if (before == 0).all() else "after"
        return f"every month {side} go-live is zero, so the change at go-live would be infinite"
    if zeros > limit * len(values):
        return (f"{zeros} of {len(values)} months are zero (more than {limit:.0%}), too few events for the time "
                "series model to give a meaningful estimate")
    if np.unique(values).size == 1:
        return f"the value is {values[0]:g} in every month, so there is no variation to model"
    return ""


def describe_domain(registry: Registry, panel: pd.DataFrame, site_id: str, domain_id: str, *,
                    intervention_date: str | dt.date | None = None, data_source: str = "synthetic",
                    population: object | None = None, baseline_after_shift: bool = False) -> DomainEvaluation:
    """Every measure of ``domain_id`` at ``site_id`` described by its SPC chart (no models yet).

    Level shifts before go-live are reported, and with ``baseline_after_shift`` the baseline starts after the
    latest one. ``population``: the site's catchment population by year
    (:class:`evaluation.sources.population.SitePopulation`): counts of people or their care get it as the
    model's exposure by month and are also shown per 100,000 by year.
    """
    from evaluation.panel.quality import baseline_shifts, national_peaks
    from evaluation.sources.population import monthly_population, rates_per_100k

    site = registry.site(site_id)
    domain = registry.domain(domain_id)
    intervention = parse_intervention(intervention_date, site)
    ids = [m.id for m in registry.measures_for(domain_id)]
    domain_rows = panel[panel["measure_id"].isin(ids)]
    shifts = baseline_shifts(domain_rows, site.ods_code, ids, pd.Timestamp(intervention), registry=registry)
    peaks = national_peaks(domain_rows, registry=registry)
    measures = []
    for measure in registry.measures_for(domain_id):
        series = monthly_series(panel, site.ods_code, measure.id, measure.period_type)
        m = describe_measure(measure, series, intervention,
                             baseline_shift=shifts.get(measure.id) if measure.period_type == "month" else None,
                             baseline_after_shift=baseline_after_shift)
        m.national_peak_months = tuple(peaks.get(measure.id, ()))
        if measure.per_population and population is not None:
            m.offset = monthly_population(population, series.set_index("period").index.to_series())
            m.per_100k = rates_per_100k(series, population)
        measures.append(m)
    return DomainEvaluation(site, domain.id, domain.name, intervention, data_source, measures,
                            population_notes=list(getattr(population, "notes", []) or []))


def fit_domain(registry: Registry, ev: DomainEvaluation, *, keep_outliers: bool = False) -> DomainEvaluation:
    """Fit the time series model of every described measure analysed by ITS (``ev`` is updated and returned)."""
    for m in ev.measures:
        fit_measure(m, ev.intervention_date, keep_outliers=keep_outliers, analysis=registry.analysis)
    _primary_and_secondary(ev, ev.headline, keep_outliers)
    return ev


def _primary_and_secondary(ev: DomainEvaluation, head: MeasureEvaluation, keep_outliers: bool) -> None:
    """Mark the headline primary (with its go-live sensitivity) and Holm-adjust the secondary measures."""
    from evaluation.methods.its_sensitivity import golive_sensitivity
    from evaluation.methods.multiplicity import holm_adjust
    from evaluation.panel.quality import exclude_outliers

    head.role = "primary"
    for m in ev.measures:
        if m is not head:
            m.role = "secondary"
    secondary = {m.measure.id: m.primary.absolute.p_value for m in ev.measures  # type: ignore[attr-defined]
                 if m.role == "secondary" and m.primary is not None}
    adjusted = holm_adjust(secondary)
    for m in ev.measures:
        if m.measure.id in adjusted and m.role == "secondary":
            m.p_holm = adjusted[m.measure.id]
    if head.status == "ok" and head.series is not None:
        usable = head.series[head.series["value"].notna()]
        rows = usable if keep_outliers else exclude_outliers(usable)[0]
        frame = rows[["period", "numerator", "denominator", "value"]]
        exposure = None
        if head.offset is not None and len(head.offset) and head.measure.value_type == "count":
            exposure = frame["period"].map(head.offset).astype(float)
            if exposure.isna().any():
                exposure = None  # as in fit_measure: no offset rather than a partial one
        head.golive_sensitivity = golive_sensitivity(frame, intervention=pd.Timestamp(ev.intervention_date),
                                                     value_type=head.measure.value_type, offset=exposure)


def evaluate_domain(
    registry: Registry,
    panel: pd.DataFrame,
    site_id: str,
    domain_id: str,
    *,
    intervention_date: str | dt.date | None = None,
    data_source: str = "synthetic",
    keep_outliers: bool = False,
    comparative: bool = True,
    min_coverage: float = 0.8,
    population: object | None = None,
    baseline_after_shift: bool = False,
) -> DomainEvaluation:
    """Evaluate every measure of ``domain_id`` at ``site_id`` from the panel: describe, fit and compare.

    The headline measure (the designated one, or the first that could be estimated) is also compared with
    the comparator pool (:func:`evaluation.evaluate.comparators.comparator_pool`) by comparative ITS and synthetic
    control, unless ``comparative`` is false. ``population`` and ``baseline_after_shift``: see
    :func:`describe_domain`.
    """
    ev = describe_domain(registry, panel, site_id, domain_id, intervention_date=intervention_date,
                         data_source=data_source, population=population, baseline_after_shift=baseline_after_shift)
    fit_domain(registry, ev, keep_outliers=keep_outliers)
    head = ev.headline
    if comparative and head.status == "ok":
        head.comparative = compare_with_pool(registry, panel, ev.site, head.measure, ev.intervention_date,
                                             keep_outliers=keep_outliers, min_coverage=min_coverage)
    return ev


def evaluate_measure(
    measure: Measure,
    series: pd.DataFrame,
    intervention: dt.date,
    *,
    offset: pd.Series | None = None,
    keep_outliers: bool = False,
    analysis: AnalysisFacts | None = None,
    baseline_shift: object | None = None,
    baseline_after_shift: bool = False,
    national_peak_months: tuple[str, ...] = (),
) -> MeasureEvaluation:
    """SPC and (for measures analysed by ITS) a segmented regression for one site's series (see
    :func:`describe_measure` and :func:`fit_measure`)."""
    m = describe_measure(measure, series, intervention, baseline_shift=baseline_shift,
                         baseline_after_shift=baseline_after_shift)
    m.national_peak_months = tuple(national_peak_months)
    return fit_measure(m, intervention, offset=offset, keep_outliers=keep_outliers, analysis=analysis)


def compare_with_pool(registry: Registry, panel: pd.DataFrame, site: Site, measure: Measure,
                      intervention: dt.date, *, keep_outliers: bool = False, min_coverage: float = 0.8) -> dict:
    """Comparative ITS and synthetic control of one site's measure against the comparator pool."""
    from evaluation.evaluate.comparators import CMHF_CAVEAT, comparator_pool, describe_pool
    from evaluation.methods.comparative import site_vs_comparators
    from evaluation.panel.quality import OUTLIER_FLAG, has_flag

    data = panel if keep_outliers else panel[~has_flag(panel["quality_flags"], OUTLIER_FLAG)]
    pool = comparator_pool(data, registry, measure.id, site.ods_code, min_coverage=min_coverage)
    needed = registry.analysis.comparators.min_comparators
    if len(pool) < needed:
        return {"status": "skipped", "reason": f"only {len(pool)} comparator organisation(s) with enough data; "
                f"at least {needed} are needed", "comparators": pool,
                "comparator_list": describe_pool(pool), "caveat": CMHF_CAVEAT}
    out = site_vs_comparators(data[data["measure_id"] == measure.id], measure_id=measure.id, site_org=site.ods_code,
                              comparator_orgs=pool, intervention=pd.Timestamp(intervention),
                              value_type=measure.value_type)
    out["status"] = "ok"
    out["comparator_list"] = describe_pool(pool)
    out["caveat"] = CMHF_CAVEAT
    return out
