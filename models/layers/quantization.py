"""Post-training row-wise embedding quantization: middle-max (LiRank §3.13) and min-max.

Pure numpy. For row i with min_i, max_i and b bits (paper-notes §12):

    scale_i  = (max_i − min_i) / (2^b − 1)
    middle_i = (max_i · 2^{b−1} + min_i · (2^{b−1} − 1)) / (2^b − 1)
    X_int    = round((X − middle_i) / scale_i)  ∈ [−2^{b−1}, 2^{b−1} − 1]   (int8 for b = 8)
    X_deq    = middle_i + X_int · scale_i

so max_i ↦ 127 and min_i ↦ −128, and |X − X_deq| ≤ scale_i / 2. Min-max (for comparison) stores
min_i and maps to [0, 2^b − 1] (uint8). Both store two float32 numbers per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

METHODS = ("middle_max", "min_max")


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"`bits` must be an integer in [2, 8]. Received: bits={bits}")


def _row_range(table: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"`table` must be 2-D [rows, dim]. Received shape: {table.shape}")
    low, high = table.min(axis=1), table.max(axis=1)
    scale = (high - low) / (2**bits - 1)
    return low, high, scale


def _safe_divide(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """x / scale per row; rows with scale 0 (constant rows) give 0."""
    safe = np.where(scale > 0, scale, 1.0)[:, None]
    return np.where(scale[:, None] > 0, x / safe, 0.0)


def middle_max_quantize(
    table: np.ndarray, bits: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise middle-max quantization: returns (int8 codes, middle float32, scale float32)."""
    _check_bits(bits)
    low, high, scale = _row_range(table, bits)
    half = 2 ** (bits - 1)
    middle = (high * half + low * (half - 1)) / (2**bits - 1)
    codes = np.rint(_safe_divide(np.asarray(table, np.float64) - middle[:, None], scale))
    codes = np.clip(codes, -half, half - 1).astype(np.int8)
    return codes, middle.astype(np.float32), scale.astype(np.float32)


def middle_max_dequantize(codes: np.ndarray, middle: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """X_deq = middle + X_int · scale, row-wise, float32."""
    deq = (
        np.asarray(middle, np.float64)[:, None]
        + codes.astype(np.float64) * np.asarray(scale, np.float64)[:, None]
    )
    return deq.astype(np.float32)


def min_max_quantize(table: np.ndarray, bits: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row-wise min-max quantization: returns (uint8 codes in [0, 2^b − 1], min, scale)."""
    _check_bits(bits)
    low, _, scale = _row_range(table, bits)
    codes = np.rint(_safe_divide(np.asarray(table, np.float64) - low[:, None], scale))
    codes = np.clip(codes, 0, 2**bits - 1).astype(np.uint8)
    return codes, low.astype(np.float32), scale.astype(np.float32)


def min_max_dequantize(codes: np.ndarray, low: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """X_deq = min + X_int · scale, row-wise, float32."""
    return middle_max_dequantize(codes, low, scale)


def compression_ratio(rows: int, dim: int, bits: int = 8, source_bytes: int = 4) -> float:
    """Quantized size / original size for a [rows, dim] table with two float32 per row."""
    _check_bits(bits)
    quantized = rows * (dim * bits / 8 + 2 * 4)
    return quantized / (rows * dim * source_bytes)


@dataclass(frozen=True)
class QuantizedTable:
    """A quantized embedding table: codes plus the per-row offset (middle or min) and scale."""

    codes: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    method: str
    bits: int

    def dequantize(self) -> np.ndarray:
        return middle_max_dequantize(self.codes, self.offset, self.scale)

    @property
    def nbytes(self) -> int:
        """Bytes at `bits` per value plus the float32 offset and scale of every row."""
        rows, dim = self.codes.shape
        return int(np.ceil(rows * dim * self.bits / 8)) + self.offset.nbytes + self.scale.nbytes


def quantize_table(table: np.ndarray, bits: int = 8, method: str = "middle_max") -> QuantizedTable:
    """Quantizes a [rows, dim] table with `method` ("middle_max" or "min_max")."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")
    quantize = middle_max_quantize if method == "middle_max" else min_max_quantize
    codes, offset, scale = quantize(table, bits)
    return QuantizedTable(codes=codes, offset=offset, scale=scale, method=method, bits=bits)


def quantize_embedding(layer: Any, bits: int = 8, method: str = "middle_max") -> QuantizedTable:
    """Quantizes the table of a `keras.layers.Embedding` (any layer with `.embeddings`)."""
    if not hasattr(layer, "embeddings"):
        raise ValueError(f"`layer` has no `embeddings` table. Received: {type(layer).__name__}")
    return quantize_table(np.asarray(layer.embeddings.numpy()), bits=bits, method=method)


def load_dequantized(layer: Any, table: QuantizedTable) -> None:
    """Writes the dequantized table back into `layer.embeddings` (to evaluate the 8-bit model)."""
    layer.embeddings.assign(table.dequantize())
