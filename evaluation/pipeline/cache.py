"""The content-addressed notebook cache: re-execute a notebook only when something it depends on changed.

A site x domain notebook's key is the SHA-256 of

* its template notebook (bytes);
* its parameters (site, data folder kind, go-live override, outlier and comparator options);
* the ``evaluation`` package source and ``data_dictionary/`` (every file, by content);
* the locked dependency versions (``requirements.lock``);
* the data it reads: the panel rows of the site's own organisation and of every possible comparator for
  the domain's measures (and the MHS32 rows the comparator rule uses), plus the row accounting of every
  input file (which the site's data quality page shows).

The data part is taken from the panel, not from whole files, because the published files are national: one
file holds every provider. Changing one site's rows therefore re-executes only that site's notebooks, while
a change to a comparator's rows re-executes every site that could use it. The cross-site notebook's key
covers the site results files it reads instead of the panel.

A cache entry (``<build>/cache/<site>/<domain>.json``) records the key and the SHA-256 of every file the
execution wrote; a hit needs the same key *and* those files unchanged, so a deleted or edited output is
rebuilt rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.atomic import write_text_atomic
from evaluation.paths import DICTIONARY_DIR, LOCK_FILE, PACKAGE_DIR, REPO_ROOT
from evaluation.provenance import sha256_bytes, sha256_file

if TYPE_CHECKING:  # the runner imports this module: keep its start-up free of pandas
    import pandas as pd

#: Bump to invalidate every cache entry when the cache format itself changes.
CACHE_VERSION = "1"
#: The measure the comparator rule ranks providers by (evaluation.evaluate.comparators.SCALE_MEASURE).
SCALE_MEASURE = "MHS32"
DIGEST_COLUMNS = ["org_code", "period", "measure_id", "period_type", "numerator", "denominator", "value", "status",
                  "suppressed", "quality_flags", "source_file"]


def tree_digest(paths: Iterable[Path], root: Path) -> str:
    """SHA-256 over the relative names and contents of ``paths`` (sorted), so a rename counts as a change."""
    h = hashlib.sha256()
    for p in sorted(paths, key=lambda q: q.relative_to(root).as_posix()):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(sha256_file(p).encode())
        h.update(b"\n")
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_digest() -> str:
    """Digest of the package source, the data dictionary and the locked dependency versions."""
    files = [p for p in PACKAGE_DIR.rglob("*.py") if "__pycache__" not in p.parts]
    files += [p for p in DICTIONARY_DIR.rglob("*") if p.is_file()]
    if LOCK_FILE.is_file():
        files.append(LOCK_FILE)
    return tree_digest(files, REPO_ROOT)


def frame_digest(frame: pd.DataFrame) -> str:
    """Digest of panel rows, independent of row order and of where the data folder lives."""
    if frame.empty:
        return sha256_bytes(b"empty")
    cols = [c for c in DIGEST_COLUMNS if c in frame.columns]
    out = frame[cols].copy()
    # Map each distinct value once: the national files give tens of thousands of rows but few distinct values.
    if "source_file" in out:
        names = {v: Path(str(v)).name for v in out["source_file"].unique()}
        out["source_file"] = out["source_file"].map(names)
    if "quality_flags" in out:
        flags = out["quality_flags"].map(lambda v: ";".join(sorted(v)) if isinstance(v, list | tuple) else str(v))
        out["quality_flags"] = flags
    out = out.astype(str).sort_values(cols, kind="mergesort")
    return sha256_bytes(out.to_csv(index=False, lineterminator="\n").encode())


def site_rows(panel: pd.DataFrame, org_code: str, measure_ids: Iterable[str]) -> pd.DataFrame:
    """The panel rows of one organisation for the given measures."""
    return panel[(panel["org_code"] == org_code) & panel["measure_id"].isin(list(measure_ids))]


def comparator_digest(panel: pd.DataFrame, measure_ids: list[str], excluded_orgs: set[str]) -> str:
    """Digest of every possible comparator's rows (any organisation not in ``excluded_orgs``) for the
    measures and the MHS32 rows the comparator rule uses."""
    measures = [*measure_ids, SCALE_MEASURE]
    return frame_digest(panel[panel["measure_id"].isin(measures) & ~panel["org_code"].isin(excluded_orgs)])


def data_digest(panel: pd.DataFrame, file_accounting: list[dict], org_code: str, measure_ids: list[str],
                excluded_orgs: set[str], comparators: str | None = None) -> str:
    """The data part of a site x domain key: the site's rows, every possible comparator's rows (any
    organisation that is neither the site nor one of ``excluded_orgs``; pass ``comparators`` when already
    computed by :func:`comparator_digest`) and the row accounting of the input files."""
    own = site_rows(panel, org_code, [*measure_ids, SCALE_MEASURE])
    if comparators is None:
        comparators = comparator_digest(panel, measure_ids, excluded_orgs | {org_code})
    payload = {"site": frame_digest(own), "comparators": comparators, "files": file_accounting}
    return sha256_bytes(json.dumps(payload, sort_keys=True, default=str).encode())


def job_key(*, template: Path, parameters: dict, data: str) -> str:
    """The cache key of one notebook execution."""
    payload = {
        "version": CACHE_VERSION,
        "template": sha256_file(template),
        "parameters": parameters,
        "code": code_digest(),
        "data": data,
    }
    return sha256_bytes(json.dumps(payload, sort_keys=True, default=str).encode())


@dataclass(frozen=True)
class CacheEntry:
    """A successful execution: its key, the seconds it took, and the files it wrote (relative to the build)."""

    key: str
    seconds: float
    outputs: dict[str, str]

    def to_dict(self) -> dict:
        return {"key": self.key, "seconds": round(self.seconds, 3), "outputs": dict(sorted(self.outputs.items()))}


def entry_path(build: Path, site: str, domain: str) -> Path:
    """Where a job's cache entry lives."""
    return build / "cache" / site / f"{domain}.json"


