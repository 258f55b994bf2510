"""Summaries of the model-ready examples (`training_examples`), computed by Spark."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.schemas import LABELS


def label_rates_by_split(examples: DataFrame) -> pd.DataFrame:
    """Rows and the positive rate of every label per split (train, holdout, random_bucket).

    Returns:
        One row per split, ordered by split: `split`, `rows`, then one column per label of
        `spark.schemas.LABELS` (its mean over the split's rows).
    """
    rates = examples.groupBy("split").agg(
        F.count("*").alias("rows"), *[F.avg(F.col(label)).alias(label) for label in LABELS]
    )
    return rates.orderBy("split").toPandas()
