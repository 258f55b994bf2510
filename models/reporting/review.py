"""The review snapshot: a small standalone DuckDB file the Streamlit dashboard reads.

DuckDB allows one writer at a time (architecture.md), so the dashboard never opens the pipeline's
warehouse. `model_review` copies the models, offline-metric, replay-metric and paired-difference
tables into a NEW file beside the snapshot path and swaps it in with `os.replace` (atomic on
POSIX): a reader sees either the old snapshot or the new one, never a half-written file, and a
reader that still has the old file open keeps reading the old inode. Readers open it
`read_only=True` for one query batch.

Tables (column contracts below, in order):

- `models`: one row per trained model and day (mode 'cold' | 'incremental', paper §5 / notes §5).
- `offline_metrics`: per day, model, scorer ('model' | 'popularity_baseline') and head: rows,
  positives, AUC, log loss, calibration O/E = Σy / Σp (notes §15: offline AUC per head).
- `replay_metrics`: per evaluated day D, the model that ranked it (trained through D − 1) and
  ranker ('model' | 'popularity_baseline' | 'production' | 'random'): replay contribution rate @1
  with its 95% Wilson interval (paper §5.2, notes §15), and the ground-truth expected
  contributions per session of the ranker's #1 picks (simulator only; NULL otherwise).
- `paired_differences` (simulator only; empty without a ground truth): per day, model and
  reference ranker ('production' | 'popularity_baseline' | 'random'): the number of random-bucket
  sessions, the mean and the sample variance (ddof=1) of the per-session differences model −
  reference in the ground-truth expected contributions of their #1 picks.
- `leaderboard` (derived, `models.reporting.leaderboard.build_leaderboard`): per day and model,
  the model's replay rate and interval, and against production and popularity the replay
  difference (Newcombe) and the paired ground-truth difference, each with its 95% interval; mean
  AUC over heads of the model and of the baseline.
- `overview` (derived, `build_overview`): one row per reference, every day pooled, with the
  verdict in words ('model beats production', 'model LOSES to production', ...).

Detail tables (`DETAIL_SCHEMAS`; empty when the writer was not given them):

- `segment_metrics`: per day, model, scorer, segment ('all' | 'content_type' | 'platform' |
  'position' | 'member'), segment value and head: AUC with its 95% DeLong interval and observed /
  expected (`models.evaluation.segments`).
- `calibration_curves`: per day, model, scorer and head, the reliability diagram's equal-count
  bins: mean prediction vs observed rate with a Wilson interval.
- `model_lineage`, `gate_verdicts`, `gate_checks`, `training_curves`: what each day's model
  directory says (`models.reporting.model_records`): the days that trained it, its base model
  and configuration; the gate's verdict, reasons and checks, and the model serving as of the day;
  the training loss per epoch.
- `label_rates`, `data_checks`, `dwell_thresholds`: the data's health per day
  (`models.reporting.data_health`).
- `explore_exploit`, `compressed_models`, `random_effects_lift`: the last-layer posterior, the
  8-bit model and the windowed random effects' lift on the traffic they scored, per day.

Product tables (`PRODUCT_SCHEMAS`, part of `DETAIL_SCHEMAS`; written per evaluated day by the
`ads_evaluation` / `jobs_evaluation` assets, issue 13, paper §1 and §17; empty until they run):

- `ads_metrics`: per day, model, scorer ('model' | 'model_8bit' | 'production': the production
  ranker's noisy pCTR) and head (a chargeability group of `spark.schemas.CHARGEABILITY_GROUPS`, or
  'all'): rows, positives, AUC with its 95% DeLong interval, log loss, ECE and observed / expected
  (calibration prices ads: pCTR x bid).
- `ads_calibration`: per day, model, scorer and head, the calibration curve's bins: mean
  prediction vs observed rate.
- `jobs_metrics`: the columns of `ads_metrics` for the heads 'apply' | 'click' and the scorers
  'model' | 'production' (production's log loss, ECE and O/E are NULL: its score is not a
  probability).
- `jobs_topk`: per day, model, ranker ('model' | 'production') and k: the ground truth's mean
  P(qualified application | examined) over each session's top-k jobs by that ranker, with its 95%
  interval, and the paired difference model - production with its interval.
- `product_verdicts`: per day, model, product ('ads' | 'jobs') and metric: the model's value, the
  production ranker's, their difference with its 95% interval, and the verdict in words ('wins' |
  'loses' | 'no significant difference').

Their values are checked beyond NULLs (`VALUE_RANGES`, `INTERVAL_COLUMNS`, `UNIQUE_KEYS`): AUCs,
ECEs and rates in [0, 1], counts >= 0 and positives <= rows, every interval around its value,
one row per key. NOT CONFIRMED by the paper: the paper reports only AUC and O/E deltas for these
products; the columns, the 'all' head and the top-k qualified-rate measure are our choices.

And one free-form table, `ablation_results` (the ablation ladder of `bench/ablation.py`), copied
with whatever columns it has when given; absent otherwise (`read_review_snapshot` then returns an
empty frame).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from models.popularity import LIFT_METRICS
from models.reporting.leaderboard import (
    BASELINE_SCORER,
    LEADERBOARD_SCHEMA,
    MODEL_SCORER,
    OVERVIEW_SCHEMA,
    PRODUCTION,
    RANDOM,
    REFERENCES,
    build_leaderboard,
    build_overview,
)
from spark.schemas import CHARGEABILITY_GROUPS

MODELS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "mode": "VARCHAR",
    "base_model_id": "VARCHAR",
    "train_days": "INTEGER",
    "train_rows": "BIGINT",
    "final_loss": "DOUBLE",
    "train_seconds": "DOUBLE",
}
OFFLINE_METRICS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scorer": "VARCHAR",
    "head": "VARCHAR",
    "rows": "BIGINT",
    "positives": "BIGINT",
    "auc": "DOUBLE",
    "log_loss": "DOUBLE",
    "calibration": "DOUBLE",
}
REPLAY_METRICS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "ranker": "VARCHAR",
    "sessions": "BIGINT",
    "matched": "BIGINT",
    "contributions": "BIGINT",
    "rate": "DOUBLE",
    "ci_low": "DOUBLE",
    "ci_high": "DOUBLE",
    "expected_contributions": "DOUBLE",
}
PAIRED_DIFFERENCES_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "reference": "VARCHAR",
    "sessions": "BIGINT",
    "mean_difference": "DOUBLE",
    "variance": "DOUBLE",
}
SEGMENT_METRICS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scorer": "VARCHAR",
    "segment": "VARCHAR",
    "value": "VARCHAR",
    "head": "VARCHAR",
    "rows": "BIGINT",
    "positives": "BIGINT",
    "predicted": "DOUBLE",
    "auc": "DOUBLE",
    "auc_ci_low": "DOUBLE",
    "auc_ci_high": "DOUBLE",
    "calibration": "DOUBLE",
}
CALIBRATION_CURVES_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scorer": "VARCHAR",
    "head": "VARCHAR",
    "bin": "INTEGER",
    "rows": "BIGINT",
    "mean_predicted": "DOUBLE",
    "observed_rate": "DOUBLE",
    "observed_ci_low": "DOUBLE",
    "observed_ci_high": "DOUBLE",
}
MODEL_LINEAGE_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "mode": "VARCHAR",
    "base_model_id": "VARCHAR",
    "trained_on": "VARCHAR",
    "train_rows": "BIGINT",
    "epochs": "INTEGER",
    "engine": "VARCHAR",
    "model_config": "VARCHAR",
    "training_config": "VARCHAR",
}
GATE_VERDICTS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "gated": "BOOLEAN",
    "passed": "BOOLEAN",
    "promoted": "BOOLEAN",
    "serving_model_id": "VARCHAR",
    "compared_with": "VARCHAR",
    "reasons": "VARCHAR",
    "gated_at": "VARCHAR",
}
GATE_CHECKS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "check": "VARCHAR",
    "head": "VARCHAR",
    "value": "DOUBLE",
    "bound": "VARCHAR",
    "passed": "BOOLEAN",
    "detail": "VARCHAR",
}
TRAINING_CURVES_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "epoch": "INTEGER",
    "loss": "DOUBLE",
}
LABEL_RATES_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "split": "VARCHAR",
    "label": "VARCHAR",
    "rows": "BIGINT",
    "positives": "BIGINT",
    "rate": "DOUBLE",
}
DATA_CHECKS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "check": "VARCHAR",
    "passed": "BOOLEAN",
    "detail": "VARCHAR",
}
DWELL_THRESHOLDS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "position_bucket": "INTEGER",
    "content_type": "VARCHAR",
    "platform": "VARCHAR",
    "threshold_seconds": "DOUBLE",
    "sample_count": "BIGINT",
    "level": "VARCHAR",
    "percentile": "DOUBLE",
    "global_threshold_seconds": "DOUBLE",
}
"""The columns of `spark.dwell.THRESHOLD_COLUMNS` with the day."""
EXPLORE_EXPLOIT_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "carried_over": "BOOLEAN",
    "day_rows": "BIGINT",
    "rows": "BIGINT",
    "dim": "INTEGER",
    "noise_variance": "DOUBLE",
    "mean_weight_std": "DOUBLE",
    "top_slot_changed": "DOUBLE",
    "sessions": "BIGINT",
    "prior_scale": "DOUBLE",
    "explore_share": "DOUBLE",
}
"""The `explore_exploit_posterior` asset's row per model day (`models.explore.update`)."""
RANDOM_EFFECTS_LIFT_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "head": "VARCHAR",
    "scored_hours": "VARCHAR",
    **{
        column: "DOUBLE"
        for column in (
            "fit_rows", "posts", "authors", "post_effect_sd", "author_effect_sd", "scored_rows",
            "young_rows", *LIFT_METRICS, *(f"young_{m}" for m in LIFT_METRICS),
        )
    },
}  # fmt: skip
"""The `windowed_random_effects` asset's rows per scored day (`models.popularity.LIFT_COLUMNS`):
per head and window (`scored_hours` "HH-HH", or "all" for the day), the global model alone and
with the effects on the traffic scored."""
COMPRESSED_MODELS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scheme": "VARCHAR",
    "fp32_bytes": "BIGINT",
    "bytes": "BIGINT",
    "ratio": "DOUBLE",
    "mean_abs_error": "DOUBLE",
}
"""The `compressed_feed_model` asset's row per model day (`models.compression`)."""

