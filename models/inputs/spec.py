"""The feature contract: which TRAINING_EXAMPLE columns the feed model reads and how each one
becomes a model input. Declared once here; `models.inputs.tf_transform.raw_to_inputs` is the one
TensorFlow transform built from it, used by the ATDS training input (`models.inputs.atds`), the
SavedModel's serving signature (`models.serving.saved_model`) and the pandas path
(`examples_to_inputs` below), so the three give identical inputs for the same rows.

| input key | dtype | shape | how (from the column of the same name unless said) |
|---|---|---|---|
| member_id, author_id, post_id | int64 | [n] | `ID_COLUMNS`: as given, or Murmur-hashed |
| | | [n, 2] | with `id_halves`: the 64-bit hash's two int32 halves |
| content_type, platform | int32 | [n] | 1 + index in the learned vocabulary, 0 = OOV |
| seniority, industry, country | int32 | [n] | member_seniority, member_industry, member_country |
| position, hour | int32 | [n] | as given |
| hashtag_ids | int64 | [n, max_hashtags] | the first `max_hashtags`, -1 padded at the end |
| hist_post_ids | int64 | [n, history_length] | the last `history_length`, -1 padded in front |
| hist_author_ids | int64 | [n, history_length] | aligned with hist_post_ids, hashed like IDs |
| | | [n, history_length, 2] | both histories with `id_halves` (padding (-1, -1)) |
| hist_actions | int32 | [n, history_length] | aligned with hist_post_ids |
| dense | float32 | [n, 4] | `DENSE`: each declared transform, computed in float64 |
| affinity | float32 | [n, 4] | `AFFINITY_FEATURES`: the candidate author in the history |

`-1` is the padding value everywhere: the model masks it out, so the same member history gives the
same output whatever the padded length.

Categorical strings (the log contract's `CATEGORICAL_COLUMNS`) have no fixed value set: a user's
logs may hold a content type or platform no simulator produces. The vocabulary is learned from the
cold start's training data (`learn_vocabularies`, most frequent first) and frozen into the model's
config (`InputSpec`); any other value maps to index 0, the out-of-vocabulary bucket, which trains
and serves like any other value (`count_out_of_vocabulary` reports how many rows used it).

Dense features (paper §1, "distribution-normalized dense features"; the normalization constants
live in the model config and come from `dense_moments`):

    member_log_connections, log1p(length), post_age_hours / 24, author_log_followers

History affinity (paper A.1 lists the viewer's historical actor IDs as a feature; these are the
standard viewer-actor affinity counts built from them): with m_j = [hist_author_ids_j = author_id]
over the kept history (padding never matches),

    log1p_author_in_history      = log1p(Σ_j m_j)
    log1p_author_contributions   = log1p(Σ_j m_j [hist_actions_j ≠ click])
    author_recency_in_history    = Σ_j m_j · 0.8^(steps from the most recent entry)
    log1p_history_length         = log1p(Σ_j [hist_author_ids_j ≥ 0])

String IDs (paper §11, A.7): with ``id_hash="murmur"`` the member, author, post and history IDs
are namespaced strings (``"member:1234"``, ``"actor:77"``, ``"post:9"``; integer IDs are written
that way first)
hashed with MurmurHash3 (`models.inputs.murmur`, the first 64 bits), keeping the low 31 bits:

    model_id = murmur64("<namespace>:<id>") & (2^31 - 1)        (padding stays -1)

31 bits keep the ids non-negative (the model's padding test is ``id >= 0``) and exact in int32,
the integer width of the JAX backend without x64. ``id_hash="none"`` uses integer IDs as given.

Unlimited vocabulary (paper A.7; ``InputSpec.id_halves``, set by ``id_embedding="unlimited"``,
with ``id_hash="murmur"``): the whole 64-bit hash is kept and every ID input (member, author,
post and both histories) becomes int64 [..., 2], its two 32-bit halves each read as an int32
(`murmur.id_halves`), padding (-1, -1); no modulo, no 31-bit mask. The affinity features compare
the full hashes, so they are those of the 31-bit path (up to hash collisions).

Position debiasing: `position` is a training feature (it explains the position bias in the logged
labels); at ranking time every candidate is scored at position 0 (`with_position(inputs, 0)`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from spark.schemas import CATEGORICAL_COLUMNS, LABELS, check_example_schema

PAD_ID = -1
# history steps and hashtags the model sees by default (training, evaluation and serving share them)
HISTORY_LENGTH = 20
MAX_HASHTAGS = 3
# id_hash choices: how raw integer or string IDs become model IDs (see the module docstring)
ID_HASHES: tuple[str, ...] = ("none", "murmur")
ID_HASH_MASK = 2**31 - 1
OOV_INDEX = 0


@dataclasses.dataclass(frozen=True)
class DenseFeature:
    """One dense input: `transform` of the raw `column` (computed in float64, stored float32).

    transform: "identity", "log1p" (log(1 + x)) or "per_day" (hours / 24).
    """

    name: str
    column: str
    transform: str


DENSE_TRANSFORMS: tuple[str, ...] = ("identity", "log1p", "per_day")
DENSE: tuple[DenseFeature, ...] = (
    DenseFeature("member_log_connections", "member_log_connections", "identity"),
    DenseFeature("log1p_length", "length", "log1p"),
    DenseFeature("post_age_days", "post_age_hours", "per_day"),
    DenseFeature("author_log_followers", "author_log_followers", "identity"),
)
DENSE_FEATURES: tuple[str, ...] = tuple(feature.name for feature in DENSE)

# input key -> (column, namespace of its string IDs); authors and history authors share the actor
# namespace, as they share the actor table (paper A.1); posts and history posts the post namespace
ID_COLUMNS: dict[str, tuple[str, str]] = {
    "member_id": ("member_id", "member"),
    "author_id": ("author_id", "actor"),
    "post_id": ("post_id", "post"),
}
# history ID list column -> namespace of its string IDs (aligned with `hist_actions`)
HISTORY_ID_COLUMNS: dict[str, str] = {"hist_post_ids": "post", "hist_author_ids": "actor"}
ID_NAMESPACES: dict[str, str] = {
    **{key: namespace for key, (_, namespace) in ID_COLUMNS.items()},
    **HISTORY_ID_COLUMNS,
}
# input key -> column, for the single-valued int32 features
SCALAR_COLUMNS: dict[str, str] = {
    "seniority": "member_seniority",
    "industry": "member_industry",
    "country": "member_country",
    "position": "position",
    "hour": "hour",
}
# input key -> categorical column (its vocabulary is `InputSpec.vocabulary(key)`)
CATEGORICAL: dict[str, str] = {column: column for column in CATEGORICAL_COLUMNS}
# list columns: hashtags keep the first items, the history its last (most recent) ones
LIST_COLUMNS: tuple[str, ...] = ("hashtag_ids", *HISTORY_ID_COLUMNS, "hist_actions")

AFFINITY_FEATURES: tuple[str, ...] = (
    "log1p_author_in_history",
    "log1p_author_contributions",
    "author_recency_in_history",
    "log1p_history_length",
)
RECENCY_DECAY = 0.8

INPUT_KEYS: tuple[str, ...] = (
    *ID_COLUMNS,
    *CATEGORICAL,
    *SCALAR_COLUMNS,
    *LIST_COLUMNS,
    "dense",
    "affinity",
)
# every raw column the transform reads
RAW_COLUMNS: tuple[str, ...] = (
    *(column for column, _ in ID_COLUMNS.values()),
    *CATEGORICAL.values(),
    *SCALAR_COLUMNS.values(),
    *LIST_COLUMNS,
    *dict.fromkeys(feature.column for feature in DENSE),
)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model needs to know to turn raw example columns into its inputs.

    Args:
        id_hash: "none" (integer IDs as given) or "murmur" (namespaced string IDs hashed).
        id_halves: keep the whole 64-bit Murmur hash of every ID as two int32 halves [..., 2]
            (the unlimited-vocabulary tables); needs id_hash="murmur".
        content_types: the vocabulary of `content_type`, learned from the training data;
            index 1 + i for `content_types[i]`, 0 for any other value (out of vocabulary).
        platforms: the vocabulary of `platform`, indexed like `content_types`.
        history_length: history steps kept (most recent last, padded in front).
        max_hashtags: hashtags kept per post (the first ones, padded at the end).
    """

    id_hash: str = "none"
    content_types: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    history_length: int = HISTORY_LENGTH
    max_hashtags: int = MAX_HASHTAGS
    id_halves: bool = False

    def __post_init__(self) -> None:
        check_input_arguments(self.history_length, self.max_hashtags, self.id_hash)
        if self.id_halves and self.id_hash != "murmur":
            raise ValueError(
                "`id_halves` (the full 64-bit hash) needs id_hash='murmur'. "
                f"Received: id_hash={self.id_hash!r}"
            )
        for column in CATEGORICAL:
            check_vocabulary(column, self.vocabulary(column))

    def vocabulary(self, column: str) -> tuple[str, ...]:
        """The learned vocabulary of categorical `column` ("content_type" or "platform")."""
        vocabularies = {"content_type": self.content_types, "platform": self.platforms}
        if column not in vocabularies:
            raise ValueError(f"`{column}` is not a categorical column; use one of {CATEGORICAL}")
        return vocabularies[column]

    @classmethod
    def learned_from(cls, frame: pd.DataFrame, **kwargs) -> InputSpec:
        """The spec whose vocabularies are learned from `frame` (`learn_vocabularies`)."""
        vocabularies = learn_vocabularies([frame])
        return cls(
            content_types=vocabularies["content_type"], platforms=vocabularies["platform"], **kwargs
        )


