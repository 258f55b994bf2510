"""The served feed model: a TensorFlow SavedModel from raw features (string IDs included) to
per-head probabilities and the final score.

The Keras layers and models are backend-agnostic (`keras.ops` only); everything TensorFlow-only
lives here, outside them (paper §13 "last-mile transforms" stitched in front of the trainer graph
for serving):

1. `murmur64`: MurmurHash3 x64-128 (first 64 bits, seed 0) of UTF-8 strings in TensorFlow ops
   (uint64 multiply / rotate / xor over 16-byte blocks), bit-identical to `mmh3.hash64`, which
   the training pipeline uses (`models.inputs.murmur`). TensorFlow has no Murmur op, and a
   `tf.py_function` would not survive `tf.saved_model.load` in another process.
2. `raw_to_inputs`: the TensorFlow twin of `feature_spec.examples_to_inputs`: string IDs ->
   ``murmur64 & (2^31 - 1)`` ("" is padding), content type and platform names -> indices,
   the dense transforms, the last `HISTORY_LENGTH` history steps (front-padded), the first
   `MAX_HASHTAGS` hashtags and the history-affinity counts.
3. `export_saved_model`: a SavedModel whose `serving_default` signature takes `raw_signature`
   and returns ``{head: P(head) [n] for head in LABELS} | {"score": Σ_h w_h P(h) [n]}``.

Raw features (one row per candidate; the TRAINING_EXAMPLE column names):

| key | dtype | shape |
|---|---|---|
| member_id, author_id | string ("member:1234", "actor:77") if id_hash="murmur", else int64 | [n] |
| hist_author_ids | as the IDs above, "" / -1 padded in front, most recent last | [n, L] |
| hist_actions | int32 index into `ACTIONS`, -1 padded like hist_author_ids | [n, L] |
| hashtag_ids | int64, -1 padded at the end | [n, H] |
| content_type, platform | string (`CONTENT_TYPES`, `PLATFORMS`) | [n] |
| member_seniority, member_industry, member_country, position, hour | int32 | [n] |
| member_log_connections, length, post_age_hours, author_log_followers | float32 | [n] |

Pass ``position = 0`` to rank (position debiasing, `feature_spec.with_position`).

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

from models.inputs.spec import (
    HISTORY_LENGTH,
    ID_HASH_MASK,
    ID_NAMESPACES,
    MAX_HASHTAGS,
    PAD_ID,
    string_ids,
)
from models.feed_model import FeedModelConfig
from models.inputs.tf_transform import history_affinity, vocabulary_index
from spark.schemas import LABELS
from spark.world_config import CONTENT_TYPES, PLATFORMS

_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
_SCALAR_INTS = ("member_seniority", "member_industry", "member_country", "position", "hour")
_RAW_FLOATS = ("member_log_connections", "length", "post_age_hours", "author_log_followers")
# raw column -> model input key, for the single-valued integer features
_SCALAR_INPUTS = {
    "member_seniority": "seniority",
    "member_industry": "industry",
    "member_country": "country",
    "position": "position",
    "hour": "hour",
}
SCORE_OUTPUT = "score"


def _u64(value: int) -> tf.Tensor:
    return tf.constant(value, tf.uint64)


def _rotl(x: tf.Tensor, r: int) -> tf.Tensor:
    return tf.bitwise.bitwise_or(
        tf.bitwise.left_shift(x, _u64(r)), tf.bitwise.right_shift(x, _u64(64 - r))
    )


def _fmix64(k: tf.Tensor) -> tf.Tensor:
    k = tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))
    k = k * _u64(0xFF51AFD7ED558CCD)
    k = tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))
    k = k * _u64(0xC4CEB9FE1A85EC53)
    return tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))


def murmur64(strings: tf.Tensor) -> tf.Tensor:
    """MurmurHash3 x64-128 (seed 0) of each UTF-8 string, first 64 bits as int64; keeps the shape.

    Equal to `models.inputs.murmur.murmur_int64`. Each string is zero-padded to whole 16-byte
    blocks plus one: block b < len // 16 is mixed as a full block, block len // 16 as the tail
    (its zero bytes make the tail's k1/k2 terms vanish exactly as in the reference), later
    blocks are skipped; then the length is folded in and both halves finalized.
    """
    strings = tf.convert_to_tensor(strings, tf.string)
    flat = tf.reshape(strings, [-1])
    chars = tf.strings.bytes_split(flat)
    byte_values = tf.reshape(tf.io.decode_raw(chars.flat_values, tf.uint8), [-1])
    data = tf.RaggedTensor.from_row_splits(byte_values, chars.row_splits)
    lengths = data.row_lengths()
    full_blocks = lengths // 16
    num_blocks = tf.reduce_max(tf.concat([full_blocks, [0]], 0)) + 1
    dense = data.to_tensor(default_value=0)
    rows = tf.shape(flat, out_type=tf.int64)[0]
    dense = tf.pad(dense, [[0, 0], [0, num_blocks * 16 - tf.shape(dense, out_type=tf.int64)[1]]])
    octets = tf.cast(tf.reshape(dense, [rows, num_blocks, 2, 8]), tf.uint64)
    words = octets[..., 0]
    for i in range(1, 8):
        words = tf.bitwise.bitwise_or(words, tf.bitwise.left_shift(octets[..., i], _u64(8 * i)))

    def mix(b, h1, h2):
        k1 = _rotl(words[:, b, 0] * _u64(_C1), 31) * _u64(_C2)
        k2 = _rotl(words[:, b, 1] * _u64(_C2), 33) * _u64(_C1)
        tail1, tail2 = tf.bitwise.bitwise_xor(h1, k1), tf.bitwise.bitwise_xor(h2, k2)
        full1 = _rotl(tail1, 27) + h2
        full1 = full1 * _u64(5) + _u64(0x52DCE729)
        full2 = _rotl(tail2, 31) + full1
        full2 = full2 * _u64(5) + _u64(0x38495AB5)
        is_full, is_tail = b < full_blocks, tf.equal(b, full_blocks)
        h1 = tf.where(is_full, full1, tf.where(is_tail, tail1, h1))
        h2 = tf.where(is_full, full2, tf.where(is_tail, tail2, h2))
        return b + 1, h1, h2

    zeros = tf.zeros([rows], tf.uint64)
    _, h1, h2 = tf.while_loop(
        lambda b, h1, h2: b < num_blocks, mix, (tf.constant(0, tf.int64), zeros, zeros)
    )
    length = tf.cast(lengths, tf.uint64)
    h1, h2 = tf.bitwise.bitwise_xor(h1, length), tf.bitwise.bitwise_xor(h2, length)
    h1 = h1 + h2
    h2 = h2 + h1
    h1, h2 = _fmix64(h1), _fmix64(h2)
    h1 = h1 + h2
    return tf.reshape(tf.bitcast(h1, tf.int64), tf.shape(strings))


def hash_string_ids(strings: tf.Tensor) -> tf.Tensor:
    """Model IDs of string IDs (`feature_spec.hash_string_ids`): murmur64 & (2^31 - 1), "" -> -1."""
    hashed = tf.bitwise.bitwise_and(murmur64(strings), tf.constant(ID_HASH_MASK, tf.int64))
    return tf.where(tf.equal(strings, ""), tf.constant(PAD_ID, tf.int64), hashed)


def _keep_last(values: tf.Tensor, length: int, pad) -> tf.Tensor:
    """The last `length` columns of [n, L], padded in front with `pad` when L < length."""
    values = values[:, -length:]
    missing = length - tf.shape(values)[1]
    return tf.pad(values, [[0, 0], [missing, 0]], constant_values=pad)


def _keep_first(values: tf.Tensor, length: int, pad) -> tf.Tensor:
    """The first `length` columns of [n, H], padded at the end with `pad` when H < length."""
    values = values[:, :length]
    missing = length - tf.shape(values)[1]
    return tf.pad(values, [[0, 0], [0, missing]], constant_values=pad)


def raw_signature(config: FeedModelConfig) -> dict[str, tf.TensorSpec]:
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


def raw_to_inputs(raw: Mapping[str, tf.Tensor], config: FeedModelConfig) -> dict[str, tf.Tensor]:
    """The model inputs of raw features (see the module docstring), in TensorFlow ops."""
    murmur = config.id_hash == "murmur"
    pad = "" if murmur else tf.constant(PAD_ID, tf.int64)

    def ids(values: tf.Tensor) -> tf.Tensor:
        return hash_string_ids(values) if murmur else tf.cast(values, tf.int64)

    history = ids(_keep_last(raw["hist_author_ids"], HISTORY_LENGTH, pad))
    actions = _keep_last(tf.cast(raw["hist_actions"], tf.int32), HISTORY_LENGTH, PAD_ID)
    inputs = {
        "member_id": ids(raw["member_id"]),
        "author_id": ids(raw["author_id"]),
        "content_type": vocabulary_index(raw["content_type"], CONTENT_TYPES, "content_type"),
        "platform": vocabulary_index(raw["platform"], PLATFORMS, "platform"),
        "hashtag_ids": _keep_first(tf.cast(raw["hashtag_ids"], tf.int64), MAX_HASHTAGS, PAD_ID),
        "hist_author_ids": history,
        "hist_actions": actions,
    }
    for column, key in _SCALAR_INPUTS.items():
        inputs[key] = tf.cast(raw[column], tf.int32)
    dense = [tf.cast(raw[column], tf.float64) for column in _RAW_FLOATS]
    dense[1] = tf.math.log1p(dense[1])
    dense[2] = dense[2] / 24.0
    inputs["dense"] = tf.cast(tf.stack(dense, axis=1), tf.float32)
    inputs["affinity"] = history_affinity(inputs["author_id"], history, actions)
    return inputs


def raw_features(df: pd.DataFrame, config: FeedModelConfig) -> dict[str, np.ndarray]:
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
    logits = model(raw_to_inputs(raw, config), training=False)
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
