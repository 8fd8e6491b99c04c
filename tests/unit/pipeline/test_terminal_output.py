"""Every terminal line from the command line and the runner's progress is inert: no escape sequence or
control character from an organisation, file name or error message reaches the terminal (#14)."""

from __future__ import annotations

import re

from evaluation import cli
from evaluation.pipeline import runner
from evaluation.pipeline.runner import Job, Outcome, RunSummary, _Progress

HOSTILE = "org\x1b[31mRED\x1b[0m\x1b]0;pwned\x07\rX\x08"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _clean(text: str) -> None:
    assert "\x1b" not in text
    assert not CONTROL.search(text), repr(text)


def test_progress_lines_are_inert_and_one_line_each(capsys):
    failed = Outcome(f"org_{HOSTILE}", "crisis_demand", False, 1.0, "nb.ipynb",
                     error=f"cell 3 raised SourceError: /data/{HOSTILE}.csv: bad\nsecond line " + "x" * 200)
    with _Progress(True, 2) as report:
        report.started(Job(f"org_{HOSTILE}", "crisis_demand"))
        report.finished(failed)
    err = capsys.readouterr().err
    _clean(err)
    lines = [line for line in err.splitlines() if " start " in line or "FAILED" in line]
    assert len(lines) == 2  # the long error is not wrapped at the terminal's width, nor split at its newline
    assert "orgREDpwned" not in lines[1] and "org RED" not in lines[1]  # sequences removed, not shown as text
    assert lines[1].rstrip().endswith("x" * 200)


def test_run_summary_and_failed_lines_are_inert(capsys, monkeypatch, tmp_path):
    bad = Outcome("dorset", "crisis_demand", False, 1.0, str(tmp_path / f"{HOSTILE}.ipynb"),
                  error=f"cell 4 raised ValueError: organisation {HOSTILE}")
    summary = RunSummary([bad], str(tmp_path / HOSTILE), "published", {"build_dir": str(tmp_path)})
    monkeypatch.setattr(runner, "run", lambda **_: summary)
    code = cli.main(["run", "--data-dir", str(tmp_path), "--build-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 1
    _clean(out)
    _clean(err)
    assert err.startswith("FAILED dorset / crisis_demand: cell 4 raised ValueError: organisation org")
    assert len(err.strip().splitlines()) == 1


def test_errors_naming_a_hostile_folder_are_inert(capsys, tmp_path):
    code = cli.main(["run", "--data-dir", str(tmp_path / HOSTILE), "--build-dir", str(tmp_path / "b")])
    out, err = capsys.readouterr()
    assert code == 2
    _clean(err)
    assert err.startswith("evaluation run: error: data directory") and len(err.strip().splitlines()) == 1


def test_validate_of_a_hostile_file_name_is_inert(capsys, tmp_path):
    (tmp_path / f"{HOSTILE}.csv").write_text("ORG_CODE,PERIOD_START\n", encoding="utf-8")
    code = cli.main(["validate", "--data-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 2
    _clean(out)
    _clean(err)
    assert "orgRED" in out.replace(" ", "") or "org" in out  # the name is shown, as text


def test_say_keeps_line_breaks_but_cleans_each_line(capsys):
    cli.say(f"a {HOSTILE}\nb")
    out = capsys.readouterr().out
    _clean(out)
    assert out.count("\n") == 2