def check_input_arguments(history_length: int, max_hashtags: int, id_hash: str) -> None:
    """Raise ValueError naming a non-positive length or an unknown `id_hash`."""
    if history_length <= 0:
        raise ValueError(f"`history_length` must be positive. Received: {history_length}")
    if max_hashtags <= 0:
        raise ValueError(f"`max_hashtags` must be positive. Received: {max_hashtags}")
    if id_hash not in ID_HASHES:
        raise ValueError(f"`id_hash` must be one of {ID_HASHES}. Received: id_hash={id_hash!r}")


def check_vocabulary(column: str, vocabulary: Iterable[str]) -> None:
    """Raise ValueError unless `vocabulary` holds unique, non-empty strings."""
    values = list(vocabulary)
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad:
        raise ValueError(
            f"the `{column}` vocabulary must hold non-empty strings. Received: {bad[:5]}"
        )
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"the `{column}` vocabulary repeats {repeated}; values must be unique")


def learn_vocabularies(
    frames: Iterable[pd.DataFrame], min_count: int = 1
) -> dict[str, tuple[str, ...]]:
    """The vocabulary of each categorical column over `frames`: values seen at least `min_count`
    times, most frequent first (ties by value), so the index of a value is stable under small
    changes of the data. Nulls and empty strings are not values (they map to the OOV bucket)."""
    counts: dict[str, pd.Series] = {}
    for frame in frames:
        for column in CATEGORICAL.values():
            if column not in frame.columns:
                raise ValueError(f"examples are missing the categorical column `{column}`")
            values = frame[column].dropna().astype(str)
            seen = values[values != ""].value_counts()
            counts[column] = (
                seen if column not in counts else counts[column].add(seen, fill_value=0)
            )
    vocabularies = {}
    for column in CATEGORICAL.values():
        seen = counts.get(column, pd.Series(dtype="int64"))
        seen = seen[seen >= min_count]
        order = sorted(seen.items(), key=lambda item: (-item[1], item[0]))
        vocabularies[column] = tuple(str(value) for value, _ in order)
    return vocabularies


