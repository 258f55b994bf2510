"""Model inputs: TRAINING_EXAMPLE rows (pandas) -> fixed-shape numpy arrays the feed model reads.

The feed model (`models.feed_model`) takes a dict of arrays, one per feature:

| key | dtype | shape | source column |
|---|---|---|---|
| member_id, author_id | int64 | [n] | member_id, author_id |
| content_type, platform | int32 | [n] | index into `CONTENT_TYPES` / `PLATFORMS` |
| seniority, industry, country | int32 | [n] | member_seniority, member_industry, member_country |
| position, hour | int32 | [n] | position (0-based), hour |
| hashtag_ids | int64 | [n, max_hashtags] | first `max_hashtags` hashtags, -1 padded at the end |
| hist_author_ids | int64 | [n, history_length] | most recent last, -1 padded in front |
| hist_actions | int32 | [n, history_length] | hist_actions, aligned with hist_author_ids |
| dense | float32 | [n, 4] | `DENSE_FEATURES` (below) |
| affinity | float32 | [n, 4] | `AFFINITY_FEATURES` (below), from author_id and the history |

`-1` is the padding value everywhere: the model masks it out (masked mean pooling), so the same
member history gives the same output whatever the padded length.

Dense features (paper §1: "distribution-normalized dense features"; the normalization constants
themselves live in `FeedModelConfig` and come from `dense_moments`):

    member_log_connections, log1p(length), post_age_hours / 24, author_log_followers

History affinity (paper A.1 lists the viewer's historical actor IDs as a feature; these are the
standard viewer-actor affinity counts built from them, computed here in numpy rather than learned):
with m_j = [hist_author_ids_j = author_id] over the kept history (padding never matches),

    log1p_author_in_history      = log1p(Σ_j m_j)
    log1p_author_contributions   = log1p(Σ_j m_j [hist_actions_j ≠ click])
    author_recency_in_history    = Σ_j m_j · 0.8^(steps from the most recent entry)
    log1p_history_length         = log1p(Σ_j [hist_author_ids_j ≥ 0])

They are already O(1) and are fed to the model unnormalized. A member with ~20 impressions cannot
learn a member-ID embedding, so "has this member engaged with this author before" must be an
explicit input rather than something the towers rediscover from mean-pooled embeddings.

String IDs (paper §11, A.7): with ``id_hash="murmur"`` the member, author and history-author IDs
are first written as namespaced strings (``"member:1234"``, ``"actor:77"``) and hashed with
MurmurHash3 (`models.inputs.murmur`, the first 64 bits), keeping the low 31 bits:

    model_id = murmur64("<namespace>:<id>") & (2^31 - 1)        (-1 padding stays -1)

so raw string IDs from any source need no vocabulary, and the served model (`models.serving.saved_model`)
hashes the same strings with the same function in its TensorFlow preprocessing. 31 bits keep the
ids non-negative (the model's padding test is ``id >= 0``) and exact in int32, the integer width of
the JAX backend without x64. ``id_hash="none"`` uses the integer IDs as given.

Position debiasing: `position` is a training feature (it explains the position bias in the
logged labels); at ranking time every candidate is scored as if at position 0
(`with_position(inputs, 0)`), so the ranking does not inherit the logging policy's order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import pandas as pd

from spark.schemas import LABELS
from spark.world_config import CONTENT_TYPES, PLATFORMS

PAD_ID = -1
# history steps and hashtags the model sees (training, evaluation and serving share them)
HISTORY_LENGTH = 20
MAX_HASHTAGS = 3
# id_hash choices: how raw integer or string IDs become model IDs (see the module docstring)
ID_HASHES: tuple[str, ...] = ("none", "murmur")
ID_HASH_MASK = 2**31 - 1
# model input key -> namespace of its string IDs ("member:1234"); authors and history authors
# share the actor namespace, as they share the actor table
ID_NAMESPACES: dict[str, str] = {
    "member_id": "member",
    "author_id": "actor",
    "hist_author_ids": "actor",
}

DENSE_FEATURES: tuple[str, ...] = (
    "member_log_connections",
    "log1p_length",
    "post_age_days",
    "author_log_followers",
)

# model input key -> TRAINING_EXAMPLE column, for the single-valued integer features
_SCALAR_ID_COLUMNS: dict[str, str] = {
    "member_id": "member_id",
    "author_id": "author_id",
    "seniority": "member_seniority",
    "industry": "member_industry",
    "country": "member_country",
    "position": "position",
    "hour": "hour",
}
AFFINITY_FEATURES: tuple[str, ...] = (
    "log1p_author_in_history",
    "log1p_author_contributions",
    "author_recency_in_history",
    "log1p_history_length",
)
RECENCY_DECAY = 0.8
_CLICK_ACTION = 0  # index of "click" in `ACTIONS`: history actions ≠ click are contributions

_INT64_KEYS = frozenset({"member_id", "author_id"})

INPUT_KEYS: tuple[str, ...] = (
    "member_id",
    "author_id",
    "content_type",
    "platform",
    "seniority",
    "industry",
    "country",
    "position",
    "hour",
    "hashtag_ids",
    "hist_author_ids",
    "hist_actions",
    "dense",
    "affinity",
)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model needs to know to turn raw example columns into its inputs.

    Args:
        id_hash: "none" (integer IDs as given) or "murmur" (namespaced string IDs hashed).
        content_types: the vocabulary of `content_type`, learned from the training data;
            index 1 + i for `content_types[i]`, 0 for any other value (out of vocabulary).
        platforms: the vocabulary of `platform`, indexed like `content_types`.
        history_length: history steps kept (most recent last, padded in front).
        max_hashtags: hashtags kept per post (the first ones, padded at the end).
    """

    id_hash: str = "none"
    content_types: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    history_length: int = 20
    max_hashtags: int = 3


