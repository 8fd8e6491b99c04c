"""The organisation succession table, ``data_dictionary/organisations.yaml``.

Trusts merge and change codes; a series that changes code mid-way would look like one organisation
stopping and another starting. ``successions`` maps an old ODS code to its successor, so the panel carries
one series under the current code (each mapped row flagged "code mapped from OLD"). ``name_changes``
records organisations that were renamed under the same code (nothing to map, but evaluators should know
why a published name changed).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evaluation.dictionary.registry import DICTIONARY_DIR, safe_load
from evaluation.panel.frame import PANEL_KEY
from evaluation.sources.common import SourceError, add_flag

ORGANISATIONS_FILE = DICTIONARY_DIR / "organisations.yaml"
_CODE = r"^[A-Z0-9]{3,5}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Succession(_Strict):
    """An old ODS code whose figures continue under a new code from ``from_date``."""

    old_code: str = Field(pattern=_CODE)
    new_code: str = Field(pattern=_CODE)
    from_date: dt.date
    note: str = Field(min_length=3)


class NameChange(_Strict):
    """An organisation renamed without a change of code."""

    code: str = Field(pattern=_CODE)
    old_name: str
    new_name: str
    from_date: dt.date
    note: str = Field(min_length=3)


class Organisations(_Strict):
    """The succession table."""

    successions: list[Succession] = Field(default_factory=list)
    name_changes: list[NameChange] = Field(default_factory=list)

    @property
    def code_map(self) -> dict[str, str]:
        """Old code -> current code, following chains (A -> B -> C maps A to C)."""
        direct = {s.old_code: s.new_code for s in self.successions}
        out = {}
        for old in direct:
            seen, code = {old}, direct[old]
            while code in direct:
                if code in seen:
                    raise SourceError(ORGANISATIONS_FILE, f"succession cycle through {code}")
                seen.add(code)
                code = direct[code]
            out[old] = code
        return out


def load_organisations(path: Path | str | None = None) -> Organisations:
    """Load and validate the succession table (``yaml.safe_load``).

    Without ``path`` the data dictionary's file is used, and its absence means no successions; a ``path``
    given explicitly must exist.
    """
    if path is None and not ORGANISATIONS_FILE.is_file():
        return Organisations()
    path = Path(path) if path is not None else ORGANISATIONS_FILE
    if not path.is_file():
        raise SourceError(path, "organisation succession file not found")
    try:
        doc = safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise SourceError(path, f"not valid YAML ({' '.join(str(exc).split())})") from None
    try:
        return Organisations.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise SourceError(path, f"{where}: {err['msg']}") from None


def apply_successions(panel: pd.DataFrame, organisations: Organisations) -> tuple[pd.DataFrame, pd.Series]:
    """Map old codes to their successors, flagging each mapped row "code mapped from OLD".

    Every row of an old code is mapped, whatever its period: the old code's history becomes the start of the
    successor's series (``from_date`` records when the change happened; it does not limit the mapping).

    A mapped row whose key the successor already has is dropped (the successor's own figures win): the
    returned boolean Series marks, by the input's index, the rows dropped that way, so the caller can count
    them against their file.
    """
    mapping = organisations.code_map
    dropped = pd.Series(False, index=panel.index)
    if not mapping or panel.empty:
        return panel, dropped
    old = panel["org_code"].isin(list(mapping))
    if not old.any():
        return panel, dropped
    out = panel.copy()
    flags = out["quality_flags"].copy()
    for code in out.loc[old, "org_code"].unique():
        rows = out["org_code"].eq(code)
        flags = add_flag(flags, rows, f"code mapped from {code}")
    out["quality_flags"] = flags
    out.loc[old, "org_code"] = out.loc[old, "org_code"].map(mapping)
    # Own rows of the successor sort first, so a collision keeps them.
    order = out.assign(_mapped=old.astype(int)).sort_values([*PANEL_KEY, "_mapped"], kind="mergesort")
    clash = order.duplicated(PANEL_KEY, keep="first") & order["_mapped"].eq(1)
    dropped.loc[order.index[clash.to_numpy()]] = True
    return out.loc[~dropped], dropped
