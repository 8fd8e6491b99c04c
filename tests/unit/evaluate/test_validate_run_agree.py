"""``validate`` and ``run`` agree: for every folder of the bad-input corpus and for subsets of the real files,
what validate's estimability report calls estimable / described / not in data per site x domain x measure is
what run's steps (load_site_panel -> fit, as every domain notebook calls them) give, and validate says
"usable" exactly when run's checks accept the folder."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import pytest

from evaluation.dictionary.registry import default_registry
from evaluation.evaluate import run as steps
from evaluation.evaluate.estimability import DESCRIBED, ESTIMABLE, NOT_IN_DATA, estimability
from evaluation.pipeline.parameters import ParameterError, check_run_parameters
from evaluation.sources import load_panel
from evaluation.sources.common import SourceError
from evaluation.sources.folder_check import validate

from ..sources.test_bad_inputs import CASES, IS_ROOT, _case_id, _data_dir

REG = default_registry()
SHARED = Path(os.environ.get("EVALUATION_SHARED_DATA", Path(__file__).resolve().parents[3].parent / "shared" / "data"))
REAL = SHARED / "real"
#: run's measure statuses as validate names them.
RUN_TO_VALIDATE = {"ok": ESTIMABLE, "descriptive": DESCRIBED, "not_estimable": DESCRIBED, "not_in_data": NOT_IN_DATA}


def _validate(folder: Path) -> tuple[int, dict]:
    code = validate(folder, out=io.StringIO(), err=io.StringIO())
    try:
        panel, _ = load_panel(folder)
    except SourceError:
        return code, {}
    return code, {(r.site_id, r.domain_id, r.measure_id): r.status for r in estimability(REG, panel)}


def _run(folder: Path, build: Path, domains: list[str] | None = None) -> dict | None:
    """Statuses run's steps give per site x domain x measure (None: run refuses the folder before any notebook;
    a site x domain whose notebook would fail on a blocking file is left out)."""
    try:
        check_run_parameters(REG, sites=None, domains=domains, data_dir=folder, intervention_date="")
    except (ParameterError, SourceError):
        return None
    out = {}
    for site in REG.site_ids:
        for domain in domains or REG.domain_ids:
            try:
                data = steps.load_site_panel(site, domain, data_dir=folder, build_dir=build)
            except SourceError:
                continue
            for m in steps.fit(data, steps.spc(data)).measures:
                out[(site, domain, m.measure.id)] = RUN_TO_VALIDATE[m.status]
    return out


def _agree(folder: Path, build: Path, domains: list[str] | None = None) -> tuple[int, dict]:
    code, said = _validate(folder)
    did = _run(folder, build, domains)
    if did is None:
        assert code != 0, "run refuses a folder validate calls usable"
        return code, said
    if code == 0:
        wanted = {k: v for k, v in said.items() if domains is None or k[1] in domains}
        assert did == wanted, {k: (wanted.get(k), v) for k, v in did.items() if wanted.get(k) != v}
    else:  # validate refused: run may still evaluate sites the broken file does not hold, as validate reports
        assert all(said.get(k) == v for k, v in did.items() if k in said)
    return code, said


CORPUS = [c for c in CASES if "run" not in c and "env" not in c]


@pytest.mark.parametrize("case", CORPUS, ids=[_case_id(c) for c in CORPUS])
def test_every_bad_input_folder(case, tmp_path):
    if "unreadable" in case and IS_ROOT:
        pytest.skip("root reads folders whatever their permissions")
    folder = _data_dir(case, tmp_path)
    try:
        _agree(folder, tmp_path / "build")
    finally:
        if "unreadable" in case:
            (folder / case["unreadable"]).chmod(0o755)


def _need(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is not here")


def _linked(source: Path, tmp_path: Path) -> Path:
    """A data folder of symbolic links to every file in ``source`` (validate does not follow linked folders)."""
    folder = tmp_path / "data"
    folder.mkdir()
    for f in sorted(source.iterdir()):
        (folder / f.name).symlink_to(f)
    return folder


def test_real_mhsds_alone(tmp_path):
    _need(REAL / "mhsds_timeseries")
    folder = _linked(REAL / "mhsds_timeseries", tmp_path)
    code, said = _agree(folder, tmp_path / "build", ["referral_acceptance"])
    assert code == 0
    assert said[("bradford", "referral_acceptance", "MHS32")] == DESCRIBED  # go-live April 2023 after the data
    assert said[("dorset", "referral_acceptance", "MHS32")] == ESTIMABLE
    assert all(v == NOT_IN_DATA for k, v in said.items() if k[1] == "staff_retention")


def test_real_sickness_alone(tmp_path):
    _need(REAL / "sickness_absence_benchmarking")
    folder = _linked(REAL / "sickness_absence_benchmarking", tmp_path)
    code, said = _agree(folder, tmp_path / "build", ["staff_retention"])
    assert code == 0
    assert all(v == NOT_IN_DATA for k, v in said.items() if k[1] != "staff_retention")
    # The benchmarking files start in January 2023: every go-live is too close to the start to estimate.
    assert {v for k, v in said.items() if k[2] == "SICKNESS_RATE"} == {DESCRIBED}


def test_real_data_from_2020_on(tmp_path):
    _need(REAL / "mhsds_timeseries")
    folder = tmp_path / "data"
    folder.mkdir()
    [source] = sorted((REAL / "mhsds_timeseries").glob("*.csv.gz"))
    with gzip.open(source, "rt", encoding="utf-8-sig", newline="") as f, \
            open(folder / "MHSDS Time_Series_from_2020.csv", "w", encoding="utf-8", newline="") as out:
        header = f.readline()
        out.write(header)
        for line in f:
            if line[6:10] >= "2020":  # REPORTING_PERIOD_START is dd/mm/yyyy
                out.write(line)
    code, said = _agree(folder, tmp_path / "build", ["referral_acceptance"])
    assert code == 0
    assert said[("bradford", "referral_acceptance", "MHS32")] == DESCRIBED


def test_run_accepts_several_data_folders_and_names_a_missing_one(tmp_path):
    from evaluation.pipeline.parameters import check_data_folder

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    check_data_folder([str(tmp_path / "a"), tmp_path / "b"])
    with pytest.raises(ParameterError, match="missing does not exist"):
        check_data_folder([str(tmp_path / "a"), str(tmp_path / "missing")])
