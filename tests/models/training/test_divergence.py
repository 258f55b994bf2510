"""The divergence guard: training that explodes (finite or not) stops with a clear error naming
the step, the loss, the reference and what to change, and writes nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from pathlib import Path

import pytest

from models.feed import TINY_FEED_MODEL
from models.training.config import TrainingConfig, TrainingPlan
from models.training.job import run_training
from models.training.loop import DivergenceGuard, TrainingDivergedError

# a learning rate that makes the tiny model's loss explode to ~1e11 while staying finite
EXPLODING = TrainingConfig(epochs=2, batch_size=128, learning_rate=100.0, warmup_fraction=0.0)


def _guard(**overrides) -> DivergenceGuard:
    config = TrainingConfig(**{"divergence_window": 4, **overrides})
    guard = DivergenceGuard(config, total_steps=100)
    guard.limit_window(50)
    return guard


def tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by relative path (hidden staging files included)."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(Path(root).rglob("*"))
        if path.is_file()
    }


def test_a_healthy_noisy_loss_passes_and_the_reference_is_the_first_window():
    guard = _guard()
    losses = [4.0, 3.0, 5.0, 4.0] + [3.5, 9.0, 2.0, 1.0]  # noisy, never 10x the reference
    for step, loss in enumerate(losses, start=1):
        guard.observe(loss, epoch=1, step=step)
    assert guard.reference == pytest.approx(4.0)  # mean of the first 4 steps only
    guard.observe(39.9, epoch=2, step=9)  # later epochs do not move the reference
    assert guard.reference == pytest.approx(4.0)


def test_an_exploding_finite_loss_fires_with_step_loss_reference_and_advice():
    guard = _guard(learning_rate=0.5)
    for step, loss in enumerate([4.0, 4.0, 4.0, 4.0, 3.0], start=1):
        guard.observe(loss, epoch=1, step=step)
    with pytest.raises(TrainingDivergedError) as raised:
        guard.observe(1.8e15, epoch=2, step=6)
    message = str(raised.value)
    assert "step 6 of 100 (epoch 2)" in message
    assert "loss=1.8e+15 exceeds divergence_factor 10 × the reference loss 4" in message
    assert "the mean loss of the first 4 step(s) of epoch 1" in message
    assert "Nothing was written" in message and "lower learning rate (now 0.5)" in message
    assert isinstance(raised.value, ValueError)


def test_an_explosion_inside_the_first_window_is_caught_before_it_inflates_the_reference():
    guard = _guard(divergence_window=20)
    guard.observe(4.0, epoch=1, step=1)
    guard.observe(4.2, epoch=1, step=2)
    with pytest.raises(TrainingDivergedError, match=r"step 3 .*exceeds .*reference loss 4\.1"):
        guard.observe(7e18, epoch=1, step=3)


@pytest.mark.parametrize("loss", [math.nan, math.inf])
def test_a_non_finite_loss_fires_even_at_the_first_step(loss):
    with pytest.raises(TrainingDivergedError, match=r"step 1 .*loss=(nan|inf) is not finite"):
        _guard().observe(loss, epoch=1, step=1)


def test_the_window_shrinks_to_a_short_first_epoch():
    guard = DivergenceGuard(TrainingConfig(divergence_window=20), total_steps=6)
    guard.limit_window(2)
    for step, loss in enumerate([4.0, 2.0, 1.0], start=1):
        guard.observe(loss, epoch=1, step=step)
    assert guard.reference == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"divergence_factor": 1.0}, "divergence_factor=1.0"),
        ({"divergence_factor": math.inf}, "divergence_factor=inf"),
        ({"divergence_window": 0}, "divergence_window=0"),
    ],
)
def test_guard_settings_are_validated(overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**overrides)


def test_an_exploding_run_raises_and_leaves_both_models_byte_identical(make_examples, tmp_path):
    """Day 1 trains; day 2's model directory already holds an earlier version. Re-training day 2
    from day 1 with a learning rate whose loss explodes but stays finite raises, and both
    directories (the warm-start source and the out dir) keep every byte."""
    day1 = tmp_path / "examples-1.parquet"
    day2 = tmp_path / "examples-2.parquet"
    make_examples(1500, seed=21).to_parquet(day1)
    make_examples(1500, seed=22).to_parquet(day2)
    models = tmp_path / "models"
    cold = TrainingPlan(
        model_id="feed-d1", out_dir=models / "date=2026-01-01", examples=(day1,),
        examples_format="parquet", model=TINY_FEED_MODEL, export_saved_model=False,
        training=TrainingConfig(epochs=1, batch_size=128),
    )  # fmt: skip
    run_training(cold)
    earlier_day2 = dataclasses.replace(
        cold, model_id="feed-d2", out_dir=str(models / "date=2026-01-02"), examples=(str(day2),),
        previous_model=cold.out_dir,
    )  # fmt: skip
    run_training(earlier_day2)
    before = tree_digest(models)

    exploding = dataclasses.replace(earlier_day2, training=EXPLODING)
    with pytest.raises(TrainingDivergedError) as raised:
        run_training(exploding)
    message = str(raised.value)
    assert "exceeds divergence_factor 10 × the reference loss" in message
    assert "(epoch 1)" in message and "learning rate (now 100.0)" in message
    assert "nan" not in message.split("exceeds")[0]  # it was finite: the explosion rule fired
    assert tree_digest(models) == before
