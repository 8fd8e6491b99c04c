"""Disclosure control on the session's built site: the synthetic site passes, and a seeded small count fails."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from evaluation.cli import main
from evaluation.publish.disclosure import check_tree, scan_tree

pytestmark = pytest.mark.e2e


def test_the_synthetic_site_passes_and_a_seeded_three_fails(built_site: Path, tmp_path: Path):
    report = scan_tree([built_site])
    assert report.pages > 10 and report.violations == [], [str(v) for v in report.violations]
    page = built_site / "_generated" / "sites" / "dorset" / "crisis_demand.html"
    text = page.read_text(encoding="utf-8")
    # The summary table publishes the latest observed count after the rule: seed a 3 into that column.
    cells = re.findall(r'<td class="num">([0-9][0-9,]*) \([A-Z][a-z]{2} [0-9]{4}\)</td>', text)
    assert cells and all(int(c.replace(",", "")) % 5 == 0 for c in cells)
    seeded = tmp_path / "html"
    shutil.copytree(built_site, seeded)
    target = seeded / page.relative_to(built_site)
    target.write_text(text.replace(f'<td class="num">{cells[0]} (', '<td class="num">3 (', 1), encoding="utf-8")
    assert main(["check-disclosure", str(seeded)]) == 1
    found = check_tree([seeded])
    assert [(v.page, v.value.split(" ")[0]) for v in found] == [("_generated/sites/dorset/crisis_demand.html", "3")]
    assert "Count, latest month" in found[0].where
