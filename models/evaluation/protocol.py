"""Evaluation protocols: which model ranks which day's traffic.

Production serves yesterday's model on today's traffic, so that is the default
(`"next_day"`): day D is ranked by the model trained through day D−1, with the random effects fit
on day D−1 (the past only: popularity shocks are daily, and effects fit on day D would already
know the evaluated day) and the popularity baseline fit on day D−1's training rows. Offline
metrics then use every non-replay row of day D (none was trained on) and replay day D's random
bucket. The first evaluated day is the day after the cold start.

`"same_day"` (the model of day D on day D's held-out sessions and random bucket) stays as an
explicit option, for comparison: it flatters the model with what it learnt of the same day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

PROTOCOLS: tuple[str, ...] = ("next_day", "same_day")
DEFAULT_PROTOCOL = "next_day"


@dataclasses.dataclass(frozen=True)
class EvaluationDays:
    """The days one evaluation reads.

    Args:
        evaluated: the day whose traffic is scored (its examples, candidates and truth).
        ranked_by: the day of the model, random effects and baseline training rows that score it.
        splits: the `split` values of the evaluated day's rows that offline metrics use.
    """

    evaluated: dt.date
    ranked_by: dt.date
    splits: tuple[str, ...]


def evaluation_days(date: dt.date, protocol: str = DEFAULT_PROTOCOL) -> EvaluationDays:
    """The days an evaluation of `date` reads under `protocol` (one of `PROTOCOLS`)."""
    if protocol == "next_day":
        return EvaluationDays(date, date - dt.timedelta(days=1), ("train", "holdout"))
    if protocol == "same_day":
        return EvaluationDays(date, date, ("holdout",))
    raise ValueError(f"`protocol` must be one of {PROTOCOLS}. Received: protocol={protocol!r}")