ADS_SCORERS: tuple[str, ...] = ("model", "model_8bit", "production")
"""The full model, its 8-bit-embedding variant and the production ranker's pCTR."""
ADS_METRIC_HEADS: tuple[str, ...] = (*CHARGEABILITY_GROUPS, "all")
"""One head per chargeability group, and 'all' (each ad scored by its own group's head)."""
JOBS_SCORERS: tuple[str, ...] = ("model", "production")
JOBS_METRIC_HEADS: tuple[str, ...] = ("apply", "click")
"""`models.jobs.JOBS_HEADS`, spelled out here so that the dashboard need not import TensorFlow."""
PRODUCTS: tuple[str, ...] = ("ads", "jobs")
VERDICTS: tuple[str, ...] = ("wins", "loses", "no significant difference")
"""The model against the product's production ranker, decided by the difference's 95% interval."""
PRODUCT_METRICS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scorer": "VARCHAR",
    "head": "VARCHAR",
    "rows": "BIGINT",
    "positives": "BIGINT",
    "auc": "DOUBLE",
    "auc_lo": "DOUBLE",
    "auc_hi": "DOUBLE",
    "log_loss": "DOUBLE",
    "ece": "DOUBLE",
    "observed_expected": "DOUBLE",
}
"""The columns of `ads_metrics` and `jobs_metrics`: per day, model, scorer and head."""
ADS_METRICS_SCHEMA: dict[str, str] = dict(PRODUCT_METRICS_SCHEMA)
JOBS_METRICS_SCHEMA: dict[str, str] = dict(PRODUCT_METRICS_SCHEMA)
ADS_CALIBRATION_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "scorer": "VARCHAR",
    "head": "VARCHAR",
    "bin": "INTEGER",
    "mean_predicted": "DOUBLE",
    "observed_rate": "DOUBLE",
    "rows": "BIGINT",
}
JOBS_TOPK_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "ranker": "VARCHAR",
    "k": "INTEGER",
    "sessions": "BIGINT",
    "qualified_rate": "DOUBLE",
    "qualified_lo": "DOUBLE",
    "qualified_hi": "DOUBLE",
    "delta_vs_production": "DOUBLE",
    "delta_lo": "DOUBLE",
    "delta_hi": "DOUBLE",
}
"""Per ranker and k: the ground truth's mean P(qualified application | examined) over each
session's top-k jobs, and model - production paired over sessions (0 for production itself)."""
PRODUCT_VERDICTS_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "product": "VARCHAR",
    "metric": "VARCHAR",
    "model_value": "DOUBLE",
    "production_value": "DOUBLE",
    "delta": "DOUBLE",
    "delta_lo": "DOUBLE",
    "delta_hi": "DOUBLE",
    "verdict": "VARCHAR",
}
PRODUCT_SCHEMAS: dict[str, dict[str, str]] = {
    "ads_metrics": ADS_METRICS_SCHEMA,
    "ads_calibration": ADS_CALIBRATION_SCHEMA,
    "jobs_metrics": JOBS_METRICS_SCHEMA,
    "jobs_topk": JOBS_TOPK_SCHEMA,
    "product_verdicts": PRODUCT_VERDICTS_SCHEMA,
}
"""The Ads and Jobs evaluation tables (issue 13), copied from the warehouse by `model_review`."""

