"""Tests for models.registry: atomic model directories, round trips, named failures."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.feed import FeedModel, FeedModelConfig
from models.inputs.spec import InputSpec, examples_to_inputs
from models.registry import load_model, save_model
from spark.schemas import LABELS


def _outputs(model, inputs):
    return {h: keras.ops.convert_to_numpy(v) for h, v in model(inputs).items()}


def test_save_load_round_trip_and_overwrite(make_examples, tmp_path):
    inputs = examples_to_inputs(make_examples(16), InputSpec())
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
