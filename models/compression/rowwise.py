"""Post-training row-wise quantization of an embedding table: middle-max (LiRank §3.13) and min-max.

Pure numpy. For row i with min_i, max_i and b bits (paper-notes §12):

    scale_i  = (max_i − min_i) / (2^b − 1)
    middle_i = (max_i · 2^{b−1} + min_i · (2^{b−1} − 1)) / (2^b − 1)
    X_int    = round((X − middle_i) / scale_i)  ∈ [−2^{b−1}, 2^{b−1} − 1]   (int8 for b = 8)
    X_deq    = middle_i + X_int · scale_i

so max_i ↦ 2^{b−1} − 1 (127) and min_i ↦ −2^{b−1} (−128). Min-max stores min_i instead of the
middle and maps to [0, 2^b − 1] (X_int = round((X − min_i)/scale_i), X_deq = min_i + X_int ·
scale_i). In exact arithmetic the two give the same reconstruction (middle_i = min_i + 2^{b−1} ·
scale_i); they differ in what is stored: middle-max's codes survive int8 → int32 → int8 casts
(two's complement), and its offset, the middle of a roughly zero-centred row, is small, so storing
it in few bits costs less than storing min_i.

Every row stores its offset and scale as float16 (4 bytes a row, as FBGEMM's row-wise int8
tables do), so a 30-wide 8-bit row takes 34 bytes instead of 120. The scale is rounded up to the
next float16 (the range still fits) and the codes are computed against the stored float16 offset
and scale, so the dequantized value is exactly what serving computes and

    |X − X_deq| ≤ max(scale16_i / 2, |offset16_i − offset_i|)

(the second term, half a float16 step of the offset, matters only for rows whose values sit far
from zero compared with their range). A constant row dequantizes exactly when its value is a
float16 number.
"""

from __future__ import annotations

import dataclasses

import numpy as np

METHODS = ("middle_max", "min_max")
PARAMETER_DTYPE = np.float16
"""dtype of the stored per-row offset and scale."""


def check_bits(bits: int) -> None:
    """Raise unless `bits` is an integer in [2, 8]."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise ValueError(f"`bits` must be an integer in [2, 8]. Received: bits={bits}")


def check_method(method: str) -> None:
    """Raise unless `method` is one of `METHODS`."""
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}. Received: method={method!r}")


def code_range(method: str, bits: int) -> tuple[int, int]:
    """The codes' [low, high]: [−2^{b−1}, 2^{b−1} − 1] (middle-max) or [0, 2^b − 1] (min-max)."""
    check_method(method)
    check_bits(bits)
    if method == "middle_max":
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def _as_table(table: np.ndarray) -> np.ndarray:
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"`table` must be 2-D [rows, dim]. Received shape: {table.shape}")
    if table.size and not np.isfinite(table).all():
        raise ValueError("`table` holds NaN or infinite values; quantize a finite table")
    return table


def _float16_at_least(values: np.ndarray) -> np.ndarray:
    """The smallest float16 ≥ each value (non-negative values)."""
    rounded = values.astype(PARAMETER_DTYPE)
    low = rounded.astype(np.float64) < values
    rounded[low] = np.nextafter(rounded[low], PARAMETER_DTYPE(np.inf))
    if not np.isfinite(rounded).all():
        raise ValueError(
            "a row's range is too wide for a float16 scale (max − min > ~1.6e7); "
            "this table cannot be quantized row-wise"
        )
    return rounded


def _offset_and_scale(table: np.ndarray, method: str, bits: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = table.min(axis=1), table.max(axis=1)
    scale = (high - low) / (2**bits - 1)
    if method == "middle_max":
        half = 2 ** (bits - 1)
        offset = (high * half + low * (half - 1)) / (2**bits - 1)
    else:
        offset = low
    return offset.astype(PARAMETER_DTYPE), _float16_at_least(scale)


@dataclasses.dataclass(frozen=True)
class QuantizedRows:
    """A row-wise quantized [rows, dim] table: integer codes (int8 for middle-max, uint8 for
    min-max; unpacked) and the per-row float16 offset (the middle or the min) and scale."""

    codes: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    method: str
    bits: int

    def dequantize(self) -> np.ndarray:
        """X_deq = offset + X_int · scale, row-wise, float32."""
        offset = self.offset.astype(np.float64)[:, None]
        return (
            offset + self.codes.astype(np.float64) * self.scale.astype(np.float64)[:, None]
        ).astype(np.float32)

    @property
    def nbytes(self) -> int:
        """Bytes served: the codes at `bits` each (rows padded to whole bytes) plus the float16
        offset and scale of every row."""
        rows, dim = self.codes.shape
        return rows * int(np.ceil(dim * self.bits / 8)) + self.offset.nbytes + self.scale.nbytes


def quantize_rows(table: np.ndarray, method: str = "middle_max", bits: int = 8) -> QuantizedRows:
    """Quantizes each row of a [rows, dim] float table (module docstring: the formulas).

    Raises:
        ValueError: `method` or `bits` is not supported, `table` is not 2-D or not finite.
    """
    low_code, high_code = code_range(method, bits)
    table = _as_table(table)
    offset, scale = _offset_and_scale(table, method, bits)
    scale64 = scale.astype(np.float64)[:, None]
    safe = np.where(scale64 > 0, scale64, 1.0)
    steps = np.where(scale64 > 0, (table - offset.astype(np.float64)[:, None]) / safe, 0.0)
    codes = np.clip(np.rint(steps), low_code, high_code)
    dtype = np.int8 if method == "middle_max" else np.uint8
    return QuantizedRows(codes.astype(dtype), offset, scale, method, bits)


def error_bound(quantized: QuantizedRows, table: np.ndarray) -> np.ndarray:
    """Per row, the bound of the module docstring on |X − X_deq|: max(scale/2, |offset16 −
    offset|), with the exact (float64) offset recomputed from `table`."""
    table = _as_table(table)
    low, high = table.min(axis=1), table.max(axis=1)
    if quantized.method == "middle_max":
        half = 2 ** (quantized.bits - 1)
        exact = (high * half + low * (half - 1)) / (2**quantized.bits - 1)
    else:
        exact = low
    offset_error = np.abs(quantized.offset.astype(np.float64) - exact)
    return np.maximum(quantized.scale.astype(np.float64) / 2, offset_error)


def compression_ratio(dim: int, bits: int = 8, source_bytes: int = 4) -> float:
    """Quantized bytes / original bytes of a table `dim` wide: (⌈dim·b/8⌉ + 4) / (dim · 4)."""
    check_bits(bits)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"`dim` must be a positive integer. Received: dim={dim}")
    per_row = int(np.ceil(dim * bits / 8)) + 2 * np.dtype(PARAMETER_DTYPE).itemsize
    return per_row / (dim * source_bytes)
