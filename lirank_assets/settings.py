"""Settings in two kinds: what shapes the graph (read once, when the code location loads) and what
a run uses (passed to the resources as `EnvVar`, read when each run starts).

Graph shape (`Settings`, from `settings_from_env`): `LIRANK_WORLD` (a preset name of
`WORLD_PRESETS`), `LIRANK_START_DATE` / `LIRANK_NUM_DAYS` (the daily partition range; with user
logs, their dates), `LIRANK_LOGS_PATH` (set: read the user's logs instead of simulating),
`LIRANK_COLD_START_DAYS` (the first model's window: the dependency window of `feed_ranking_model`
and the first day it has a partition). With user logs, read when the code location loads too:
`LIRANK_LOGS_VALUE_POLICY` (`table=policy` pairs, `mapping_setting`) and `LIRANK_PRODUCTS` (the
products whose logs the user brings beside the feed's, e.g. `ads,jobs`; empty or unset: none;
`list_setting`); both change what `FileLogs` validates and writes.

Run settings (`run_setting`): `LIRANK_DATA_ROOT`, `LIRANK_SPARK_MASTER`, `LIRANK_HOROVOD_HOSTS`
(e.g. `host1:4,host2:4`; training then runs under `horovodrun`), `LIRANK_HOROVOD_NP`,
`LIRANK_WORLD_SHARDS` (Spark tasks per simulated day; unset: one per 25,000 members) and
`LIRANK_LOGS_PATH` (where `FileLogs` reads).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Mapping

from dagster import Config, EnvVar

from spark.world import WorldConfig

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


class WorldChoice(Config):
    """The simulated world, as Dagster config: a preset of `WORLD_PRESETS` by name, with its
    seed and date range optionally replaced. Every other `WorldConfig` field is the preset's, so
    the world's parameters are declared once (in `WorldConfig` and its presets); a world of
    another size is a new preset.
    """

    preset: str = "demo"
    seed: int | None = None
    start_date: str | None = None
    num_days: int | None = None

    def world_config(self) -> WorldConfig:
        """The `WorldConfig` chosen; raises ValueError naming an unknown preset."""
        if self.preset not in WORLD_PRESETS:
            raise ValueError(
                f"world preset {self.preset!r} does not exist; choose one of "
                f"{sorted(WORLD_PRESETS)} (LIRANK_WORLD)"
            )
        overrides = {
            "seed": self.seed,
            "start_date": dt.date.fromisoformat(self.start_date) if self.start_date else None,
            "num_days": self.num_days,
        }
        return dataclasses.replace(
            WORLD_PRESETS[self.preset], **{k: v for k, v in overrides.items() if v is not None}
        )


@dataclasses.dataclass(frozen=True)
class Settings:
    """What shapes the graph, with laptop defaults.

    Args:
        world_choice: the simulated world; with `logs_path`, only its date range is used (the
            partitions of the user's logs).
        logs_path: read the user's logs from this directory instead of simulating
            (`resources.FileLogs`); None simulates (`resources.SimulatedLogs`).
        cold_start_days: days of the first (cold-start) model; `feed_ranking_model` has
            partitions from the day this window is first full.
    """

    world_choice: WorldChoice = dataclasses.field(default_factory=WorldChoice)
    logs_path: str | None = None
    cold_start_days: int = 3

    def __post_init__(self) -> None:
        if self.cold_start_days < 1:
            raise ValueError(
                f"`cold_start_days` must be at least 1. Received: {self.cold_start_days}"
            )
        self.world_choice.world_config()  # an unknown preset fails here, at load

    @property
    def world(self) -> WorldConfig:
        return self.world_choice.world_config()

    @property
    def start_date(self) -> dt.date:
        return self.world.start_date

    @property
    def end_date(self) -> dt.date:
        """Exclusive end of the daily partition range."""
        return self.world.start_date + dt.timedelta(days=self.world.num_days)


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the graph's `Settings` from environment variables (see the module docstring)."""
    env = os.environ if environ is None else environ
    num_days = env.get("LIRANK_NUM_DAYS")
    return Settings(
        world_choice=WorldChoice(
            preset=env.get("LIRANK_WORLD", "demo"),
            start_date=env.get("LIRANK_START_DATE") or None,
            num_days=_positive_int("LIRANK_NUM_DAYS", num_days) if num_days else None,
        ),
        logs_path=env.get("LIRANK_LOGS_PATH") or None,
        cold_start_days=_positive_int(
            "LIRANK_COLD_START_DAYS", env.get("LIRANK_COLD_START_DAYS", "3")
        ),
    )


def run_setting(name: str, default: str | None, environ: Mapping[str, str] | None = None):
    """A resource setting read when each run starts: `EnvVar(name)` if the variable is set (the
    UI shows its name, not its value), else `default`."""
    env = os.environ if environ is None else environ
    return EnvVar(name) if env.get(name) else default


def int_run_setting(name: str, default: int | None, environ: Mapping[str, str] | None = None):
    """`run_setting` for an integer setting (`EnvVar.int`)."""
    env = os.environ if environ is None else environ
    return EnvVar.int(name) if env.get(name) else default


def bool_setting(name: str, default: bool, environ: Mapping[str, str] | None = None) -> bool:
    """A yes/no setting read when the code location loads: "1/true/yes/on" or "0/false/no/off"."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(
        f"{name} must be one of 1/true/yes/on or 0/false/no/off. Received: {name}={value!r}"
    )


def mapping_setting(name: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A `key=value,key=value` setting read when the code location loads (empty when unset)."""
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise ValueError(
                f"{name} must be `key=value` pairs separated by commas, e.g. "
                f"`feed_impressions=drop_rows`. Received: {name}={value!r} (bad item {item!r})"
            )
        pairs[key.strip()] = val.strip()
    return pairs


def list_setting(name: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """A comma-separated setting read when the code location loads, e.g. `ads,jobs` (empty when
    unset; blanks around items are ignored).

    Raises:
        ValueError: an empty item (`ads,,jobs`, a trailing comma), naming the setting.
    """
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    if not value:
        return []
    items = [item.strip() for item in value.split(",")]
    if not all(items):
        raise ValueError(
            f"{name} must be names separated by commas, e.g. `ads,jobs`, with no empty item. "
            f"Received: {name}={value!r}"
        )
    return items


def _positive_int(name: str, value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    return int(value)
