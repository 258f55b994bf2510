"""Embedding served from row-wise quantized int8 codes, dequantized in the graph (LiRank §3.13)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

from models.compression.packing import check_packed_bits, packed_width


@keras.saving.register_keras_serializable(package="lirank")
class QuantizedEmbedding(keras.layers.Layer):
    """A drop-in for `keras.layers.Embedding` whose table is stored as integer codes plus a
    float16 offset and scale per row (`models.compression.rowwise`), and dequantized only for
    the rows looked up:

        emb(id) = offset[id] + X_int[id] · scale[id]

    with X_int the signed (middle-max: offset = the row's middle, codes in [−2^{b−1}, 2^{b−1}−1])
    or unsigned (min-max: offset = the row's min, codes in [0, 2^b − 1]) codes, stored as int8 bit
    patterns (`models.compression.packing`: one a byte at 8 bits, two a byte at 4 bits). The
    weights are not trainable; `load` fills them from a quantized table.

    Args:
        input_dim: rows of the table, a positive int.
        output_dim: embedding width, a positive int.
        bits: 8 or 4.
        signed: True for middle-max codes, False for min-max codes.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        integer ids of any shape [...], in [0, input_dim).

    Output shape:
        [..., output_dim], float32.

    Example:

    ```python
    rows = quantize_rows(table, "middle_max", 8)                  # models.compression.rowwise
    layer = QuantizedEmbedding(*table.shape, bits=8, signed=True)
    layer.build(None)
    layer.load(pack_codes(rows.codes, 8), rows.offset, rows.scale)
    layer(np.array([0, 3]))                                       # ≈ table[[0, 3]]
    ```
    """

    def __init__(
        self, input_dim: int, output_dim: int, bits: int = 8, signed: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (("input_dim", input_dim), ("output_dim", output_dim)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
        check_packed_bits(bits)
        if not isinstance(signed, bool):
            raise ValueError(f"`signed` must be a bool. Received: signed={signed!r}")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.bits = bits
        self.signed = signed
        self.width = packed_width(output_dim, bits)
        # output column k reads byte k // 2, nibble k % 2 (4 bits); byte k (8 bits)
        columns = np.arange(output_dim)
        self._byte_of_column = columns // 2 if bits == 4 else columns
        self._high_nibble = (columns % 2).astype(bool)

    def build(self, input_shape: Any = None) -> None:
        self.codes = self.add_weight(
            name="codes", shape=(self.input_dim, self.width), dtype="int8",
            initializer="zeros", trainable=False,
        )  # fmt: skip
        self.offset = self.add_weight(
            name="offset", shape=(self.input_dim,), dtype="float16",
            initializer="zeros", trainable=False,
        )  # fmt: skip
        self.scale = self.add_weight(
            name="scale", shape=(self.input_dim,), dtype="float16",
            initializer="zeros", trainable=False,
        )  # fmt: skip

    def call(self, inputs: Any) -> Any:
        if "int" not in str(inputs.dtype):
            inputs = ops.cast(inputs, "int32")
        values = ops.cast(ops.take(self.codes, inputs, axis=0), "int32")
        if self.bits == 4:
            byte = ops.take(ops.mod(values, 256), self._byte_of_column, axis=-1)
            values = ops.where(self._high_nibble, ops.floor_divide(byte, 16), ops.mod(byte, 16))
            if self.signed:
                values = ops.where(values >= 8, values - 16, values)
        elif not self.signed:
            values = ops.mod(values, 256)
        offset = ops.cast(ops.take(self.offset, inputs, axis=0), "float32")
        scale = ops.cast(ops.take(self.scale, inputs, axis=0), "float32")
        return offset[..., None] + ops.cast(values, "float32") * scale[..., None]

    def load(self, packed: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> None:
        """Set the table: packed int8 codes [input_dim, width], offset and scale [input_dim]."""
        for name, value, shape in (
            ("packed", packed, (self.input_dim, self.width)),
            ("offset", offset, (self.input_dim,)),
            ("scale", scale, (self.input_dim,)),
        ):
            if np.shape(value) != shape:
                raise ValueError(
                    f"`{name}` of `{self.name}` must have shape {shape}. "
                    f"Received: {np.shape(value)}"
                )
        self.codes.assign(np.asarray(packed, np.int8))
        self.offset.assign(np.asarray(offset, np.float16))
        self.scale.assign(np.asarray(scale, np.float16))

    @property
    def nbytes(self) -> int:
        """Bytes of the table: codes, offsets and scales."""
        return self.input_dim * (self.width + 2 * 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "bits": self.bits,
            "signed": self.signed,
        }
