"""The data's health over days, as review tables: row counts and label rates per split, the
example-quality check's result, and the long-dwell thresholds by cluster.

Read from the Parquet partitions the features group writes (`training_examples`,
`dwell_thresholds`); a day whose partition is not there yet is left out. The quality check is
the one the blocking `training_examples_quality` asset check runs
(`models.evaluation.data_quality`), recomputed here so the review shows it beside the rates.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from models.evaluation.data_quality import DENSE_FEATURES, measure_example_quality
from models.reporting.review import (
    DATA_CHECKS_SCHEMA,
    DWELL_THRESHOLDS_SCHEMA,
    LABEL_RATES_SCHEMA,
)
from spark.schemas import LABELS

EXAMPLE_QUALITY_CHECK = "training_examples_quality"


@dataclasses.dataclass(frozen=True)
class DataHealth:
    """The review tables of the data (columns: the `*_SCHEMA` dicts of `models.reporting.review`).

    Args:
        label_rates: per day, split ('train' | 'holdout' | 'random_bucket') and label: rows,
            positives and the positive rate.
        data_checks: per day and check: passed and what it found.
        dwell_thresholds: per day and cluster (position bucket × content type × platform): the
            long-dwell threshold in seconds, the rows behind it and the back-off level used.
    """

    label_rates: pd.DataFrame
    data_checks: pd.DataFrame
    dwell_thresholds: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The review snapshot's table name → frame."""
        return {
            "label_rates": self.label_rates,
            "data_checks": self.data_checks,
            "dwell_thresholds": self.dwell_thresholds,
        }


def label_rates(date: dt.date, examples: pd.DataFrame) -> pd.DataFrame:
    """Rows, positives and positive rate of every label per split of one day's examples."""
    grouped = examples.groupby("split", sort=True)[list(LABELS)]
    positives = grouped.sum().astype("int64")
    rows = grouped.size()
    out = positives.reset_index().melt(id_vars="split", var_name="label", value_name="positives")
    out["rows"] = out["split"].map(rows).astype("int64")
    out["rate"] = out["positives"] / out["rows"]
    out.insert(0, "date", date)
    return out[list(LABEL_RATES_SCHEMA)]


def data_health(
    examples_dirs: Mapping[dt.date, Path], thresholds_dirs: Mapping[dt.date, Path]
) -> DataHealth:
    """The data's review tables from each day's `training_examples` and `dwell_thresholds`
    partitions (missing ones are skipped)."""
    rates, checks, thresholds = [], [], []
    columns = ["split", *LABELS, *DENSE_FEATURES]
    for date, path in sorted(examples_dirs.items()):
        if not Path(path).exists():
            continue
        examples = pd.read_parquet(path, columns=columns)
        rates.append(label_rates(date, examples))
        quality = measure_example_quality(examples)
        checks.append((date, EXAMPLE_QUALITY_CHECK, quality.passed, quality.describe()))
    for date, path in sorted(thresholds_dirs.items()):
        if Path(path).exists():
            day = pd.read_parquet(path)
            thresholds.append(day.assign(date=date)[list(DWELL_THRESHOLDS_SCHEMA)])
    return DataHealth(
        label_rates=_concat(rates, LABEL_RATES_SCHEMA),
        data_checks=pd.DataFrame(checks, columns=list(DATA_CHECKS_SCHEMA)),
        dwell_thresholds=_concat(thresholds, DWELL_THRESHOLDS_SCHEMA),
    )


def _concat(frames: list[pd.DataFrame], schema: Mapping[str, str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame(columns=list(schema))
    return pd.concat(frames, ignore_index=True)
