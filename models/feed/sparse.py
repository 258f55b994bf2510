"""Sparse arch of the feed model: ID features -> embedding vectors (paper §1, §11, A.1).

Every ID is hashed into its table (``bucket = id mod num_buckets``; string IDs are hashed to ints
upstream, paper §11) and embedded in `embedding_dim` dimensions (paper §1: "30-dim ID embeddings
were found optimal"). A [batch] feature gives its embedding; a [batch, L] list feature, -1 padded,
is pooled with a masked mean that ignores the padding:

    pool(E, ids) = Σ_j m_j E[ids_j] / max(1, Σ_j m_j),   m_j = [ids_j ≥ 0]

Tables are small dataclasses (TorchRec `EmbeddingBagConfig` style): a table may serve several
features (paper A.1: the Member/Actor table embeds both the post's author and the history
authors). `kind` picks how the table stores its rows (`ID_EMBEDDINGS`: one row per bucket,
quotient-remainder tables, paper §11, or "unlimited": the unlimited vocabulary of paper A.7, whose
IDs arrive as the two 32-bit halves of their 64-bit hash, [..., 2] with padding (-1, -1), and go
through two sets of QR tables with no modulo, `UnlimitedVocabEmbedding`). A post-training
quantized copy of a trained arch (`quantization`, paper §3.13, filled by `models.compression`)
builds every table as its quantized twin instead (`QUANTIZED_ID_EMBEDDINGS`: int8 codes,
dequantized in the graph).

Example:

    arch = SparseArch(
        tables=(EmbeddingTable("actor", 20_000, ("author_id", "hist_author_ids")),),
        embedding_dim=30,
    )
    pooled, sequences = arch(inputs)     # pooled["author_id"]: [b, 30]
    history, mask = sequences["hist_author_ids"]             # [b, L, 30], [b, L]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import keras

from models.compression.schemes import QuantizationScheme
from models.layers.lookup import GatherEmbedding
from models.layers.pooling import hash_ids, id_halves_index, masked_mean
from models.layers.qr_embedding import QREmbedding
from models.layers.quantized_embedding import QuantizedEmbedding
from models.layers.quantized_qr_embedding import QuantizedQREmbedding
from models.layers.quantized_unlimited_vocab_embedding import QuantizedUnlimitedVocabEmbedding
from models.layers.unlimited_vocab_embedding import UnlimitedVocabEmbedding


@dataclasses.dataclass(frozen=True)
class EmbeddingTable:
    """One embedding table and the ID features looked up in it.

    Args:
        name: the table's name; its layer is `<name>_embedding`.
        num_buckets: N; an ID x uses bucket x mod N. For an "unlimited" table, the range H each
            32-bit half is taken in (a power of two ≤ 2^32; 2^32: no modulo at all).
        features: input keys embedded through this table ([batch] IDs, or [batch, L] -1-padded
            lists, which are also mean-pooled; with "unlimited", [batch, 2] and [batch, L, 2]
            halves, (-1, -1) padded).
        kind: how rows are stored, a key of `ID_EMBEDDINGS`.
        qr_collisions: m, rows of the remainder table of a "qr" table (≤ `num_buckets`), or of
            each half's remainder table of an "unlimited" table.
    """

    name: str
    num_buckets: int
    features: tuple[str, ...]
    kind: str = "hashed"
    qr_collisions: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        if not self.name or not self.features:
            raise ValueError(
                f"a table needs a name and at least one feature. Received: name={self.name!r}, "
                f"features={self.features}"
            )
        if not isinstance(self.num_buckets, int) or self.num_buckets <= 0:
            raise ValueError(
                f"`num_buckets` of table `{self.name}` must be a positive integer. "
                f"Received: num_buckets={self.num_buckets!r}"
            )
        if self.kind not in ID_EMBEDDINGS:
            raise ValueError(
                f"`kind` of table `{self.name}` must be one of {sorted(ID_EMBEDDINGS)}. "
                f"Received: kind={self.kind!r}"
            )
        if self.kind in ("qr", "unlimited") and not (
            isinstance(self.qr_collisions, int) and 0 < self.qr_collisions <= self.num_buckets
        ):
            raise ValueError(
                f"`qr_collisions` of the {self.kind} table `{self.name}` must be in [1, "
                f"num_buckets={self.num_buckets}]. Received: qr_collisions={self.qr_collisions!r}"
            )

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "features": list(self.features)}


def _hashed_table(table: EmbeddingTable, embedding_dim: int) -> keras.layers.Layer:
    """One row per hash bucket: a `keras.layers.Embedding(num_buckets, embedding_dim)` whose
    lookup stays sparse on TensorFlow (`models.layers.lookup.GatherEmbedding`)."""
    return GatherEmbedding(table.num_buckets, embedding_dim, name=f"{table.name}_embedding")


def _qr_table(table: EmbeddingTable, embedding_dim: int) -> keras.layers.Layer:
    """Quotient-remainder tables, sum-combined (paper §11): ⌈N/m⌉ + m rows instead of N."""
    return QREmbedding(
        table.num_buckets, table.qr_collisions, embedding_dim, name=f"{table.name}_embedding"
    )


def _unlimited_table(table: EmbeddingTable, embedding_dim: int) -> keras.layers.Layer:
    """Two 32-bit hash halves, each through its own sum-combined QR tables (paper A.7): 2(H/m + m)
    rows, H = `num_buckets`, m = `qr_collisions`."""
    return UnlimitedVocabEmbedding(
        embedding_dim, table.qr_collisions, half_buckets=table.num_buckets,
        name=f"{table.name}_embedding",
    )  # fmt: skip


# id_embedding / table kind -> factory of the table's layer
ID_EMBEDDINGS = {
    "hashed": _hashed_table,
    "qr": _qr_table,
    "unlimited": _unlimited_table,
}


def _bucket_index(ids, table: EmbeddingTable):
    return hash_ids(ids, table.num_buckets)


def _halves_index(ids, table: EmbeddingTable):
    return id_halves_index(ids)


# table kind -> (ids, table) -> (what its layer looks up, padding mask of the IDs)
ID_INDEXES = {
    "hashed": _bucket_index,
    "qr": _bucket_index,
    "unlimited": _halves_index,
}
# table kind -> the trailing axes of one ID (an unlimited ID is its two hash halves)
ID_SHAPES: dict[str, tuple[int, ...]] = {"hashed": (), "qr": (), "unlimited": (2,)}


def _quantized_hashed_table(
    table: EmbeddingTable, embedding_dim: int, scheme: QuantizationScheme
) -> keras.layers.Layer:
    return QuantizedEmbedding(
        table.num_buckets, embedding_dim, scheme.bits, scheme.signed, name=f"{table.name}_embedding"
    )


def _quantized_qr_table(
    table: EmbeddingTable, embedding_dim: int, scheme: QuantizationScheme
) -> keras.layers.Layer:
    return QuantizedQREmbedding(
        table.num_buckets, table.qr_collisions, embedding_dim, bits=scheme.bits,
        signed=scheme.signed, name=f"{table.name}_embedding",
    )  # fmt: skip


def _quantized_unlimited_table(
    table: EmbeddingTable, embedding_dim: int, scheme: QuantizationScheme
) -> keras.layers.Layer:
    return QuantizedUnlimitedVocabEmbedding(
        embedding_dim, table.qr_collisions, bits=scheme.bits, signed=scheme.signed,
        half_buckets=table.num_buckets, name=f"{table.name}_embedding",
    )  # fmt: skip


# table kind -> factory of its quantized twin (same lookups, int codes + per-row offset/scale)
QUANTIZED_ID_EMBEDDINGS = {
    "hashed": _quantized_hashed_table,
    "qr": _quantized_qr_table,
    "unlimited": _quantized_unlimited_table,
}


@keras.saving.register_keras_serializable(package="lirank")
class SparseArch(keras.layers.Layer):
    """Hashed ID embeddings: inputs dict -> (pooled, sequences).

    `pooled[feature]` is [batch, embedding_dim] for every feature of every table (list features
    mean-pooled over their unpadded items); `sequences[feature]` is (embeddings [batch, L, d],
    mask [batch, L]) for the list features, for blocks that attend over them.

    Args:
        tables: the `EmbeddingTable`s (or their `to_dict()`); a feature belongs to one table.
        embedding_dim: width d of every table.
        quantization: None (float tables), or the `QuantizationScheme` (or its dict) of a
            post-training quantized copy: every table is its `QUANTIZED_ID_EMBEDDINGS` twin.
    """

    def __init__(
        self,
        tables: Sequence[EmbeddingTable | Mapping],
        embedding_dim: int,
        quantization: QuantizationScheme | Mapping | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(quantization, Mapping):
            quantization = QuantizationScheme(**quantization)
        configs = tuple(t if isinstance(t, EmbeddingTable) else EmbeddingTable(**t) for t in tables)
        if type(embedding_dim) is not int or embedding_dim <= 0:
            raise ValueError(
                "`embedding_dim` must be a positive integer. "
                f"Received: embedding_dim={embedding_dim!r}"
            )
        features = [feature for table in configs for feature in table.features]
        repeated = sorted({f for f in features if features.count(f) > 1})
        if not configs or repeated:
            raise ValueError(
                f"`tables` must embed each feature in exactly one table. Received: tables "
                f"{[t.name for t in configs]}, repeated features {repeated}"
            )
        self.table_configs = configs
        self.embedding_dim = embedding_dim
        self.quantization = quantization
        self.tables = {
            table.name: (
                ID_EMBEDDINGS[table.kind](table, embedding_dim)
                if quantization is None
                else QUANTIZED_ID_EMBEDDINGS[table.kind](table, embedding_dim, quantization)
            )
            for table in configs
        }

    @property
    def features(self) -> tuple[str, ...]:
        """Every embedded feature, in table order."""
        return tuple(feature for table in self.table_configs for feature in table.features)

    def build(self, input_shape=None) -> None:
        for table in self.table_configs:
            self.tables[table.name].build((None, *ID_SHAPES[table.kind]))

    def call(self, inputs):
        pooled, sequences = {}, {}
        for table in self.table_configs:
            for feature in table.features:
                index, mask = ID_INDEXES[table.kind](inputs[feature], table)
                embedded = self.tables[table.name](index)
                if len(mask.shape) == 1:
                    pooled[feature] = embedded
                else:
                    sequences[feature] = (embedded, mask)
                    pooled[feature] = masked_mean(embedded, mask)
        return pooled, sequences

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "tables": [table.to_dict() for table in self.table_configs],
            "embedding_dim": self.embedding_dim,
            "quantization": (
                dataclasses.asdict(self.quantization) if self.quantization is not None else None
            ),
        }
