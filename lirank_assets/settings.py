"""Run settings read from the environment in one place: data root, world scale, engines."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

from spark.world_config import WorldConfig

# Named world sizes. `demo` is what `make demo` runs on 2 cores; `tiny` is for tests; `large` is
# a 10x world (~2.4M impressions over 14 days); `xlarge` is ~12M impressions over 14 days, meant
# for a Spark cluster (`LIRANK_SPARK_MASTER`, `LIRANK_WORLD_SHARDS`).
WORLD_PRESETS: dict[str, WorldConfig] = {
    "demo": WorldConfig(),
    "tiny": WorldConfig(
        num_days=4,
        num_members=400,
        num_authors=80,
        posts_per_day=120,
        random_bucket_share=0.2,
    ),
    "large": WorldConfig(num_members=30000, num_authors=6000, posts_per_day=5000, num_days=14),
    "xlarge": WorldConfig(
        num_members=150_000, num_authors=15_000, posts_per_day=6_000, num_days=14
    ),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a deployment chooses, with laptop defaults.

    Environment variables: `LIRANK_WORLD` (a preset name), `LIRANK_LOGS_PATH` (read user logs
    from this directory instead of simulating), `LIRANK_START_DATE` / `LIRANK_NUM_DAYS` (the
    partition range for user logs), `LIRANK_SPARK_MASTER`, `LIRANK_HOROVOD_HOSTS` (e.g.
    `host1:4,host2:4`; training then runs under `horovodrun`), `LIRANK_HOROVOD_NP`,
    `LIRANK_COLD_START_DAYS`, `LIRANK_WORLD_SHARDS` (Spark tasks per simulated day; unset: one
    per 25,000 members).
    """

    world: WorldConfig
    logs_path: str | None
    spark_master: str
    horovod_hosts: str | None
    horovod_num_proc: int
    cold_start_days: int
    world_shards: int | None = None

    @property
    def start_date(self) -> dt.date:
        return self.world.start_date

    @property
    def end_date(self) -> dt.date:
        """Exclusive end of the daily partition range."""
        return self.world.start_date + dt.timedelta(days=self.world.num_days)


def settings_from_env(environ: dict[str, str] | None = None) -> Settings:
    """Read `Settings` from environment variables; unknown preset names raise `ValueError`."""
    env = dict(os.environ if environ is None else environ)
    preset = env.get("LIRANK_WORLD", "demo")
    if preset not in WORLD_PRESETS:
        raise ValueError(
            f"LIRANK_WORLD={preset!r} is not a world preset; choose one of {sorted(WORLD_PRESETS)}"
        )
    world = WORLD_PRESETS[preset]
    if "LIRANK_START_DATE" in env or "LIRANK_NUM_DAYS" in env:
        world = dataclasses.replace(
            world,
            start_date=dt.date.fromisoformat(
                env.get("LIRANK_START_DATE", world.start_date.isoformat())
            ),
            num_days=int(env.get("LIRANK_NUM_DAYS", world.num_days)),
        )
    return Settings(
        world=world,
        logs_path=env.get("LIRANK_LOGS_PATH") or None,
        spark_master=env.get("LIRANK_SPARK_MASTER", "local[2]"),
        horovod_hosts=env.get("LIRANK_HOROVOD_HOSTS") or None,
        horovod_num_proc=int(env.get("LIRANK_HOROVOD_NP", "0")),
        cold_start_days=int(env.get("LIRANK_COLD_START_DAYS", "3")),
        world_shards=_positive_int_or_none(env, "LIRANK_WORLD_SHARDS"),
    )


def _positive_int_or_none(env: dict[str, str], name: str) -> int | None:
    value = env.get(name)
    if not value:
        return None
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)
