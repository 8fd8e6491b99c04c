"""What a site x domain evaluation produces, as typed models: the results-file contract.

``build/results/<site>/<domain>.json`` is ``DomainResult.model_dump(mode="json")``; every consumer (cross-site
synthesis, downloads, easy read, pages, sentences) reads these models, never a string key. The JSON Schema in
``results.schema.json`` beside this module is generated from the models (:func:`json_schema`) and committed; a
test keeps the two equal. Floats are kept to 6 significant figures (p-values 4) and a non-finite float is
``null``, so identical inputs give identical bytes and a model read back equals the one written.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

#: Bump when a key is renamed or removed (adding an optional key does not need it).
SCHEMA_VERSION = 2


def _rounder(digits: int):
    def _round(x: object) -> object:
        if x is None:
            return None
        if isinstance(x, int | float) and not isinstance(x, bool):
            x = float(x)
            return float(f"{x:.{digits}g}") if math.isfinite(x) else None
        return x
    return _round


#: A float kept to 6 significant figures; NaN and infinity become ``None``.
Num = Annotated[float | None, BeforeValidator(_rounder(6))]
#: A p-value, kept to 4 significant figures.
PValue = Annotated[float | None, BeforeValidator(_rounder(4))]

Scale = Literal["rate_ratio", "odds_ratio", "difference"]
Status = Literal["ok", "not_in_data", "not_estimable", "descriptive"]
Reading = Literal["improvement", "deterioration", "no clear change", "higher", "lower", "not assessed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Interval(_Model):
    """A point estimate with its 95% confidence interval."""

    estimate: Num
    ci_low: Num
    ci_high: Num


class Estimate(Interval):
    """A model coefficient on its natural scale (``scale`` of the model), with its link-scale standard error."""

    se_link: Num = None
    p_value: PValue = None


class Effect(_Model):
    """Fitted minus expected-without-the-change in one month after go-live (month 1 = the go-live month)."""

    months_after: int
    period: dt.date
    fitted: Num
    counterfactual: Num
    absolute: Interval
    relative: Interval | None = Field(None, description="(fitted - expected) / expected, as a fraction")


class MinimumDetectable(_Model):
    """The smallest change the design would detect with 80% power at 5% (two-sided): absolute per month and
    relative (percent for counts, percentage points for proportions and rates), down and up."""

    absolute: Num
    relative_decrease: Num
    relative_increase: Num


class Primary(_Model):
    """The estimand every headline sentence reports: the change in the first 12 months after go-live.

    ``absolute`` is per month in the measure's ``unit``; ``relative`` is in percent for counts and in
    percentage points for proportions and rates. ``basis`` says how it was computed: today the effect in the
    12th month after go-live from the model's effects (the 12-month average needs the methods to provide it).
    """

    months: int = 12
    basis: Literal["effect_in_month_12", "average_months_1_to_12"]
    unit: str
    absolute: Interval
    relative: Interval
    relative_unit: Literal["percent", "percentage_points"]
    complete: bool = Field(default=True, description="false when fewer than 12 months after go-live were averaged")
    p_value: PValue = None
    mde: MinimumDetectable | None = None


class SensitivityRow(_Model):
    """One re-estimate of the primary estimand: the main analysis, go-live moved, or the first months left out."""

    kind: Literal["main", "shift", "phase_in"]
    label: str
    go_live: dt.date
    months_after: int | None = None
    relative: Interval | None = None
    conclusion: Literal["increase", "decrease", "no clear change"] | None = None
    note: str = ""


class LjungBox(_Model):
    lags: int
    statistic: Num
    p_value: PValue


class AutocorrelationTest(_Model):
    durbin_watson: Num
    interpretation: str
    lag1_autocorrelation: Num
    ljung_box: LjungBox


class OverdispersionTest(_Model):
    df_resid: Num
    dispersion: Num
    family_check: str
    p_value: PValue
    pearson_chi2: Num


class ITSSummary(_Model):
    """The segmented regression: step and slope change on the model's scale, effects after go-live, checks."""

    scale: Scale
    model: str
    cov_type: str
    hac_maxlags: int | None = None
    dispersion: Num = None
    autocorrelation: Num = None
    step: Estimate
    slope: Estimate | None = None
    pre_slope: Estimate
    effects: dict[str, Effect | None] = Field(default_factory=dict, description="keyed by months after go-live")
    overdispersion_test: OverdispersionTest | None = None
    autocorrelation_test: AutocorrelationTest | None = None


class SPCSummary(_Model):
    """The Making Data Count XmR chart's reading of the latest point and its limits."""

    variation_icon: str | None = None
    assurance_icon: str | None = None
    mean: Num = None
    lpl: Num = None
    upl: Num = None
    trial_limits: bool = False


