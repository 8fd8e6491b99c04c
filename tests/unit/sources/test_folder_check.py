"""Tests for ``evaluation validate --data-dir DIR``, through the command line.

Usable folders (the synthetic data, the real NHS files) give exit status 0 and a full account on standard
output; each kind of blocking problem gives exit status 2 and exactly one line on standard error naming the
file and the problem, never a traceback.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.demo.generator import generate
from evaluation.dictionary.registry import default_registry
from evaluation.sources import INPUT_SUFFIXES

REAL = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "real"
SITES = sorted(s.ods_code for s in default_registry().sites)


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("synthetic_validate")
    generate(path)
    return path


@pytest.fixture
def data(synthetic_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the synthetic folder that a test may damage."""
    return Path(shutil.copytree(synthetic_dir, tmp_path / "data"))


def run(capsys: pytest.CaptureFixture[str], folder: Path | str) -> tuple[int, str, str]:
    code = main(["validate", "--data-dir", str(folder)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def err_lines(err: str) -> list[str]:
    return err.splitlines()


def input_files(folder: Path) -> list[str]:
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name.lower().endswith(INPUT_SUFFIXES) and not p.name.lower().startswith("readme")
    )


# --------------------------------------------------------------------------------------------------
# Usable folders


def test_synthetic_folder_is_usable(capsys, synthetic_dir):
    code, out, err = run(capsys, synthetic_dir)
    assert code == 0, err
    assert err == ""
    files = input_files(synthetic_dir)
    # Every file is listed, in path order: inputs with their layout, the others (truth file, read-me) as
    # skipped with the reason.
    every = sorted(p.relative_to(synthetic_dir).as_posix() for p in synthetic_dir.rglob("*") if p.is_file())
    assert len(every) > len(files)
    assert f"Input files: {len(files)}; skipped: {len(every) - len(files)};" in out
    for i, name in enumerate(every, start=1):
        head = f"File {i} of {len(every)}: {name}\n"
        assert head in out
        if name not in files:
            assert out.split(head)[1].startswith("  skipped (")
    assert "layout: mhsds_long" in out and "layout: sickness_benchmarking" in out
    assert "Result: usable." in out
    # The truth file's incomplete submission is listed among the outliers, and no site month is.
    truth = json.loads((synthetic_dir / "truth.json").read_text(encoding="utf-8"))
    (quirk,) = [q for q in truth["quirks"] if q["id"] == "incomplete_submission"]
    for measure in quirk["measure_ids"]:
        assert f"    {quirk['org_code']} {measure} {quirk['month'][:7]}: " in out
    assert "the four sites: 0 month(s)" in out
    coverage = out.split("Coverage of the four sites")[1].split("Data-quality outliers")[0]
    for code_ in SITES:
        assert f"  {code_} " in coverage
    # Measures computed only from record-level MHSDS tables (layout mhsds_records) are not in this folder.
    from evaluation.dictionary.registry import default_registry

    records_only = {m.id for m in default_registry().measures if m.layout == "mhsds_records"}
    empty = {line.split()[0] for line in coverage.splitlines() if "no rows" in line}
    assert empty <= records_only, empty - records_only


def test_output_is_deterministic(capsys, synthetic_dir, tmp_path):
    first = run(capsys, synthetic_dir)
    second = run(capsys, synthetic_dir)
    assert first == second


@pytest.mark.skipif(not REAL.is_dir(), reason=f"real NHS files not available: {REAL} is absent")
def test_real_folder_is_usable(capsys):
    code, out, err = run(capsys, REAL)
    assert code == 0, err
    assert err == ""
    files = input_files(REAL)
    assert f"Input files: {len(files)};" in out
    for name in files:
        assert f": {name}\n" in out
    assert "layout: sickness_absence_table" in out
    for code_ in SITES:
        assert f"  {code_} " in out
    assert "Result: usable." in out


# --------------------------------------------------------------------------------------------------
# Blocking problems: one line each on standard error, exit status 2


def test_missing_column_names_file_expected_and_found(capsys, data):
    lines = (data / "sickness_absence.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    drop = header.index("FTE_DAYS_AVAILABLE")
    cut = [",".join(c for j, c in enumerate(line.split(",")) if j != drop) for line in lines[:50]]
    bad = data / "extra" / "sickness_missing_column.csv"
    bad.parent.mkdir()
    bad.write_text("\n".join(cut) + "\n", encoding="utf-8")
    code, out, err = run(capsys, data)
    assert code == 2
    (line,) = err_lines(err)
    assert line.startswith(f"{bad}: missing required column(s) FTE_DAYS_AVAILABLE")
    assert "; expected DATE, ORG_CODE, FTE_DAYS_LOST, FTE_DAYS_AVAILABLE;" in line
    assert line.endswith("; found " + ", ".join(c for c in header if c != "FTE_DAYS_AVAILABLE"))
    # Every other file is still reported.
    assert "layout: mhsds_long" in out and "extra/sickness_missing_column.csv" in out
    assert "Result: NOT USABLE -- 1 blocking problem(s)" in out


def test_unknown_layout(capsys, data):
    bad = data / "notes.csv"
    bad.write_text("ward,beds,comment\nA,12,fine\n", encoding="utf-8")
    code, _, err = run(capsys, data)
    assert code == 2
    (line,) = err_lines(err)
    assert line.startswith(f"{bad}: unknown layout; header ward, beds, comment does not match any of: ")
    assert "mhsds_long (needs REPORTING_PERIOD_START" in line


def test_empty_file(capsys, data):
    bad = data / "empty.csv"
    bad.write_bytes(b"")
    code, _, err = run(capsys, data)
    assert code == 2
    (line,) = err_lines(err)
    assert line.startswith(f"{bad}: line 1: empty file")


def test_truncated_last_line_is_reported_but_not_blocking(capsys, data):
    # A plain CSV whose last line stops mid-row: the reader sets that line aside and says so.
    path = data / "mhsds_timeseries.csv"
    text = path.read_text(encoding="utf-8").rstrip("\n")
    last_start = text.rfind("\n") + 1
    cut_text = text[: last_start + len(text[last_start:]) // 3]
    path.write_text(cut_text, encoding="utf-8")
    n_lines = cut_text.count("\n") + 1
    code, out, err = run(capsys, data)
    assert code == 0, err
    assert err == ""
    assert "rejected 1: truncated row" in out
    assert f"The last line (line {n_lines}) has fewer fields than the header" in out


def test_gzip_cut_in_half_is_blocking(capsys, data):
    path = data / "mhsds_timeseries.csv"
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    gz = data / "mhsds_timeseries.csv.gz"
    gz.write_bytes(packed[: len(packed) // 2])
    code, out, err = run(capsys, data)
    assert code == 2
    (line,) = err_lines(err)
    assert line.startswith(f"{gz}: truncated: the compressed file ends early")
    # The complete rows before the cut are still described.
    assert "The compressed file ends early" in out and "BLOCKING:" in out


def test_nonexistent_directory(capsys, tmp_path):
    missing = tmp_path / "nowhere"
    code, out, err = run(capsys, missing)
    assert code == 2
    assert err_lines(err) == [f"data directory {missing} does not exist"]
    assert out == ""


def test_several_problems_give_one_line_each_sorted(capsys, data):
    (data / "b_empty.csv").write_bytes(b"")
    (data / "a_unknown.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, data)
    assert code == 2
    lines = err_lines(err)
    assert len(lines) == 2
    assert lines[0].startswith(f"{data / 'a_unknown.csv'}: unknown layout")
    assert lines[1].startswith(f"{data / 'b_empty.csv'}: line 1: empty file")


def test_only_a_bad_file_gives_only_its_line(capsys, tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    code, _, err = run(capsys, tmp_path)
    assert code == 2
    assert len(err_lines(err)) == 1


def test_no_rows_for_the_four_sites(capsys, tmp_path):
    (tmp_path / "other.csv").write_text(
        "DATE,ORG_CODE,FTE_DAYS_LOST,FTE_DAYS_AVAILABLE\n31/01/2023,ZZZ,5,100\n", encoding="utf-8"
    )
    code, out, err = run(capsys, tmp_path)
    assert code == 2
    assert err_lines(err) == [f"no rows for any of the four sites ({', '.join(SITES)}) in {tmp_path}"]
    assert "organisations: 1" in out


def test_folder_without_input_files(capsys, tmp_path):
    (tmp_path / "README.md").write_text("nothing here\n", encoding="utf-8")
    code, _, err = run(capsys, tmp_path)
    assert code == 2
    (line,) = err_lines(err)
    assert line.startswith(f"{tmp_path}: no input files")
