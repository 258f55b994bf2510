"""The divergence guard under Horovod: every rank checks the same rank-averaged loss, so all ranks
stop at the same step, `run_training` raises `TrainingDivergedError` and nothing is written."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from models.feed import TINY_FEED_MODEL
from models.training.config import TrainingConfig, TrainingPlan
from models.training.job import run_training
from models.training.loop import TrainingDivergedError

HOROVODRUN = Path(sys.executable).parent / "horovodrun"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_ranks_stop_together_at_the_same_step_and_write_nothing(
    make_examples, tmp_path, monkeypatch
):
    if not HOROVODRUN.exists():
        pytest.skip(f"{HOROVODRUN} not found: horovod is not built into this environment")
    examples = tmp_path / "examples.parquet"
    make_examples(2000, seed=4).to_parquet(examples)
    out = tmp_path / "model"
    plan = TrainingPlan(
        model_id="feed-hvd-boom", out_dir=out, examples=(examples,), examples_format="parquet",
        model=TINY_FEED_MODEL,
        training=TrainingConfig(epochs=2, batch_size=64, learning_rate=100.0, warmup_fraction=0.0),
        horovod_hosts="localhost:2", export_saved_model=False,
    )  # fmt: skip
    monkeypatch.setenv("PATH", f"{HOROVODRUN.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    with pytest.raises(TrainingDivergedError) as raised:
        run_training(plan)
    message = str(raised.value)
    steps = re.findall(r"\[(\d)\].*?training diverged at step (\d+) ", message)
    assert {rank for rank, _ in steps} == {"0", "1"}, message
    assert len({step for _, step in steps}) == 1, message  # the same step on both ranks
    assert "exceeds divergence_factor 10" in message
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
