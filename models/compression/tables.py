"""Every embedding table of a layer, by path, and the quantized twin of an embedding layer.

A plain `keras.layers.Embedding` has one table (`<name>`), a `QREmbedding` two (`<name>/quotient`,
`<name>/remainder`) and an `UnlimitedVocabEmbedding` four (`<name>/<half>/quotient`, ...), each
quantized row-wise on its own. The quantized twins (`models.layers.Quantized*`) have the same
tables at the same paths, so `load_quantized` fills a twin from the tables of its original.

Example:

    tables = embedding_tables_of(layer, "actor")             # {"actor/quotient": [Q, d], ...}
    quantized = {path: quantize_rows(t, "middle_max", 8) for path, t in tables.items()}
    twin = quantized_twin(layer, SCHEMES["middle_max_8bit"])  # built, filled
"""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from models.compression.packing import pack_codes
from models.compression.rowwise import QuantizedRows, quantize_rows
from models.compression.schemes import QuantizationScheme
from models.layers.qr_embedding import QREmbedding
from models.layers.quantized_embedding import QuantizedEmbedding
from models.layers.quantized_qr_embedding import QuantizedQREmbedding
from models.layers.quantized_unlimited_vocab_embedding import QuantizedUnlimitedVocabEmbedding
from models.layers.unlimited_vocab_embedding import UnlimitedVocabEmbedding

_QUANTIZED = (QuantizedEmbedding, QuantizedQREmbedding, QuantizedUnlimitedVocabEmbedding)


def embedding_tables_of(layer: keras.layers.Layer, name: str) -> dict[str, np.ndarray]:
    """{path: float table [rows, dim]} of an embedding layer (module docstring: the paths).

    Raises:
        ValueError: `layer` is already quantized or holds no embedding table.
    """
    if isinstance(layer, _QUANTIZED):
        raise ValueError(f"`{name}` ({type(layer).__name__}) is already quantized")
    if isinstance(layer, UnlimitedVocabEmbedding):
        out: dict[str, np.ndarray] = {}
        for half in layer.halves:
            out.update(embedding_tables_of(half, f"{name}/{half.name}"))
        return out
    if isinstance(layer, QREmbedding):
        return {
            f"{name}/quotient": keras.ops.convert_to_numpy(layer.quotient_embeddings),
            f"{name}/remainder": keras.ops.convert_to_numpy(layer.remainder_embeddings),
        }
    if isinstance(layer, keras.layers.Embedding):
        return {name: keras.ops.convert_to_numpy(layer.embeddings)}
    raise ValueError(
        f"`{name}` ({type(layer).__name__}) is not an embedding layer this package quantizes "
        "(keras.layers.Embedding, QREmbedding, UnlimitedVocabEmbedding)"
    )


def quantized_tables_of(layer: keras.layers.Layer, name: str) -> dict[str, QuantizedEmbedding]:
    """{path: `QuantizedEmbedding`} of a quantized twin, at the paths of `embedding_tables_of`."""
    if isinstance(layer, QuantizedUnlimitedVocabEmbedding):
        out: dict[str, QuantizedEmbedding] = {}
        for half in layer.halves:
            out.update(quantized_tables_of(half, f"{name}/{half.name}"))
        return out
    if isinstance(layer, QuantizedQREmbedding):
        return {f"{name}/quotient": layer.quotient, f"{name}/remainder": layer.remainder}
    if isinstance(layer, QuantizedEmbedding):
        return {name: layer}
    raise ValueError(f"`{name}` ({type(layer).__name__}) is not a quantized embedding layer")


def quantize_tables(
    tables: Mapping[str, np.ndarray], scheme: QuantizationScheme
) -> dict[str, QuantizedRows]:
    """Every table quantized row-wise with `scheme`."""
    return {
        path: quantize_rows(table, scheme.method, scheme.bits) for path, table in tables.items()
    }


def load_quantized(
    twin: keras.layers.Layer, name: str, quantized: Mapping[str, QuantizedRows]
) -> None:
    """Fill the quantized twin `twin` (built) with `quantized`, path by path.

    Raises:
        ValueError: the paths differ, or a table's scheme does not match its layer's.
    """
    leaves = quantized_tables_of(twin, name)
    if set(leaves) != set(quantized):
        raise ValueError(
            f"the quantized tables {sorted(quantized)} do not match the layer's {sorted(leaves)}"
        )
    for path, leaf in leaves.items():
        rows = quantized[path]
        if (rows.bits, rows.method == "middle_max") != (leaf.bits, leaf.signed):
            raise ValueError(
                f"table `{path}` was quantized with {rows.method} at {rows.bits} bits; its layer "
                f"serves {'signed' if leaf.signed else 'unsigned'} {leaf.bits}-bit codes"
            )
        leaf.load(pack_codes(rows.codes, rows.bits), rows.offset, rows.scale)


def quantized_twin(layer: keras.layers.Layer, scheme: QuantizationScheme) -> keras.layers.Layer:
    """A built quantized copy of a standalone embedding layer (same lookups, same output)."""
    tables = embedding_tables_of(layer, layer.name)
    bits, signed = scheme.bits, scheme.signed
    if isinstance(layer, UnlimitedVocabEmbedding):
        twin = QuantizedUnlimitedVocabEmbedding(
            layer.output_dim, layer.num_collisions, layer.merge, layer.qr_combiner, bits, signed,
            half_buckets=layer.half_buckets, name=layer.name,
        )  # fmt: skip
        twin.build((None, 2))
    elif isinstance(layer, QREmbedding):
        twin = QuantizedQREmbedding(
            layer.num_buckets, layer.num_collisions, layer.output_dim, layer.combiner, bits,
            signed, name=layer.name,
        )  # fmt: skip
        twin.build(None)
    else:
        rows, dim = tables[layer.name].shape
        twin = QuantizedEmbedding(rows, dim, bits, signed, name=layer.name)
        twin.build(None)
    load_quantized(twin, layer.name, quantize_tables(tables, scheme))
    return twin


def fill_quantized_copy(source: keras.Model, target: keras.Model, scheme: QuantizationScheme):
    """Fill `target`, built from `source`'s config with quantized tables, from the trained
    `source`: every table of `sparse_arch.tables` quantized row-wise by `scheme`, every weight
    outside the sparse arch copied in order. Returns (source tables, their quantized rows), by
    table name, for the compression report. Serves the Feed and Ads models alike.

    Raises:
        ValueError: the two models' dense weights differ in shape.
    """
    source_tables, quantized_rows = {}, {}
    for name, layer in source.sparse_arch.tables.items():
        tables = embedding_tables_of(layer, name)
        rows = quantize_tables(tables, scheme)
        load_quantized(target.sparse_arch.tables[name], name, rows)
        source_tables.update(tables)
        quantized_rows.update(rows)

    def outside_sparse(model: keras.Model) -> list:
        sparse = {id(v) for v in model.sparse_arch.weights}
        return [v for v in model.weights if id(v) not in sparse]

    weights, targets = outside_sparse(source), outside_sparse(target)
    if [tuple(v.shape) for v in weights] != [tuple(v.shape) for v in targets]:
        raise ValueError("the quantized copy's dense weights do not match the source model's")
    for value, variable in zip(weights, targets, strict=True):
        variable.assign(value)
    return source_tables, quantized_rows
