"""One data source kind per site (local / published / synthetic), files matched by path not base name, and
a data folder's digest that never fails before the readers report a file (#14, #18)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evaluation.demo.generator import generate
from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.run import _inputs_used, resolve_data_dir, site_data_source
from evaluation.paths import DICTIONARY_DIR
from evaluation.pipeline import cache
from evaluation.pipeline.runner import input_files_of, write_data_log
from evaluation.provenance import relative_path
from evaluation.sources import load_panel

EXAMPLE = DICTIONARY_DIR / "templates" / "example"
WORKFORCE_HEADER = "ORG_CODE,PERIOD_START,STAFF_IN_POST,LEAVERS,STAFF_IN_POST_12M_AGO,STABLE_STAFF_12M\n"


def _workforce(path: Path, org: str, year: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"{org},01/{m:02d}/{year},1500,20,1500,1260\n" for m in range(1, 13))
    path.write_text(WORKFORCE_HEADER + rows, encoding="utf-8")


@pytest.fixture(scope="module")
def national(tmp_path_factory) -> Path:
    """A folder holding one published national file (the synthetic generator's, without its truth file)."""
    demo = tmp_path_factory.mktemp("demo")
    generate(demo)
    folder = tmp_path_factory.mktemp("published")
    shutil.copyfile(demo / "mhsds_timeseries.csv", folder / "mhsds_timeseries.csv")
    return folder


def _kind(folder: Path, org: str) -> str:
    folder, source = resolve_data_dir(str(folder))
    panel, reports = load_panel(folder, strict=False)
    return site_data_source(source, panel, reports, org, folder, default_registry())


def test_the_example_trust_is_local_data():
    assert _kind(EXAMPLE, "XX1") == "local"


def test_national_files_are_published_and_a_local_extract_makes_only_its_site_local(national: Path, tmp_path):
    assert _kind(national, "RDY") == "published"
    mixed = tmp_path / "mixed"
    shutil.copytree(national, mixed)
    _workforce(mixed / "trust" / "local_workforce.csv", "RDY", 2021)
    assert _kind(mixed, "RDY") == "local"  # one site, one kind: its extract is local
    assert _kind(mixed, "RW5") == "published"  # another site's rows all come from the national file


def test_the_demonstration_data_are_synthetic(tmp_path):
    generate(tmp_path)
    assert _kind(tmp_path, "RDY") == "synthetic"


def test_files_of_one_name_in_two_folders_keep_their_own_rows(tmp_path):
    data = tmp_path / "data"
    _workforce(data / "a" / "local_workforce.csv", "XX1", 2019)
    _workforce(data / "b" / "local_workforce.csv", "XX2", 2022)
    folder, _ = resolve_data_dir(str(data))
    panel, reports = load_panel(folder, strict=False)
    log = json.loads(write_data_log(reports, folder, tmp_path, panel).read_text())
    spans = {f["path"]: (f["first_month"], f["last_month"]) for f in log["files"]}
    assert spans == {"a/local_workforce.csv": ("2019-01", "2019-12"), "b/local_workforce.csv": ("2022-01", "2022-12")}
    measures = ["LEAVER_RATE", "STABILITY_12M"]
    used = _inputs_used(panel, reports, "XX2", measures, folder)
    assert [u["path"] for u in used] == ["b/local_workforce.csv"]
    rows = cache.site_rows(panel, "XX1", measures)
    assert [p for p, _, _ in input_files_of(rows, reports, folder)] == ["a/local_workforce.csv"]


def test_relative_path_does_not_follow_links(tmp_path):
    target = tmp_path / "elsewhere" / "x.csv"
    target.parent.mkdir()
    target.write_text("a\n")
    link = tmp_path / "combined" / "1-data" / "x.csv"
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    assert relative_path(link, tmp_path / "combined") == "1-data/x.csv"
    assert relative_path(target, tmp_path / "combined") == "x.csv"  # outside: the base name only


def test_the_data_digest_reads_input_files_only_and_survives_an_unreadable_one(tmp_path, monkeypatch):
    data = tmp_path / "data"
    _workforce(data / "local_workforce.csv", "XX1", 2019)
    (data / "notes.txt").write_text("first")
    d0 = cache.inputs_digest(data)
    (data / "notes.txt").write_text("second")  # not an input: its content is never read
    assert cache.inputs_digest(data) == d0
    (data / "notes.txt").rename(data / "notes2.txt")  # but the readers list it, by name
    assert cache.inputs_digest(data) != d0
    d1 = cache.inputs_digest(data)
    _workforce(data / "local_workforce.csv", "XX1", 2020)
    assert cache.inputs_digest(data) != d1

    # An input that cannot be read (as root, chmod cannot make one) enters the digest by its error.
    real = cache.sha256_file

    def unreadable(path):
        if Path(path) == data / "local_workforce.csv":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(cache, "sha256_file", unreadable)
    assert len(cache.inputs_digest(data)) == 64
    assert cache.panel_snapshot_path(data, tmp_path / "build").suffix == ".pkl"


@pytest.mark.skipif(not Path("/proc/self/mem").exists(), reason="needs Linux /proc")
def test_a_file_that_fails_to_read_is_reported_by_the_readers_not_the_cache(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    (data / "bad.csv").symlink_to("/proc/self/mem")  # a regular file whose read fails (EIO), even for root
    panel, reports = cache.cached_panel(data, tmp_path / "build")
    bad = [r for r in reports if r.path.endswith("bad.csv")]
    assert bad and "cannot be read" in bad[0].blocking[0]
    assert set(panel["org_code"]) == {"XX1"}


def test_a_panel_snapshot_reused_from_another_folder_reports_this_folders_files(tmp_path):
    """A copied or moved build folder (or the same files elsewhere) must give the same accounting and keys."""
    build = tmp_path / "build"
    first, second = tmp_path / "first", tmp_path / "second"
    shutil.copytree(EXAMPLE, first)
    shutil.copytree(EXAMPLE, second)
    _, reports = cache.cached_panel(first, build)
    assert cache.panel_snapshot_path(first, build) == cache.panel_snapshot_path(second, build)  # one snapshot
    _, again = cache.cached_panel(second, build)
    assert sorted(r.path for r in again) == sorted(str(second / Path(r.path).name) for r in reports)
    assert all(str(first) not in str(r.to_dict()) for r in again)
