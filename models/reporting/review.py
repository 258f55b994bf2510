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
}

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
    return out


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
