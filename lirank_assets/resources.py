"""Dagster resources: small interfaces whose local and production settings are chosen in
`definitions.py` (data root, Spark master, log source, training engine, warehouse)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
from dagster import ConfigurableResource
from pyspark.sql import SparkSession

from spark.schemas import RAW_TABLES
from spark.session import build_spark_session
from spark.world_config import WorldConfig


class DataRoot(ConfigurableResource):
    """The directory under which every file of the project lives (Parquet, models, warehouse)."""

    path: str

    @property
    def root(self) -> Path:
        return Path(self.path).resolve()

    @property
    def warehouse_path(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def review_snapshot_path(self) -> Path:
        return self.root / "review" / "review.duckdb"

    def dataset_dir(self, group: str) -> Path:
        return self.root / group


class SparkResource(ConfigurableResource):
    """A Spark session on `master` (`local[2]` by default, or e.g. `spark://host:7077`)."""

    master: str = "local[2]"
    conf: dict[str, str] = {}

    def session(self) -> SparkSession:
        return build_spark_session(self.master, self.conf)


class FeedLogSource(ConfigurableResource):
    """Where raw feed logs come from: the simulated world (default) or a user's log directory.

    With `logs_path` set, each day is read from `<logs_path>/<table>/date=YYYY-MM-DD/` (Parquet or
    Avro files) and validated against the raw schemas before anything is written.
    """

    logs_path: str | None = None
    world_seed: int = 7
    world_start_date: str = "2026-01-01"
    world_num_days: int = 8
    world_num_members: int = 3000
    world_num_authors: int = 600
    world_posts_per_day: int = 500
    world_random_bucket_share: float = 0.10

    @classmethod
    def simulated(cls, world: WorldConfig) -> FeedLogSource:
        return cls(
            world_seed=world.seed,
            world_start_date=world.start_date.isoformat(),
            world_num_days=world.num_days,
            world_num_members=world.num_members,
            world_num_authors=world.num_authors,
            world_posts_per_day=world.posts_per_day,
            world_random_bucket_share=world.random_bucket_share,
        )

    @property
    def is_simulated(self) -> bool:
        return self.logs_path is None

    def world_config(self) -> WorldConfig:
        return WorldConfig(
            seed=self.world_seed,
            start_date=dt.date.fromisoformat(self.world_start_date),
            num_days=self.world_num_days,
            num_members=self.world_num_members,
            num_authors=self.world_num_authors,
            posts_per_day=self.world_posts_per_day,
            random_bucket_share=self.world_random_bucket_share,
        )

    def load_day(self, date: dt.date, cache_dir: Path) -> dict[str, pa.Table]:
        """All raw tables of one day, validated; `feed_ground_truth` only for the simulator."""
        if self.is_simulated:
            from spark.world import FeedWorld

            world = FeedWorld(self.world_config(), cache_dir=cache_dir)
            day = world.simulate_day(world.config.day_of(date))
            return {
                "feed_sessions": day.feed_sessions,
                "feed_impressions": day.feed_impressions,
                "posts": day.posts,
                "members": day.members,
                "feed_ground_truth": day.feed_ground_truth,
            }
        from spark.ingest import validate_raw_partition

        base = Path(self.logs_path)
        return {
            table: validate_raw_partition(base / table / f"date={date.isoformat()}", table)
            for table in RAW_TABLES
        }


class TrainingResource(ConfigurableResource):
    """How the ranking model trains: epochs, batch, cold-start window, and where.

    With `horovod_hosts` set (e.g. `localhost:2` or `gpu1:4,gpu2:4`) training runs as
    `horovodrun -np <horovod_num_proc> -H <hosts> --gloo python -m models.train_cli`, each rank
    averaging gradients with `hvd.allreduce`; otherwise it runs in the Dagster process.
    """

    cold_start_days: int = 3
    cold_start_epochs: int = 3
    incremental_epochs: int = 2
    batch_size: int = 512
    learning_rate: float = 3e-3
    horovod_hosts: str | None = None
    horovod_num_proc: int = 0


class Warehouse(ConfigurableResource):
    """The DuckDB warehouse of metrics and the model manifest.

    Connections are opened per call and closed at once: DuckDB allows one writer at a time.
    """

    database: str

    def replace_partition(self, table: str, date: dt.date, rows: pd.DataFrame) -> int:
        """Idempotently replace the rows of `date` in `table` (created from `rows` if new)."""
        with duckdb.connect(self.database) as conn:
            conn.register("incoming", rows)
            conn.execute("BEGIN TRANSACTION")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM incoming LIMIT 0")
            conn.execute(f"DELETE FROM {table} WHERE date = ?", [date])
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM incoming")
            conn.execute("COMMIT")
        return len(rows)

    def read(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with duckdb.connect(self.database) as conn:
            return conn.execute(sql, params or []).df()

    def table_or_empty(self, table: str) -> pd.DataFrame:
        with duckdb.connect(self.database) as conn:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]
            ).fetchone()[0]
            return (
                conn.execute(f"SELECT * FROM {table} ORDER BY date").df()
                if exists
                else pd.DataFrame()
            )