def outputs_of(build: Path, files: Iterable[Path]) -> dict[str, str]:
    """SHA-256 of each existing file, keyed by its path relative to the build folder."""
    return {p.relative_to(build).as_posix(): sha256_file(p) for p in sorted(files) if p.is_file()}


def store(build: Path, site: str, domain: str, entry: CacheEntry) -> None:
    """Write a job's cache entry (temp file + rename: a crash never leaves a truncated entry)."""
    write_text_atomic(entry_path(build, site, domain), json.dumps(entry.to_dict(), indent=2, sort_keys=True) + "\n")


def lookup(build: Path, site: str, domain: str, key: str) -> CacheEntry | None:
    """The entry for a job when its key matches and every file it wrote is still there, unchanged."""
    path = entry_path(build, site, domain)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if raw.get("key") != key or not raw.get("outputs"):
        return None
    for rel, digest in raw["outputs"].items():
        f = build / rel
        if not f.is_file() or sha256_file(f) != digest:
            return None
    return CacheEntry(raw["key"], float(raw.get("seconds", 0.0)), dict(raw["outputs"]))


def forget(build: Path, site: str, domain: str) -> None:
    """Drop a job's entry (after a failure, so a stale success can never be reused)."""
    entry_path(build, site, domain).unlink(missing_ok=True)


def input_files(folder: Path) -> list[Path]:
    """Every file under a data folder (the panel may depend on any of them, the succession table included)."""
    return sorted(p for p in folder.rglob("*") if p.is_file())


def panel_snapshot_path(folder: Path, build: Path) -> Path:
    """Where the loaded panel for these exact inputs and this code is kept."""
    digest = sha256_bytes(f"{tree_digest(input_files(folder), folder)}:{code_digest()}".encode())
    return build / "cache" / "panel" / f"{digest[:32]}.pkl"


def cached_panel(folder: Path | str, build: Path | str, snapshot: Path | None = None) -> tuple[pd.DataFrame, list]:
    """``load_panel(folder, strict=False)``, read once per build and shared by every notebook.

    The runner loads the panel before any kernel starts and keeps it under ``<build>/cache/panel``, named by
    the digest of the input files and the code; each notebook then unpickles it instead of parsing the
    national files again. The snapshot is only ever written by this function into the build folder.
    """
    import pickle

    from evaluation.sources import load_panel

    folder, build = Path(folder).resolve(), Path(build).resolve()
    if os.environ.get("EVALUATION_PANEL_SNAPSHOT") == "0":  # the benchmark's naive build reads every time
        return load_panel(folder, strict=False)
    # A caller that already worked out the snapshot path passes it, so the inputs are hashed once.
    path = snapshot or panel_snapshot_path(folder, build)
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                panel, reports = pickle.load(fh)  # noqa: S301 - written by this function into our own build folder
            # Unpickled arrays can be read-only views of the pickle's buffer; the methods expect their own.
            return panel.copy(deep=True), reports
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
            pass  # a damaged snapshot is rebuilt below
    # Not strict: an unusable file stops only the sites whose rows it holds (sources.usable_rows).
    panel, reports = load_panel(folder, strict=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        pickle.dump((panel, reports), fh, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)
    return panel, reports
