"""The served feed model: a TensorFlow SavedModel from raw features (string IDs included) to
per-head probabilities and the final score.

The Keras layers and models are backend-agnostic (`keras.ops` only); what is TensorFlow-only
lives outside them (paper §13 "last-mile transforms" stitched in front of the trainer graph for
serving): the serving signature runs the one feature transform
(`models.inputs.tf_transform.raw_to_inputs`, the same code as the ATDS training input and the
pandas path, with the same MurmurHash of `models.inputs.murmur`) and then the model.

`export_saved_model` writes a SavedModel whose `serving_default` signature takes `raw_signature`
and returns, per request row,

    {head: P(head) [n] for head in LABELS} | {"score": Σ_h w_h P(h) [n],
                                              "status": int32 [n], "imputed": int32 [n]}

Every row is checked in the graph (`models.serving.row_policy`, the per-row policy and its bit
table): a row with a NaN, infinite or out-of-range value, an empty or oversized ID, ... is
rejected, not the batch: its `status` is the bit mask of the rules it failed
(`row_policy.explain_status` names the columns), its probabilities are 0 and its score is below
any valid row's (it sorts last); every other row scores exactly as without the checks. A
category the model never saw is scored from the out-of-vocabulary bucket and flagged in
`imputed`. Strings are cut to `row_policy.MAX_STRING_BYTES` before hashing, so a request's cost
does not grow with its string lengths.

Raw features (one row per candidate; the TRAINING_EXAMPLE column names):

| key | dtype | shape |
|---|---|---|
| member_id, author_id, post_id | string ("member:1234", "actor:77", "post:9") with | [n] |
| | id_hash="murmur", else int64 | |
| hist_post_ids, hist_author_ids | as the IDs above, aligned, "" / -1 padded (in front), | [n, L] |
| | most recent last | |
| hist_actions | int32 index into `ACTIONS`, -1 padded like the history IDs | [n, L] |
| hashtag_ids | int64, -1 padded at the end | [n, H] |
| content_type, platform | string (outside the model's vocabulary: the OOV bucket) | [n] |
| member_seniority, member_industry, member_country, position, hour | int32 | [n] |
| member_log_connections, length, post_age_hours, author_log_followers | float32 | [n] |

Pass ``position = 0`` to rank (position debiasing, `spec.with_position`).

Send exactly these dtypes, or call through `score_raw`: it checks the request against the
signature and raises naming the column, the expected and the found dtype (and casts what it can
without loss, e.g. int64 hours to int32). Called directly, the signature's own TensorFlow error
for a wrong dtype names only an input index, which this code cannot change.

Example:

    export_saved_model(model, Path("served"))
    served = tf.saved_model.load("served")
    out = score_raw(served, raw)          # {"click": [n], ..., "score": [n], "status": [n], ...}
    out = served.signatures["serving_default"](**raw)      # the same, raw already typed
"""

from __future__ import annotations

import collections
import shutil
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from models.inputs.murmur import string_ids
from models.inputs.spec import DENSE, ID_NAMESPACES, PAD_ID, SCALAR_COLUMNS
from models.inputs.tf_transform import raw_to_inputs
from models.serving.row_policy import (
    NON_FINITE_OUTPUT,
    RULE_OF_COLUMN,
    bound_strings,
    imputed_mask,
    neutral_values,
    rejected_score,
    row_status,
)
from spark.schemas import LABELS
from spark.storage import atomic_replace_dir, staging_dir_for

_RAW_FLOATS = tuple(dict.fromkeys(feature.column for feature in DENSE))
_SCALAR_INTS = tuple(SCALAR_COLUMNS.values())

SCORE_OUTPUT = "score"
STATUS_OUTPUT = "status"
IMPUTED_OUTPUT = "imputed"


def raw_signature(config) -> dict[str, tf.TensorSpec]:
    """The serving signature's inputs for a model of `config` (string IDs with id_hash="murmur")."""
    id_dtype = tf.string if config.id_hash == "murmur" else tf.int64
    spec = {
        "member_id": tf.TensorSpec([None], id_dtype, name="member_id"),
        "author_id": tf.TensorSpec([None], id_dtype, name="author_id"),
        "post_id": tf.TensorSpec([None], id_dtype, name="post_id"),
        "hist_post_ids": tf.TensorSpec([None, None], id_dtype, name="hist_post_ids"),
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

    IDs become "member:1234" / "actor:77" / "post:9" strings when `config.id_hash` is "murmur";
    list columns are padded to their longest row (histories in front, hashtags at the end).
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
        "post_id": ids(df["post_id"].to_numpy(), "post_id"),
        "hist_post_ids": ids(pad("hist_post_ids", True, np.int64), "hist_post_ids"),
        "hist_author_ids": ids(pad("hist_author_ids", True, np.int64), "hist_author_ids"),
        "hist_actions": pad("hist_actions", True, np.int32),
        "hashtag_ids": pad("hashtag_ids", False, np.int64),
        "content_type": df["content_type"].to_numpy().astype(bytes),
        "platform": df["platform"].to_numpy().astype(bytes),
    }
    raw.update({c: df[c].to_numpy().astype(np.int32) for c in _SCALAR_INTS})
    raw.update({c: df[c].to_numpy().astype(np.float32) for c in _RAW_FLOATS})
    return raw


