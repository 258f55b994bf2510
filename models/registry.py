"""Model artifacts on disk: a directory with `model.keras` and `manifest.json`, written atomically.

Layout of a saved model directory:

    <directory>/model.keras      the Keras 3 archive (architecture from config + weights)
    <directory>/manifest.json    {"format_version", "model_file", "keras_version", "saved_at",
                                  "metadata": {...caller's JSON metadata...}}
    <directory>/...              whatever the caller's `extra_artifacts` writes (e.g. the
                                  serving SavedModel), inside the same atomic swap

`save_model` writes both files into a temporary sibling directory and renames it into place with
`os.replace`, so readers see either the previous complete model or the new complete one, never a
half-written file. Replacing an existing directory moves the old one aside first (two renames),
then deletes it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import keras

import models.feed  # noqa: F401  (registers the serializable feed-model classes)

MODEL_FILE = "model.keras"
MANIFEST_FILE = "manifest.json"
FORMAT_VERSION = 1


def save_model(
    model: keras.Model,
    directory: Path,
    metadata: dict,
    extra_artifacts: Callable[[keras.Model, Path], None] | None = None,
) -> Path:
    """Save `model` and `metadata` to `directory` atomically; returns the directory.

    `extra_artifacts(model, staging_dir)`, when given, writes further files beside the model
    before the directory is swapped into place (a failure there writes nothing).

    Raises:
        ValueError: `metadata` is not JSON-serializable (nothing is written).
    """
    directory = Path(directory)
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_file": MODEL_FILE,
        "keras_version": keras.__version__,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(),
        "metadata": metadata,
    }
    try:
        manifest_text = json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"model metadata must be JSON-serializable: {error}") from error

    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        model.save(staging / MODEL_FILE)
        (staging / MANIFEST_FILE).write_text(manifest_text)
        if extra_artifacts is not None:
            extra_artifacts(model, staging)
        if directory.exists():
            retired = directory.parent / f".{directory.name}.old-{uuid.uuid4().hex}"
            os.replace(directory, retired)
            os.replace(staging, directory)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return directory


def load_model(directory: Path) -> tuple[keras.Model, dict]:
    """Load a directory written by `save_model`: (model, metadata).

    Raises:
        FileNotFoundError: the directory, its model file or its manifest is missing.
    """
    directory = Path(directory)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"no saved model at {directory}: {manifest_path} does not exist "
            "(save one with models.registry.save_model or models.training.cli --out)"
        )
    manifest = json.loads(manifest_path.read_text())
    model_path = directory / manifest.get("model_file", MODEL_FILE)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"saved model at {directory} is missing its model file {model_path}"
        )
    model = keras.saving.load_model(model_path, compile=False)
    return model, manifest["metadata"]


def model_id_of(model_dir: Path) -> str:
    """`.../date=2026-01-03` → `feed-2026-01-03`."""
    return "feed-" + Path(model_dir).name.removeprefix("date=")
