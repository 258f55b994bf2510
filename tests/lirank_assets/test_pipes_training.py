"""`feed_ranking_model` trains in a child process launched through Dagster Pipes: rank 0's
per-epoch metrics land in the materialization beside the gate's verdict, its progress streams into
the run's logs, its TensorBoard logs sit in the model directory, and a diverging run fails the
step with the divergence named while the previous promoted model stays as it was.

The asset alone, on synthetic Parquet examples written where the graph would (no Spark)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, materialize

from lirank_assets.definitions import build_resources, calendar_of
from lirank_assets.resources import TrainingResource
from lirank_assets.settings import Settings, WorldChoice
from models.registry import promoted_model_dir
from spark.storage import DataLayout
from tests.models.conftest import synthetic_examples

SETTINGS = Settings(world_choice=WorldChoice(preset="tiny", num_days=3), cold_start_days=1)
SMALL_MODEL = {"embedding_dim": 8, "tower_units": [16, 16]}


def _materialize(root: Path, instance, day: dt.date, **training):
    from lirank_assets.assets.ranking import build_ranking_assets

    [asset] = build_ranking_assets(calendar_of(SETTINGS))
    resources = build_resources(SETTINGS, str(root))
    resources["training"] = TrainingResource(
        examples_format="parquet", cold_start_epochs=3, incremental_epochs=1, batch_size=128,
        **training,
    )  # fmt: skip
    return materialize(
        [asset],
        partition_key=day.isoformat(),
        resources=resources,
        instance=instance,
        run_config={"ops": {"feed_ranking_model": {"config": SMALL_MODEL}}},
        raise_on_error=False,
    )


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipes").resolve()
    layout = DataLayout(root)
    calendar = calendar_of(SETTINGS)
    days = [calendar.first_model_day + dt.timedelta(days=i) for i in range(2)]
    for index, day in enumerate(days):
        folder = layout.training_examples(day)
        folder.mkdir(parents=True)
        synthetic_examples(3000, seed=31 + index).to_parquet(folder / "part-0.parquet")
    instance = DagsterInstance.ephemeral()
    result = _materialize(root, instance, days[0])
    return result, instance, layout, days


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_rank_0_metrics_arrive_in_the_materialization_beside_the_gate(cold_start):
    result, instance, layout, days = cold_start
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    [materialization] = result.asset_materializations_for_node("feed_ranking_model")
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    # the gate's verdict, from the asset itself ...
    assert metadata["gate"] == "passed: promoted" and metadata["mode"] == "cold"
    # ... and rank 0's training metrics, reported through Pipes by the child process
    epochs = metadata["training_epochs"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [e["loss"] for e in epochs] == pytest.approx(
        json.loads((layout.feed_model(days[0]) / "manifest.json").read_text())["metadata"][
            "training_result"
        ]["epoch_losses"]
    )
    assert metadata["training_steps"] == epochs[-1]["step"] > 0
    assert metadata["training_ranks"] == 1 and metadata["training_examples_per_second"] > 0
    tensorboard = Path(metadata["tensorboard"])
    assert tensorboard == layout.feed_model(days[0]) / "tensorboard"
    assert any(p.name.startswith("events.out.tfevents") for p in tensorboard.rglob("*"))
    # progress streamed into the run's logs as it trained (Pipes log messages)
    messages = [
        entry.user_message for entry in instance.all_logs(result.run_id) if entry.user_message
    ]
    assert any("epoch 3/3: mean loss" in m for m in messages), messages
    assert any(m.startswith("step ") and "examples/s" in m for m in messages), messages


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_diverging_under_pipes_fails_and_keeps_the_previous_model(cold_start):
    result, instance, layout, days = cold_start
    assert result.success
    models_root = layout.feed_model(days[0]).parent
    previous = promoted_model_dir(models_root, days[0])
    assert previous == layout.feed_model(days[0])
    before = _digest(models_root)

    diverged = _materialize(layout.root, instance, days[1], learning_rate=100.0)

    assert not diverged.success
    [failure] = [e for e in diverged.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "TrainingDivergedError" in message and "diverged" in message, message
    assert "training diverged at step" in message  # the rank's own line, from the stream
    assert _digest(models_root) == before  # the previous model untouched, nothing new written
    assert promoted_model_dir(models_root, days[1]) == previous
    assert not instance.get_materialized_partitions(AssetKey("feed_ranking_model")) - {
        days[0].isoformat()
    }
