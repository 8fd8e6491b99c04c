"""The record-level measure definitions: ``data_dictionary/record_measures/``, loaded and checked.

``measures.yaml`` there names the SQL files (one definition of each measure, in DuckDB's dialect), the code
lists (NHS England's ``validcodes``), the facts the SQL uses (ages, windows) and, per measure, its
definition, source and reconciliation with the published figure.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evaluation.dictionary.registry import Registry, RegistryError, default_registry, read_yaml
from evaluation.paths import DICTIONARY_DIR

#: Folder of the SQL files and their YAML.
RECORD_MEASURES_DIR = DICTIONARY_DIR / "record_measures"
#: Open-ended first / last months in the code lists, as UniqMonthIDs the SQL can compare against.
OPEN_FIRST_MONTH = 0
OPEN_LAST_MONTH = 99999


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RecordFacts(_Strict):
    adult_age: int = Field(ge=0)
    rejection_window_days: int = Field(ge=0)
    wait_days: int = Field(ge=1)


class Code(_Strict):
    field: str
    list: str
    value: str
    first_month: int = OPEN_FIRST_MONTH
    last_month: int = OPEN_LAST_MONTH


class View(_Strict):
    name: str = Field(pattern=r"^[a-z_]+$")
    sql: str


class CheckedTable(_Strict):
    name: str = Field(pattern=r"^[a-z_]+$")
    table: str
    sql: str
    #: Intermediate tables computed (and kept on disk) before the check, in order: one heavy step per query lets
    #: DuckDB spill each to disk, where one query holding them all ran out of memory at 50 million referrals.
    steps: list[View] = []


class RecordMeasure(_Strict):
    sql: str
    measure_ids: list[str] = Field(min_length=1)
    definition: str = Field(min_length=10)
    source: str = Field(min_length=10)
    reconciliation: str = Field(min_length=10)


class RecordDefinitions(_Strict):
    """Everything in ``record_measures/measures.yaml``, with the SQL text of each file."""

    facts: RecordFacts
    codes: list[Code]
    tables: list[CheckedTable]
    views: list[View] = []
    measures: list[RecordMeasure]
    sql_text: dict[str, str] = {}

    @property
    def measure_ids(self) -> list[str]:
        return [m for rm in self.measures for m in rm.measure_ids]

    def sql(self, name: str) -> str:
        """The text of one SQL file."""
        return self.sql_text[name]


def load_definitions(directory: Path | str | None = None, registry: Registry | None = None) -> RecordDefinitions:
    """Load ``measures.yaml`` and its SQL files; :class:`RegistryError` (one line, naming the file and
    field) when something is missing, malformed, or names a measure the data dictionary does not have."""
    directory = Path(directory) if directory else RECORD_MEASURES_DIR
    path = directory / "measures.yaml"
    doc = read_yaml(path)
    try:
        defs = RecordDefinitions.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RegistryError(f"{path}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}") from None
    known = {m.id for m in (registry or default_registry()).measures}
    texts: dict[str, str] = {}
    for item in [*defs.tables, *(step for t in defs.tables for step in t.steps), *defs.views, *defs.measures]:
        sql_path = directory / item.sql
        if not sql_path.is_file():
            raise RegistryError(f"{path}: SQL file {item.sql} not found in {directory}")
        texts[item.sql] = sql_path.read_text(encoding="utf-8")
    for rm in defs.measures:
        for mid in rm.measure_ids:
            if mid not in known:
                raise RegistryError(f"{path}: {rm.sql}: measure {mid} is not in data_dictionary/measures.yaml")
    return defs.model_copy(update={"sql_text": texts})


@lru_cache(maxsize=1)
def default_definitions() -> RecordDefinitions:
    """The package's own record-level definitions (cached)."""
    return load_definitions()