def count_out_of_vocabulary(inputs: Mapping[str, np.ndarray]) -> dict[str, int]:
    """Rows whose categorical value fell in the out-of-vocabulary bucket, per column."""
    return {key: int((np.asarray(inputs[key]) == OOV_INDEX).sum()) for key in CATEGORICAL}


def examples_to_inputs(df: pd.DataFrame, spec: InputSpec) -> dict[str, np.ndarray]:
    """TRAINING_EXAMPLE rows (pandas) -> the model's input arrays, through the one TF transform.

    Args:
        df: rows with (at least) `RAW_COLUMNS`; list columns may hold lists, numpy arrays or None
            (empty).
        spec: the model's `InputSpec` (`FeedModelConfig.input_spec()`).

    Returns:
        numpy arrays keyed by `INPUT_KEYS` (see the module docstring for dtypes and shapes).

    Raises:
        ValueError: a column is missing, an ID column has nulls, or a dense column has NaN or
            infinite values (the message names the column and the count).
    """
    from models.inputs.tf_transform import raw_from_frame, raw_to_inputs

    check_example_columns(df)
    inputs = raw_to_inputs(raw_from_frame(df), spec)
    return {key: value.numpy() for key, value in inputs.items()}


def check_example_columns(df: pd.DataFrame) -> None:
    """Raise ValueError naming missing columns, null IDs and non-finite dense values of `df`."""
    check_example_schema(df.columns, "this frame", required=RAW_COLUMNS)
    for column in (*(c for c, _ in ID_COLUMNS.values()), *SCALAR_COLUMNS.values()):
        nulls = int(df[column].isna().sum())
        if nulls:
            raise ValueError(f"column `{column}` has {nulls} null values; IDs must be present")
    for feature in DENSE:
        values = pd.to_numeric(df[feature.column], errors="coerce").to_numpy(np.float64)
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            raise ValueError(
                f"dense feature `{feature.name}` (column `{feature.column}`) has {bad} NaN or "
                f"infinite values out of {len(df)}; fill or drop them upstream"
            )


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

    They are computed once from the full training examples and frozen into the model config
    (identical on every Horovod rank), instead of batch-norm moving statistics, which would
    differ between ranks that see different shards.
    """
    dense = np.asarray(inputs["dense"], dtype=np.float64)
    if dense.ndim != 2 or dense.shape[0] == 0:
        raise ValueError(f"need a non-empty [n, k] dense matrix. Received shape {dense.shape}")
    return tuple(float(m) for m in dense.mean(axis=0)), tuple(float(v) for v in dense.var(axis=0))
