"""The measure panel: the one tidy format every method reads.

One row per organisation x period x measure x period type. Readers produce it; nothing downstream knows
a file layout. Columns (in order):

``org_code`` (str), ``period`` (Timestamp, first day of the period), ``measure_id`` (str, a data
dictionary id), ``period_type`` ("month" | "quarter" | "rolling_12_months"), ``numerator`` (float),
``denominator`` (float, NaN for counts), ``value`` (float, NaN when suppressed or missing), ``status``
("final" | "provisional"), ``suppressed`` (bool), ``quality_flags`` (str, ``;``-separated, "" for none),
``source_file`` (str).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

PANEL_COLUMNS: list[str] = [
    "org_code",
    "period",
    "measure_id",
    "period_type",
    "numerator",
    "denominator",
    "value",
    "status",
    "suppressed",
    "quality_flags",
    "source_file",
]
PANEL_KEY: list[str] = ["org_code", "period", "measure_id", "period_type"]
PERIOD_TYPES = ("month", "quarter", "rolling_12_months")
STATUSES = ("final", "provisional")


class PanelError(ValueError):
    """A frame does not follow the panel contract."""


def empty_panel() -> pd.DataFrame:
    """A zero-row panel with the right columns and dtypes."""
    return coerce_panel(pd.DataFrame({c: [] for c in PANEL_COLUMNS}))


def coerce_panel(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the panel columns, in order, with the panel dtypes."""
    missing = [c for c in PANEL_COLUMNS if c not in df.columns]
    if missing:
        raise PanelError(f"panel is missing columns {missing}")
    out = df[PANEL_COLUMNS].copy()
    out["org_code"] = out["org_code"].astype("string").astype(object)
    out["period"] = pd.to_datetime(out["period"]).astype("datetime64[ns]")
    out["measure_id"] = out["measure_id"].astype(object)
    out["period_type"] = out["period_type"].astype(object)
    for col in ("numerator", "denominator", "value"):
        out[col] = pd.to_numeric(out[col], errors="raise").astype("float64")
    out["status"] = out["status"].astype(object)
    out["suppressed"] = out["suppressed"].astype(bool)
    out["quality_flags"] = out["quality_flags"].fillna("").astype(object)
    out["source_file"] = out["source_file"].astype(object)
    return out


def validate_panel(df: pd.DataFrame) -> pd.DataFrame:
    """Check the panel contract; return the coerced panel or raise :class:`PanelError`."""
    out = coerce_panel(df)
    bad_type = set(out["period_type"]) - set(PERIOD_TYPES)
    if bad_type:
        raise PanelError(f"unknown period_type values {sorted(bad_type)}")
    bad_status = set(out["status"]) - set(STATUSES)
    if bad_status:
        raise PanelError(f"unknown status values {sorted(bad_status)}")
    if (out["period"].dt.day != 1).any():
        raise PanelError("every period must be the first day of a month")
    if out.duplicated(PANEL_KEY).any():
        dup = out[out.duplicated(PANEL_KEY, keep=False)].iloc[0]
        raise PanelError(
            f"duplicate panel key {dup['org_code']} {dup['period']:%Y-%m} {dup['measure_id']} {dup['period_type']}"
        )
    if (out["suppressed"] & out["value"].notna()).any():
        raise PanelError("a suppressed row must have no value")
    return out


def sort_panel(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by the panel key so outputs are deterministic."""
    return df.sort_values(PANEL_KEY, kind="mergesort").reset_index(drop=True)


def prefer_final(df: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Drop provisional rows that a final row for the same key supersedes.

    Returns the panel and the number of rows dropped. Where two rows of the same status share a key the
    first is kept (readers reject such duplicates before this point).
    """
    rank = df["status"].map({"final": 0, "provisional": 1}).fillna(2)
    ordered = df.assign(_rank=rank).sort_values([*PANEL_KEY, "_rank"], kind="mergesort")
    kept = ordered.drop_duplicates(PANEL_KEY, keep="first").drop(columns="_rank")
    return sort_panel(kept), len(df) - len(kept)


def combine_panels(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate reader outputs into one validated, sorted panel (final rows win)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_panel()
    panel, _ = prefer_final(pd.concat([coerce_panel(f) for f in frames], ignore_index=True))
    return validate_panel(panel)


def monthly_series(panel: pd.DataFrame, org_code: str, measure_id: str, period_type: str = "month") -> pd.DataFrame:
    """One organisation's series for one measure and period type, sorted by period."""
    sel = panel[
        (panel["org_code"] == org_code) & (panel["measure_id"] == measure_id) & (panel["period_type"] == period_type)
    ]
    return sel.sort_values("period", kind="mergesort").reset_index(drop=True)


@dataclass
class ReadReport:
    """What a reader did with one file: rows read = rows kept + rows rejected, with a count per reason."""

    path: str
    layout: str
    sha256: str = ""
    rows_read: int = 0
    rows_kept: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_kept + self.rows_rejected

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rows set aside for ``reason``."""
        if n:
            self.rejected[reason] = self.rejected.get(reason, 0) + int(n)

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "layout": self.layout,
            "sha256": self.sha256,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_rejected": self.rows_rejected,
            "rejected": dict(sorted(self.rejected.items())),
            "findings": list(self.findings),
            "blocking": list(self.blocking),
        }


@dataclass
class ReadResult:
    """A reader's output: the panel rows it kept and its report."""

    panel: pd.DataFrame
    report: ReadReport
