"""The Jobs model (paper §1, Job Search + JYMBII): shared entity embeddings -> apply and click.

Written with `keras.ops` only (TensorFlow, JAX or PyTorch backend). Three named blocks:

1. `SharedEntityEmbeddings`: every categorical field is embedded through one of **5 shared
   matrices** (title, skill, company, industry, seniority; paper: "40 categorical features go
   through 5 shared embedding matrices"), so the member's title, the job's title and the search
   query's title share rows. A field is [batch, L] ids, -1 padded, pooled with a masked mean
   (single-valued fields have L = 1). An id x uses bucket b = x mod N of its matrix (N =
   `matrix_buckets`), stored either as a full table of N rows (`embedding="hash"`, the
   uncompressed baseline) or as quotient-remainder tables (`embedding="qr"`, paper §3.12 "QR
   hashing", Shi et al. 2019): E[b] = E_Q[⌊b/m⌋] + E_R[b mod m] with ⌈N/m⌉ + m rows (m =
   `qr_collisions`; sum aggregation, the paper's best). Paper Table 10: QR gives the Jobs model
   5× fewer parameters with no AUC loss.
2. `keras.layers.BatchNormalization` over the dense features (paper §16).
3. One `CrossMLPHead` per task with a task-specific **2-layer DCNv2** (paper: "task-specific
   2-layer DCNv2 on top" of the shared embeddings), predicting P(apply) and P(click);
   `cross_layers=0` gives the "IDs + MLP" baseline of the ablation (`models.jobs_ablation`).

The model maps ``{field: int [batch, L] for field in config.fields, "dense": float [batch, k]}``
to ``{"apply": logit [batch], "click": logit [batch]}``; train it with its task `JOBS_TASKS`
(`models.tasks.RankingTasks`, also `model.tasks`). Dense Gating is not used (the paper found no
Jobs gain).

The default configuration is the production choice of paper Table 10's last row: QR-compressed
matrices and a 2-layer task-specific DCNv2. Inputs come from `models.jobs_examples` (the fields of
`DEFAULT_FIELDS` and the `JOBS_DENSE_FEATURES`).

NOT CONFIRMED by the paper: the field list (the 11 below stand for the production 40), the
dense features, matrix sizes, m (`qr_collisions`: one m for every matrix; a matrix of at most m
rows stays a full table, where QR would only add a row), widths and task loss weights.

Example:

    model = JobsModel(JobsModelConfig())
    logits = model(inputs)                       # {"apply": [n], "click": [n]}
    table_parameters(model)                      # embedding parameters (QR: ~3% of "hash")
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import keras
import numpy as np
from keras import ops
from scipy.special import expit

from models.heads import CrossMLPHead
from models.layers.pooling import hash_ids, masked_mean
from models.layers.qr_embedding import QREmbedding
from models.tasks import RankingTasks
from spark.schemas import JOB_CHANNELS

SHARED_MATRICES: tuple[str, ...] = ("title", "skill", "company", "industry", "seniority")
JOBS_HEADS: tuple[str, ...] = ("apply", "click")
# equally weighted binary cross-entropies (paper: task loss weights NOT CONFIRMED)
JOBS_TASKS = RankingTasks(JOBS_HEADS)
# (field, shared matrix): member-side, job-side and (Job Search) query-side fields
DEFAULT_FIELDS: tuple[tuple[str, str], ...] = (
    ("member_title", "title"),
    ("member_skills", "skill"),
    ("member_company", "company"),
    ("member_industry", "industry"),
    ("member_seniority", "seniority"),
    ("job_title", "title"),
    ("job_skills", "skill"),
    ("job_company", "company"),
    ("job_industry", "industry"),
    ("job_seniority", "seniority"),
    ("query_title", "title"),
)
# The platforms one-hot encoded among the dense features: the world's (`spark.world.config.
# PLATFORMS`); a user's logs may hold others, which encode as all zeros.
JOBS_PLATFORMS: tuple[str, ...] = ("web", "ios", "android")
# The dense features, in the order of the model's "dense" input (`models.jobs_examples` computes
# them): channel one-hot; the share of the job's required skills the member holds; member title
# == job title; job seniority − member seniority; same country; same industry; the posting's age
# in days; platform one-hot. NOT CONFIRMED by the paper (its dense Jobs features are not listed).
JOBS_DENSE_FEATURES: tuple[str, ...] = (
    *(f"channel_{channel}" for channel in JOB_CHANNELS),
    "skill_overlap",
    "title_equal",
    "seniority_gap",
    "country_match",
    "industry_match",
    "posting_age_days",
    *(f"platform_{platform}" for platform in JOBS_PLATFORMS),
)
# How the shared matrices store their rows: a full table per matrix, or quotient-remainder tables
EMBEDDINGS: tuple[str, ...] = ("hash", "qr")


@dataclasses.dataclass(frozen=True)
class JobsModelConfig:
    """Architecture of the Jobs model; round-trips through `to_dict`/`from_dict`.

    Args:
        num_dense: width of the dense features (`JOBS_DENSE_FEATURES`).
        embedding_dim: width of the shared embeddings.
        matrix_buckets: hash buckets N per shared matrix, in `SHARED_MATRICES` order.
        fields: (field, shared matrix) pairs; every field is an input key.
        cross_layers: DCNv2 layers of each task head (paper: 2; 0: an MLP head, the baseline).
        projection_dim: rank r of the cross layers.
        head_units: hidden units of each task's MLP after the cross layers.
        embedding: how each shared matrix stores its N rows, one of `EMBEDDINGS`: "hash" (a full
            table of N rows) or "qr" (quotient-remainder tables of ⌈N/m⌉ + m rows; a matrix with
            N ≤ m stays full). Default "qr", the production choice (paper Table 10).
        qr_collisions: m, rows of each QR remainder table. 1000: with the default buckets the QR
            tables hold 3,316 rows against the full tables' 100,216 (a 0.033 ratio; the paper
            reports 5×, ratio 0.2, on its own vocabularies).
    """

    num_dense: int = len(JOBS_DENSE_FEATURES)
    embedding_dim: int = 16
    matrix_buckets: tuple[int, ...] = (20_000, 30_000, 50_000, 200, 16)
    fields: tuple[tuple[str, str], ...] = DEFAULT_FIELDS
    cross_layers: int = 2
    projection_dim: int = 16
    head_units: tuple[int, ...] = (64,)
    embedding: str = "qr"
    qr_collisions: int = 1000

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix_buckets", tuple(self.matrix_buckets))
        object.__setattr__(self, "fields", tuple(tuple(f) for f in self.fields))
        object.__setattr__(self, "head_units", tuple(self.head_units))
        for name in ("num_dense", "embedding_dim", "projection_dim", "qr_collisions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        layers = self.cross_layers
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise ValueError(
                "`cross_layers` must be a non-negative integer (0: no DCNv2, an MLP head). "
                f"Received: cross_layers={layers!r}"
            )
        if self.embedding not in EMBEDDINGS:
            raise ValueError(
                f"`embedding` must be one of {EMBEDDINGS}. Received: embedding={self.embedding!r}"
            )
        if len(self.matrix_buckets) != len(SHARED_MATRICES) or any(
            b <= 0 for b in self.matrix_buckets
        ):
            raise ValueError(
                f"`matrix_buckets` must be one positive size per matrix {SHARED_MATRICES}. "
                f"Received: matrix_buckets={self.matrix_buckets}"
            )
        bad = [f for f in self.fields if len(f) != 2 or f[1] not in SHARED_MATRICES]
        if not self.fields or bad:
            raise ValueError(
                f"`fields` must be (name, matrix) pairs with a matrix in {SHARED_MATRICES}. "
                f"Received bad fields: {bad or self.fields}"
            )
        if any(u <= 0 for u in self.head_units):
            raise ValueError(
                f"`head_units` must be positive. Received: head_units={self.head_units}"
            )

    def to_dict(self) -> dict:
        return {
            "num_dense": self.num_dense,
            "embedding_dim": self.embedding_dim,
            "matrix_buckets": list(self.matrix_buckets),
            "fields": [list(f) for f in self.fields],
            "cross_layers": self.cross_layers,
            "projection_dim": self.projection_dim,
            "head_units": list(self.head_units),
            "embedding": self.embedding,
            "qr_collisions": self.qr_collisions,
        }

    @classmethod
    def from_dict(cls, values: Mapping) -> JobsModelConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown JobsModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


@keras.saving.register_keras_serializable(package="lirank")
class SharedEntityEmbeddings(keras.layers.Layer):
    """Fields through 5 shared matrices: inputs dict -> [batch, len(fields) · embedding_dim].

    v_f = Σ_j m_j E_{matrix(f)}[ids_fj mod N] / max(1, Σ_j m_j),   m_j = [ids_fj ≥ 0]

    with E[b] a row of a full table ("hash") or E_Q[⌊b/m⌋] + E_R[b mod m] ("qr", when N > m).

    Args:
        fields: (field, shared matrix) pairs; every field is an input key.
        matrix_buckets: hash buckets per shared matrix, in `SHARED_MATRICES` order.
        embedding_dim: width of the shared matrices.
        embedding: "hash" (full tables) or "qr" (quotient-remainder tables), `EMBEDDINGS`.
        qr_collisions: m, rows of each QR remainder table.
    """

    def __init__(
        self,
        fields: tuple[tuple[str, str], ...],
        matrix_buckets: tuple[int, ...],
        embedding_dim: int,
        embedding: str = "hash",
        qr_collisions: int = 1000,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.fields = tuple((str(field), str(matrix)) for field, matrix in fields)
        bad = [f for f in self.fields if f[1] not in SHARED_MATRICES]
        if not self.fields or bad:
            raise ValueError(
                f"`fields` must be (name, matrix) pairs with a matrix in {SHARED_MATRICES}. "
                f"Received bad fields: {bad or self.fields}"
            )
        if embedding not in EMBEDDINGS:
            raise ValueError(
                f"`embedding` must be one of {EMBEDDINGS}. Received: embedding={embedding!r}"
            )
        self.embedding_dim = int(embedding_dim)
        self.embedding = str(embedding)
        self.qr_collisions = int(qr_collisions)
        self.buckets = dict(zip(SHARED_MATRICES, (int(b) for b in matrix_buckets), strict=True))
        self.matrices = {
            matrix: self._matrix(matrix, buckets) for matrix, buckets in self.buckets.items()
        }

    def _matrix(self, matrix: str, buckets: int) -> keras.layers.Layer:
        """The layer storing one shared matrix: QR tables when "qr" and N > m, else full."""
        name = f"{matrix}_matrix"
        if self.embedding == "qr" and buckets > self.qr_collisions:
            return QREmbedding(buckets, self.qr_collisions, self.embedding_dim, name=name)
        return keras.layers.Embedding(buckets, self.embedding_dim, name=name)

    @property
    def output_dim(self) -> int:
        return len(self.fields) * self.embedding_dim

    def build(self, input_shape=None) -> None:
        for matrix in self.matrices.values():
            matrix.build((None,))

    def call(self, inputs):
        vectors = []
        for field, matrix in self.fields:
            index, mask = hash_ids(inputs[field], self.buckets[matrix])
            vectors.append(masked_mean(self.matrices[matrix](index), mask))
        return ops.concatenate(vectors, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "fields": [list(f) for f in self.fields],
            "matrix_buckets": list(self.buckets.values()),
            "embedding_dim": self.embedding_dim,
            "embedding": self.embedding,
            "qr_collisions": self.qr_collisions,
        }


@keras.saving.register_keras_serializable(package="lirank")
class JobsModel(keras.Model):
    """Jobs multi-task model: inputs dict -> {"apply", "click": logit [batch]}."""

    def __init__(self, config: JobsModelConfig | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.config = config or JobsModelConfig()
        self.sparse_arch = SharedEntityEmbeddings(
            self.config.fields,
            self.config.matrix_buckets,
            self.config.embedding_dim,
            self.config.embedding,
            self.config.qr_collisions,
            name="sparse_arch",
        )
        self.dense_arch = keras.layers.BatchNormalization(name="dense_arch")
        self.task_archs = {
            task: CrossMLPHead(
                self.config.head_units,
                self.config.cross_layers,
                self.config.projection_dim,
                name=f"{task}_head",
            )
            for task in JOBS_HEADS
        }
        self.build(None)

    def build(self, input_shape=None) -> None:
        self.sparse_arch.build(None)
        self.dense_arch.build((None, self.config.num_dense))
        width = self.sparse_arch.output_dim + self.config.num_dense
        for arch in self.task_archs.values():
            arch.build((None, width))

    def call(self, inputs, training=False):
        dense = self.dense_arch(ops.cast(inputs["dense"], "float32"), training=training)
        features = ops.concatenate([self.sparse_arch(inputs), dense], axis=-1)
        return {task: arch(features) for task, arch in self.task_archs.items()}

    @property
    def tasks(self) -> RankingTasks:
        """How this model is trained: `JOBS_TASKS`."""
        return JOBS_TASKS

    def get_config(self) -> dict:
        return {"name": self.name, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config: dict) -> JobsModel:
        config = dict(config)
        return cls(JobsModelConfig.from_dict(config.pop("config")), **config)


def table_parameters(model: JobsModel) -> int:
    """Parameters of the model's embedding tables (the shared matrices): Σ N·d over full tables
    plus Σ (⌈N/m⌉ + m)·d over QR tables."""
    return int(sum(int(np.prod(weight.shape)) for weight in model.sparse_arch.weights))


def jobs_probabilities(
    model: JobsModel, inputs: Mapping[str, np.ndarray], batch_size: int = 8192
) -> dict[str, np.ndarray]:
    """P(head) = σ(logit) of every row of `inputs` (`models.jobs_examples.jobs_inputs`), in
    batches of `batch_size` rows: {head: float64 [n]}."""
    if batch_size <= 0:
        raise ValueError(f"`batch_size` must be positive. Received: batch_size={batch_size}")
    n = len(inputs["dense"])
    chunks: dict[str, list[np.ndarray]] = {head: [] for head in JOBS_HEADS}
    for start in range(0, n, batch_size):
        batch = {key: value[start : start + batch_size] for key, value in inputs.items()}
        for head, logits in model(batch, training=False).items():
            chunks[head].append(ops.convert_to_numpy(logits).astype(np.float64))
    return {
        head: expit(np.concatenate(parts)) if parts else np.zeros(0)
        for head, parts in chunks.items()
    }
