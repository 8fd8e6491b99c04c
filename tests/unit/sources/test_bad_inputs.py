"""The bad-input corpus (``tests/bad_inputs/cases.yaml``), each case run alone through the command line.

Every case either loads with its data-quality flag shown (exit 0, every report balanced) or gives exactly one
line on standard error naming the file, the line, the column and what was expected (exit 2). Never a
traceback, and row accounting always balances. Every file in the data folder is listed, read or skipped with
its reason. Degenerate-series cases load cleanly and then give "not estimable" with the reason.
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
from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.domain import evaluate_measure
from evaluation.panel.frame import monthly_series
from evaluation.sources import SourceError, is_skipped, load_panel, usable_rows

CORPUS = Path(__file__).resolve().parents[3] / "tests" / "bad_inputs"
CASES: list[dict] = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))["cases"]
REPO = Path(__file__).resolve().parents[3]


def _case_id(case: dict) -> str:
    if "run" in case:
        return f"{case['file']}:{'-'.join(case['run'])}"
    extras = [*case.get("extra", {}), *case.get("links", {}), *([case["unreadable"]] if "unreadable" in case else [])]
    return "+".join([case.get("zip_as", case.get("as", case["file"])), *extras])


IS_ROOT = os.name == "posix" and os.geteuid() == 0


def _data_dir(case: dict, tmp_path: Path) -> Path:
    """A data folder holding this case's file (or, for a zip case, an archive made from it and any other
    ``members``), its ``extra`` files, ``links`` and ``unreadable`` folder."""
    folder = tmp_path / "data"
    folder.mkdir()
    source = CORPUS / case["file"]
    if "zip_as" in case:
        with zipfile.ZipFile(folder / case["zip_as"], "w") as zf:
            for member in case.get("members", [case["file"]]):
                zf.write(CORPUS / member, arcname=member)
    else:
        target = folder / case.get("as", source.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for rel, name in case.get("extra", {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(CORPUS / name, folder / rel)
    for rel, target in case.get("links", {}).items():
        (folder / rel).symlink_to(target)
    if "unreadable" in case:
        locked = folder / case["unreadable"]
        locked.mkdir()
        shutil.copyfile(source, locked / "hidden_from_the_reader.csv")
        locked.chmod(0)
    return folder


def _named(case: dict, folder: Path) -> str:
    """The path a case's one-line error must name."""
    return str(folder / case.get("named", case.get("zip_as", case.get("as", case["file"]))))


def _argv(case: dict, folder: Path, tmp_path: Path) -> list[str]:
    if "run" in case:
        return ["run", *case["run"], "--data-dir", str(folder), "--build-dir", str(tmp_path / "build"), "--quiet"]
    return ["validate", "--data-dir", str(folder)]


def test_corpus_is_complete():
    """At least 80 cases, every listed file exists, every file is listed, and each case says what it expects."""
    assert len(CASES) >= 80
    listed = {c["file"] for c in CASES}
    listed |= {m for c in CASES for m in c.get("members", [])} | {n for c in CASES for n in c.get("extra", {}).values()}
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "cases.yaml"}
    assert listed == on_disk
    for case in CASES:
        assert case["wrong"] and case["layout"]
        (kind,) = case["expect"]
        assert kind in {"error", "flag", "clean", "not_estimable"}
    layouts = {c["layout"] for c in CASES}
    assert {"mhsds_long", "local_referrals", "local_workforce", "sickness_benchmarking"} <= layouts


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_case_through_the_command_line(
    case: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if "unreadable" in case and IS_ROOT:
        pytest.skip("root reads folders whatever their permissions")
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    folder = _data_dir(case, tmp_path)
    try:
        _check_case(case, folder, tmp_path, capsys)
    finally:
        if "unreadable" in case:
            (folder / case["unreadable"]).chmod(0o755)


def _check_case(case: dict, folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(_argv(case, folder, tmp_path))
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    expect = case["expect"]
    if "error" in expect:
        assert code == expect["error"]["exit"], captured.err
        lines = captured.err.splitlines()
        assert len(lines) == 1, captured.err
        (line,) = lines
        # One readable line, however long the cell or line it quotes.
        assert len(line) <= 1000 + len(str(folder)), len(line)
        if "run" not in case:
            # The file is named by its path, so the evaluator can open it.
            assert _named(case, folder) in line
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

    # Whatever the outcome, the accounting of every file read balances, reason by reason, and every file
    # under the folder is listed: read, or skipped with its reason.
    panel, reports = load_panel(folder, strict=False)
    listed = {r.path.split("!")[0] for r in reports} | {str(Path(r.path)) for r in reports}
    for path in folder.rglob("*"):
        if path.is_file() or path.is_symlink():
            assert str(path) in listed, f"{path} is not accounted for"
    for report in reports:
        if is_skipped(report):
            assert report.layout in captured.out and report.rows_read == 0
            continue
        assert report.rows_read == report.rows_kept + sum(report.rejected.values()), report.to_dict()
        assert f"rows: read {report.rows_read}, kept {report.rows_kept}, rejected {report.rows_rejected}" in (
            captured.out
        )
        for reason, count in report.rejected.items():
            assert f"rejected {count}: {reason}" in captured.out
    assert len(panel) == sum(r.rows_kept for r in reports)
    _check_isolation(case, panel, reports)

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
    if "not_estimable" in expect:
        _check_not_estimable(expect["not_estimable"], panel)


def _check_isolation(case: dict, panel, reports) -> None:
    """Failure isolation (A28) by path: the listed sites go on without the unusable file, the others stop."""
    registry = default_registry()
    for site in case.get("usable_for", []):
        code = registry.site(site).ods_code
        kept = usable_rows(panel, reports, code)
        assert (kept["org_code"] == code).any()
    for site in case.get("stopped_for", []):
        with pytest.raises(SourceError, match=case["named"]):
            usable_rows(panel, reports, registry.site(site).ods_code)


def _check_not_estimable(expect: dict, panel) -> None:
    """A degenerate series gives "not estimable" with the reason: no model estimate, never a NaN finding."""
    import datetime as dt

    registry = default_registry()
    measure = registry.measure(expect["measure"])
    series = monthly_series(panel, registry.site("dorset").ods_code, measure.id, measure.period_type)
    result = evaluate_measure(measure, series, dt.date.fromisoformat(expect["intervention_date"]))
    assert result.status == "not_estimable", (result.status, result.reason)
    assert result.its is None
    for fragment in expect["reason_contains"]:
        assert fragment in result.reason, result.reason


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