# Columns that may hold NULL; every other column must be filled.
NULLABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "models": ("base_model_id", "final_loss", "train_seconds"),
    "offline_metrics": ("auc", "log_loss", "calibration"),
    "replay_metrics": ("rate", "ci_low", "ci_high", "expected_contributions"),
    "paired_differences": ("mean_difference", "variance"),
    "segment_metrics": ("auc", "auc_ci_low", "auc_ci_high", "calibration"),
    "calibration_curves": ("observed_ci_low", "observed_ci_high"),
    "model_lineage": (
        "mode",
        "base_model_id",
        "trained_on",
        "train_rows",
        "engine",
        "model_config",
        "training_config",
    ),
    "gate_verdicts": ("passed", "serving_model_id", "compared_with", "reasons", "gated_at"),
    "gate_checks": ("value", "bound", "passed", "detail"),
    "training_curves": ("loss",),
    "label_rates": ("rate",),
    "data_checks": ("detail",),
    "dwell_thresholds": ("sample_count", "level", "percentile", "global_threshold_seconds"),
    "explore_exploit": ("noise_variance", "mean_weight_std", "top_slot_changed"),
    "compressed_models": (),
    "ads_metrics": ("auc", "auc_lo", "auc_hi", "log_loss", "ece", "observed_expected"),
    "ads_calibration": ("mean_predicted", "observed_rate"),
    "jobs_metrics": ("auc", "auc_lo", "auc_hi", "log_loss", "ece", "observed_expected"),
    "jobs_topk": (
        "qualified_rate",
        "qualified_lo",
        "qualified_hi",
        "delta_vs_production",
        "delta_lo",
        "delta_hi",
    ),
    "product_verdicts": ("model_value", "production_value", "delta", "delta_lo", "delta_hi"),
    "random_effects_lift": (
        "fit_rows",
        "posts",
        "authors",
        "post_effect_sd",
        "author_effect_sd",
        *(
            f"{s}{m}_{k}"
            for s in ("", "young_")
            for m in ("auc", "log_loss")
            for k in ("global", "effects")
        ),
    ),
}
SNAPSHOT_SCHEMAS: dict[str, dict[str, str]] = {
    "models": MODELS_SCHEMA,
    "offline_metrics": OFFLINE_METRICS_SCHEMA,
    "replay_metrics": REPLAY_METRICS_SCHEMA,
    "paired_differences": PAIRED_DIFFERENCES_SCHEMA,
}
ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("models", "mode"): ("cold", "incremental"),
    ("offline_metrics", "scorer"): (MODEL_SCORER, BASELINE_SCORER),
    ("replay_metrics", "ranker"): (MODEL_SCORER, BASELINE_SCORER, PRODUCTION, RANDOM),
    ("paired_differences", "reference"): (*REFERENCES, RANDOM),
    ("segment_metrics", "scorer"): (MODEL_SCORER, BASELINE_SCORER),
    ("calibration_curves", "scorer"): (MODEL_SCORER, BASELINE_SCORER),
    ("ads_metrics", "scorer"): ADS_SCORERS,
    ("ads_metrics", "head"): ADS_METRIC_HEADS,
    ("ads_calibration", "scorer"): ADS_SCORERS,
    ("ads_calibration", "head"): ADS_METRIC_HEADS,
    ("jobs_metrics", "scorer"): JOBS_SCORERS,
    ("jobs_metrics", "head"): JOBS_METRIC_HEADS,
    ("jobs_topk", "ranker"): JOBS_SCORERS,
    ("product_verdicts", "product"): PRODUCTS,
    ("product_verdicts", "verdict"): VERDICTS,
}
_UNIT = (0.0, 1.0)
_COUNT = (0.0, np.inf)
_SIGNED = (-np.inf, np.inf)
VALUE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    **{
        table: {
            "rows": _COUNT,
            "positives": _COUNT,
            **{name: _UNIT for name in ("auc", "auc_lo", "auc_hi", "ece")},
            "log_loss": _COUNT,
            "observed_expected": _COUNT,
        }
        for table in ("ads_metrics", "jobs_metrics")
    },
    "ads_calibration": {
        "bin": _COUNT,
        "mean_predicted": _UNIT,
        "observed_rate": _UNIT,
        "rows": _COUNT,
    },
    "jobs_topk": {
        "k": (1.0, np.inf),
        "sessions": _COUNT,
        **{name: _UNIT for name in ("qualified_rate", "qualified_lo", "qualified_hi")},
        **{name: _SIGNED for name in ("delta_vs_production", "delta_lo", "delta_hi")},
    },
    "product_verdicts": {
        name: _SIGNED
        for name in ("model_value", "production_value", "delta", "delta_lo", "delta_hi")
    },
}
"""Closed [low, high] per numeric column of the product tables; NaN passes where the column is
nullable, an infinite value never does."""
INTERVAL_COLUMNS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "ads_metrics": (("auc", "auc_lo", "auc_hi"),),
    "jobs_metrics": (("auc", "auc_lo", "auc_hi"),),
    "jobs_topk": (
        ("qualified_rate", "qualified_lo", "qualified_hi"),
        ("delta_vs_production", "delta_lo", "delta_hi"),
    ),
    "product_verdicts": (("delta", "delta_lo", "delta_hi"),),
}
"""(value, low, high): where all three are given, low <= value <= high."""
UNIQUE_KEYS: dict[str, tuple[str, ...]] = {
    "ads_metrics": ("date", "model_id", "scorer", "head"),
    "ads_calibration": ("date", "model_id", "scorer", "head", "bin"),
    "jobs_metrics": ("date", "model_id", "scorer", "head"),
    "jobs_topk": ("date", "model_id", "ranker", "k"),
    "product_verdicts": ("date", "model_id", "product", "metric"),
}
_INTERVAL_TOLERANCE = 1e-9

