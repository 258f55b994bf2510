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
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pandas as pd

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
# Columns that may hold NULL; every other column must be filled.
NULLABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "models": ("base_model_id", "final_loss", "train_seconds"),
    "offline_metrics": ("auc", "log_loss", "calibration"),
    "replay_metrics": ("rate", "ci_low", "ci_high", "expected_contributions"),
    "paired_differences": ("mean_difference", "variance"),
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
}

DERIVED_SCHEMAS: dict[str, dict[str, str]] = {
    "leaderboard": LEADERBOARD_SCHEMA,
    "overview": OVERVIEW_SCHEMA,
}
SNAPSHOT_TABLES: tuple[str, ...] = (*SNAPSHOT_SCHEMAS, *DERIVED_SCHEMAS)
MISSING_SNAPSHOT_HINT = "run `make demo` or materialize model_review"


class StaleSnapshotError(ValueError):
    """A review snapshot whose tables do not match the current contracts."""


def _validated(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of `frame`, in order; a column-less empty frame is an empty table."""
    schema = SNAPSHOT_SCHEMAS[table]
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
    columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.items())
    casts = ", ".join(f"CAST({name} AS {sql_type})" for name, sql_type in schema.items())
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
) -> Path:
    """Write the review snapshot to `path` atomically and return `path`.

    Builds a new DuckDB file at a temporary sibling path (same directory, so the rename stays on
    one filesystem), creates the tables with the contracts `MODELS_SCHEMA`,
    `OFFLINE_METRICS_SCHEMA`, `REPLAY_METRICS_SCHEMA`, `PAIRED_DIFFERENCES_SCHEMA`, then the
    derived `leaderboard` and `overview` (computed from the stored, typed tables), closes it and
    `os.replace`s it onto `path`. Extra input columns are dropped; `paired_differences` None or
    empty (no ground truth) gives an empty table.

    Raises:
        ValueError: a table misses a contract column (named), has NULLs in a required column, or an
            unknown mode / scorer / ranker / reference value.
    """
    path = Path(path)
    frames = {
        "models": _validated("models", models),
        "offline_metrics": _validated("offline_metrics", offline_metrics),
        "replay_metrics": _validated("replay_metrics", replay_metrics),
        "paired_differences": _validated(
            "paired_differences",
            pd.DataFrame() if paired_differences is None else paired_differences,
        ),
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
        reference as in `REFERENCES` (production first).

    Raises:
        FileNotFoundError: no snapshot at `path` (with what to run to make one).
        StaleSnapshotError: the snapshot was written with other table contracts (an older
            version); the message names the first table that differs.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no review snapshot at {path}; {MISSING_SNAPSHOT_HINT}")
    schemas = {**SNAPSHOT_SCHEMAS, **DERIVED_SCHEMAS}
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
    order = {reference: rank for rank, reference in enumerate(REFERENCES)}
    overview = tables["overview"]
    tables["overview"] = overview.sort_values(
        "reference", key=lambda column: column.map(order), ignore_index=True
    )
    return tables
