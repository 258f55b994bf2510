"""Model artifacts on disk: a directory with `model.keras` and `manifest.json`, written atomically.

Layout of a saved model directory:

    <directory>/model.keras      the Keras 3 archive (architecture from config + weights)
    <directory>/manifest.json    {"format_version", "model_file", "keras_version", "saved_at",
                                  "metadata": {...caller's JSON metadata...}}
    <directory>/...              whatever the caller's `extra_artifacts` writes (e.g. the
                                  serving SavedModel), inside the same atomic swap

`save_model` writes both files into a temporary sibling directory and swaps it into place with
`spark.storage.atomic_replace_dir`, so readers see either the previous complete model or the new
complete one, never a half-written file, and a save killed at any point is recovered by the next
save (`spark.storage.recover`).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import keras

import models.feed  # noqa: F401  (registers the serializable feed-model classes)
from spark.storage import atomic_replace_dir, staging_dir_for

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

    staging = staging_dir_for(directory)  # also recovers what a killed save left behind
    staging.mkdir()
    try:
        model.save(staging / MODEL_FILE)
        (staging / MANIFEST_FILE).write_text(manifest_text)
        if extra_artifacts is not None:
            extra_artifacts(model, staging)
        atomic_replace_dir(staging, directory)
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
    """`.../date=2026-01-03` → `feed-2026-01-03`; a product model (Ads, Jobs: its manifest
    names the product) → the id its manifest records, e.g. `ads-2026-01-03`."""
    manifest = Path(model_dir) / MANIFEST_FILE
    if manifest.is_file():
        try:
            metadata = json.loads(manifest.read_text())["metadata"]
            if metadata.get("product"):
                return str(metadata["training_result"]["model_id"])
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    return "feed-" + Path(model_dir).name.removeprefix("date=")


GATE_FILE = "gate.json"
"""The model gate's record inside a model directory: its verdict and whether the model is
promoted (`models.training.promotion`). Written last, atomically: it is the promotion's commit."""


def write_gate_record(directory: Path, record: dict) -> Path:
    """Write `record` as `<directory>/gate.json` atomically (temporary file + `os.replace`), so a
    reader sees the previous record or the new one, never a partial file.

    Raises:
        FileNotFoundError: `directory` holds no saved model (nothing to gate).
        ValueError: `record` is not JSON-serializable or holds NaN/inf (nothing is written).
    """
    directory = Path(directory)
    if not (directory / MANIFEST_FILE).is_file():
        raise FileNotFoundError(
            f"cannot record a gate verdict in {directory}: it holds no saved model "
            f"({MANIFEST_FILE} missing)"
        )
    try:
        text = json.dumps(record, indent=2, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"gate record must be JSON-serializable without NaN: {error}") from error
    import uuid

    staging = directory / f".{GATE_FILE}.tmp-{uuid.uuid4().hex}"
    try:
        staging.write_text(text)
        staging.replace(directory / GATE_FILE)  # os.replace: atomic on one filesystem
    finally:
        staging.unlink(missing_ok=True)
    return directory / GATE_FILE


def read_gate_record(directory: Path) -> dict | None:
    """The gate record of a model directory; None when the gate has not committed one.

    Raises:
        ValueError: `gate.json` is not valid JSON (names the file and what to do).
    """
    path = Path(directory) / GATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); delete it and re-materialize that day's "
            "`feed_ranking_model` to gate the model again"
        ) from error


def promoted_model_dir(models_root: Path, date: dt.date) -> Path | None:
    """The model promoted as of `date`: the latest `<models_root>/date=YYYY-MM-DD` directory with
    day <= `date` whose `gate.json` says `"promoted": true`; None when there is none.

    A model that failed the gate (or whose gate never committed) is skipped, so the last
    promoted model keeps ranking and warm-starting until a better one passes.
    """
    root = Path(models_root)
    if not root.is_dir():
        return None
    days = []
    for child in root.iterdir():
        if not child.is_dir() or not child.name.startswith("date="):
            continue
        try:
            day = dt.date.fromisoformat(child.name.removeprefix("date="))
        except ValueError:
            continue
        if day <= date:
            days.append((day, child))
    for _, child in sorted(days, reverse=True):
        record = read_gate_record(child)
        if record is not None and record.get("promoted") is True:
            return child
    return None
