"""A real 2-rank Horovod (Gloo) run of one `TrainingPlan` through `run_training`: ranks must end
with identical weights, reading the examples from Parquet (pandas) or from Avro shards (ATDS,
what the graph uses); the parent gets rank 0's result."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from models.feed import FeedModelConfig
from models.training.config import TrainingConfig, TrainingPlan
from models.training.job import run_training

HOROVODRUN = Path(sys.executable).parent / "horovodrun"


def _load(path: Path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("examples_format", ["parquet", "avro"])
def test_two_gloo_ranks_train_to_identical_weights(
    make_examples, tmp_path, monkeypatch, examples_format
):
    if not HOROVODRUN.exists():
        pytest.skip(f"{HOROVODRUN} not found: horovod is not built into this environment")
    rows = make_examples(2000, seed=4)
    if examples_format == "avro":
        from spark.avro_shards import write_avro_shards

        examples = write_avro_shards(rows, tmp_path / "shards", num_shards=2)[0].parent
    else:
        examples = tmp_path / "examples.parquet"
        rows.to_parquet(examples)
    out = tmp_path / "model"
    plan = TrainingPlan(
        model_id="feed-hvd", out_dir=out, examples=(examples,), examples_format=examples_format,
        model=FeedModelConfig(embedding_dim=8, tower_units=(16, 16)),
        training=TrainingConfig(epochs=1, batch_size=128, learning_rate=0.01),
        horovod_hosts="localhost:2", export_saved_model=False, dump_rank_weights=True,
    )  # fmt: skip
    monkeypatch.setenv("PATH", f"{HOROVODRUN.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = run_training(plan)

    initial = [_load(out / f"rank-{r}-initial-weights.npz") for r in range(2)]
    final = [_load(out / f"rank-{r}-weights.npz") for r in range(2)]
    # ranks start from different random weights (seed + rank) ...
    assert any(not np.allclose(a, b) for a, b in zip(*initial, strict=True))
    # ... and end identical: rank 0's start was broadcast and every step averaged gradients
    for a, b in zip(*final, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # training moved the weights away from the broadcast start (rank 0's initial weights)
    assert any(not np.allclose(a, b) for a, b in zip(final[0], initial[0], strict=True))

    assert (result.ranks, result.engine) == (2, "horovod (2 ranks on localhost:2)")
    assert result.train_rows == int((rows["split"] == "train").sum())
    # every rank takes floor(rows / 2) rows and steps ceil(that / 128) times
    assert result.steps == -(-(result.train_rows // 2) // 128)

    from models.registry import load_model

    model, metadata = load_model(out)
    assert metadata["training_result"]["ranks"] == 2
    for a, b in zip(model.get_weights(), final[0], strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_sparse_embedding_gradients_match_one_process_on_the_same_data(
    make_examples, tmp_path, monkeypatch
):
    """2 ranks × 128 rows per step, the large tables' gradients all-gathered as sparse rows, end
    with identical weights and within a small tolerance of one process training on the same rows
    with the same global batch (256) and schedule: the same number of steps and learning rates,
    only the rows' grouping into batches differs."""
    if not HOROVODRUN.exists():
        pytest.skip(f"{HOROVODRUN} not found: horovod is not built into this environment")
    examples = tmp_path / "examples.parquet"
    make_examples(3000, seed=5).to_parquet(examples)

    def plan(name: str, batch_size: int, hosts: str | None) -> TrainingPlan:
        return TrainingPlan(
            model_id=name, out_dir=tmp_path / name, examples=(examples,),
            examples_format="parquet",
            model=FeedModelConfig(embedding_dim=8, tower_units=(16, 16)),
            training=TrainingConfig(epochs=2, batch_size=batch_size, learning_rate=0.01),
            horovod_hosts=hosts, export_saved_model=False, dump_rank_weights=hosts is not None,
        )  # fmt: skip

    monkeypatch.setenv("PATH", f"{HOROVODRUN.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    two = run_training(plan("two-ranks", 128, "localhost:2"))
    one = run_training(plan("one-process", 256, None))

    from models.registry import load_model

    _, metadata = load_model(tmp_path / "two-ranks")
    exchange = metadata["gradient_exchange"]
    # the 11 embedding tables' gradients travel as sparse rows; the 12 tower weights and the
    # loss are all-reduced dense
    assert exchange == {"sparse_gradients": 11, "dense_gradients": 13}, exchange
    final = [_load(tmp_path / "two-ranks" / f"rank-{r}-weights.npz") for r in range(2)]
    for a, b in zip(*final, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert two.steps == one.steps
    assert two.epoch_losses[0] == pytest.approx(one.epoch_losses[0], rel=0.05)
    assert two.epoch_losses[-1] == pytest.approx(one.epoch_losses[-1], rel=0.05)
    assert two.epoch_losses[-1] < two.epoch_losses[0]  # it trained