def model_outputs(model: keras.Model, raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """Per-head probabilities and the final score of raw features as given, without the row
    checks (TensorFlow backend): what `serving_outputs` returns for valid rows."""
    return _scores(model, raw_to_inputs(raw, model.config.input_spec()))


def serving_outputs(model: keras.Model, raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """The serving signature (TensorFlow backend): per-head probabilities, the final score, and
    each row's `status` and `imputed` masks under the per-row policy of `row_policy`.

    Rows with ``status == 0`` get exactly `model_outputs`; the others get probabilities 0 and
    `rejected_score`, whatever they hold.
    """
    config = model.config
    status = row_status(raw)
    inputs = raw_to_inputs(neutral_values(bound_strings(raw)), config.input_spec())
    outputs = _scores(model, inputs)
    finite = tf.reduce_all(tf.math.is_finite(tf.stack(list(outputs.values()), axis=1)), axis=1)
    status = tf.bitwise.bitwise_or(
        status, tf.where(finite, 0, RULE_OF_COLUMN[NON_FINITE_OUTPUT].value)
    )
    scored = tf.equal(status, 0)
    floor = rejected_score(config.score_weights)
    served = {head: tf.where(scored, outputs[head], 0.0) for head in LABELS}
    served[SCORE_OUTPUT] = tf.where(scored, outputs[SCORE_OUTPUT], floor)
    served[STATUS_OUTPUT] = status
    served[IMPUTED_OUTPUT] = imputed_mask(inputs)
    return served


def _scores(model: keras.Model, inputs: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    logits = model(inputs, training=False)
    outputs = {head: tf.sigmoid(logits[head]) for head in LABELS}
    outputs[SCORE_OUTPUT] = tf.add_n(
        [weight * outputs[h] for h, weight in model.config.score_weights]
    )
    return outputs


def score_raw(served, raw: Mapping[str, object]) -> dict[str, np.ndarray]:
    """Score a raw request through a loaded SavedModel, checking it first against the signature.

    Args:
        served: `tf.saved_model.load(...)` of an exported model, or its "serving_default"
            signature.
        raw: column -> array-like (numpy arrays, lists, tensors) of `raw_signature`'s columns.

    Returns:
        the signature's outputs as numpy arrays (see the module docstring).

    Raises:
        ValueError: a column is missing or unexpected, has the wrong rank, or a row count that
            differs from the other columns; or an integer value does not fit the column's dtype.
        TypeError: a column's dtype is of the wrong kind (string, integer or float); the message
            names the column, the expected and the found dtype.
    """
    signature = served.signatures["serving_default"] if hasattr(served, "signatures") else served
    tensors = request_tensors(signature.structured_input_signature[1], raw)
    return {key: value.numpy() for key, value in signature(**tensors).items()}


_KINDS = {"S": "string", "U": "string", "O": "string", "i": "integer", "u": "integer"}


def request_tensors(
    specs: Mapping[str, tf.TensorSpec], raw: Mapping[str, object]
) -> dict[str, tf.Tensor]:
    """Tensors of `raw` typed as `specs` (a signature's inputs), or an error naming the column.

    Integer columns accept any integer dtype whose values fit (cast), float columns any float
    dtype (cast to float32; a value beyond float32 becomes infinite and its row is rejected).
    """
    missing = sorted(set(specs) - set(raw))
    unexpected = sorted(set(raw) - set(specs))
    if missing or unexpected:
        raise ValueError(
            f"the request must hold exactly the signature's columns: missing {missing}, "
            f"unexpected {unexpected}; see `raw_signature` for the columns and dtypes"
        )
    tensors: dict[str, tf.Tensor] = {}
    rows: dict[str, int] = {}
    for name, spec in specs.items():
        value = raw[name]
        array = value.numpy() if isinstance(value, tf.Tensor) else np.asarray(value)
        expected = (
            "string" if spec.dtype == tf.string else "integer" if spec.dtype.is_integer else "float"
        )
        found = _KINDS.get(array.dtype.kind, "float" if array.dtype.kind == "f" else "other")
        if array.dtype.kind == "O" and not all(isinstance(v, str | bytes) for v in array.flat):
            found = "other"
        if found != expected:
            raise TypeError(
                f"column `{name}` must be {spec.dtype.name} ({expected}); found {array.dtype} "
                f"({found}), e.g. {array.flat[0]!r}. Send it as "
                f"np.asarray(values, dtype=np.{spec.dtype.as_numpy_dtype.__name__})"
                + (" after filling its nulls" if found == "float" and expected == "integer" else "")
                if array.size
                else f"column `{name}` must be {spec.dtype.name}; found {array.dtype}"
            )
        if array.ndim != spec.shape.rank:
            raise ValueError(
                f"column `{name}` must have rank {spec.shape.rank} ({spec.shape}); found shape "
                f"{array.shape}"
            )
        rows[name] = array.shape[0]
        if expected == "integer" and array.size:
            info = np.iinfo(spec.dtype.as_numpy_dtype)
            low, high = int(array.min()), int(array.max())
            if low < info.min or high > info.max:
                raise ValueError(
                    f"column `{name}` holds {low if low < info.min else high}, outside "
                    f"{spec.dtype.name}; send values in [{info.min}, {info.max}]"
                )
        if expected == "string":
            tensors[name] = tf.constant(
                array.astype(object) if array.dtype.kind == "U" else array, tf.string
            )
        else:
            tensors[name] = tf.constant(array.astype(spec.dtype.as_numpy_dtype))
    usual = collections.Counter(rows.values()).most_common(1)[0][0] if rows else 0
    odd = {name: count for name, count in rows.items() if count != usual}
    if odd:
        raise ValueError(
            f"every column needs one entry per candidate row ({usual} in most columns); "
            f"found {odd} rows"
        )
    return tensors


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
    staging = staging_dir_for(directory)  # also recovers what a killed export left behind
    try:
        archive.write_out(str(staging), verbose=False)
        atomic_replace_dir(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return directory
