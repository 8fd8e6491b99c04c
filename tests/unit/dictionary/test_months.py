"""One go-live month parser for the parameter check and the evaluation."""

from __future__ import annotations

import datetime as dt

import pytest

from evaluation.dictionary.months import parse_month
from evaluation.pipeline.parameters import ParameterError, parse_intervention_date


@pytest.mark.parametrize("text", ["2021-08", "2021-08-01", "2021-08-17", " 2021-08 "])
def test_a_month_or_a_day_is_the_first_of_its_month(text):
    assert parse_month(text) == dt.date(2021, 8, 1)
    assert parse_intervention_date(text).date() == dt.date(2021, 8, 1)


def test_dates_are_taken_as_their_month():
    assert parse_month(dt.date(2022, 4, 9)) == dt.date(2022, 4, 1)
    assert parse_month(dt.datetime(2022, 4, 9, 12)) == dt.date(2022, 4, 1)


@pytest.mark.parametrize("text", ["Aug 2021", "2021-13", "2021-02-30", "2021/08", "", "21-08"])
def test_anything_else_is_refused_in_one_line_by_both(text):
    with pytest.raises(ValueError, match="is not a date; expected YYYY-MM or YYYY-MM-DD") as exc:
        parse_month(text)
    assert "\n" not in str(exc.value)
    with pytest.raises(ParameterError, match="is not a date"):
        parse_intervention_date(text)
