"""The Ads CTR model (paper §1): shared ID embeddings + dense features -> chargeability heads.

Written with `keras.ops` only (TensorFlow, JAX or PyTorch backend). Four named blocks:

1. `AdsSparseArch`: advertiser, campaign, ad and member IDs (paper: LiRank adds advertiser /
   campaign / ad ID embeddings to the no-ID GDMix baseline) are hashed into their own tables
   (``bucket = id mod num_buckets``) and embedded in `embedding_dim`; the tables are shared by
   every head. `use_ids=False` drops the block: the paper's no-ID MLP baseline, which reads the
   dense features only (the ID inputs may still be passed; they are ignored). A post-training
   quantized copy (`embedding_quantization`, paper §3.13) serves every table from 8-bit
   row-wise codes (`models.compression.ads`).
2. `AdsDenseArch`: batch normalization of the dense features (`models.ads_examples`
   `ADS_DENSE_FEATURES`: the five feature groups context, ad, member, advertiser and ad×member,
   flattened; paper §16: batch norm on numeric inputs).
3. One `CrossMLPHead` per head (paper: "chargeability-based MTL with 3 heads", each with its own
   MLP/DCNv2 interaction block) over ``concat(sparse, dense)``. The default heads are the
   chargeability groups (`spark.schemas.CHARGEABILITY_GROUPS`); the single head
   ("chargeable_click",) is the no-MTL variant that learns every ad's own chargeable click.
4. With `isotonic=True`, one `IsotonicCalibration` per head on its logit (paper §3, Eq. 1):

       y_cali = Σ_i ReLU(w_i) · v_i(y) + lower_bound + b

   co-trained with the model (identity at initialization on [−8, −8 + buckets·step]).

The model maps ``{"member_id", "advertiser_id", "campaign_id", "ad_id": int [batch],
"dense": float [batch, num_dense]}`` to ``{head: logit [batch]}`` (the calibrated logit with the
isotonic layer); train it with its task, `model.tasks` (`models.tasks.RankingTasks` of the
config's heads; `ADS_TASKS` for the default heads).

NOT CONFIRMED by the paper: the head names (our chargeability groups) and loss weights (equal),
the table sizes and widths; `head_interaction` picks "dcnv2" (2 low-rank cross layers, default) or
"mlp" per the paper's "MLP/DCNv2"; the isotonic layer has no calibration features here (the
feed's uses platform and content-type embeddings; the paper names device and channel), and its
bucket count and step are ours.

Example:

    model = AdsModel(AdsModelConfig())                      # 3 chargeability heads, isotonic
    baseline = AdsModel(AdsModelConfig(use_ids=False, heads=SINGLE_HEAD, isotonic=False,
                                       head_interaction="mlp"))
    model.compile(optimizer="adam", **model.tasks.compile_arguments())
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import keras
from keras import ops

from models.ads_examples import ADS_DENSE_FEATURES, ADS_ID_FEATURES, SINGLE_HEAD
from models.compression.schemes import QuantizationScheme
from models.heads import CrossMLPHead
from models.layers.isotonic import IsotonicCalibration
from models.layers.pooling import hash_ids
from models.layers.quantized_embedding import QuantizedEmbedding
from models.tasks import RankingTasks
from spark.schemas import CHARGEABILITY_GROUPS

__all__ = [
    "ADS_DEFAULT",
    "ADS_HEADS",
    "ADS_ID_FEATURES",
    "ADS_TASKS",
    "HEAD_INTERACTIONS",
    "SINGLE_HEAD",
    "TINY_ADS_MODEL",
    "AdsModel",
    "AdsModelConfig",
    "AdsSparseArch",
]

# one head per chargeability group (paper: 3 heads; the groups are NOT CONFIRMED by the paper)
ADS_HEADS: tuple[str, ...] = CHARGEABILITY_GROUPS
# the default heads' task: equally weighted binary cross-entropies (paper: weights NOT CONFIRMED)
ADS_TASKS = RankingTasks(ADS_HEADS)
# head_interaction -> DCNv2 layers in front of each head's MLP
HEAD_INTERACTIONS: dict[str, int] = {"mlp": 0, "dcnv2": 2}


@dataclasses.dataclass(frozen=True)
class AdsModelConfig:
    """Architecture of the Ads CTR model; round-trips through `to_dict`/`from_dict`.

    Args:
        num_dense: width of the flattened dense features (default: `ADS_DENSE_FEATURES`).
        embedding_dim: width of every ID embedding.
        id_buckets: hash buckets per ID feature, in `ADS_ID_FEATURES` order (default sized for
            the simulated worlds: 2^16 members, 2^12 advertisers and campaigns, 2^14 ads; the
            world's ids are consecutive, so fewer ids than buckets never collide).
        heads: one head each; default the chargeability groups, `SINGLE_HEAD` for no MTL.
        use_ids: False drops the ID embeddings (the paper's no-ID GDMix-style baseline).
        isotonic: co-trained isotonic calibration of each head's logit (paper §3).
        isotonic_buckets, isotonic_step: the isotonic buckets and their width.
        head_interaction: "dcnv2" or "mlp" (`HEAD_INTERACTIONS`).
        head_units: hidden units of each head's MLP.
        projection_dim: rank r of the cross layers.
    """

    num_dense: int = len(ADS_DENSE_FEATURES)
    embedding_dim: int = 16
    id_buckets: tuple[int, ...] = (2**16, 2**12, 2**12, 2**14)
    heads: tuple[str, ...] = ADS_HEADS
    use_ids: bool = True
    isotonic: bool = True
    isotonic_buckets: int = 160
    isotonic_step: float = 0.1
    head_interaction: str = "dcnv2"
    head_units: tuple[int, ...] = (64, 32)
    projection_dim: int = 16

    def __post_init__(self) -> None:
        for name in ("id_buckets", "heads", "head_units"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("num_dense", "embedding_dim", "projection_dim", "isotonic_buckets"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        for name in ("use_ids", "isotonic"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"`{name}` must be True or False. Received: {name}={getattr(self, name)!r}"
                )
        step = self.isotonic_step
        if (
            isinstance(step, bool)
            or not isinstance(step, int | float)
            or not (math.isfinite(step) and step > 0)
        ):
            raise ValueError(
                f"`isotonic_step` must be positive and finite. Received: isotonic_step={step!r}"
            )
        object.__setattr__(self, "isotonic_step", float(step))
        if len(self.id_buckets) != len(ADS_ID_FEATURES) or any(
            isinstance(b, bool) or not isinstance(b, int) or b <= 0 for b in self.id_buckets
        ):
            raise ValueError(
                f"`id_buckets` must be one positive integer per ID feature {ADS_ID_FEATURES}. "
                f"Received: id_buckets={self.id_buckets}"
            )
        if (
            not self.heads
            or len(set(self.heads)) != len(self.heads)
            or not all(isinstance(h, str) and h for h in self.heads)
        ):
            raise ValueError(
                f"`heads` must be distinct non-empty names. Received: heads={self.heads}"
            )
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


ADS_DEFAULT = AdsModelConfig()
"""The production-like Ads model: IDs, DCNv2 heads, isotonic calibration, 3 chargeability heads."""
TINY_ADS_MODEL = AdsModelConfig(
    embedding_dim=4, id_buckets=(256, 64, 64, 256), head_units=(8,), projection_dim=4
)
"""A small Ads model for tests and tiny worlds (same blocks as `ADS_DEFAULT`)."""


@keras.saving.register_keras_serializable(package="lirank")
class AdsSparseArch(keras.layers.Layer):
    """Hashed ID embeddings: inputs dict -> [batch, len(ADS_ID_FEATURES) · embedding_dim].

    Args:
        embedding_dim: width of every table.
        id_buckets: rows of each table, in `ADS_ID_FEATURES` order.
        quantization: None (float tables), or the `QuantizationScheme` (or its dict) of a
            post-training quantized copy: every table is a `QuantizedEmbedding` (int codes plus
            a float16 offset and scale per row), filled by `models.compression.ads`.
    """

    def __init__(
        self,
        embedding_dim: int,
        id_buckets: tuple[int, ...],
        quantization: QuantizationScheme | Mapping | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(quantization, Mapping):
            quantization = QuantizationScheme(**quantization)
        self.embedding_dim = int(embedding_dim)
        self.id_buckets = tuple(int(b) for b in id_buckets)
        self.quantization = quantization
        self.tables = {
            name: (
                keras.layers.Embedding(buckets, self.embedding_dim, name=f"{name}_embedding")
                if quantization is None
                else QuantizedEmbedding(
                    buckets,
                    self.embedding_dim,
                    quantization.bits,
                    quantization.signed,
                    name=f"{name}_embedding",
                )  # fmt: skip
            )
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
            "quantization": (
                dataclasses.asdict(self.quantization) if self.quantization is not None else None
            ),
        }


@keras.saving.register_keras_serializable(package="lirank")
class AdsModel(keras.Model):
    """Ads CTR: inputs dict -> {head: logit [batch]} for each head of the config.

    Weights are created at construction (shapes depend only on the config), so a fresh model,
    a `from_config` copy and a loaded `.keras` file have the same variables in the same order.
    `embedding_quantization` (None for a trained model) makes a post-training quantized copy
    whose tables hold int codes, filled by `models.compression.ads.quantize_ads_model`.
    """

    def __init__(
        self,
        config: AdsModelConfig | None = None,
        embedding_quantization: QuantizationScheme | Mapping | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config or AdsModelConfig()
        config = self.config
        if embedding_quantization is not None and not config.use_ids:
            raise ValueError(
                "`embedding_quantization` needs ID embedding tables; this config has "
                "use_ids=False. Quantize a model with use_ids=True."
            )
        self.sparse_arch = (
            AdsSparseArch(
                config.embedding_dim,
                config.id_buckets,
                quantization=embedding_quantization,
                name="sparse_arch",
            )
            if config.use_ids
            else None
        )
        self.dense_arch = keras.layers.BatchNormalization(name="dense_arch")
        self.head_archs = {
            head: CrossMLPHead(
                config.head_units,
                HEAD_INTERACTIONS[config.head_interaction],
                config.projection_dim,
                name=f"{head}_head",
            )
            for head in config.heads
        }
        self.calibration_archs = {
            head: IsotonicCalibration(
                config.isotonic_buckets, config.isotonic_step, name=f"{head}_isotonic"
            )
            for head in (config.heads if config.isotonic else ())
        }
        self.build(None)

    def build(self, input_shape=None) -> None:
        width = self.config.num_dense
        if self.sparse_arch is not None:
            self.sparse_arch.build(None)
            width += self.sparse_arch.output_dim
        self.dense_arch.build((None, self.config.num_dense))
        for head in self.head_archs.values():
            head.build((None, width))
        for layer in self.calibration_archs.values():
            layer.build((None,))
        self.built = True

    def call(self, inputs, training=False):
        features = self.dense_arch(ops.cast(inputs["dense"], "float32"), training=training)
        if self.sparse_arch is not None:
            features = ops.concatenate([self.sparse_arch(inputs), features], axis=-1)
        logits = {head: arch(features) for head, arch in self.head_archs.items()}
        return {
            head: self.calibration_archs[head](logit) if head in self.calibration_archs else logit
            for head, logit in logits.items()
        }

    @property
    def tasks(self) -> RankingTasks:
        """How this model is trained: one binary task per head of its config."""
        return RankingTasks(self.config.heads)

    @property
    def quantization(self) -> QuantizationScheme | None:
        """The scheme of a quantized copy's tables; None for float tables (or no tables)."""
        return None if self.sparse_arch is None else self.sparse_arch.quantization

    def get_config(self) -> dict:
        config = {"name": self.name, "config": self.config.to_dict()}
        if self.quantization is not None:
            config["embedding_quantization"] = dataclasses.asdict(self.quantization)
        return config

    @classmethod
    def from_config(cls, config: dict) -> AdsModel:
        config = dict(config)
        return cls(AdsModelConfig.from_dict(config.pop("config")), **config)
