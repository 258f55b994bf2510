"""Shared checks for the layer tests: config round trip and `.keras` save/load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import pytest


def _config_round_trip(layer: keras.layers.Layer) -> None:
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def _save_load_round_trip(model: keras.Model, inputs: Any, path: str) -> keras.Model:
    expected = keras.ops.convert_to_numpy(model(inputs))
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(inputs)), expected)
    for original, restored in zip(model.layers, loaded.layers, strict=True):
        assert type(original) is type(restored)
        assert original.get_config() == restored.get_config()
    return loaded


@pytest.fixture
def config_round_trip() -> Callable[[keras.layers.Layer], None]:
    """Asserts that `from_config(get_config())` reproduces every argument."""
    return _config_round_trip


@pytest.fixture
def save_load_round_trip(tmp_path) -> Callable[[keras.Model, Any], keras.Model]:
    """Saves a model to `.keras`, loads it, asserts identical outputs and layer configs."""

    def check(model: keras.Model, inputs: Any) -> keras.Model:
        return _save_load_round_trip(model, inputs, str(tmp_path / "model.keras"))

    return check
