"""Materialize raw logs and features for a range of days outside the UI, and train models the way
the graph trains them: what the benchmarks train and evaluate on, so they measure what the graph
would get. Paths come from `spark.storage.DataLayout`, training settings from `TrainingResource`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from lirank_assets.resources import TrainingResource
from lirank_assets.settings import Settings, settings_from_env
from models.evaluation.scoring import model_probabilities, read_partition
from models.feed import FeedModelConfig
from models.popularity import fit_day_effects
from models.registry import load_model
from models.training.config import TrainingPlan
from models.training.job import run_training
from spark.storage import DataLayout


def current_avro_shards(directory: Path) -> bool:
    """Whether `directory` holds Avro shards of the current example schema (a day written by an
    older schema is rebuilt: its features are recomputed from the day's raw logs)."""
    from spark.avro_shards import check_schema_version

    shards = sorted(Path(directory).glob("part-*.avro"))
    try:
        for shard in shards[:1]:
            check_schema_version(shard)
    except ValueError:
        return False
    return bool(shards)


def materialize_days(
    root: Path, num_days: int | None = None, settings: Settings | None = None
) -> tuple[list[dt.date], Settings]:
    """Run `raw_logs_job` and `features_job` for each of the first `num_days` days of the
    settings' world (all by default) whose Avro examples of the current schema are not in `root`.

    Args:
        root: the data root to write (`LIRANK_DATA_ROOT` layout).
        num_days: only the first this many days.
        settings: the run settings; by default from the environment (`LIRANK_WORLD`, ...).

    Returns:
        The days and the settings used.
    """
    from dagster import DagsterInstance

    from lirank_assets.definitions import build_definitions

    settings = settings or settings_from_env()
    layout = DataLayout(Path(root))
    days = [settings.world.date_of(d) for d in range(settings.world.num_days)][:num_days]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    missing = [day for day in days if not current_avro_shards(layout.training_examples_avro(day))]
    if missing:
        defs = build_definitions(settings, str(root))
        instance = DagsterInstance.ephemeral()
        for day in missing:
            for job in ("raw_logs_job", "features_job"):
                defs.resolve_job_def(job).execute_in_process(
                    partition_key=day.isoformat(), instance=instance, run_config=quiet
                )
            print(f"prepared {day}", flush=True)
    return days, settings


def graph_training_plan(
    layout: DataLayout,
    out_dir: Path,
    window: list[dt.date],
    *,
    model: FeedModelConfig,
    seed: int,
    model_id: str,
    previous: Path | None = None,
    training: TrainingResource | None = None,
) -> TrainingPlan:
    """A plan with the graph's training settings (`training`, by default `TrainingResource`'s
    defaults: epochs for a cold start or an incremental day, batch size, learning rate, the
    recipe, incremental training) on the Avro shards of `window`, warm-started from `previous`
    when given; no serving export."""
    defaults = training or TrainingResource()
    return TrainingPlan(
        model_id=model_id,
        out_dir=out_dir,
        examples=tuple(layout.training_examples_avro(day) for day in window),
        previous_model=previous,
        model=model,
        training=defaults.training_config(previous is not None, seed=seed),
        export_saved_model=False,
    )


@dataclasses.dataclass(frozen=True)
class TrainedDay:
    """A model day trained as the graph trains it: the model, the windowed random effects that
    score the next day with it (None on the last day) and the training seconds."""

    model_dir: Path
    effects_dir: Path | None
    train_seconds: float


def train_graph_days(
    layout: DataLayout,
    work: Path,
    days: list[dt.date],
    cold_start_days: int,
    model: FeedModelConfig,
    seed: int,
    through: dt.date | None = None,
    training: TrainingResource | None = None,
) -> dict[dt.date, TrainedDay]:
    """The graph's cold start on the first `cold_start_days` days, then one incremental day at a
    time (paper §5) through `through` (default: the last day), each day with the windowed random
    effects that score the next day with that model, as the graph's `windowed_random_effects`
    fits them (`models.popularity`); written under `work`."""
    out: dict[dt.date, TrainedDay] = {}
    previous = None
    first = cold_start_days - 1
    for index in range(first, len(days)):
        day = days[index]
        if through is not None and day > through:
            break
        model_dir = work / f"model-{day.isoformat()}"
        window = days[index - first : index + 1] if previous is None else [day]
        result = run_training(
            graph_training_plan(
                layout, model_dir, window, model=model, seed=seed,
                model_id=f"feed-{day.isoformat()}", previous=previous, training=training,
            )
        )  # fmt: skip
        effects = None
        if index + 1 < len(days):
            scored_day = days[index + 1]
            model_obj, _ = load_model(model_dir)
            fitted = fit_day_effects(
                lambda rows, m=model_obj: model_probabilities(m, None, rows, rank_at_top=False),
                read_partition(layout.training_examples(day)),
                read_partition(layout.training_examples(scored_day)),
            )
            effects = work / f"effects-{scored_day.isoformat()}"
            effects.mkdir(parents=True, exist_ok=True)
            fitted.effects.to_parquet(effects / "part-0.parquet")
        out[day] = TrainedDay(model_dir, effects, result.train_seconds)
        previous = model_dir
    return out
