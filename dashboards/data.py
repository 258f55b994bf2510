"""Cached loaders over the review snapshot (read-only, short-lived connections; nothing at import).

The dashboard never opens the pipeline's warehouse: it reads the standalone snapshot that the
`model_review` asset swaps in atomically (`models.reporting.review`). The path comes from
`LIRANK_REVIEW_SNAPSHOT`, else `$LIRANK_DATA_ROOT/review/review.duckdb`, else
`<repo>/.lirank/review/review.duckdb`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from models.reporting.review import (
    MISSING_SNAPSHOT_HINT,
    StaleSnapshotError,
    read_review_snapshot,
)
from spark.storage import DATA_ROOT_ENV, DEFAULT_DATA_ROOT, DataLayout

SNAPSHOT_ENV = "LIRANK_REVIEW_SNAPSHOT"
REPO_DATA_ROOT = Path(__file__).resolve().parents[1] / DEFAULT_DATA_ROOT
CACHE_TTL_SECONDS = 60


def snapshot_path() -> Path:
    """Where the review snapshot is expected, from the environment at call time."""
    explicit = os.environ.get(SNAPSHOT_ENV)
    if explicit:
        return Path(explicit)
    root = os.environ.get(DATA_ROOT_ENV)
    return DataLayout(Path(root) if root else REPO_DATA_ROOT).review_snapshot


@st.cache_data(ttl=CACHE_TTL_SECONDS, show_spinner=False)
def _read(path: str, modified_ns: int) -> dict[str, pd.DataFrame]:
    # `modified_ns` is part of the cache key: a newly swapped-in snapshot is read at once.
    del modified_ns
    return read_review_snapshot(Path(path))


def load_snapshot() -> dict[str, pd.DataFrame] | None:
    """All snapshot tables (`models.reporting.review`), or None when there is no snapshot yet."""
    path = snapshot_path()
    try:
        return _read(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        return None


def snapshot_or_stop() -> dict[str, pd.DataFrame]:
    """The snapshot tables; without a snapshot (or with an out-of-date one), a friendly message
    and the page stops."""
    try:
        tables = load_snapshot()
    except StaleSnapshotError as error:
        st.title("LiRank review")
        st.warning(f"{error}, then reload this page.", icon=":material/update:")
        st.stop()
    if tables is None:
        st.title("LiRank review")
        st.info(
            f"No review snapshot yet at `{snapshot_path()}`.\n\n"
            f"To make one, {MISSING_SNAPSHOT_HINT} in the Dagster UI, then reload this page. "
            f"Set `{SNAPSHOT_ENV}` to read a snapshot elsewhere.",
            icon=":material/hourglass_empty:",
        )
        st.stop()
    return tables


def latest(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of `frame` on its latest date (empty in, empty out)."""
    if frame.empty:
        return frame
    return frame[frame["date"] == frame["date"].max()]


def day_label(value: object) -> str:
    """A date as YYYY-MM-DD."""
    return pd.Timestamp(value).strftime("%Y-%m-%d")