def check_input_arguments(history_length: int, max_hashtags: int, id_hash: str) -> None:
    """Raise ValueError naming a non-positive length or an unknown `id_hash` (every input path
    validates its arguments here: `examples_to_inputs`, `atds_input.feed_batch_transform`)."""
    if history_length <= 0:
        raise ValueError(f"`history_length` must be positive. Received: {history_length}")
    if max_hashtags <= 0:
        raise ValueError(f"`max_hashtags` must be positive. Received: {max_hashtags}")
    if id_hash not in ID_HASHES:
        raise ValueError(f"`id_hash` must be one of {ID_HASHES}. Received: id_hash={id_hash!r}")


def examples_to_inputs(
    df: pd.DataFrame,
    history_length: int = HISTORY_LENGTH,
    max_hashtags: int = MAX_HASHTAGS,
    id_hash: str = "none",
) -> dict[str, np.ndarray]:
    """Convert TRAINING_EXAMPLE-shaped rows to the feed model's fixed-shape input arrays.

    Args:
        df: rows with (at least) the TRAINING_EXAMPLE feature columns; list columns may hold
            lists, numpy arrays or None (treated as empty).
        history_length: history steps kept; the most recent `history_length` actions are kept,
            most recent last, -1 padded in front.
        max_hashtags: hashtags kept per post (the first `max_hashtags`), -1 padded at the end.
        id_hash: "none" (integer IDs as given) or "murmur" (`hash_ids` of the namespaced string
            IDs); pass the model's `FeedModelConfig.id_hash`.

    Returns:
        dict keyed by `INPUT_KEYS` (see the module docstring for dtypes and shapes).

    Raises:
        ValueError: a column is missing, a content type or platform is unknown, an ID column
            has nulls, or a dense feature has NaN (message names the column and the count).
    """
    check_input_arguments(history_length, max_hashtags, id_hash)
    required = (
        list(_SCALAR_ID_COLUMNS.values())
        + ["content_type", "platform", "hashtag_ids", "hist_author_ids", "hist_actions"]
        + ["member_log_connections", "length", "post_age_hours", "author_log_followers"]
    )
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"examples are missing columns {missing}; expected TRAINING_EXAMPLE rows")

    inputs: dict[str, np.ndarray] = {}
    for key, column in _SCALAR_ID_COLUMNS.items():
        values = df[column]
        nulls = int(values.isna().sum())
        if nulls:
            raise ValueError(f"column `{column}` has {nulls} null values; IDs must be present")
        inputs[key] = values.to_numpy().astype(np.int64 if key in _INT64_KEYS else np.int32)
    inputs["content_type"] = _vocabulary_index(df["content_type"], CONTENT_TYPES, "content_type")
    inputs["platform"] = _vocabulary_index(df["platform"], PLATFORMS, "platform")
    inputs["hashtag_ids"] = _pad_lists(df["hashtag_ids"], max_hashtags, keep="first")
    inputs["hist_author_ids"] = _pad_lists(df["hist_author_ids"], history_length, keep="last")
    inputs["hist_actions"] = _pad_lists(df["hist_actions"], history_length, keep="last").astype(
        np.int32
    )
    inputs["dense"] = _dense_matrix(df)
    if id_hash == "murmur":
        for key, namespace in ID_NAMESPACES.items():
            inputs[key] = hash_ids(inputs[key], namespace)
    inputs["affinity"] = history_affinity(
        inputs["author_id"], inputs["hist_author_ids"], inputs["hist_actions"]
    )
    return inputs


