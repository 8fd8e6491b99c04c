"""A folder of demonstration MHSDS 4-week-wait files alone validates as usable, and its MRS01b series (the share
of community referral-spells with a clock stop within 4 weeks) appear for the four sites, equal to MRS01a /
MRS01 from the same files."""

from __future__ import annotations

import io

import numpy as np

from evaluation.demo.four_week_wait import FOLDER
from evaluation.demo.generator import generate
from evaluation.dictionary.registry import default_registry
from evaluation.evaluate.estimability import NOT_IN_DATA, estimability
from evaluation.sources import load_panel
from evaluation.sources.folder_check import validate

REG = default_registry()


def test_demonstration_four_week_files_alone_are_usable_and_give_mrs01b_at_the_four_sites(tmp_path):
    generate(tmp_path / "demo", organisations=8)
    files = sorted((tmp_path / "demo" / FOLDER).glob("MHSDS Data_4WW_*.csv"))
    assert files, "the generator wrote no 4-week-wait files"
    folder = tmp_path / "data"
    folder.mkdir()
    for f in files:
        (folder / f.name).symlink_to(f)
    out, err = io.StringIO(), io.StringIO()
    assert validate(folder, out=out, err=err) == 0, err.getvalue()
    assert "Result: usable." in out.getvalue() and err.getvalue() == ""

    panel, _ = load_panel(folder)
    monthly = panel[panel["period_type"] == "month"]
    for site in REG.sites:
        mrs = monthly[monthly["org_code"] == site.ods_code].pivot_table(index="period", columns="measure_id",
                                                                       values="value")
        assert len(mrs) == len(files), site.id  # one month per file
        share = mrs["MRS01B"].to_numpy()
        expected = mrs["MRS01A"].to_numpy() / mrs["MRS01"].to_numpy()
        scale = 100.0 if np.nanmax(share) > 1 else 1.0  # published in percent or as a proportion
        assert np.allclose(share / scale, expected, atol=0.0006), site.id
    rows = [r for r in estimability(REG, panel) if r.measure_id == "MRS01B"]
    assert len(rows) == len(REG.sites) and all(r.status != NOT_IN_DATA for r in rows)
