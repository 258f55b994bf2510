"""A real 2-rank Horovod (Gloo) run of models.training.cli: ranks must end with identical weights,
reading the examples from Parquet (pandas) or from Avro shards (ATDS, what the graph uses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HOROVODRUN = Path(sys.executable).parent / "horovodrun"


def _load(path: Path) -> list[np.ndarray]:
    with np.load(path) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("examples_format", ["parquet", "avro"])
def test_two_gloo_ranks_train_to_identical_weights(make_examples, tmp_path, examples_format):
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
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PATH": f"{HOROVODRUN.parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    command = [
        str(HOROVODRUN), "-np", "2", "-H", "localhost:2", "--gloo",
        sys.executable, "-m", "models.training.cli",
        "--examples", str(examples), "--examples-format", examples_format, "--out", str(out),
        "--epochs", "1", "--batch-size", "128", "--learning-rate", "0.01",
        "--embedding-dim", "8", "--tower-units", "16,16",
        "--horovod", "--dump-rank-weights",
    ]  # fmt: skip
    completed = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    initial = [_load(out / f"rank-{r}-initial-weights.npz") for r in range(2)]
    final = [_load(out / f"rank-{r}-weights.npz") for r in range(2)]
    # ranks start from different random weights (seed + rank) ...
    assert any(not np.allclose(a, b) for a, b in zip(*initial, strict=True))
    # ... and end identical: rank 0's start was broadcast and every step averaged gradients
    for a, b in zip(*final, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # training moved the weights away from the broadcast start (rank 0's initial weights)
    assert any(not np.allclose(a, b) for a, b in zip(final[0], initial[0], strict=True))

    result = json.loads((out / "training_result.json").read_text())
    assert result["ranks"] == 2
    assert result["examples_format"] == examples_format
    assert result["examples"] == int((rows["split"] == "train").sum())
    # every rank takes floor(rows / 2) rows and steps ceil(that / 128) times
    assert result["steps"] == -(-(result["examples"] // 2) // 128)

    from models.registry import load_model

    model, metadata = load_model(out)
    assert metadata["training_result"]["ranks"] == 2
    for a, b in zip(model.get_weights(), final[0], strict=True):
        np.testing.assert_array_equal(a, b)