def string_ids(ids: np.ndarray, namespace: str) -> np.ndarray:
    """Integer IDs as namespaced strings (object array): 1234 -> "member:1234", padding -> ""."""
    ids = np.asarray(ids, dtype=np.int64)
    flat = [f"{namespace}:{i}" if i >= 0 else "" for i in ids.reshape(-1).tolist()]
    return np.asarray(flat, dtype=object).reshape(ids.shape)


def hash_string_ids(strings: np.ndarray) -> np.ndarray:
    """Model IDs of string IDs: murmur64(s) & (2^31 - 1); the empty string (padding) -> -1.

    Hashes each distinct string once (IDs repeat a lot), so the cost grows with the vocabulary
    actually present, not with the rows.
    """
    from models.inputs.murmur import murmur_int64

    strings = np.asarray(strings, dtype=object)
    unique, inverse = np.unique(strings.reshape(-1), return_inverse=True)
    hashed = murmur_int64(unique) & ID_HASH_MASK if len(unique) else np.zeros(0, np.int64)
    hashed = np.where(unique == "", PAD_ID, hashed).astype(np.int64)
    return hashed[inverse].reshape(strings.shape)


def hash_ids(ids: np.ndarray, namespace: str) -> np.ndarray:
    """Model IDs of integer IDs: `hash_string_ids(string_ids(ids, namespace))`, -1 kept."""
    ids = np.asarray(ids, dtype=np.int64)
    unique, inverse = np.unique(ids.reshape(-1), return_inverse=True)
    return hash_string_ids(string_ids(unique, namespace))[inverse].reshape(ids.shape)


def history_affinity(
    author_ids: np.ndarray, hist_author_ids: np.ndarray, hist_actions: np.ndarray
) -> np.ndarray:
    """The `AFFINITY_FEATURES` matrix (float32 [n, 4]) of candidate authors against histories.

    Args:
        author_ids: int [n], the candidate post's author.
        hist_author_ids: int [n, L], most recent last, -1 padded in front.
        hist_actions: int [n, L], aligned with `hist_author_ids` (index into `ACTIONS`).
    """
    author_ids = np.asarray(author_ids, dtype=np.int64)
    hist = np.asarray(hist_author_ids, dtype=np.int64)
    actions = np.asarray(hist_actions)
    if hist.ndim != 2 or hist.shape != actions.shape or len(hist) != len(author_ids):
        raise ValueError(
            f"need author_ids [n] and aligned hist_author_ids/hist_actions [n, L]. Received "
            f"{author_ids.shape}, {hist.shape}, {actions.shape}"
        )
    match = (hist == author_ids[:, None]) & (hist >= 0)
    steps_ago = np.arange(hist.shape[1] - 1, -1, -1, dtype=np.float64)
    columns = (
        np.log1p(match.sum(axis=1)),
        np.log1p((match & (actions != _CLICK_ACTION)).sum(axis=1)),
        (match * RECENCY_DECAY**steps_ago).sum(axis=1),
        np.log1p((hist >= 0).sum(axis=1)),
    )
    return np.stack(columns, axis=1).astype(np.float32)