class Placebo(_Model):
    """A step change fitted at a made-up go-live date before the real one."""

    placebo_date: dt.date
    offset_months: int
    n_pre: int
    n_post: int
    scale: Scale
    estimate: Num
    ci_low: Num
    ci_high: Num
    p_value: PValue
    excludes_null: bool
    note: str = ""


class SensitivityFit(_Model):
    description: str
    n_months: int
    n_excluded: int | None = None
    scale: Scale
    step: Estimate
    slope: Estimate | None = None
    primary_relative: Interval | None = Field(default=None, description="the primary estimand's relative change "
                                             "(percent or percentage points) under this model")


class CovidSensitivity(_Model):
    """The main model (COVID-19 months modelled) beside the model with those months left out."""

    window: tuple[dt.date, dt.date]
    main: SensitivityFit
    covid_excluded: SensitivityFit | None = None
    note: str = ""


class LinkEstimate(Estimate):
    estimate_link: Num = None


class ComparativeITS(_Model):
    design: str
    scale: Scale
    n_comparators: int
    n_pre: int
    n_post: int
    step: LinkEstimate
    slope: LinkEstimate | None = None
    did: LinkEstimate | None = None


class SyntheticEffect(_Model):
    mean_actual_post: Num = None
    mean_synthetic_post: Num = None
    mean_gap: Num = None
    relative_change: Num = None
    ci_low: Num = Field(default=None, description="conformal 95% interval of the mean gap, in the outcome's units "
                        "(Chernozhukov, Wuthrich and Zhu 2021)")
    ci_high: Num = None
    relative_ci_low: Num = Field(default=None, description="that interval as a relative change (the gap's bounds "
                                 "over the mean synthetic value after go-live), on the scale of relative_change")
    relative_ci_high: Num = None


class SyntheticPlacebo(_Model):
    statistic: str | None = None
    p_value: PValue = None
    rank: int | None = None
    n_placebos: int | None = None


class SyntheticControlSummary(_Model):
    design: str
    n_donors: int
    pre_rmspe: Num = None
    post_rmspe: Num = None
    rmspe_ratio: Num = None
    effect: SyntheticEffect | None = None
    top_weights: dict[str, Num] = Field(default_factory=dict, description="the five largest donor weights")
    placebo: SyntheticPlacebo = SyntheticPlacebo()


class ComparatorOrg(_Model):
    """A comparator organisation as published on a site page."""

    code: str
    name: str


class Comparative(_Model):
    """The headline measure against the comparator pool (comparative ITS and synthetic control)."""

    status: str
    reason: str = ""
    comparators: list[ComparatorOrg] = Field(default_factory=list)
    caveat: str = ""
    errors: dict[str, str] = Field(default_factory=dict)
    comparative_its: ComparativeITS | None = None
    synthetic_control: SyntheticControlSummary | None = None


class LevelShiftFinding(_Model):
    """A lasting change in the level of a series: a data-quality finding (``evaluation.panel.quality.level_shifts``)."""

    month: str = Field(description="YYYY-MM, the first month at the new level")
    level_before: Num = None
    level_after: Num = None
    description: str = ""


class RatePer100k(_Model):
    """A count shown per 100,000 catchment population for one calendar year (ONS mid-year estimates)."""

    year: int
    months: int = Field(description="months of the year with a value")
    population: Num = None
    population_year: int = Field(description="the mid-year estimate used (the latest for later years)")
    per_100k: Num = Field(default=None, description="the year's mean monthly count per 100,000 population")


class DataQuality(_Model):
    """What the panel holds for this site and measure."""

    period_type: str | None = None
    period_types: dict[str, int] = Field(default_factory=dict)
    first_month: str | None = None
    last_month: str | None = None
    months_present: int = 0
    missing_months: list[str] = Field(default_factory=list)
    outlier_months: list[str] = Field(default_factory=list)
    provisional_months: list[str] = Field(default_factory=list)
    share_suppressed: Num = None
    level_shifts: list[LevelShiftFinding] = Field(default_factory=list)
    national_peak_months: list[str] = Field(default_factory=list,
                                            description="months shared with a national peak, e.g. a COVID-19 wave")


class Findings(_Model):
    """Every sentence the site prints for a measure, made by :mod:`evaluation.results.sentences`.

    Plain words for the main text, in the order a headline box reads: ``headline`` (what happened), ``verdict``
    (whether that is good), ``interval`` (how sure we are), ``spc_note`` (why the Making Data Count icon can seem
    to disagree), then ``robustness`` and ``comparative``. ``technical`` holds the statistics (model, test
    statistics, p-values, method names) for a collapsed "Technical detail" section, never the main text.
    """

    headline: str
    interval: str
    verdict: str = ""
    spc_note: str = ""
    robustness: str = ""
    comparative: str = ""
    technical: list[str] = Field(default_factory=list)
    easy_read: list[str] = Field(default_factory=list)


