"""``validate`` prints names from the data (files, organisations, reader findings): no terminal escape
sequence or control character in them reaches the terminal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.demo.generator import generate

HOSTILE = "x\x1b[2J\x1b]0;owned\x07`<img src=x onerror=alert(1)>`{{ }}{doc}`y`\x1b[31m"


def test_validate_prints_hostile_file_names_as_plain_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = tmp_path / "data"
    generate(data)
    victim = next(p for p in sorted(data.iterdir()) if p.suffix == ".csv")
    shutil.move(victim, data / f"{HOSTILE}{victim.name}")
    (data / f"{HOSTILE}broken.csv").write_text("not,a,known\nlayout,at,all\n")
    code = main(["validate", "--data-dir", str(data)])
    out, err = capsys.readouterr()
    assert code == 2  # the broken file blocks; the renamed one is read
    for stream in (out, err):
        assert "\x1b" not in stream and "\x07" not in stream
        # the sequences are removed whole; the rest of the name is shown as it is
        assert "x`<img src=x onerror=alert(1)>`{{ }}{doc}`y`broken.csv" in stream and "owned" not in stream