def labels_from(df: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-head float32 label vectors (one per `LABELS` entry) from TRAINING_EXAMPLE rows.

    Raises:
        ValueError: a label column is missing or has nulls.
    """
    labels: dict[str, np.ndarray] = {}
    for head in LABELS:
        if head not in df.columns:
            raise ValueError(f"examples are missing label column `{head}`")
        nulls = int(df[head].isna().sum())
        if nulls:
            raise ValueError(f"label column `{head}` has {nulls} null values")
        labels[head] = df[head].to_numpy().astype(np.float32)
    return labels


def with_position(inputs: Mapping[str, np.ndarray], position: int = 0) -> dict[str, np.ndarray]:
    """Copy of `inputs` with every example's `position` set to `position` (0 when ranking)."""
    out = dict(inputs)
    out["position"] = np.full_like(np.asarray(inputs["position"]), position)
    return out


def num_examples(inputs: Mapping[str, np.ndarray]) -> int:
    """Number of rows in an inputs dict."""
    return int(len(inputs["dense"]))


def take(inputs: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows `rows` (indices or boolean mask) of every array in an inputs or labels dict."""
    return {key: np.asarray(value)[rows] for key, value in inputs.items()}


def dense_moments(inputs: Mapping[str, np.ndarray]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-column mean and variance of the dense matrix: the model's normalization constants.

    They are computed once from the full training examples and frozen into `FeedModelConfig`
    (identical on every Horovod rank), instead of batch-norm moving statistics, which would
    differ between ranks that see different shards.
    """
    dense = np.asarray(inputs["dense"], dtype=np.float64)
    if dense.ndim != 2 or dense.shape[0] == 0:
        raise ValueError(f"need a non-empty [n, k] dense matrix. Received shape {dense.shape}")
    return tuple(float(m) for m in dense.mean(axis=0)), tuple(float(v) for v in dense.var(axis=0))


def _vocabulary_index(values: pd.Series, vocabulary: tuple[str, ...], column: str) -> np.ndarray:
    lookup = {name: i for i, name in enumerate(vocabulary)}
    index = values.map(lookup)
    unknown = values[index.isna()]
    if len(unknown):
        shown = sorted({str(v) for v in unknown.unique()})[:5]
        raise ValueError(
            f"column `{column}` has {len(unknown)} values outside {list(vocabulary)}, "
            f"e.g. {shown}; map them to a known {column} upstream"
        )
    return index.to_numpy().astype(np.int32)


def _pad_lists(values: pd.Series, length: int, keep: str) -> np.ndarray:
    out = np.full((len(values), length), PAD_ID, dtype=np.int64)
    for row, items in enumerate(values.to_numpy()):
        if items is None:
            continue
        items = np.asarray(items, dtype=np.int64)
        if keep == "last":
            items = items[-length:]
            if len(items):
                out[row, length - len(items) :] = items
        else:
            items = items[:length]
            out[row, : len(items)] = items
    return out


def _dense_matrix(df: pd.DataFrame) -> np.ndarray:
    columns = {
        "member_log_connections": df["member_log_connections"].to_numpy(np.float64),
        "log1p_length": np.log1p(df["length"].to_numpy(np.float64)),
        "post_age_days": df["post_age_hours"].to_numpy(np.float64) / 24.0,
        "author_log_followers": df["author_log_followers"].to_numpy(np.float64),
    }
    source = {
        "member_log_connections": "member_log_connections",
        "log1p_length": "length",
        "post_age_days": "post_age_hours",
        "author_log_followers": "author_log_followers",
    }
    for name in DENSE_FEATURES:
        bad = int(np.count_nonzero(np.isnan(columns[name])))
        if bad:
            raise ValueError(
                f"dense feature `{name}` (column `{source[name]}`) has {bad} NaN values "
                f"out of {len(df)}; fill or drop them upstream"
            )
    return np.stack([columns[name] for name in DENSE_FEATURES], axis=1).astype(np.float32)
