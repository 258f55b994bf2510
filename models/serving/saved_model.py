"""The served feed model: a TensorFlow SavedModel from raw features (string IDs included) to
per-head probabilities and the final score.

The Keras layers and models are backend-agnostic (`keras.ops` only); what is TensorFlow-only
lives outside them (paper §13 "last-mile transforms" stitched in front of the trainer graph for
serving): the serving signature runs the one feature transform
(`models.inputs.tf_transform.raw_to_inputs`, the same code as the ATDS training input and the
pandas path, with the same MurmurHash of `models.inputs.murmur`) and then the model.

`export_saved_model` writes a SavedModel whose `serving_default` signature takes `raw_signature`
and returns ``{head: P(head) [n] for head in LABELS} | {"score": Σ_h w_h P(h) [n]}``.

Raw features (one row per candidate; the TRAINING_EXAMPLE column names):

| key | dtype | shape |
|---|---|---|
| member_id, author_id | string ("member:1234", "actor:77") if id_hash="murmur", else int64 | [n] |
| hist_author_ids | as the IDs above, "" / -1 padded (in front), most recent last | [n, L] |
| hist_actions | int32 index into `ACTIONS`, -1 padded like hist_author_ids | [n, L] |
| hashtag_ids | int64, -1 padded at the end | [n, H] |
| content_type, platform | string (outside the model's vocabulary: the OOV bucket) | [n] |
| member_seniority, member_industry, member_country, position, hour | int32 | [n] |
| member_log_connections, length, post_age_hours, author_log_followers | float32 | [n] |

Pass ``position = 0`` to rank (position debiasing, `spec.with_position`).

Example:

    export_saved_model(model, Path("served"))
    served = tf.saved_model.load("served")
    out = served.signatures["serving_default"](**raw)      # {"click": [n], ..., "score": [n]}
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from models.inputs.murmur import string_ids
from models.inputs.spec import DENSE, ID_NAMESPACES, PAD_ID, SCALAR_COLUMNS
from models.inputs.tf_transform import raw_to_inputs
from spark.schemas import LABELS

_RAW_FLOATS = tuple(dict.fromkeys(feature.column for feature in DENSE))
_SCALAR_INTS = tuple(SCALAR_COLUMNS.values())

SCORE_OUTPUT = "score"


def raw_signature(config) -> dict[str, tf.TensorSpec]:
    """The serving signature's inputs for a model of `config` (string IDs with id_hash="murmur")."""
    id_dtype = tf.string if config.id_hash == "murmur" else tf.int64
    spec = {
        "member_id": tf.TensorSpec([None], id_dtype, name="member_id"),
        "author_id": tf.TensorSpec([None], id_dtype, name="author_id"),
        "hist_author_ids": tf.TensorSpec([None, None], id_dtype, name="hist_author_ids"),
        "hist_actions": tf.TensorSpec([None, None], tf.int32, name="hist_actions"),
        "hashtag_ids": tf.TensorSpec([None, None], tf.int64, name="hashtag_ids"),
        "content_type": tf.TensorSpec([None], tf.string, name="content_type"),
        "platform": tf.TensorSpec([None], tf.string, name="platform"),
    }
    spec.update({name: tf.TensorSpec([None], tf.int32, name=name) for name in _SCALAR_INTS})
    spec.update({name: tf.TensorSpec([None], tf.float32, name=name) for name in _RAW_FLOATS})
    return spec


def raw_features(df: pd.DataFrame, config) -> dict[str, np.ndarray]:
    """Raw serving features of TRAINING_EXAMPLE rows: what a client would send for them.

    IDs become "member:1234" / "actor:77" strings when `config.id_hash` is "murmur"; list columns
    are padded to their longest row (histories in front, hashtags at the end).
    """
    murmur = config.id_hash == "murmur"

    def pad(column: str, front: bool, dtype) -> np.ndarray:
        rows = [np.asarray(v if v is not None else [], dtype=np.int64) for v in df[column]]
        width = max([len(r) for r in rows] + [1])
        out = np.full((len(rows), width), PAD_ID, dtype=np.int64)
        for i, row in enumerate(rows):
            if len(row):
                if front:
                    out[i, width - len(row) :] = row
                else:
                    out[i, : len(row)] = row
        return out.astype(dtype)

    def ids(values: np.ndarray, key: str) -> np.ndarray:
        values = np.asarray(values, dtype=np.int64)
        return string_ids(values, ID_NAMESPACES[key]).astype(bytes) if murmur else values

    raw = {
        "member_id": ids(df["member_id"].to_numpy(), "member_id"),
        "author_id": ids(df["author_id"].to_numpy(), "author_id"),
        "hist_author_ids": ids(pad("hist_author_ids", True, np.int64), "hist_author_ids"),
        "hist_actions": pad("hist_actions", True, np.int32),
        "hashtag_ids": pad("hashtag_ids", False, np.int64),
        "content_type": df["content_type"].to_numpy().astype(bytes),
        "platform": df["platform"].to_numpy().astype(bytes),
    }
    raw.update({c: df[c].to_numpy().astype(np.int32) for c in _SCALAR_INTS})
    raw.update({c: df[c].to_numpy().astype(np.float32) for c in _RAW_FLOATS})
    return raw


def serving_outputs(model: keras.Model, raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Per-head probabilities and the final score of raw features (TensorFlow backend)."""
    config = model.config
    logits = model(raw_to_inputs(raw, config.input_spec()), training=False)
    outputs = {head: tf.sigmoid(logits[head]) for head in LABELS}
    outputs[SCORE_OUTPUT] = tf.add_n([weight * outputs[h] for h, weight in config.score_weights])
    return outputs


def export_saved_model(model: keras.Model, directory: Path) -> Path:
    """Write `model` with its raw-feature preprocessing as a SavedModel at `directory`.

    The `serving_default` signature takes `raw_signature(model.config)` and returns per-head
    probabilities plus "score". Written into a temporary sibling and renamed into place.

    Raises:
        ValueError: the Keras backend is not TensorFlow (SavedModel export needs it).
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "SavedModel export needs the TensorFlow Keras backend. Received: "
            f"KERAS_BACKEND={keras.backend.backend()!r}"
        )
    directory = Path(directory)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        lambda raw: serving_outputs(model, raw),
        input_signature=[raw_signature(model.config)],
    )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".{directory.name}.tmp-{uuid.uuid4().hex}"
    try:
        archive.write_out(str(staging), verbose=False)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return directory
