"""Sites, measures, domains and input layouts, loaded and validated from ``data_dictionary/``.

The YAML files are the single source of truth; this module only reads and checks them. A bad field is
reported as ``<file>: <path.to.field>: <problem>`` so the person editing the YAML can find it.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from evaluation.paths import DICTIONARY_DIR


class RegistryError(ValueError):
    """A data dictionary file is missing or does not match its schema."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Milestone(_Strict):
    date: dt.date
    precision: Literal["day", "month", "quarter", "year"] = "month"
    event: str = Field(min_length=3)
    source: str = Field(min_length=3)


class CatchmentArea(_Strict):
    """A local authority in a site's catchment (ONS code), for population denominators."""

    code: str = Field(pattern=r"^[EWSN]\d{8}$")
    name: str
    #: Absorbed into another area on this date (e.g. the April 2023 reorganisation); its population is then
    #: carried forward from the last published year.
    abolished: dt.date | None = None


class Site(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    area: str
    provider_name: str
    ods_code: str = Field(pattern=r"^[A-Z0-9]{3,5}$")
    programme: str
    population: int | None = Field(default=None, gt=0)
    population_source: str
    intervention_date: dt.date
    intervention_label: str
    intervention_is_assumption: bool
    intervention_reasoning: str = Field(min_length=10)
    milestones: list[Milestone] = Field(min_length=1)
    notes: list[str] = Field(default_factory=list)
    catchment: list[CatchmentArea] = Field(default_factory=list)

    @field_validator("intervention_date")
    @classmethod
    def _month_start(cls, value: dt.date) -> dt.date:
        if value.day != 1:
            raise ValueError("must be the first day of a month (the evaluation works in months)")
        return value


class CovidWindow(_Strict):
    start: dt.date
    end: dt.date
    reason: str = Field(min_length=10)

    @model_validator(mode="after")
    def _ordered(self) -> CovidWindow:
        if self.end < self.start or self.start.day != 1 or self.end.day != 1:
            raise ValueError("start and end must be first days of months, start before end")
        return self

    @property
    def months(self) -> tuple[str, str]:
        """(start, end) as ISO dates, the form the methods take."""
        return self.start.isoformat(), self.end.isoformat()


class ITSFacts(_Strict):
    min_pre_months: int = Field(ge=3)
    min_post_months: int = Field(ge=1)
    placebo_min_pre_months: int = Field(ge=3)
    placebo_min_post_months: int = Field(ge=1)
    early_days_months: int = Field(ge=1)
    max_zero_share: float = Field(ge=0, lt=1)
    primary_horizon_months: int = Field(ge=1)
    golive_shift_months: tuple[int, ...]
    phase_in_months: int = Field(ge=1)
    mde_power: float = Field(gt=0, lt=1)
    mde_alpha: float = Field(gt=0, lt=1)
    multiplicity_method: Literal["holm"]

    @field_validator("golive_shift_months")
    @classmethod
    def _nonzero_shifts(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if 0 in value or len(set(value)) != len(value):
            raise ValueError("shifts must be distinct and non-zero (zero is the main analysis)")
        return value


class ComparatorFacts(_Strict):
    scale_measure: str
    min_scale_value: float = Field(ge=0)
    min_coverage: float = Field(gt=0, le=1)
    min_comparators: int = Field(ge=1)
    min_sites_for_pooling: int = Field(ge=2)
    placebo_rmspe_cutoff: float = Field(gt=1)


class QualityFacts(_Strict):
    min_national_orgs: int = Field(ge=3)
    level_shift_window: int = Field(ge=3)
    level_shift_min_change: float = Field(gt=0)
    level_shift_min_score: float = Field(gt=0)
    national_peak_score: float = Field(gt=0)


class AnalysisFacts(_Strict):
    """``data_dictionary/analysis.yaml``: the windows, minimums and rules the methods use."""

    covid: CovidWindow
    its: ITSFacts
    comparators: ComparatorFacts
    quality: QualityFacts


class DemonstrationEffect(_Strict):
    """One known effect of the demonstration data, on the natural scale of the measure's value_type."""

    step: float
    slope: float


class DemonstrationFacts(_Strict):
    """``data_dictionary/demonstration.yaml``: the effects the synthetic generator puts in (site -> measure)."""

    effects: dict[str, dict[str, DemonstrationEffect]]


class Domain(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z_]*$")
    name: str
    question: str
    plain_name: str = Field(min_length=3, description="the domain in easy words (easy-read pages)")


class Measure(_Strict):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    name: str
    domain: str
    headline: bool
    definition: str = Field(min_length=10)
    numerator: str
    denominator: str | None
    unit: str
    value_type: Literal["count", "proportion", "rate"]
    direction: Literal["increase", "decrease", "neutral"]
    period_type: Literal["month", "quarter", "rolling_12_months"]
    analysis: Literal["its", "descriptive"]
    source_publication: str
    source_measure_id: str
    layout: str
    odds_event: str | None = None
    #: First and last months the publisher published the measure (None: still published / from the start).
    first_period: dt.date | None = None
    last_period: dt.date | None = None
    #: Where the measure is published, when not in the file an evaluator would first look at.
    availability: str | None = None
    #: A count of the catchment's people or their care (not of staff): modelled with the catchment population
    #: as exposure and shown per 100,000 population by year.
    per_population: bool = False

    @model_validator(mode="after")
    def _denominator_matches_type(self) -> Measure:
        if self.value_type == "proportion" and not self.denominator:
            raise ValueError("a proportion needs a denominator")
        if self.value_type == "proportion" and not self.odds_event:
            raise ValueError("a proportion needs odds_event (the event its odds ratio describes)")
        if self.value_type == "count" and self.denominator:
            raise ValueError("a count has no denominator (set it to null)")
        if self.per_population and self.value_type != "count":
            raise ValueError("only a count can be per population")
        return self


class LayoutColumn(_Strict):
    name: str
    type: Literal["date", "text", "number", "count"]
    required: bool
    description: str


class Layout(_Strict):
    id: str
    name: str
    publisher: str
    description: str
    file_types: list[str]
    columns: list[LayoutColumn]
    #: "local" for the templates a provider fills in from its own records, else a national publication.
    source_kind: Literal["published", "local"] = "published"

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]


class Registry(_Strict):
    """Everything in ``data_dictionary/``, cross-checked."""

    sites: list[Site]
    domains: list[Domain]
    measures: list[Measure]
    layouts: list[Layout]
    analysis: AnalysisFacts
    demonstration: DemonstrationFacts | None = None

    @model_validator(mode="after")
    def _cross_check(self) -> Registry:
        _unique("sites", [s.id for s in self.sites])
        _unique("sites.ods_code", [s.ods_code for s in self.sites])
        _unique("measures", [m.id for m in self.measures])
        _unique("domains", [d.id for d in self.domains])
        domain_ids = {d.id for d in self.domains}
        layout_ids = {lay.id for lay in self.layouts}
        for m in self.measures:
            if m.domain not in domain_ids:
                raise ValueError(f"measure {m.id}: domain {m.domain!r} is not one of {sorted(domain_ids)}")
            if m.layout not in layout_ids:
                raise ValueError(f"measure {m.id}: layout {m.layout!r} is not one of {sorted(layout_ids)}")
        if self.analysis.comparators.scale_measure not in {m.id for m in self.measures}:
            raise ValueError(f"analysis.yaml: comparators.scale_measure {self.analysis.comparators.scale_measure!r} "
                             "is not a measure")
        for d in self.domains:
            heads = [m.id for m in self.measures if m.domain == d.id and m.headline]
            if len(heads) != 1:
                raise ValueError(f"domain {d.id}: needs exactly one headline measure, found {heads}")
        return self

    # Look-ups used everywhere downstream.
    def site(self, site_id: str) -> Site:
        for s in self.sites:
            if s.id == site_id:
                return s
        code = organisation_code(site_id)
        if code:
            return organisation_site(code)
        raise KeyError(f"unknown site {site_id!r}; valid sites: {', '.join(self.site_ids)}, "
                       f"'all', or {ORG_SITE_PREFIX}<ODS code> for any organisation in the data")

    def site_by_code(self, ods_code: str) -> Site | None:
        return next((s for s in self.sites if s.ods_code == ods_code), None)

    def domain(self, domain_id: str) -> Domain:
        for d in self.domains:
            if d.id == domain_id:
                return d
        raise KeyError(f"unknown domain {domain_id!r}; valid domains: {', '.join(self.domain_ids)}")

    def measure(self, measure_id: str) -> Measure:
        for m in self.measures:
            if m.id == measure_id:
                return m
        raise KeyError(f"unknown measure {measure_id!r}")

    def layout(self, layout_id: str) -> Layout:
        for lay in self.layouts:
            if lay.id == layout_id:
                return lay
        raise KeyError(f"unknown layout {layout_id!r}")

    def measures_for(self, domain_id: str) -> list[Measure]:
        """Measures of a domain, headline first, then in dictionary order."""
        self.domain(domain_id)
        ms = [m for m in self.measures if m.domain == domain_id]
        return sorted(ms, key=lambda m: not m.headline)

    def headline(self, domain_id: str) -> Measure:
        return self.measures_for(domain_id)[0]

    @property
    def site_ids(self) -> list[str]:
        return [s.id for s in self.sites]

    @property
    def domain_ids(self) -> list[str]:
        return [d.id for d in self.domains]


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ValueError(f"{what}: {v!r} appears more than once")
        seen.add(v)


#: libyaml's parser where PyYAML has it (its wheels do): the same safe constructor as ``yaml.safe_load``, so the
#: same values, parsed about ten times faster, which every process that loads the dictionary pays.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """``yaml.safe_load`` with libyaml's parser when available (:data:`_SAFE_LOADER`)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, C or Python


def read_yaml(path: Path) -> dict:
    """A data dictionary YAML file as a mapping (safe-loaded); :class:`RegistryError` naming the file."""
    if not path.is_file():
        raise RegistryError(f"{path}: file not found")
    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise RegistryError(f"{path}: expected a mapping at the top level")
    return data


def load_registry(directory: Path | str | None = None) -> Registry:
    """Load and validate sites, domains, measures and layouts from a data dictionary folder.

    Raises :class:`RegistryError` with a one-line message naming the file and field on any problem.
    """
    directory = Path(directory) if directory else DICTIONARY_DIR
    sites_doc = read_yaml(directory / "sites.yaml")
    measures_doc = read_yaml(directory / "measures.yaml")
    layouts_doc = read_yaml(directory / "layouts.yaml")
    parts: dict[str, list] = {}
    for path, doc, key, model in (
        (directory / "sites.yaml", sites_doc, "sites", Site),
        (directory / "measures.yaml", measures_doc, "domains", Domain),
        (directory / "measures.yaml", measures_doc, "measures", Measure),
        (directory / "layouts.yaml", layouts_doc, "layouts", Layout),
    ):
        items = doc.get(key)
        if not isinstance(items, list) or not items:
            raise RegistryError(f"{path.name}: {key}: expected a non-empty list")
        parsed = []
        for i, item in enumerate(items):
            try:
                parsed.append(model.model_validate(item))
            except ValidationError as exc:
                err = exc.errors()[0]
                # Name the entry by its id where it has one, so the message points at the YAML entry.
                ident = item.get("id") if isinstance(item, dict) else None
                loc = [key, f"[{ident}]" if ident else i, *err["loc"]]
                field = ".".join(str(p) for p in loc)
                raise RegistryError(f"{path.name}: {field}: {err['msg']}") from None
        parts[key] = parsed
    analysis_path = directory / "analysis.yaml"
    try:
        parts["analysis"] = AnalysisFacts.model_validate(read_yaml(analysis_path))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise RegistryError(f"{analysis_path.name}: {field}: {err['msg']}") from None
    demo_path = directory / "demonstration.yaml"
    if demo_path.is_file():
        try:
            parts["demonstration"] = DemonstrationFacts.model_validate(read_yaml(demo_path))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"])
            raise RegistryError(f"{demo_path.name}: {field}: {err['msg']}") from None
    try:
        return Registry(**parts)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise RegistryError(f"data_dictionary: {msg}") from None


#: Site ids of the form ``org_<ods code>`` evaluate any organisation in the data as a site (national runs).
ORG_SITE_PREFIX = "org_"
#: Stand-in go-live of an organisation outside the registry: the run must give ``--intervention-date``.
NO_GO_LIVE = dt.date(1900, 1, 1)


def organisation_site_id(ods_code: str) -> str:
    """The site id under which an organisation outside the registry is evaluated."""
    return ORG_SITE_PREFIX + ods_code.lower()


def organisation_code(site_id: str) -> str | None:
    """The ODS code in an ``org_<code>`` site id (any case: ``org_RX4`` and ``org_rx4`` are one site), or None
    for any other id."""
    m = re.fullmatch(ORG_SITE_PREFIX + r"([a-z0-9]{3,5})", site_id, flags=re.IGNORECASE)
    return m.group(1).upper() if m else None


@lru_cache(maxsize=256)
def organisation_site(ods_code: str) -> Site:
    """An organisation outside the registry as a site: no programme, no recorded go-live (the run's
    ``--intervention-date`` is used for every such organisation)."""
    return Site(
        id=organisation_site_id(ods_code),
        name=f"Provider {ods_code}",
        area="England",
        provider_name=f"Provider {ods_code}",
        ods_code=ods_code,
        programme="Not one of the four programme sites: evaluated at the run's go-live date for a national view.",
        population_source="not recorded",
        intervention_date=NO_GO_LIVE,
        intervention_label="the go-live date given for this run",
        intervention_is_assumption=True,
        intervention_reasoning="No go-live is recorded for this organisation; the run's --intervention-date is used.",
        milestones=[Milestone(date=NO_GO_LIVE, event="no milestone recorded", source="none")],
    )


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry from the package's own ``data_dictionary/`` (cached)."""
    return load_registry(DICTIONARY_DIR)
