"""The run manifest: what one run evaluated, and the only list of results a site is built from.

The runner writes ``<build>/run_manifest.json`` once, at the very end of a run, through a temporary file and
a rename; it removes the previous manifest when a run starts. So the manifest always describes one complete
run: a run that was killed leaves none, and assembling refuses to publish until a run finishes. Every
site x domain the run was asked for has an entry, ``ok`` or ``failed`` with its reason, the data source kind,
the input files holding that site's rows (with SHA-256) and the results file it wrote (with SHA-256).

:func:`verified` checks the manifest against the build folder before anything is published: a results file or
executed notebook that was deleted or rewritten after the run (by a later run of one site, say) turns its entry
into ``failed`` with the reason and the command that re-runs it, so a site never mixes two runs' results.
The schema generated from :class:`RunManifest` is committed as ``data_dictionary/schemas/run_manifest.schema.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from evaluation.atomic import write_text_atomic
from evaluation.paths import DICTIONARY_DIR
from evaluation.provenance import sha256_file

MANIFEST_NAME = "run_manifest.json"
SCHEMA_PATH = DICTIONARY_DIR / "schemas" / "run_manifest.schema.json"
#: The cross-site synthesis is one entry with this site id.
CROSS_SITE = ("all", "cross_site")

SourceKind = Literal["synthetic", "published", "local"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputFile(_Model):
    """An input file that holds rows of the analysis's organisation."""

    path: str
    sha256: str


class Analysis(_Model):
    """One site x domain (or the cross-site synthesis) of the run."""

    site: str
    domain: str
    status: Literal["ok", "failed"]
    reason: str = ""
    data_source: SourceKind
    inputs: list[InputFile] = []
    #: Paths relative to the build folder; empty when the analysis wrote none.
    results_file: str = ""
    results_sha256: str = ""
    notebook: str = ""
    notebook_sha256: str = ""
    cached: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class RunManifest(_Model):
    """Everything a site build needs to know about the one run it shows."""

    schema_version: Literal[1] = 1
    data_dir: str
    #: The run's data folder kind; each site's own kind is in its entries (a local extract beside published files).
    data_source: SourceKind
    parameters: dict[str, str | bool | float | int]
    analyses: list[Analysis]

    @property
    def failed(self) -> list[Analysis]:
        return [a for a in self.analyses if not a.ok]

    def results_files(self, build: Path) -> list[Path]:
        """This run's successful site x domain results files (absolute), sorted; the cross-site pool."""
        return sorted(build / a.results_file for a in self.analyses
                      if a.ok and a.results_file and (a.site, a.domain) != CROSS_SITE)

    def site_source(self, site: str) -> SourceKind:
        """The one data source kind of a site's analyses in this run."""
        kinds = {a.data_source for a in self.analyses if a.site == site}
        return "local" if "local" in kinds else (kinds.pop() if len(kinds) == 1 else self.data_source)

    def as_status(self) -> dict:
        """The manifest in the shape the page generator reads: outcomes with ok/error, and the run's data source
        (``local`` when any site used a local extract, so every page says so)."""
        kinds = {self.site_source(a.site) for a in self.analyses if (a.site, a.domain) != CROSS_SITE}
        source = "synthetic" if self.data_source == "synthetic" else ("local" if "local" in kinds else "published")
        return {"data_dir": self.data_dir, "data_source": source,
                "results_files": [a.results_file for a in self.analyses if a.ok and a.results_file
                                  and (a.site, a.domain) != CROSS_SITE],
                "outcomes": [{"site": a.site, "domain": a.domain, "ok": a.ok, "error": a.reason,
                              "data_source": self.site_source(a.site)} for a in self.analyses]}


def manifest_path(build: Path) -> Path:
    return Path(build) / MANIFEST_NAME


def write_manifest(build: Path, manifest: RunManifest) -> Path:
    """Write the manifest atomically (temp file + rename)."""
    text = json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    return write_text_atomic(manifest_path(build), text)


def clear_manifest(build: Path) -> None:
    """Remove the previous run's manifest: from now until this run ends, the build folder holds no complete run."""
    manifest_path(build).unlink(missing_ok=True)


class ManifestError(ValueError):
    """No usable manifest; ``str()`` is one line."""


def read_manifest(build: Path) -> RunManifest:
    """The build folder's manifest; :class:`ManifestError` (one line) when there is none or it is damaged."""
    path = manifest_path(build)
    if not path.is_file():
        raise ManifestError(f"{path}: no run manifest, so no complete run to publish (the last run did not finish, "
                            "or none has run); expected `evaluation run` to finish first")
    try:
        return RunManifest.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ManifestError(f"{path}: not a valid run manifest ({first}); expected one written by `evaluation run`") \
            from None


def rerun_command(site: str, domain: str, data_dir: str = "", source: str = "") -> str:
    """The command that re-runs just one analysis (the cross-site synthesis needs every site again)."""
    data = f" --data-dir {data_dir}" if data_dir and source != "synthetic" else ""
    if (site, domain) == CROSS_SITE:
        return f"evaluation run{data}"
    return f"evaluation run --site {site} --domain {domain}{data}"


def verified(manifest: RunManifest, build: Path) -> RunManifest:
    """The manifest with every ``ok`` entry whose results file or executed notebook is missing or no longer the
    one this run wrote turned into ``failed``, with the reason and the command that re-runs it."""
    out = []
    for a in manifest.analyses:
        problem = ""
        if a.ok:
            for rel, digest, what in ((a.results_file, a.results_sha256, "results file"),
                                      (a.notebook, a.notebook_sha256, "executed notebook")):
                if not rel:
                    continue
                f = Path(build) / rel
                if not f.is_file():
                    problem = f"{what} {rel} was deleted after the run"
                elif sha256_file(f) != digest:
                    problem = f"{what} {rel} was rewritten after the run (by another run?)"
                if problem:
                    break
        if problem:
            command = rerun_command(a.site, a.domain, manifest.data_dir, manifest.data_source)
            a = a.model_copy(update={"status": "failed", "reason": f"{problem}; re-run with: {command}"})
        out.append(a)
    return manifest.model_copy(update={"analyses": out})


def schema_text() -> str:
    """The JSON Schema of :class:`RunManifest`, as committed."""
    return json.dumps(RunManifest.model_json_schema(), indent=2, sort_keys=True) + "\n"


def input_files_for(files: Iterable[tuple[str, str]]) -> list[InputFile]:
    """``(path, sha256)`` pairs as sorted, de-duplicated manifest inputs."""
    return [InputFile(path=p, sha256=h) for p, h in sorted(set(files))]


def published_run(build: Path) -> dict:
    """The build folder's run, checked against the files on disk, in the form ``assemble`` reads
    (:meth:`RunManifest.as_status`); :class:`ManifestError` when no run finished."""
    return verified(read_manifest(build), Path(build)).as_status()
