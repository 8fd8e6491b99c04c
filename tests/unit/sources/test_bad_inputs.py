"""The bad-input corpus (``tests/bad_inputs/cases.yaml``), each case run alone through the command line.

Every case either loads with its data-quality flag shown (exit 0, every report balanced) or gives exactly one
line on standard error naming the file, the line, the column and what was expected (exit 2). Never a
traceback, and row accounting always balances.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from evaluation.cli import main
from evaluation.sources import load_panel

CORPUS = Path(__file__).resolve().parents[3] / "tests" / "bad_inputs"
CASES: list[dict] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))["cases"]
REPO = Path(__file__).resolve().parents[3]


def _case_id(case: dict) -> str:
    return f"{case['file']}:{'-'.join(case['run'])}" if "run" in case else case.get("zip_as", case["file"])


def _data_dir(case: dict, tmp_path: Path) -> Path:
    """A data folder holding only this case's file (or, for a zip case, an archive made from it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    source = CORPUS / case["file"]
    if "zip_as" in case:
        with zipfile.ZipFile(folder / case["zip_as"], "w") as zf:
            zf.write(source, arcname=source.name)
    else:
        shutil.copyfile(source, folder / source.name)
    return folder


def _argv(case: dict, folder: Path, tmp_path: Path) -> list[str]:
    if "run" in case:
        return ["run", *case["run"], "--data-dir", str(folder), "--build-dir", str(tmp_path / "build"), "--quiet"]
    return ["validate", "--data-dir", str(folder)]


def test_corpus_is_complete():
    """At least 30 cases, every listed file exists, every file is listed, and each case says what it expects."""
    assert len(CASES) >= 30
    listed = {c["file"] for c in CASES}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "cases.yaml"}
    assert listed == on_disk
    for case in CASES:
        assert case["wrong"] and case["layout"]
        (kind,) = case["expect"]
        assert kind in {"error", "flag", "clean"}
    layouts = {c["layout"] for c in CASES}
    assert {"mhsds_long", "local_referrals", "local_workforce", "sickness_benchmarking"} <= layouts


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_case_through_the_command_line(case: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _data_dir(case, tmp_path)
    code = main(_argv(case, folder, tmp_path))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    expect = case["expect"]
    if "error" in expect:
        assert code == expect["error"]["exit"], captured.err
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        (line,) = lines
        if "run" not in case:
            # The file is named by its path, so the evaluator can open it.
            assert str(folder / case.get("zip_as", case["file"])) in line
        for fragment in expect["error"]["message_contains"]:
            assert fragment in line, f"{fragment!r} not in {line!r}"
        if "run" in case:
            # Refused before anything ran: no notebook was executed.
            assert not (tmp_path / "build" / "notebooks").exists()
    else:
        assert code == 0, captured.err
        assert captured.err == ""
        assert "Result: usable." in captured.out
    if "run" in case:
        return

    # Whatever the outcome, the accounting of every file read balances, reason by reason.
    panel, reports = load_panel(folder, strict=False)
    for report in reports:
        assert report.rows_read == report.rows_kept + sum(report.rejected.values()), report.to_dict()
        assert f"rows: read {report.rows_read}, kept {report.rows_kept}, rejected {report.rows_rejected}" in (
            captured.out
        )
        for reason, count in report.rejected.items():
            assert f"rejected {count}: {reason}" in captured.out
    assert len(panel) == sum(r.rows_kept for r in reports)

    if "flag" in expect:
        flag = expect["flag"]
        name = flag["name"]
        if flag["in"] == "rejected":
            assert any(name in r.rejected for r in reports)
            assert f": {name}" in captured.out
        elif flag["in"] == "quality_flags":
            flagged = panel["quality_flags"].str.split(";").apply(lambda fs: name in fs)
            assert flagged.any()
            assert f"quality flags: {name} ({int(flagged.sum())} rows)" in captured.out
        elif flag["in"] == "finding":
            assert name in captured.out
        else:
            assert flag["in"] == "coverage"
            coverage = captured.out.split("Coverage of the four sites")[1]
            assert name in coverage
    if "clean" in expect:
        assert sum(r.rows_kept for r in reports) == expect["clean"]["rows_kept"]
        assert all(not r.rejected and not r.blocking for r in reports)


@pytest.mark.parametrize(
    "name", ["mhsds_non_numeric.csv", "binary_garbage.csv", "mhsds_empty.csv", "referrals_tab_delimiter.csv"]
)
def test_real_process_exits_2_with_one_line(name: str, tmp_path: Path) -> None:
    """The installed entry point, in its own process: status 2, one line, no traceback."""
    case = next(c for c in CASES if c["file"] == name)
    folder = _data_dir(case, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EVALUATION_DEBUG", None)
    proc = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-m", "evaluation", "validate", "--data-dir", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    (line,) = proc.stderr.splitlines()
    assert name in line
    for fragment in case["expect"]["error"]["message_contains"]:
        assert fragment in line


def test_run_parameter_error_in_its_own_process(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.get("run") and "--intervention-date" in c["run"] and "Aug 2021" in c["run"])
    folder = _data_dir(case, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("EVALUATION_DEBUG", None)
    proc = subprocess.run(  # noqa: S603 - fixed argument list, no shell
        [sys.executable, "-m", "evaluation", *_argv(case, folder, tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith("evaluation run: error: intervention date 'Aug 2021' is not a date")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_file_without_read_permission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = _data_dir(next(c for c in CASES if c["file"] == "mhsds_bom.csv"), tmp_path)
    target = folder / "mhsds_bom.csv"
    target.chmod(0)
    try:
        code = main(["validate", "--data-dir", str(folder)])
    finally:
        target.chmod(0o644)
    captured = capsys.readouterr()
    assert code == 2 and "Traceback" not in captured.err
    (line,) = captured.err.splitlines()
    assert str(target) in line and "cannot be read" in line


def test_text_from_data_is_escaped_in_domain_html() -> None:
    """A file or organisation name holding markup is shown as text, never run, in the HTML a NotebookView emits."""
    import datetime as dt
    from types import SimpleNamespace

    from evaluation.panel.frame import ReadReport
    from evaluation.publish.notebook_view import NotebookView

    attack = "<script>alert(1)</script>"
    report = ReadReport(path=f"/data/{attack}.csv", layout="mhsds_long", rows_read=2, rows_kept=1)
    report.reject(f"reason {attack}", 1)
    fake = SimpleNamespace(reports=[report])
    # The notebooks render the table exactly like this.
    table = NotebookView.data_table(fake).to_html(index=False, border=0, classes="table eval-table")
    assert "<script>" not in table and "&lt;script&gt;" in table
    site = SimpleNamespace(name=f"Site {attack}", provider_name=f"Trust {attack}", ods_code="RDY",
                           intervention_label=attack, intervention_is_assumption=False)
    run = SimpleNamespace(evaluation=SimpleNamespace(site=site, intervention_date=dt.date(2021, 8, 1)))
    context = NotebookView.context_html(run)
    assert "<script>" not in context and context.count("&lt;script&gt;") == 3
