"""The feed second-pass ranker (paper §1, §9): ID embeddings + dense features -> task towers.

Written with `keras.ops` only, so the model runs on the TensorFlow, JAX or PyTorch backend. The
forward pass is a composition of named blocks (TorchRec DLRM style), each chosen by the config:

1. `SparseArch` embeds the 12 ID features (`SPARSE_FEATURES`) in `embedding_dim` = 30 (paper §1)
   and the history block adds vectors attending over the member's history (paper §6).
2. `DenseArch` z-normalizes the dense features with frozen constants; the affinity block adds
   the candidate-in-history counts.
3. The interaction block crosses the features (paper §2: DCNv2 / DLRM dot products).
4. The multi-task block gives each tower its input (paper §9: hard sharing, MMoE or PLE).
5. The `Tower`s give one logit per head (paper §1: a click tower for click and long_dwell, a
   contribution tower for like, comment, share and vote; `task_grouping` picks another split).
6. The calibration block maps each logit through a co-trained isotonic layer (paper §3).

The model maps an inputs dict (`models.inputs.spec`, built with `feed_inputs`) to
``{head: logit}`` with shape [batch]; `FEED_TASKS` is its training loss. The final post score is
a linear combination of the head probabilities with the config's `score_weights` (`FeedScore`).

Example:

    config = config_for(df, FeedModelConfig(embedding_dim=8, tower_units=(16, 16)))
    model = FeedModel(config)
    inputs = feed_inputs(df, config)
    logits = model(inputs)                          # {"click": [n], ..., "long_dwell": [n]}
    loss = model.tasks.loss(logits, labels_from(df))
    probabilities = predict_probabilities(model, with_position(inputs, 0))
    scores = config.final_score.score(probabilities)
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd
from keras import ops

from models.compression.schemes import QuantizationScheme
from models.feed.calibration import CALIBRATION_FEATURES, CALIBRATIONS
from models.feed.config import TASK_GROUPINGS, FeedModelConfig
from models.feed.dense import AFFINITY_ARCHS, DenseArch
from models.feed.history import HISTORY_ITEMS, HISTORY_POOLINGS, history_items
from models.feed.interactions import INTERACTIONS
from models.feed.multitask import MULTITASKS
from models.feed.sparse import EmbeddingTable, SparseArch
from models.feed.towers import TOWERS, Tower
from models.inputs.spec import DENSE_FEATURES, INPUT_KEYS, examples_to_inputs
from models.tasks import RankingTasks
from spark.schemas import LABELS

# embedded features, in the order of the model's embedding vectors
SPARSE_FEATURES: tuple[str, ...] = (
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
)
# the feed model's task: its six heads, equally weighted (paper §1, §9)
FEED_TASKS = RankingTasks(LABELS)


def embedding_tables(config: FeedModelConfig) -> tuple[EmbeddingTable, ...]:
    """The tables of `config`: member and actor tables of kind `id_embedding` (paper A.1: the
    actor table embeds the post's author and the history authors; with "unlimited" each takes
    its hash halves in `unlimited_half_buckets`, whatever its *_buckets), one row per vocabulary
    value plus the out-of-vocabulary row 0 for content type and platform, small plain tables
    for the other categorical features; a post table (candidate and history posts) last, only
    when `history_items` uses posts (so author-history models keep their weights)."""
    kind = config.id_embedding
    qr = {"qr": config.qr_collisions, "unlimited": config.unlimited_collisions}.get(kind)

    def buckets(hashed: int) -> int:
        return config.unlimited_half_buckets if kind == "unlimited" else hashed

    posts = (
        EmbeddingTable(
            "post", buckets(config.post_buckets), ("post_id", "hist_post_ids"), kind, qr
        ),
    )
    return (
        EmbeddingTable("member_id", buckets(config.member_buckets), ("member_id",), kind, qr),
        EmbeddingTable("content_type", len(config.content_types) + 1, ("content_type",)),
        EmbeddingTable("platform", len(config.platforms) + 1, ("platform",)),
        EmbeddingTable("seniority", config.seniority_buckets, ("seniority",)),
        EmbeddingTable("industry", config.industry_buckets, ("industry",)),
        EmbeddingTable("country", config.country_buckets, ("country",)),
        EmbeddingTable("position", config.position_buckets, ("position",)),
        EmbeddingTable("hour", config.hour_buckets, ("hour",)),
        EmbeddingTable(
            "actor", buckets(config.actor_buckets), ("author_id", "hist_author_ids"), kind, qr
        ),
        EmbeddingTable("hashtag", config.hashtag_buckets, ("hashtag_ids",)),
        EmbeddingTable("action", config.action_buckets, ("hist_actions",)),
        *(posts if config.uses_post_ids else ()),
    )


def _history_arch(config: FeedModelConfig) -> keras.layers.Layer:
    """The `history_pooling` block; only the Transformer takes arguments (its items are
    `history_items`: one embedding per ID of a step's item)."""
    arguments = {
        "transformer": {
            "embedding_dim": config.embedding_dim,
            "max_length": config.history_max_length,
            "item_dim": config.embedding_dim * len(HISTORY_ITEMS[config.history_items]),
        }
    }
    block = HISTORY_POOLINGS[config.history_pooling]
    return block(**arguments.get(config.history_pooling, {}), name="history_arch")


def _interaction_arch(config: FeedModelConfig) -> keras.layers.Layer:
    """The `interaction` block; the cross blocks take the cross layers and rank."""
    cross = {"layers": config.cross_layers, "projection_dim": config.cross_projection_dim}
    arguments = {"cross": cross, "residual_dcn": cross}
    block = INTERACTIONS[config.interaction]
    return block(**arguments.get(config.interaction, {}), name="interaction_arch")


def _multitask_arch(config: FeedModelConfig) -> keras.layers.Layer:
    """The `multitask` block: one input per tower of `task_grouping`."""
    num_tasks = len(TASK_GROUPINGS[config.task_grouping])
    arguments = {
        "mmoe": {"num_experts": config.experts, "expert_units": config.expert_units},
        "ple": {
            "num_shared_experts": config.experts,
            "num_task_experts": config.task_experts,
            "expert_units": config.expert_units,
        },
    }
    block = MULTITASKS[config.multitask]
    return block(num_tasks, **arguments.get(config.multitask, {}), name="multitask_arch")


def _calibration_arch(config: FeedModelConfig) -> keras.layers.Layer:
    """The `calibration` block; isotonic heads take the buckets and their width."""
    arguments = {
        "isotonic": {
            "heads": LABELS,
            "num_buckets": config.calibration_buckets,
            "step": config.calibration_step,
        }
    }
    block = CALIBRATIONS[config.calibration]
    return block(**arguments.get(config.calibration, {}), name="calibration_arch")


@keras.saving.register_keras_serializable(package="lirank")
class FeedModel(keras.Model):
    """Multi-task feed ranker: inputs dict -> {head: logit [batch]} for the six `LABELS`.

    Weights are created at construction (shapes depend only on the config), so a fresh model,
    a `from_config` copy and a loaded `.keras` file all have the same variables in the same order.
    Every architecture choice of the config selects one named block from a registry.
    `embedding_quantization` (None for a trained model) makes a post-training quantized copy:
    its tables hold int codes, filled by `models.compression.feed.compress_feed_model`.
    """

    def __init__(
        self,
        config: FeedModelConfig | None = None,
        embedding_quantization: QuantizationScheme | dict | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config or FeedModelConfig()
        config = self.config
        self.sparse_arch = SparseArch(
            embedding_tables(config),
            config.embedding_dim,
            quantization=embedding_quantization,
            name="sparse_arch",
        )
        self.history_arch = _history_arch(config)
        self.dense_arch = DenseArch(
            config.dense_mean,
            config.dense_variance,
            normalization=config.dense_normalization,
            name="dense_arch",
        )
        self.affinity_dim, self.affinity_arch = AFFINITY_ARCHS[config.affinity]
        self.interaction_arch = _interaction_arch(config)
        self.multitask_arch = _multitask_arch(config)
        # one attribute per tower, `<group>_tower`: the weight paths of saved models stay stable
        names = []
        for group, heads in TASK_GROUPINGS[config.task_grouping]:
            names.append(f"{group}_tower")
            tower = Tower(config.tower_units, heads, gated=TOWERS[config.tower], name=names[-1])
            setattr(self, names[-1], tower)
        self._tower_names = tuple(names)
        self.calibration_arch = _calibration_arch(config)
        self.build(None)

    def build(self, input_shape=None) -> None:
        dim = self.config.embedding_dim
        self.sparse_arch.build(None)
        self.history_arch.build(dim)
        self.dense_arch.build((None, len(DENSE_FEATURES)))
        flat = self.num_vectors * dim + len(DENSE_FEATURES) + self.affinity_dim
        self.interaction_arch.build(self.num_vectors, flat)
        width = self.interaction_arch.output_dim(self.num_vectors, flat)
        self.multitask_arch.build((None, width))
        width = self.multitask_arch.output_dim(width)
        for tower in self.towers:
            tower.build((None, width))
        self.calibration_arch.build(len(CALIBRATION_FEATURES) * dim)

    def call(self, inputs, training=False):
        pooled, tower_inputs = self._tower_inputs(inputs)
        logits = {
            head: logit
            for tower, x in zip(self.towers, tower_inputs, strict=True)
            for head, logit in tower(x).items()
        }
        calibration = ops.concatenate([pooled[f] for f in CALIBRATION_FEATURES], axis=-1)
        return self.calibration_arch({head: logits[head] for head in LABELS}, calibration)

    def _tower_inputs(self, inputs):
        """The pooled sparse vectors and each tower's input (everything below the towers)."""
        pooled, sequences = self.sparse_arch(inputs)
        candidate, items, mask = history_items(self.config.history_items, pooled, sequences)
        vectors = [pooled[feature] for feature in SPARSE_FEATURES]
        vectors += self.history_arch(candidate, items, mask, sequences["hist_actions"][0])
        dense = [self.dense_arch(inputs["dense"]), *self.affinity_arch(inputs["affinity"])]
        features = self.interaction_arch(vectors, ops.concatenate([*vectors, *dense], axis=-1))
        return pooled, self.multitask_arch(features)

    def last_layer_inputs(self, inputs, heads: tuple[str, ...]):
        """Z(x) of paper §7: the last hidden layer of every tower holding one of `heads`, in
        tower order, concatenated [batch, Σ width] (the input of those heads' last layer)."""
        _, tower_inputs = self._tower_inputs(inputs)
        parts = []
        for tower, x in zip(self.towers, tower_inputs, strict=True):
            if set(tower.heads) & set(heads):
                parts.append(tower.hidden_output(x))
        if not parts:
            raise ValueError(f"no tower holds any of the heads {heads}; towers: "
                             f"{[t.heads for t in self.towers]}")  # fmt: skip
        return ops.concatenate(parts, axis=-1)

    @property
    def num_vectors(self) -> int:
        """Embedding vectors the interaction sees: the sparse features and the history ones."""
        return len(SPARSE_FEATURES) + self.history_arch.num_vectors

    @property
    def towers(self) -> list[keras.layers.Layer]:
        """The towers of `task_grouping`, in its order."""
        return [getattr(self, name) for name in self._tower_names]

    @property
    def tasks(self) -> RankingTasks:
        """How this model is trained: `FEED_TASKS`."""
        return FEED_TASKS

    def get_config(self) -> dict:
        config = {"name": self.name, "config": self.config.to_dict()}
        quantization = self.sparse_arch.get_config()["quantization"]
        if quantization is not None:
            config["embedding_quantization"] = quantization
        return config

    @classmethod
    def from_config(cls, config: dict) -> FeedModel:
        config = dict(config)
        return cls(FeedModelConfig.from_dict(config.pop("config")), **config)


def feed_inputs(df: pd.DataFrame, config: FeedModelConfig) -> dict[str, np.ndarray]:
    """The model inputs of TRAINING_EXAMPLE rows for a model of `config` (`config.input_spec()`:
    its ID hashing and vocabularies)."""
    return examples_to_inputs(df, config.input_spec())


def predict_probabilities(
    model: keras.Model, inputs: Mapping[str, np.ndarray], batch_size: int = 4096
) -> dict[str, np.ndarray]:
    """Sigmoid of every head's logit, in batches: {head: float32 [n]}.

    For ranking, pass `models.inputs.spec.with_position(inputs, 0)` (position debiasing).
    """
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    missing = [k for k in INPUT_KEYS if k not in inputs]
    if missing:
        raise ValueError(f"inputs are missing {missing}; build them with feed_inputs")
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
