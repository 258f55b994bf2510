"""Tests for models.registry (atomic model directories) and the in-process models.train_cli."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from models import train_cli
from models.feature_spec import examples_to_inputs
from models.feed_model import FeedModel, FeedModelConfig
from models.registry import load_model, save_model
from spark.schemas import LABELS


def _outputs(model, inputs):
    return {h: keras.ops.convert_to_numpy(v) for h, v in model(inputs).items()}


def test_save_load_round_trip_and_overwrite(make_examples, tmp_path):
    inputs = examples_to_inputs(make_examples(16))
    model = FeedModel(FeedModelConfig(embedding_dim=8, tower_units=(16,)))
    directory = tmp_path / "models" / "2026-01-01"
    assert save_model(model, directory, {"day": "2026-01-01"}) == directory
    loaded, metadata = load_model(directory)
    assert metadata == {"day": "2026-01-01"}
    for head in LABELS:
        np.testing.assert_array_equal(_outputs(loaded, inputs)[head], _outputs(model, inputs)[head])

    other = FeedModel(FeedModelConfig(embedding_dim=4, tower_units=(8,)))
    save_model(other, directory, {"day": "again"})
    reloaded, metadata = load_model(directory)
    assert metadata == {"day": "again"}
    assert reloaded.config.embedding_dim == 4
    assert sorted(p.name for p in directory.parent.iterdir()) == ["2026-01-01"]  # no leftovers


def test_unserializable_metadata_writes_nothing(tmp_path):
    model = FeedModel(FeedModelConfig(embedding_dim=4, tower_units=(4,)))
    with pytest.raises(ValueError, match="JSON"):
        save_model(model, tmp_path / "m", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_load_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model(tmp_path / "nowhere")


def test_cli_cold_start_then_warm_start(make_examples, tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    make_examples(600, seed=1).to_parquet(examples / "part-0.parquet")
    make_examples(600, seed=2).to_parquet(examples / "part-1.parquet")
    tiny = ["--embedding-dim", "8", "--tower-units", "16,16", "--batch-size", "256"]

    cold = tmp_path / "day-1"
    assert train_cli.main(["--examples", str(examples), "--out", str(cold), *tiny]) == 0
    result = json.loads((cold / "training_result.json").read_text())
    assert result["ranks"] == 1 and result["steps"] >= 1
    cold_model, metadata = load_model(cold)
    assert metadata["model_config"]["embedding_dim"] == 8
    assert metadata["training_result"]["examples"] == result["examples"]

    warm = tmp_path / "day-2"
    argv = ["--examples", str(examples / "part-1.parquet"), "--out", str(warm)]
    assert train_cli.main([*argv, "--init-from", str(cold), "--batch-size", "256"]) == 0
    warm_model, _ = load_model(warm)
    assert warm_model.config == cold_model.config  # normalization constants kept
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(warm_model.get_weights(), cold_model.get_weights(), strict=True)
    )


def test_cli_divergence_exits_2_and_writes_nothing(make_examples, tmp_path):
    examples = tmp_path / "examples.parquet"
    make_examples(300).to_parquet(examples)
    out = tmp_path / "out"
    argv = ["--examples", str(examples), "--out", str(out), "--embedding-dim", "4"]
    argv += ["--tower-units", "8", "--learning-rate", "1e30", "--warmup-fraction", "0"]
    argv += ["--batch-size", "32"]
    assert train_cli.main(argv) == train_cli.DIVERGED_EXIT_CODE
    assert not out.exists()