DERIVED_SCHEMAS: dict[str, dict[str, str]] = {
    "leaderboard": LEADERBOARD_SCHEMA,
    "overview": OVERVIEW_SCHEMA,
}
DETAIL_SCHEMAS: dict[str, dict[str, str]] = {
    "segment_metrics": SEGMENT_METRICS_SCHEMA,
    "calibration_curves": CALIBRATION_CURVES_SCHEMA,
    "model_lineage": MODEL_LINEAGE_SCHEMA,
    "gate_verdicts": GATE_VERDICTS_SCHEMA,
    "gate_checks": GATE_CHECKS_SCHEMA,
    "training_curves": TRAINING_CURVES_SCHEMA,
    "label_rates": LABEL_RATES_SCHEMA,
    "data_checks": DATA_CHECKS_SCHEMA,
    "dwell_thresholds": DWELL_THRESHOLDS_SCHEMA,
    "explore_exploit": EXPLORE_EXPLOIT_SCHEMA,
    "compressed_models": COMPRESSED_MODELS_SCHEMA,
    "random_effects_lift": RANDOM_EFFECTS_LIFT_SCHEMA,
    **PRODUCT_SCHEMAS,
}
ABLATION_TABLE = "ablation_results"
"""Free-form: copied with the columns `bench/ablation.py` gave it (ordered by run and row)."""
SNAPSHOT_TABLES: tuple[str, ...] = (*SNAPSHOT_SCHEMAS, *DERIVED_SCHEMAS, *DETAIL_SCHEMAS)
MISSING_SNAPSHOT_HINT = "run `make demo` or materialize model_review"