class MeasureResult(_Model):
    """One measure at one site: what was fitted, what it shows and the sentences that say so."""

    measure_id: str
    name: str
    unit: str
    value_type: Literal["count", "proportion", "rate"]
    direction_of_improvement: Literal["increase", "decrease", "neutral"]
    headline: bool
    designated_headline: bool
    status: Status
    reason: str = ""
    n_pre: int
    n_post: int
    provisional_share_post: Num = Field(default=None, description="share of the months from go-live on that are "
                                        "provisional (None without such months)")
    baseline_start: dt.date | None = Field(default=None, description="first month of the baseline when the run "
                                           "started it after a level shift")
    direction: Reading
    per_100k: list[RatePer100k] = Field(default_factory=list)
    caveats: list[str] = Field(default_factory=list)
    primary: Primary | None = None
    role: Literal["primary", "secondary"] = Field(default="secondary", description="the domain's headline measure "
                                                  "is primary; the others are exploratory")
    p_holm: PValue = Field(default=None, description="Holm-adjusted p-value among the domain's secondary measures")
    golive_sensitivity: list[SensitivityRow] = Field(default_factory=list)
    depends_on_go_live: bool | None = Field(default=None, description="whether moving go-live or leaving out the "
                                            "first months changes the conclusion (headline measure only)")
    its: ITSSummary | None = None
    spc: SPCSummary | None = None
    placebo: list[Placebo] = Field(default_factory=list)
    covid_sensitivity: CovidSensitivity | None = None
    comparative: Comparative | None = None
    data_quality: DataQuality | None = None
    findings: Findings | None = None


class InputUsed(_Model):
    """An input file this site's rows came from, with the SHA-256 of those rows."""

    path: str
    layout: str
    rows_sha256: str


class InputFile(_Model):
    """Row accounting for one input file: read = kept + set aside."""

    path: str
    layout: str
    rows_read: int
    rows_kept: int
    rows_rejected: int
    rejected: dict[str, int] = Field(default_factory=dict)
    balanced: bool = True
    blocking: list[str] = Field(default_factory=list)


class RunParameters(_Model):
    """The run's analysis parameters that change a result."""

    keep_outliers: bool = False
    comparator_min_coverage: float = 0.8
    baseline_after_shift: bool = False


class DomainResult(_Model):
    """One site x domain: the results file ``build/results/<site>/<domain>.json``."""

    schema_version: Literal[2] = SCHEMA_VERSION
    site: str
    site_name: str
    ods_code: str
    domain: str
    domain_name: str
    data_source: Literal["synthetic", "published", "local"]
    intervention_date: dt.date
    intervention_label: str
    intervention_is_assumption: bool
    intervention_set_by_analyst: bool = Field(False, description="the run gave its own go-live date, not the "
                                                                 "programme's: pages say 'go-live set by the analyst'")
    parameters: RunParameters = RunParameters()
    inputs: list[InputUsed] = Field(default_factory=list)
    input_files: list[InputFile] = Field(default_factory=list)
    headline_measure: str
    measures: list[MeasureResult]
    population_notes: list[str] = Field(default_factory=list, description="how the catchment population by "
                                        "year was put together (boundary changes, the 2020/2021 rebasing)")

    @property
    def headline(self) -> MeasureResult:
        """The headline measure (the designated one where it could be estimated, else the first that could)."""
        return next(m for m in self.measures if m.measure_id == self.headline_measure)


def json_schema() -> dict:
    """The JSON Schema of a results file, as committed in ``results.schema.json``."""
    schema = DomainResult.model_json_schema(mode="serialization")
    schema["$id"] = "results.schema.json"
    return schema


# --- cross-site synthesis: build/synthesis/cross_site.json ----------------------------------------------------


class PooledEstimate(Interval):
    """The random-effects pooled step change on the natural scale, with its link-scale standard error."""

    se: Num = None


class SiteStep(Interval):
    """One site's step change as it entered the meta-analysis, with its weight."""

    label: str
    se: Num = None
    weight: Num = None


class PredictionInterval(_Model):
    """Where a new site like these could expect its step change to lie (95%)."""

    low: Num
    high: Num


class Heterogeneity(_Model):
    tau2: Num
    tau: Num
    i2: Num = Field(description="Higgins-Thompson I\u00b2, as metafor reports it")
    h2: Num = None
    q: Num
    df: int
    p_value: PValue


