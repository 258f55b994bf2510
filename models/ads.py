"""The Ads CTR model (paper §1): shared ID embeddings + dense features -> three chargeability heads.

Written with `keras.ops` only (TensorFlow, JAX or PyTorch backend). Three named blocks:

1. `AdsSparseArch`: advertiser, campaign, ad and member IDs (paper: LiRank adds advertiser /
   campaign / ad ID embeddings to the no-ID GDMix baseline) are hashed into their own tables
   (``bucket = id mod num_buckets``) and embedded in `embedding_dim`; the tables are shared by
   every head.
2. `AdsDenseArch`: batch normalization of the dense features (the five feature groups context,
   ad, member, advertiser and ad×member, flattened; paper §16: batch norm on numeric inputs).
3. One `CrossMLPHead` per chargeability group (paper: "chargeability-based MTL with 3 heads",
   each with its own MLP/DCNv2 interaction block) over ``concat(sparse, dense)``.

The model maps ``{"member_id", "advertiser_id", "campaign_id", "ad_id": int [batch],
"dense": float [batch, num_dense]}`` to ``{head: logit [batch]}``; train it with its task,
`model.tasks` (`models.tasks.RankingTasks` of the config's heads; `ADS_TASKS` for the default
heads).

NOT CONFIRMED by the paper: the head names (the chargeable-click groups) and loss weights, the
table sizes and widths; `head_interaction` picks "dcnv2" (2 low-rank cross layers, default) or
"mlp" per the paper's "MLP/DCNv2".

Example:

    model = AdsModel(AdsModelConfig(num_dense=8))
    model.compile(optimizer="adam", **model.tasks.compile_arguments())
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
from keras import ops

from models.heads import CrossMLPHead
from models.layers.pooling import hash_ids
from models.tasks import RankingTasks

ADS_ID_FEATURES: tuple[str, ...] = ("member_id", "advertiser_id", "campaign_id", "ad_id")
# the chargeability groups, one head each (names NOT CONFIRMED by the paper)
ADS_HEADS: tuple[str, ...] = ("link_click", "lead_click", "engagement_click")
# the default heads' task: equally weighted binary cross-entropies (paper: weights NOT CONFIRMED)
ADS_TASKS = RankingTasks(ADS_HEADS)
# head_interaction -> DCNv2 layers in front of each head's MLP
HEAD_INTERACTIONS: dict[str, int] = {"mlp": 0, "dcnv2": 2}


@dataclasses.dataclass(frozen=True)
class AdsModelConfig:
    """Architecture of the Ads CTR model; round-trips through `to_dict`/`from_dict`.

    Args:
        num_dense: width of the flattened dense features.
        embedding_dim: width of every ID embedding.
        id_buckets: hash buckets per ID feature, in `ADS_ID_FEATURES` order.
        heads: the chargeability groups, one head each (default: 3, names NOT CONFIRMED).
        head_interaction: "dcnv2" or "mlp" (`HEAD_INTERACTIONS`).
        head_units: hidden units of each head's MLP.
        projection_dim: rank r of the cross layers.
    """

    num_dense: int = 16
    embedding_dim: int = 16
    id_buckets: tuple[int, ...] = (50_000, 5_000, 20_000, 100_000)
    heads: tuple[str, ...] = ADS_HEADS
    head_interaction: str = "dcnv2"
    head_units: tuple[int, ...] = (64, 32)
    projection_dim: int = 16

    def __post_init__(self) -> None:
        for name in ("id_buckets", "heads", "head_units"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("num_dense", "embedding_dim", "projection_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        if len(self.id_buckets) != len(ADS_ID_FEATURES) or any(b <= 0 for b in self.id_buckets):
            raise ValueError(
                f"`id_buckets` must be one positive size per ID feature {ADS_ID_FEATURES}. "
                f"Received: id_buckets={self.id_buckets}"
            )
        if not self.heads or len(set(self.heads)) != len(self.heads):
            raise ValueError(f"`heads` must be distinct names. Received: heads={self.heads}")
        if any(u <= 0 for u in self.head_units):
            raise ValueError(
                f"`head_units` must be positive. Received: head_units={self.head_units}"
            )
        if self.head_interaction not in HEAD_INTERACTIONS:
            raise ValueError(
                f"`head_interaction` must be one of {sorted(HEAD_INTERACTIONS)}. "
                f"Received: head_interaction={self.head_interaction!r}"
            )

    def to_dict(self) -> dict:
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: Mapping) -> AdsModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown AdsModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


@keras.saving.register_keras_serializable(package="lirank")
class AdsSparseArch(keras.layers.Layer):
    """Hashed ID embeddings: inputs dict -> [batch, len(ADS_ID_FEATURES) · embedding_dim]."""

    def __init__(self, embedding_dim: int, id_buckets: tuple[int, ...], **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding_dim = int(embedding_dim)
        self.id_buckets = tuple(int(b) for b in id_buckets)
        self.tables = {
            name: keras.layers.Embedding(buckets, self.embedding_dim, name=f"{name}_embedding")
            for name, buckets in zip(ADS_ID_FEATURES, self.id_buckets, strict=True)
        }

    @property
    def output_dim(self) -> int:
        return len(self.tables) * self.embedding_dim

    def build(self, input_shape=None) -> None:
        for table in self.tables.values():
            table.build((None,))

    def call(self, inputs):
        vectors = []
        for (name, table), buckets in zip(self.tables.items(), self.id_buckets, strict=True):
            index, _ = hash_ids(inputs[name], buckets)
            vectors.append(table(index))
        return ops.concatenate(vectors, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "id_buckets": list(self.id_buckets),
        }


@keras.saving.register_keras_serializable(package="lirank")
class AdsModel(keras.Model):
    """Ads CTR: inputs dict -> {head: logit [batch]} for each chargeability head."""

    def __init__(self, config: AdsModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config or AdsModelConfig()
        self.sparse_arch = AdsSparseArch(
            self.config.embedding_dim, self.config.id_buckets, name="sparse_arch"
        )
        self.dense_arch = keras.layers.BatchNormalization(name="dense_arch")
        self.head_archs = {
            head: CrossMLPHead(
                self.config.head_units,
                HEAD_INTERACTIONS[self.config.head_interaction],
                self.config.projection_dim,
                name=f"{head}_head",
            )
            for head in self.config.heads
        }
        self.build(None)

    def build(self, input_shape=None) -> None:
        self.sparse_arch.build(None)
        self.dense_arch.build((None, self.config.num_dense))
        width = self.sparse_arch.output_dim + self.config.num_dense
        for head in self.head_archs.values():
            head.build((None, width))

    def call(self, inputs, training=False):
        dense = self.dense_arch(ops.cast(inputs["dense"], "float32"), training=training)
        features = ops.concatenate([self.sparse_arch(inputs), dense], axis=-1)
        return {head: arch(features) for head, arch in self.head_archs.items()}

    @property
    def tasks(self) -> RankingTasks:
        """How this model is trained: one binary task per head of its config."""
        return RankingTasks(self.config.heads)

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> AdsModel:
        config = dict(config)
        return cls(AdsModelConfig.from_dict(config.pop("config")), **config)
