"""Crisis data honesty on the site page: a measure the files did not hold is listed with the published file that
carries it and the months it covers, from data_dictionary/measures.yaml (CCR70-73: the MHSDS main monthly data
files, discontinued from April 2023)."""

from __future__ import annotations

from evaluation.dictionary.registry import default_registry
from evaluation.publish.pages import site_page

from ..results.test_files import _est, _result

REG = default_registry()


def _page(status: str) -> str:
    result = _result("CCR70", "rate_ratio", _est(0.9, 0.8, 1.0), status=status, reason="not in these files")
    return site_page(REG, "lancashire", [result], {}, notebooks=[])


def test_crisis_measures_not_in_the_files_say_where_they_are_published():
    page = _page("not_in_data")
    crisis = page.split("### Crisis demand")[1].split("## Timeline")[0]
    assert "Not in the files this evaluation read" in crisis
    assert "**New emergency referrals to crisis care teams (CCR70)**" in crisis
    assert "MHSDS main monthly data files" in crisis and "Discontinued from April 2023" in crisis
    assert "Months published: April 2019 to March 2023." in crisis
    assert "(CCR71)" in crisis  # not in the results file at all: also listed
    assert "(MHS07)" not in crisis  # no availability note in the dictionary: nothing to say


def test_a_measure_the_files_held_is_not_listed():
    crisis = _page("descriptive").split("### Crisis demand")[1].split("## Timeline")[0]
    assert "(CCR70)" not in crisis and "(CCR71)" in crisis


def test_the_four_week_standard_dates_are_milestones_from_the_documents():
    bradford = [m for m in REG.site("bradford").milestones if "4 weeks" in m.event]
    lancashire = [m for m in REG.site("lancashire").milestones if "4-week" in m.event]
    assert [(m.date.isoformat(), m.precision) for m in bradford] == [("2023-01-01", "year")]
    assert [(m.date.isoformat(), m.precision) for m in lancashire] == [("2023-04-01", "year")]
    page = site_page(REG, "bradford", [], {}, notebooks=[])
    assert "4 weeks by 2023" in page.split("## Timeline")[1]
