"""The evaluation protocols: next-day evaluation reads only the past for its model."""

from __future__ import annotations

import datetime as dt

import pytest

from models.evaluation.protocol import evaluation_days

DAY = dt.date(2026, 1, 5)


def test_next_day_ranks_day_d_with_the_model_of_the_day_before_on_every_unseen_row():
    days = evaluation_days(DAY)
    assert (days.evaluated, days.ranked_by) == (DAY, dt.date(2026, 1, 4))
    assert days.splits == ("train", "holdout")


def test_same_day_is_an_explicit_option_on_held_out_rows_only():
    days = evaluation_days(DAY, "same_day")
    assert (days.evaluated, days.ranked_by, days.splits) == (DAY, DAY, ("holdout",))
    with pytest.raises(ValueError, match="protocol='yesterday'"):
        evaluation_days(DAY, "yesterday")