class StaleSnapshotError(ValueError):
    """A review snapshot whose tables do not match the current contracts."""


def _validated(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of `frame`, in order; a column-less empty frame is an empty table."""
    schema = {**SNAPSHOT_SCHEMAS, **DETAIL_SCHEMAS}[table]
    if frame.empty and len(frame.columns) == 0:
        return pd.DataFrame({name: pd.Series(dtype="object") for name in schema})
    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise ValueError(
            f"Table {table!r} is missing column(s) {missing}. Expected columns {list(schema)}; "
            f"received {list(frame.columns)}."
        )
    out = frame[list(schema)]
    for name in schema:
        if name not in NULLABLE_COLUMNS[table] and out[name].isna().any():
            raise ValueError(
                f"Table {table!r} column {name!r} has {int(out[name].isna().sum())} missing values."
            )
    for (allowed_table, name), allowed in ALLOWED_VALUES.items():
        if allowed_table == table:
            bad = sorted(set(out[name].dropna()) - set(allowed))
            if bad:
                raise ValueError(
                    f"Table {table!r} column {name!r} has unknown value(s) {bad}; "
                    f"allowed: {allowed}"
                )
    _check_values(table, out)
    return out


def _check_values(table: str, frame: pd.DataFrame) -> None:
    """The product tables' value rules: `VALUE_RANGES`, positives <= rows, `INTERVAL_COLUMNS`
    and `UNIQUE_KEYS` (no-op for the other tables)."""
    for name, (low, high) in VALUE_RANGES.get(table, {}).items():
        values = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        given = values[frame[name].notna()]
        bad = given[~np.isfinite(given) | (given < low) | (given > high)]
        if len(bad):
            raise ValueError(
                f"Table {table!r} column {name!r} has {len(bad)} value(s) outside [{low}, {high}] "
                f"(or not a finite number), e.g. {bad.iloc[0]!r} at row {bad.index[0]}; fix the "
                "asset that writes it."
            )
    if {"rows", "positives"} <= set(frame.columns) and table in VALUE_RANGES:
        over = frame[frame["positives"] > frame["rows"]]
        if len(over):
            raise ValueError(
                f"Table {table!r} has {len(over)} row(s) with positives > rows, e.g. "
                f"{int(over['positives'].iloc[0])} > {int(over['rows'].iloc[0])}."
            )
    for value, low, high in INTERVAL_COLUMNS.get(table, ()):
        bounds = frame[[value, low, high]].astype("float64").dropna()
        outside = bounds[
            (bounds[low] > bounds[value] + _INTERVAL_TOLERANCE)
            | (bounds[value] > bounds[high] + _INTERVAL_TOLERANCE)
        ]
        if len(outside):
            first = outside.iloc[0]
            raise ValueError(
                f"Table {table!r}: {len(outside)} row(s) where {value!r} is outside its interval "
                f"[{low!r}, {high!r}], e.g. {first[value]} not in [{first[low]}, {first[high]}]."
            )
    key = UNIQUE_KEYS.get(table)
    if key:
        duplicated = frame[frame.duplicated(list(key), keep=False)]
        if len(duplicated):
            raise ValueError(
                f"Table {table!r} has {len(duplicated)} rows sharing a key {list(key)}, e.g. "
                f"{tuple(duplicated[list(key)].iloc[0])}; write one row per key (replace the "
                "day's partition instead of appending)."
            )


def _create(
    conn: duckdb.DuckDBPyConnection, table: str, schema: dict[str, str], frame: pd.DataFrame
) -> None:
    """Create `table` with the contract `schema` and insert `frame` cast to it."""
    columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in schema.items())
    casts = ", ".join(f'CAST("{name}" AS {sql_type})' for name, sql_type in schema.items())
    conn.execute(f"CREATE TABLE {table} ({columns})")
    conn.register("incoming", frame)
    conn.execute(f"INSERT INTO {table} SELECT {casts} FROM incoming")
    conn.unregister("incoming")


def write_review_snapshot(
    path: Path,
    models: pd.DataFrame,
    offline_metrics: pd.DataFrame,
    replay_metrics: pd.DataFrame,
    paired_differences: pd.DataFrame | None = None,
    details: Mapping[str, pd.DataFrame] | None = None,
) -> Path:
    """Write the review snapshot to `path` atomically and return `path`.

    Builds a new DuckDB file at a temporary sibling path (same directory, so the rename stays on
    one filesystem), creates the tables with the contracts `MODELS_SCHEMA`,
    `OFFLINE_METRICS_SCHEMA`, `REPLAY_METRICS_SCHEMA`, `PAIRED_DIFFERENCES_SCHEMA`, then the
    derived `leaderboard` and `overview` (computed from the stored, typed tables) and the
    `DETAIL_SCHEMAS` tables, closes it and `os.replace`s it onto `path`. Extra input columns are
    dropped; `paired_differences` None or empty (no ground truth) gives an empty table.

    Args:
        details: table name → frame for the `DETAIL_SCHEMAS` tables (one not given is empty) and
            optionally `ABLATION_TABLE` (copied with its own columns when not empty).

    Raises:
        ValueError: a table misses a contract column (named), has NULLs in a required column, an
            unknown mode / scorer / ranker / reference value, or `details` names an unknown
            table.
    """
    path = Path(path)
    details = dict(details or {})
    unknown = sorted(set(details) - {*DETAIL_SCHEMAS, ABLATION_TABLE})
    if unknown:
        raise ValueError(
            f"unknown detail table(s) {unknown}; known: {[*DETAIL_SCHEMAS, ABLATION_TABLE]}"
        )
    ablation = details.pop(ABLATION_TABLE, None)
    frames = {
        "models": _validated("models", models),
        "offline_metrics": _validated("offline_metrics", offline_metrics),
        "replay_metrics": _validated("replay_metrics", replay_metrics),
        "paired_differences": _validated(
            "paired_differences",
            pd.DataFrame() if paired_differences is None else paired_differences,
        ),
    }
    detail_frames = {
        table: _validated(table, details.get(table, pd.DataFrame())) for table in DETAIL_SCHEMAS
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(str(tmp)) as conn:
            for table, frame in frames.items():
                _create(conn, table, SNAPSHOT_SCHEMAS[table], frame)
            stored = {table: conn.execute(f"SELECT * FROM {table}").df() for table in frames}
            derived = {
                "leaderboard": build_leaderboard(**stored),
                "overview": build_overview(stored["replay_metrics"], stored["paired_differences"]),
            }
            for table, frame in derived.items():
                _create(conn, table, DERIVED_SCHEMAS[table], frame)
            for table, frame in detail_frames.items():
                _create(conn, table, DETAIL_SCHEMAS[table], frame)
            if ablation is not None and not ablation.empty:
                conn.register("incoming", ablation)
                conn.execute(f"CREATE TABLE {ABLATION_TABLE} AS SELECT * FROM incoming")
                conn.unregister("incoming")
            conn.execute("CHECKPOINT")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return path


def read_review_snapshot(path: Path) -> dict[str, pd.DataFrame]:
    """Read every snapshot table with one short-lived read-only connection.

    Returns:
        `SNAPSHOT_TABLES` → DataFrame: the data tables ordered by date, the overview by
        reference as in `REFERENCES` (production first); then `ABLATION_TABLE` (empty when the
        snapshot has none), ordered by run and row when it has those columns.

    Raises:
        FileNotFoundError: no snapshot at `path` (with what to run to make one).
        StaleSnapshotError: the snapshot was written with other table contracts (an older
            version); the message names the first table that differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no review snapshot at {path}; {MISSING_SNAPSHOT_HINT}")
    schemas = {**SNAPSHOT_SCHEMAS, **DERIVED_SCHEMAS, **DETAIL_SCHEMAS}
    with duckdb.connect(str(path), read_only=True) as conn:
        present = {row[0] for row in conn.execute("SHOW TABLES").fetchall()}
        for table in SNAPSHOT_TABLES:
            columns = (
                [row[0] for row in conn.execute(f"DESCRIBE {table}").fetchall()]
                if table in present
                else []
            )
            if columns != list(schemas[table]):
                raise StaleSnapshotError(
                    f"the review snapshot at {path} is out of date: table {table!r} has columns "
                    f"{columns}, expected {list(schemas[table])}; {MISSING_SNAPSHOT_HINT} again"
                )
        tables = {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            for table in SNAPSHOT_TABLES
        }
        tables[ABLATION_TABLE] = (
            conn.execute(f"SELECT * FROM {ABLATION_TABLE}").df()
            if ABLATION_TABLE in present
            else pd.DataFrame()
        )
    ablation = tables[ABLATION_TABLE]
    by = [name for name in ("run_id", "row") if name in ablation.columns]
    if by:
        tables[ABLATION_TABLE] = ablation.sort_values(by, ignore_index=True)
    order = {reference: rank for rank, reference in enumerate(REFERENCES)}
    overview = tables["overview"]
    tables["overview"] = overview.sort_values(
        "reference", key=lambda column: column.map(order), ignore_index=True
    )
    return tables
