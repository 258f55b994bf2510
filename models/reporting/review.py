"""The review snapshot: a small standalone DuckDB file the Streamlit dashboard reads.

DuckDB allows one writer at a time (architecture.md), so the dashboard never opens the pipeline's
warehouse. `model_review` copies the models, offline-metric and replay-metric tables into a NEW
file beside the snapshot path and swaps it in with `os.replace` (atomic on POSIX): a reader sees
either the old snapshot or the new one, never a half-written file, and a reader that still has the
old file open keeps reading the old inode. Readers open it `read_only=True` for one query batch.

Tables (column contracts below, in order):

- `models`: one row per trained model and day (mode 'cold' | 'incremental', paper §5 / notes §5).
- `offline_metrics`: per day, model, scorer ('model' | 'popularity_baseline') and head: rows,
  positives, AUC, log loss, calibration O/E = Σy / Σp (notes §15: offline AUC per head).
- `replay_metrics`: per day, model and ranker ('model' | 'popularity_baseline' | 'production' |
  'random'): replay contribution rate @1 with its 95% Wilson interval (paper §5.2, notes §15), and
  the ground-truth expected contributions per session of the ranker's #1 picks (simulator only;
  NULL otherwise).
- `leaderboard` (derived in SQL, `LEADERBOARD_SQL`): per day and model, the model's replay rate and
  interval, the popularity baseline's rate, lift = model_rate / baseline_rate − 1, and the mean
  AUC over heads of the model and of the baseline.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pandas as pd

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
# Columns that may hold NULL; every other column must be filled.
NULLABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "models": ("base_model_id", "final_loss", "train_seconds"),
    "offline_metrics": ("auc", "log_loss", "calibration"),
    "replay_metrics": ("rate", "ci_low", "ci_high", "expected_contributions"),
}
SNAPSHOT_SCHEMAS: dict[str, dict[str, str]] = {
    "models": MODELS_SCHEMA,
    "offline_metrics": OFFLINE_METRICS_SCHEMA,
    "replay_metrics": REPLAY_METRICS_SCHEMA,
}
MODEL_SCORER = "model"
BASELINE_SCORER = "popularity_baseline"
ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("models", "mode"): ("cold", "incremental"),
    ("offline_metrics", "scorer"): (MODEL_SCORER, BASELINE_SCORER),
    ("replay_metrics", "ranker"): (MODEL_SCORER, BASELINE_SCORER, "production", "random"),
}

LEADERBOARD_SQL = f"""
CREATE TABLE leaderboard AS
WITH keys AS (
    SELECT date, model_id FROM models
    UNION SELECT date, model_id FROM offline_metrics
    UNION SELECT date, model_id FROM replay_metrics
),
model_replay AS (
    SELECT * FROM replay_metrics WHERE ranker = '{MODEL_SCORER}'
),
baseline_replay AS (
    SELECT * FROM replay_metrics WHERE ranker = '{BASELINE_SCORER}'
),
auc AS (
    SELECT
        date,
        model_id,
        avg(auc) FILTER (WHERE scorer = '{MODEL_SCORER}') AS model_auc,
        avg(auc) FILTER (WHERE scorer = '{BASELINE_SCORER}') AS baseline_auc,
        avg(log_loss) FILTER (WHERE scorer = '{MODEL_SCORER}') AS model_log_loss
    FROM offline_metrics
    GROUP BY date, model_id
)
SELECT
    k.date,
    k.model_id,
    m.mode,
    m.train_rows,
    r.sessions,
    r.matched,
    r.contributions,
    r.rate AS model_rate,
    r.ci_low AS model_ci_low,
    r.ci_high AS model_ci_high,
    b.rate AS baseline_rate,
    r.rate / nullif(b.rate, 0) - 1 AS lift,
    a.model_auc,
    a.baseline_auc,
    a.model_log_loss
FROM keys AS k
LEFT JOIN models AS m ON m.date = k.date AND m.model_id = k.model_id
LEFT JOIN model_replay AS r ON r.date = k.date AND r.model_id = k.model_id
LEFT JOIN baseline_replay AS b ON b.date = k.date AND b.model_id = k.model_id
LEFT JOIN auc AS a ON a.date = k.date AND a.model_id = k.model_id
ORDER BY k.date, k.model_id
"""
LEADERBOARD_COLUMNS: tuple[str, ...] = (
    "date",
    "model_id",
    "mode",
    "train_rows",
    "sessions",
    "matched",
    "contributions",
    "model_rate",
    "model_ci_low",
    "model_ci_high",
    "baseline_rate",
    "lift",
    "model_auc",
    "baseline_auc",
    "model_log_loss",
)
SNAPSHOT_TABLES: tuple[str, ...] = (*SNAPSHOT_SCHEMAS, "leaderboard")
MISSING_SNAPSHOT_HINT = "run `make demo` or materialize model_review"


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


def write_review_snapshot(
    path: Path,
    models: pd.DataFrame,
    offline_metrics: pd.DataFrame,
    replay_metrics: pd.DataFrame,
) -> Path:
    """Write the review snapshot to `path` atomically and return `path`.

    Builds a new DuckDB file at a temporary sibling path (same directory, so the rename stays on
    one filesystem), creates the tables with the contracts `MODELS_SCHEMA`,
    `OFFLINE_METRICS_SCHEMA`, `REPLAY_METRICS_SCHEMA` plus the derived `leaderboard`, closes it,
    then `os.replace`s it onto `path`. Extra input columns are dropped.

    Raises:
        ValueError: a table misses a contract column (named), has NULLs in a required column, or an
            unknown mode / scorer / ranker value.
    """
    path = Path(path)
    frames = {
        "models": _validated("models", models),
        "offline_metrics": _validated("offline_metrics", offline_metrics),
        "replay_metrics": _validated("replay_metrics", replay_metrics),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with duckdb.connect(str(tmp)) as conn:
            for table, frame in frames.items():
                schema = SNAPSHOT_SCHEMAS[table]
                columns = ", ".join(f"{name} {sql_type}" for name, sql_type in schema.items())
                casts = ", ".join(
                    f"CAST({name} AS {sql_type})" for name, sql_type in schema.items()
                )
                conn.execute(f"CREATE TABLE {table} ({columns})")
                conn.register("incoming", frame)
                conn.execute(f"INSERT INTO {table} SELECT {casts} FROM incoming")
                conn.unregister("incoming")
            conn.execute(LEADERBOARD_SQL)
            conn.execute("CHECKPOINT")
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)
    return path


def read_review_snapshot(path: Path) -> dict[str, pd.DataFrame]:
    """Read every snapshot table with one short-lived read-only connection.

    Returns:
        {"models", "offline_metrics", "replay_metrics", "leaderboard"} → DataFrame, each ordered
        by date.

    Raises:
        FileNotFoundError: no snapshot at `path` (with what to run to make one).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no review snapshot at {path}; {MISSING_SNAPSHOT_HINT}")
    with duckdb.connect(str(path), read_only=True) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            for table in SNAPSHOT_TABLES
        }
