"""The feed second-pass ranker (paper §1, §9): ID embeddings + dense features -> two towers.

Written with `keras.ops` only, so the model runs on the TensorFlow, JAX or PyTorch backend. The
forward pass reads as three sentences (TorchRec DLRM style, one named block each):

1. `SparseArch`: every ID feature is hashed into its table (``bucket = id mod num_buckets``;
   string IDs are hashed to ints upstream, paper §11) and embedded in `embedding_dim` = 30
   dimensions (paper §1: "30-dim ID embeddings were found optimal"). Multi-valued features are
   pooled with a masked mean that ignores the -1 padding:

       pool(E, ids) = Σ_j m_j E[ids_j] / max(1, Σ_j m_j),   m_j = [ids_j ≥ 0]

   The actor table is shared by `author_id` and `hist_author_ids` (paper A.1: Member/Actor
   table); hashtags have their own table; history actions have a small action table.
2. `DenseArch`: z-normalization with constants computed from the training examples and frozen
   in the config, ``(x - μ) / sqrt(σ² + ε)`` (paper §1 uses distribution-normalized dense
   features; frozen constants rather than batch-norm moving statistics, which would differ
   between Horovod ranks).
3. `Tower`s over ``concat(sparse, dense)``: an MLP of `tower_units` (paper: 4 × 100 base) with
   one logit per head. By default the click tower predicts click and long_dwell, the
   contribution tower like, comment, share and vote (paper §1, §9: production splits click vs
   contribution); `task_grouping` picks another split of the heads (`TASK_GROUPINGS`).

The model maps an inputs dict (`models.inputs.spec`, built with `feed_inputs`) to
``{head: logit}`` with shape [batch]. The final post score is a linear combination of the head
probabilities with the config's `score_weights` (`FeedScore`); replay and the served model
(`models.serving.saved_model`) rank by it.

Example:

    config = FeedModelConfig(embedding_dim=8, tower_units=(16, 16))
    model = FeedModel(config)
    inputs = feed_inputs(df, config)                # feature_spec.examples_to_inputs
    logits = model(inputs)                          # {"click": [n], ..., "vote": [n]}
    probabilities = predict_probabilities(model, with_position(inputs, 0))
    scores = config.final_score.score(probabilities)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd
from keras import ops

from models.inputs.spec import (
    AFFINITY_FEATURES,
    DENSE_FEATURES,
    ID_HASHES,
    INPUT_KEYS,
    examples_to_inputs,
)
from spark.schemas import LABELS
from spark.world_config import ACTIONS, CONTENT_TYPES, CONTRIBUTION_ACTIONS, PLATFORMS

CLICK_TOWER_HEADS: tuple[str, ...] = ("click", "long_dwell")
CONTRIBUTION_TOWER_HEADS: tuple[str, ...] = ("like", "comment", "share", "vote")
# task_grouping -> ((tower name, its heads), ...); every head in exactly one tower (paper §9)
TASK_GROUPINGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    # production (paper §1): click tower vs contribution tower
    "click_contribution": (
        ("click", CLICK_TOWER_HEADS),
        ("contribution", CONTRIBUTION_TOWER_HEADS),
    ),
    # paper §9 grouping strategy, by positive rate: the frequent contributions (like, vote) share
    # a tower, the rare ones (comment, share) get their own
    "by_rate": (
        ("click", CLICK_TOWER_HEADS),
        ("like_vote", ("like", "vote")),
        ("comment_share", ("comment", "share")),
    ),
    # hard parameter sharing (the paper's Table 1 baseline): one tower for every head
    "shared": (("shared", tuple(LABELS)),),
}
# the default final score: the contribution heads, equally weighted (what replay measures)
CONTRIBUTION_SCORE_WEIGHTS: tuple[tuple[str, float], ...] = tuple(
    (head, 1.0) for head in CONTRIBUTION_ACTIONS
)

# single-valued ID feature -> the config field holding its table size
_SCALAR_TABLES: dict[str, str] = {
    "member_id": "member_buckets",
    "author_id": "actor_buckets",
    "content_type": "content_type_buckets",
    "platform": "platform_buckets",
    "seniority": "seniority_buckets",
    "industry": "industry_buckets",
    "country": "country_buckets",
    "position": "position_buckets",
    "hour": "hour_buckets",
}
# embedded features in concatenation order; the pooled ones follow the scalar ones
SPARSE_FEATURES: tuple[str, ...] = (
    *_SCALAR_TABLES,
    "hashtag_ids",
    "hist_author_ids",
    "hist_actions",
)
_EPSILON = 1e-6
_POSITIVE_INTS = frozenset(
    {
        "embedding_dim",
        "cross_layers",
        "cross_projection_dim",
        "calibration_buckets",
        "qr_collisions",
        "history_max_length",
    }
)
# the block choices of a config saved before the blocks were selectable
_LEGACY_BLOCKS = {"history_pooling": "mean", "affinity": "none", "interaction": "none"}
# paper §3.5 "LMLP": the largest offline Feed MLP, 4 layers × 3500 units (`--tower-units large`)
LARGE_TOWER_UNITS: tuple[int, ...] = (3500, 3500, 3500, 3500)
# heads of the history Transformer (NOT CONFIRMED by the paper); `embedding_dim` must divide
_TRANSFORMER_HEADS = 2
# history steps the Transformer returns besides its max-pooled token (paper §6: the last 5)
_TRANSFORMER_LAST_STEPS = 5


@dataclasses.dataclass(frozen=True)
class FeedModelConfig:
    """Architecture of the feed model; every field round-trips through `to_dict`/`from_dict`.

    Args:
        embedding_dim: width of every ID embedding (paper §1: 30).
        tower_units: hidden units of each tower's MLP (paper §1 base: 4 layers × 100).
        member_buckets: hash buckets of the viewer (member_id) table.
        actor_buckets: hash buckets of the actor table shared by author_id and hist_author_ids.
        hashtag_buckets: hash buckets of the hashtag table.
        content_type_buckets, platform_buckets: vocabulary sizes (`CONTENT_TYPES`, `PLATFORMS`).
        seniority_buckets, industry_buckets, country_buckets, position_buckets, hour_buckets:
            table sizes of the small categorical features (values are taken mod the size).
        action_buckets: table size of the history actions (`ACTIONS`).
        dense_mean, dense_variance: per-column normalization constants of `DENSE_FEATURES`,
            from `feature_spec.dense_moments` over the full training examples.
        history_pooling: extra history vectors, a key of `HISTORY_POOLINGS`.
        affinity: candidate-in-history dense features, a key of `AFFINITY_ARCHS`.
        interaction: block between the features and the towers, a key of `INTERACTIONS`.
        cross_layers, cross_projection_dim: layers and rank r of the "cross" and
            "residual_dcn" interactions (paper §2: 2 layers).
        calibration: per-head logit calibration, a key of `CALIBRATIONS` (paper §3).
        calibration_buckets, calibration_step: isotonic buckets and their width; the
            calibrated range is [-8, -8 + buckets · step] (NOT CONFIRMED by the paper).
        tower: tower MLP, a key of `TOWERS` ("gated": Dense Gating on every hidden layer,
            paper §4). For the paper's large MLP use `tower_units=LARGE_TOWER_UNITS`.
        id_embedding: member/actor tables, a key of `ID_EMBEDDINGS` ("qr": quotient-remainder
            tables, paper §11).
        qr_collisions: m, rows of the QR remainder tables (≤ member and actor buckets).
        history_max_length: longest history the "transformer" pooling accepts (≥ 5, the last
            steps it outputs).
        task_grouping: how the heads are split into towers, a key of `TASK_GROUPINGS`.
        score_weights: (head, weight) pairs of the final score Σ_h w_h · P(h) (`FeedScore`).
        id_hash: how raw member/author IDs become model IDs, one of `feature_spec.ID_HASHES`
            ("murmur": MurmurHash of "member:1234"-style strings; the served model then takes
            string IDs).
    """

    embedding_dim: int = 30
    tower_units: tuple[int, ...] = (100, 100, 100, 100)
    member_buckets: int = 50_000
    actor_buckets: int = 20_000
    hashtag_buckets: int = 5_000
    content_type_buckets: int = len(CONTENT_TYPES)
    platform_buckets: int = len(PLATFORMS)
    seniority_buckets: int = 16
    industry_buckets: int = 64
    country_buckets: int = 64
    position_buckets: int = 64
    hour_buckets: int = 24
    action_buckets: int = len(ACTIONS)
    dense_mean: tuple[float, ...] = (0.0,) * len(DENSE_FEATURES)
    dense_variance: tuple[float, ...] = (1.0,) * len(DENSE_FEATURES)
    history_pooling: str = "target_attention"
    affinity: str = "log_counts"
    interaction: str = "dot"
    cross_layers: int = 2
    cross_projection_dim: int = 32
    calibration: str = "none"
    calibration_buckets: int = 160
    calibration_step: float = 0.1
    tower: str = "mlp"
    id_embedding: str = "hashed"
    qr_collisions: int = 1000
    history_max_length: int = 100
    task_grouping: str = "click_contribution"
    score_weights: tuple[tuple[str, float], ...] = CONTRIBUTION_SCORE_WEIGHTS
    id_hash: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "score_weights", tuple((str(h), float(w)) for h, w in self.score_weights)
        )
        FeedScore(self.score_weights)  # validates the weights
        object.__setattr__(self, "tower_units", tuple(int(u) for u in self.tower_units))
        object.__setattr__(self, "dense_mean", tuple(float(m) for m in self.dense_mean))
        object.__setattr__(self, "dense_variance", tuple(float(v) for v in self.dense_variance))
        object.__setattr__(self, "calibration_step", float(self.calibration_step))
        for field in dataclasses.fields(self):
            if field.name.endswith("_buckets") or field.name in _POSITIVE_INTS:
                value = getattr(self, field.name)
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(
                        f"`{field.name}` must be a positive integer. "
                        f"Received: {field.name}={value!r}"
                    )
        if not self.tower_units or any(u <= 0 for u in self.tower_units):
            raise ValueError(
                "`tower_units` must be a non-empty tuple of positive integers. "
                f"Received: tower_units={self.tower_units}"
            )
        for name, choices in (
            ("history_pooling", HISTORY_POOLINGS),
            ("affinity", AFFINITY_ARCHS),
            ("interaction", INTERACTIONS),
            ("calibration", CALIBRATIONS),
            ("tower", TOWERS),
            ("id_embedding", ID_EMBEDDINGS),
            ("task_grouping", TASK_GROUPINGS),
            ("id_hash", ID_HASHES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"`{name}` must be one of {sorted(choices)}. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        for name in ("dense_mean", "dense_variance"):
            value = getattr(self, name)
            if len(value) != len(DENSE_FEATURES):
                raise ValueError(
                    f"`{name}` needs one value per dense feature {DENSE_FEATURES}. "
                    f"Received: {name}={value}"
                )
            if not all(math.isfinite(v) for v in value):
                raise ValueError(f"`{name}` must be finite. Received: {name}={value}")
        if not (math.isfinite(self.calibration_step) and self.calibration_step > 0):
            raise ValueError(
                "`calibration_step` must be positive and finite. "
                f"Received: calibration_step={self.calibration_step}"
            )
        if self.id_embedding == "qr" and self.qr_collisions > min(
            self.member_buckets, self.actor_buckets
        ):
            raise ValueError(
                "`qr_collisions` must not exceed `member_buckets` or `actor_buckets` with "
                f'id_embedding="qr". Received: qr_collisions={self.qr_collisions}, '
                f"member_buckets={self.member_buckets}, actor_buckets={self.actor_buckets}"
            )
        if (
            self.history_pooling == "transformer"
            and self.history_max_length < _TRANSFORMER_LAST_STEPS
        ):
            raise ValueError(
                f"`history_max_length` must be at least {_TRANSFORMER_LAST_STEPS} with "
                f'history_pooling="transformer" (it outputs the last {_TRANSFORMER_LAST_STEPS} '
                f"steps). Received: history_max_length={self.history_max_length}"
            )
        if self.history_pooling == "transformer" and self.embedding_dim % _TRANSFORMER_HEADS:
            raise ValueError(
                f"`embedding_dim` must be divisible by {_TRANSFORMER_HEADS} with history_pooling="
                f'"transformer". Received: embedding_dim={self.embedding_dim}'
            )
        if any(v < 0 for v in self.dense_variance):
            raise ValueError(
                f"`dense_variance` must be non-negative. Received: dense_variance="
                f"{self.dense_variance}"
            )

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        out = dataclasses.asdict(self)
        for name in ("tower_units", "dense_mean", "dense_variance"):
            out[name] = list(out[name])
        out["score_weights"] = [[head, weight] for head, weight in self.score_weights]
        return out

    @property
    def final_score(self) -> FeedScore:
        """The final post score Σ_h w_h · P(h) with this config's `score_weights`."""
        return FeedScore(self.score_weights)

    @classmethod
    def from_dict(cls, values: Mapping) -> FeedModelConfig:
        """Inverse of `to_dict`; unknown keys raise ValueError naming them.

        Block fields missing from `values` (configs saved before those blocks existed) take the
        value that reproduces the original architecture, so older saved models still load.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown FeedModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**{**_LEGACY_BLOCKS, **values})


@dataclasses.dataclass(frozen=True)
class FeedScore:
    """Final post score as a linear combination of head probabilities (paper §1, §9).

        score = Σ_h w_h · P(h)

    The paper states that the final score is a linear combination but gives no weights (NOT
    CONFIRMED). The default is this project's choice for its replay objective: the contribution
    heads, equally weighted (for rare, roughly independent actions Σ_k P(k) ≈ P(any
    contribution)). Set `FeedModelConfig.score_weights` (or `--score-weights` at a cold start)
    to rank by another mix, e.g. ``(("click", 0.5), ("like", 1.0), ("comment", 2.0))``.

    Args:
        weights: (head, weight) pairs; heads from `LABELS`, each at most once, weights finite.
    """

    weights: tuple[tuple[str, float], ...] = CONTRIBUTION_SCORE_WEIGHTS

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("`weights` must name at least one head. Received: weights=()")
        heads = [head for head, _ in self.weights]
        for head, weight in self.weights:
            if head not in LABELS:
                raise ValueError(
                    f"unknown head `{head}` in the score weights; heads: {LABELS}. "
                    f"Received: weights={self.weights}"
                )
            if not math.isfinite(weight):
                raise ValueError(
                    f"the score weight of `{head}` must be finite. Received: {head}={weight}"
                )
        if len(set(heads)) != len(heads):
            raise ValueError(f"each head may appear once in `weights`. Received: weights={heads}")

    def score(self, probabilities: Mapping[str, np.ndarray]) -> np.ndarray:
        """Σ_h w_h · P(h) per example, as float64 [n]."""
        total = None
        for head, weight in self.weights:
            term = weight * np.asarray(probabilities[head], dtype=np.float64)
            total = term if total is None else total + term
        return total


def _hash_ids(ids, num_buckets: int):
    """(bucket index, mask) of an ID tensor; -1 padding maps to bucket 0 with mask 0."""
    mask = ops.greater_equal(ids, 0)
    buckets = ops.where(mask, ops.mod(ids, num_buckets), ops.zeros_like(ids))
    return ops.cast(buckets, "int32"), ops.cast(mask, "float32")


def _masked_mean(embeddings, mask):
    """Σ_j m_j e_j / max(1, Σ_j m_j) over axis 1: [b, l, d], [b, l] -> [b, d]."""
    mask = ops.expand_dims(mask, -1)
    total = ops.sum(embeddings * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), 1.0)
    return total / count


def _masked_softmax_pool(query, keys, mask):
    """Target attention: Σ_j α_j k_j with α = softmax_j(qᵀk_j / √d) over the unmasked j.

    [b, d], [b, l, d], [b, l] -> [b, d]; an all-padding row pools to zeros.
    """
    dim = ops.cast(ops.shape(keys)[-1], "float32")
    scores = ops.sum(keys * ops.expand_dims(query, 1), axis=-1) / ops.sqrt(dim)
    scores = ops.where(mask > 0, scores, ops.full_like(scores, -1e9))
    weights = ops.softmax(scores, axis=-1) * mask
    return ops.sum(keys * ops.expand_dims(weights, -1), axis=1)


def _hashed_table(num_buckets: int, config: FeedModelConfig, name: str) -> keras.layers.Layer:
    """One row per hash bucket: `keras.layers.Embedding(num_buckets, embedding_dim)`."""
    return keras.layers.Embedding(num_buckets, config.embedding_dim, name=name)


def _qr_table(num_buckets: int, config: FeedModelConfig, name: str) -> keras.layers.Layer:
    """Quotient-remainder tables, sum-combined (paper §11): ⌈N/m⌉ + m rows instead of N."""
    from models.layers.qr_embedding import QREmbedding

    return QREmbedding(num_buckets, config.qr_collisions, config.embedding_dim, name=name)


# id_embedding -> factory of the member and actor tables (the small tables stay plain)
ID_EMBEDDINGS = {
    "hashed": _hashed_table,
    "qr": _qr_table,
}


@keras.saving.register_keras_serializable(package="lirank")
class MeanHistory(keras.layers.Layer):
    """No history vectors beyond the masked means of `SparseArch`."""

    num_vectors = 0

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)

    def build(self, embedding_dim: int) -> None:
        self.built = True

    def call(self, author, items, mask, actions):
        return []


@keras.saving.register_keras_serializable(package="lirank")
class TargetAttentionHistory(MeanHistory):
    """The history authors pooled by attention to the candidate's author (one vector):

        Σ_j softmax_j(e_authorᵀ e_j / √d) e_j

    a one-head, parameter-free version of the candidate-aware history encoding of paper §6 / DIN.
    """

    num_vectors = 1

    def call(self, author, items, mask, actions):
        return [_masked_softmax_pool(author, items, mask)]


@keras.saving.register_keras_serializable(package="lirank")
class TransformerHistory(MeanHistory):
    """History Transformer (paper §6, "TransAct"): 1 + 5 vectors of `embedding_dim`.

    Each step is [history author ; action ; candidate author] (early fusion), projected to
    `embedding_dim`, through 2 encoder layers with FFN width embedding_dim / 2; the outputs are
    the max-pooled token and the last 5 valid steps (`HistoryTransformerEncoder`), each split
    into its own vector so that the "dot" interaction crosses them with every other feature.
    Positions count from the start of the (front-padded) sequence; 2 heads (NOT CONFIRMED).
    """

    num_vectors = 1 + _TRANSFORMER_LAST_STEPS

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from models.layers.history_encoder import HistoryTransformerEncoder

        config = config or FeedModelConfig()
        self.embedding_dim = config.embedding_dim
        self.encoder = HistoryTransformerEncoder(
            max_length=config.history_max_length,
            model_dim=config.embedding_dim,
            num_heads=_TRANSFORMER_HEADS,
            num_layers=2,
            num_last_steps=_TRANSFORMER_LAST_STEPS,
            name="encoder",
        )

    def build(self, embedding_dim: int) -> None:
        sequence = (None, None, embedding_dim)
        self.encoder.build(sequence, sequence, (None, embedding_dim), (None, None))
        self.built = True

    def call(self, author, items, mask, actions):
        encoded = self.encoder(items, actions, author, padding_mask=mask)
        dim = self.embedding_dim
        return [encoded[:, i * dim : (i + 1) * dim] for i in range(self.num_vectors)]


# history_pooling -> the block adding history vectors (of the candidate author, the history
# author embeddings, their mask and the history action embeddings)
HISTORY_POOLINGS = {
    "mean": MeanHistory,
    "target_attention": TargetAttentionHistory,
    "transformer": TransformerHistory,
}


@keras.saving.register_keras_serializable(package="lirank")
class SparseArch(keras.layers.Layer):
    """Hashed ID embeddings, pooled: inputs dict -> list of [batch, embedding_dim] vectors.

    Scalar IDs are looked up directly; hashtags, history authors and history actions are pooled
    with a -1-masked mean (see the module docstring): 12 vectors in `SPARSE_FEATURES` order.
    The `history_pooling` block appends its history vectors (`HISTORY_POOLINGS`); the
    `id_embedding` factory builds the member and actor tables (`ID_EMBEDDINGS`).
    """

    def __init__(self, config: FeedModelConfig, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config
        dim = config.embedding_dim
        id_table = ID_EMBEDDINGS[config.id_embedding]
        self.tables = {
            name: (
                id_table(config.member_buckets, config, f"{name}_embedding")
                if name == "member_id"
                else keras.layers.Embedding(getattr(config, field), dim, name=f"{name}_embedding")
            )
            for name, field in _SCALAR_TABLES.items()
            if name != "author_id"
        }
        # Member/Actor table (paper A.1): the post's author and the history authors share it.
        self.actor_table = id_table(config.actor_buckets, config, "actor_embedding")
        self.hashtag_table = keras.layers.Embedding(
            config.hashtag_buckets, dim, name="hashtag_embedding"
        )
        self.action_table = keras.layers.Embedding(
            config.action_buckets, dim, name="action_embedding"
        )
        self.history_arch = HISTORY_POOLINGS[config.history_pooling](config, name="history_arch")

    @property
    def num_vectors(self) -> int:
        return len(SPARSE_FEATURES) + self.history_arch.num_vectors

    @property
    def output_dim(self) -> int:
        return self.num_vectors * self.config.embedding_dim

    def build(self, input_shape=None) -> None:
        for layer in [*self.tables.values(), self.actor_table, self.hashtag_table]:
            layer.build((None,))
        self.action_table.build((None,))
        self.history_arch.build(self.config.embedding_dim)

    def call(self, inputs):
        config = self.config
        pooled = []
        for name, field in _SCALAR_TABLES.items():
            table = self.actor_table if name == "author_id" else self.tables[name]
            index, _ = _hash_ids(inputs[name], getattr(config, field))
            pooled.append(table(index))
        history = {}
        for name, table, buckets in (
            ("hashtag_ids", self.hashtag_table, config.hashtag_buckets),
            ("hist_author_ids", self.actor_table, config.actor_buckets),
            ("hist_actions", self.action_table, config.action_buckets),
        ):
            index, mask = _hash_ids(inputs[name], buckets)
            history[name] = (table(index), mask)
            pooled.append(_masked_mean(*history[name]))
        author = pooled[SPARSE_FEATURES.index("author_id")]
        items, mask = history["hist_author_ids"]
        return pooled + self.history_arch(author, items, mask, history["hist_actions"][0])

    def get_config(self) -> dict:
        return {**super().get_config(), "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> SparseArch:
        config = dict(config)
        return cls(FeedModelConfig.from_dict(config.pop("config")), **config)


def _no_affinity(affinity):
    return []


def _log_counts(affinity):
    return [ops.cast(affinity, "float32")]


# affinity -> (dense columns added to the tower input, function of the `affinity` input array)
AFFINITY_ARCHS = {
    "none": (0, _no_affinity),
    "log_counts": (len(AFFINITY_FEATURES), _log_counts),
}


@keras.saving.register_keras_serializable(package="lirank")
class FlatInteraction(keras.layers.Layer):
    """No explicit interaction: the tower input is the concatenated features themselves."""

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        self.built = True

    def call(self, vectors, flat):
        return flat


@keras.saving.register_keras_serializable(package="lirank")
class DotInteraction(keras.layers.Layer):
    """DLRM pairwise interaction: the features plus every dot product of two pooled embeddings.

        out = concat(flat, [⟨e_i, e_j⟩ for i < j])        (F vectors -> F(F-1)/2 dot products)

    With member-side vectors (member, hist-authors, hist-actions, seniority, platform ...) and
    post-side ones (author, hashtags, content type ...) in one space, ⟨hist, hashtags⟩ is the
    member-interest × post-topic match and ⟨seniority, content type⟩ a categorical cross, which
    an MLP over concatenated embeddings only approximates (DLRM; paper §2 keeps the dot/DCN
    interaction in front of the towers).
    """

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim + num_vectors * (num_vectors - 1) // 2

    def build(self, num_vectors: int, flat_dim: int) -> None:
        rows, cols = np.triu_indices(num_vectors, k=1)
        self._pairs = (rows * num_vectors + cols).astype("int32")
        self.built = True

    def call(self, vectors, flat):
        stacked = ops.stack(vectors, axis=1)  # [b, F, d]
        gram = ops.matmul(stacked, ops.transpose(stacked, (0, 2, 1)))  # [b, F, F]
        count = len(vectors)
        dots = ops.take(ops.reshape(gram, (-1, count * count)), self._pairs, axis=1)
        return ops.concatenate([flat, dots], axis=-1)


@keras.saving.register_keras_serializable(package="lirank")
class CrossInteraction(keras.layers.Layer):
    """DCNv2 over the features (paper §2: 2 low-rank cross layers before the towers).

    x_{l+1} = x₀ ⊙ (U_l V_lᵀ x_l + b_l) + x_l,   out = x_L
    """

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from models.layers.cross import LowRankCross

        config = config or FeedModelConfig()
        self.layers_ = [
            LowRankCross(projection_dim=config.cross_projection_dim, name=f"cross_{i}")
            for i in range(config.cross_layers)
        ]

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        for layer in self.layers_:
            layer.build((None, flat_dim), (None, flat_dim))
        self.built = True

    def call(self, vectors, flat):
        x = flat
        for layer in self.layers_:
            x = layer(flat, x)
        return x


@keras.saving.register_keras_serializable(package="lirank")
class ResidualDCNInteraction(keras.layers.Layer):
    """Residual DCN over the features (paper §2, Table 6 "RDCN"): a low-rank cross stack and an
    attention low-rank cross stack in parallel on x₀ = the features, summed (`ResidualDCN`):

        out = x^c_L + x^a_L,   L = `cross_layers` (2), rank r = `cross_projection_dim`
    """

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from models.layers.residual_dcn import ResidualDCN

        config = config or FeedModelConfig()
        self.dcn = ResidualDCN(
            projection_dim=config.cross_projection_dim, num_layers=config.cross_layers, name="dcn"
        )

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        self.dcn.build((None, flat_dim))
        self.built = True

    def call(self, vectors, flat):
        return self.dcn(flat)


# interaction -> the block between the features and the towers
INTERACTIONS = {
    "none": FlatInteraction,
    "dot": DotInteraction,
    "cross": CrossInteraction,
    "residual_dcn": ResidualDCNInteraction,
}


@keras.saving.register_keras_serializable(package="lirank")
class DenseArch(keras.layers.Layer):
    """Frozen z-normalization of the dense features: [batch, k] -> [batch, k].

        x̂ = (x - μ) / sqrt(σ² + ε)

    μ and σ² are config constants, so every replica and every serving host normalizes alike.
    """

    def __init__(
        self, mean: tuple[float, ...], variance: tuple[float, ...], epsilon: float = _EPSILON, **kw
    ) -> None:
        super().__init__(**kw)
        if len(mean) != len(variance):
            raise ValueError(
                f"`mean` and `variance` must have the same length. Received: {mean}, {variance}"
            )
        self.mean = tuple(float(m) for m in mean)
        self.variance = tuple(float(v) for v in variance)
        self.epsilon = float(epsilon)

    def call(self, dense):
        mean = ops.convert_to_tensor(np.asarray(self.mean, dtype="float32"))
        scale = ops.convert_to_tensor(
            1.0 / np.sqrt(np.asarray(self.variance, dtype="float64") + self.epsilon)
        )
        return (ops.cast(dense, "float32") - mean) * ops.cast(scale, "float32")

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "mean": list(self.mean),
            "variance": list(self.variance),
            "epsilon": self.epsilon,
        }


@keras.saving.register_keras_serializable(package="lirank")
class Tower(keras.layers.Layer):
    """MLP with one logit per head: [batch, d] -> {head: [batch]}.

    h_0 = x,  h_{l+1} = ReLU(W_l h_l + b_l),  logit_h = w_hᵀ h_L + b_h
    """

    def __init__(self, units: tuple[int, ...], heads: tuple[str, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        if not units or any(int(u) <= 0 for u in units):
            raise ValueError(f"`units` must be positive integers. Received: units={units}")
        if not heads:
            raise ValueError("`heads` must name at least one head. Received: heads=()")
        self.units = tuple(int(u) for u in units)
        self.heads = tuple(heads)
        self.hidden = self._hidden_layers()
        self.logits = keras.layers.Dense(len(self.heads), name="logits")

    def _hidden_layers(self) -> list[keras.layers.Layer]:
        return [
            keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
            for i, u in enumerate(self.units)
        ]

    def build(self, input_shape) -> None:
        width = input_shape[-1]
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.compute_output_shape((None, width))[-1]
        self.logits.build((None, width))

    def call(self, x):
        for layer in self.hidden:
            x = layer(x)
        logits = self.logits(x)
        return {head: logits[:, i] for i, head in enumerate(self.heads)}

    def get_config(self) -> dict:
        return {**super().get_config(), "units": list(self.units), "heads": list(self.heads)}


@keras.saving.register_keras_serializable(package="lirank")
class GatedTower(Tower):
    """Tower whose hidden layers are each gated (paper §4, Dense Gating; `GatedMLP`):

    h_{l+1} = g_l(ReLU(W_l h_l + b_l)),   g_l(h) = h ⊙ σ(W_g h + b_g)
    logit_h = w_hᵀ h_L + b_h
    """

    def _hidden_layers(self) -> list[keras.layers.Layer]:
        from models.layers.dense_gating import GatedMLP

        return [GatedMLP(units=self.units, gated=True, name="hidden")]


# tower -> the MLP class of both towers
TOWERS = {
    "mlp": Tower,
    "gated": GatedTower,
}


@keras.saving.register_keras_serializable(package="lirank")
class NoCalibration(keras.layers.Layer):
    """The head logits unchanged."""

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)

    def build(self, calibration_dim: int) -> None:
        self.built = True

    def call(self, logits, calibration_features):
        return logits


@keras.saving.register_keras_serializable(package="lirank")
class IsotonicHeads(NoCalibration):
    """One isotonic calibration layer per head on its logit (paper §3, Eq. 1):

        y_cali = Σ_i ReLU(w_i + e_i) · v_i(y) + lower_bound + b,   e = Dense([e_platform ; e_type])

    The calibration features are the platform and content-type embeddings (paper: device and
    channel). Each map is monotone in the logit and starts as the identity on
    [-8, -8 + buckets · step]; logits outside are clipped.
    """

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        from models.layers.isotonic import IsotonicCalibration

        config = config or FeedModelConfig()
        self.heads = {
            head: IsotonicCalibration(
                config.calibration_buckets, config.calibration_step, name=f"{head}_isotonic"
            )
            for head in LABELS
        }

    def build(self, calibration_dim: int) -> None:
        for layer in self.heads.values():
            layer.build((None,), (None, calibration_dim))
        self.built = True

    def call(self, logits, calibration_features):
        return {
            head: self.heads[head](logit, calibration_features) for head, logit in logits.items()
        }


# calibration -> the block applied to the head logits (with the calibration features)
CALIBRATIONS = {
    "none": NoCalibration,
    "isotonic": IsotonicHeads,
}
# sparse vectors that form the calibration features
CALIBRATION_FEATURES: tuple[str, ...] = ("platform", "content_type")


@keras.saving.register_keras_serializable(package="lirank")
class FeedModel(keras.Model):
    """Multi-task feed ranker: inputs dict -> {head: logit [batch]} for the six `LABELS`.

    Weights are created at construction (shapes depend only on the config), so a fresh model,
    a `from_config` copy and a loaded `.keras` file all have the same variables in the same order.
    Every architecture choice of the config selects one named block from a registry.
    """

    def __init__(self, config: FeedModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config or FeedModelConfig()
        self.sparse_arch = SparseArch(self.config, name="sparse_arch")
        self.dense_arch = DenseArch(
            self.config.dense_mean, self.config.dense_variance, name="dense_arch"
        )
        self.affinity_dim, self.affinity_arch = AFFINITY_ARCHS[self.config.affinity]
        self.interaction_arch = INTERACTIONS[self.config.interaction](
            self.config, name="interaction_arch"
        )
        tower = TOWERS[self.config.tower]
        # one attribute per tower, `<group>_tower`: the weight paths of saved models stay stable
        names = []
        for group, heads in TASK_GROUPINGS[self.config.task_grouping]:
            names.append(f"{group}_tower")
            setattr(self, names[-1], tower(self.config.tower_units, heads, name=names[-1]))
        self._tower_names = tuple(names)
        self.calibration_arch = CALIBRATIONS[self.config.calibration](
            self.config, name="calibration_arch"
        )
        self._calibration_index = [SPARSE_FEATURES.index(f) for f in CALIBRATION_FEATURES]
        self.build(None)

    def build(self, input_shape=None) -> None:
        self.sparse_arch.build(None)
        self.dense_arch.build((None, len(DENSE_FEATURES)))
        num_vectors = self.sparse_arch.num_vectors
        flat = self.sparse_arch.output_dim + len(DENSE_FEATURES) + self.affinity_dim
        self.interaction_arch.build(num_vectors, flat)
        width = self.interaction_arch.output_dim(num_vectors, flat)
        for tower in self.towers:
            tower.build((None, width))
        self.calibration_arch.build(len(CALIBRATION_FEATURES) * self.config.embedding_dim)

    def call(self, inputs, training=False):
        vectors = self.sparse_arch(inputs)
        dense = [self.dense_arch(inputs["dense"]), *self.affinity_arch(inputs["affinity"])]
        features = self.interaction_arch(vectors, ops.concatenate([*vectors, *dense], axis=-1))
        logits = {head: logit for tower in self.towers for head, logit in tower(features).items()}
        logits = {head: logits[head] for head in LABELS}
        calibration = ops.concatenate([vectors[i] for i in self._calibration_index], axis=-1)
        return self.calibration_arch(logits, calibration)

    @property
    def towers(self) -> list[keras.layers.Layer]:
        """The towers of `task_grouping`, in its order."""
        return [getattr(self, name) for name in self._tower_names]

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> FeedModel:
        config = dict(config)
        return cls(FeedModelConfig.from_dict(config.pop("config")), **config)


def feed_inputs(df: pd.DataFrame, config: FeedModelConfig) -> dict[str, np.ndarray]:
    """The model inputs of TRAINING_EXAMPLE rows for a model of `config` (its `id_hash`)."""
    return examples_to_inputs(df, id_hash=config.id_hash)


def predict_probabilities(
    model: keras.Model, inputs: Mapping[str, np.ndarray], batch_size: int = 4096
) -> dict[str, np.ndarray]:
    """Sigmoid of every head's logit, in batches: {head: float32 [n]}.

    For ranking, pass `feature_spec.with_position(inputs, 0)` (position debiasing).
    """
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    missing = [k for k in INPUT_KEYS if k not in inputs]
    if missing:
        raise ValueError(f"inputs are missing {missing}; build them with examples_to_inputs")
    n = len(inputs["dense"])
    chunks: dict[str, list[np.ndarray]] = {head: [] for head in LABELS}
    for start in range(0, n, batch_size):
        batch = {key: np.asarray(inputs[key])[start : start + batch_size] for key in INPUT_KEYS}
        logits = model(batch, training=False)
        for head in LABELS:
            chunks[head].append(ops.convert_to_numpy(ops.sigmoid(logits[head])))
    return {
        head: (np.concatenate(parts) if parts else np.zeros(0)).astype(np.float32)
        for head, parts in chunks.items()
    }