class MetaAnalysis(_Model):
    """Random-effects meta-analysis of the sites' step changes for one measure, with its sentence."""

    measure_id: str
    name: str
    domain: str
    value_type: Literal["count", "proportion", "rate"]
    scale: Scale
    link: str
    method: str
    ci_method: str
    k: int
    pooled: PooledEstimate
    prediction_interval: PredictionInterval | None = None
    heterogeneity: Heterogeneity
    sites: list[SiteStep]
    excluded: list[str] = Field(default_factory=list)
    sentence: str = Field("", description="made by evaluation.results.sentences.meta_sentence; never says odds")


class DiDEstimate(_Model):
    """A staggered difference-in-differences effect on the link scale (placebo inference; analytic beside it),
    with ``natural`` on the measure's natural scale."""

    estimate: Num = None
    se: Num = None
    ci_low: Num = None
    ci_high: Num = None
    p_value: PValue = None
    se_analytic: Num = None
    ci_low_analytic: Num = None
    ci_high_analytic: Num = None
    natural: Interval | None = None


class DiDCell(_Model):
    """One cohort's (``group``) or one event time's (``event_time``) effect."""

    att: Num = None
    se: Num = None
    ci_low: Num = None
    ci_high: Num = None
    p_value: PValue = None
    se_analytic: Num = None
    ci_low_analytic: Num = None
    ci_high_analytic: Num = None
    group: str | None = None
    n_units: int | None = None
    event_time: int | None = None
    post: bool | None = None
    natural: Interval | None = None


class DiDOverall(DiDEstimate):
    """The overall summary of the staggered design: the group aggregation (each site's average effect after its
    go-live, averaged over the sites), as the methods page pre-specifies."""

    aggregation: str | None = None


class DiDSensitivity(_Model):
    """The overall effect with not-yet-treated sites added to the controls, or why it could not be estimated."""

    status: Literal["ok", "skipped"]
    reason: str = ""
    control_group: str | None = None
    overall: DiDEstimate | None = None


class DiDGroupEffects(_Model):
    overall: DiDEstimate
    by_group: list[DiDCell] = Field(default_factory=list)


class DiDEventEffects(_Model):
    overall: DiDEstimate
    by_event_time: list[DiDCell] = Field(default_factory=list, description="event times -24 to 24")


class LibraryWald(_Model):
    test: str
    statistic: Num = None
    p_value: PValue = None
    note: str | None = None


class Pretrend(_Model):
    """The test that the sites and comparators were not already diverging before go-live."""

    test: str
    statistic: Num = None
    df: int | None = None
    p_value: PValue = None
    n_cells: int | None = None
    n_reference: int | None = None
    window_periods: int | None = None
    max_abs_pre_att: Num = None
    library_wald: LibraryWald | None = None


class StaggeredDiD(_Model):
    """Callaway and Sant'Anna's staggered difference-in-differences for one domain's headline measure."""

    status: Literal["ok", "skipped"]
    reason: str = ""
    measure_id: str | None = None
    name: str | None = None
    n_comparators: int | None = None
    value_type: Literal["count", "proportion", "rate"] | None = None
    scale: Scale | None = None
    link: str | None = None
    simple: DiDEstimate | None = None
    overall: DiDOverall | None = None
    not_yet_treated_sensitivity: DiDSensitivity | None = None
    group: DiDGroupEffects | None = None
    event_time: DiDEventEffects | None = None
    pretrend: Pretrend | None = None
    sites: dict[str, dt.date] = Field(default_factory=dict, description="ODS code -> go-live month")
    comparators_requested: list[str] = Field(default_factory=list)
    info: dict[str, str | int | float | bool | None | list[str] | dict[str, list[str]] | dict[str, str]] = Field(
        default_factory=dict, description="the estimator's settings and the units it used, as the method reports "
        "them (treated and control units, every exclusion with its reason, dropped periods)")


class CrossSiteResult(_Model):
    """The cross-site synthesis: ``build/synthesis/cross_site.json``."""

    schema_version: Literal[2] = SCHEMA_VERSION
    data_source: Literal["synthetic", "published", "local"]
    sites: list[str]
    meta_analysis: dict[str, MetaAnalysis] = Field(default_factory=dict, description="keyed by measure id")
    staggered_did: dict[str, StaggeredDiD] = Field(default_factory=dict, description="keyed by measure id")


def cross_site_json_schema() -> dict:
    """The JSON Schema of ``cross_site.json``, as committed in ``cross_site.schema.json``."""
    schema = CrossSiteResult.model_json_schema(mode="serialization")
    schema["$id"] = "cross_site.schema.json"
    return schema
