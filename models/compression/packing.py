"""The byte layout of quantized codes as served: one int8 per 8-bit code, two 4-bit codes a byte.

Codes are stored as int8 bit patterns whatever their range, so a table is one int8 tensor:

- 8 bits: the code's byte; a min-max code in [0, 255] reads back as `byte mod 256`.
- 4 bits: code 2j in the low nibble and code 2j+1 in the high nibble of byte j (an odd width is
  padded with a zero code); a nibble u ∈ [0, 15] reads back as u (min-max) or u − 16·[u ≥ 8]
  (middle-max, signed).

`unpack_codes` is the numpy twin of what `models.layers.quantized_embedding` does in the graph.
"""

from __future__ import annotations

import numpy as np

PACKED_BITS = (4, 8)


def check_packed_bits(bits: int) -> None:
    """Raise unless codes of `bits` have a served layout (`PACKED_BITS`)."""
    if bits not in PACKED_BITS:
        raise ValueError(f"`bits` must be one of {PACKED_BITS} to serve. Received: bits={bits}")


def packed_width(dim: int, bits: int) -> int:
    """Bytes a row of `dim` codes takes."""
    check_packed_bits(bits)
    return dim if bits == 8 else (dim + 1) // 2


def pack_codes(codes: np.ndarray, bits: int) -> np.ndarray:
    """[rows, dim] integer codes (signed or unsigned, within `bits`) → int8 [rows, packed_width]."""
    check_packed_bits(bits)
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"`codes` must be 2-D [rows, dim]. Received shape: {codes.shape}")
    unsigned = codes.astype(np.int64) & (2**bits - 1)
    if bits == 8:
        return unsigned.astype(np.uint8).view(np.int8)
    if codes.shape[1] % 2:
        unsigned = np.pad(unsigned, ((0, 0), (0, 1)))
    packed = unsigned[:, 0::2] | (unsigned[:, 1::2] << 4)
    return packed.astype(np.uint8).view(np.int8)


def unpack_codes(packed: np.ndarray, bits: int, dim: int, signed: bool) -> np.ndarray:
    """int8 [rows, packed_width] → int32 [rows, dim] codes (signed: two's complement of `bits`)."""
    check_packed_bits(bits)
    unsigned = np.asarray(packed).astype(np.int32) % 256
    if bits == 4:
        nibbles = np.stack([unsigned % 16, unsigned // 16], axis=-1)
        unsigned = nibbles.reshape(len(unsigned), -1)[:, :dim]
    if signed:
        half = 2 ** (bits - 1)
        return np.where(unsigned >= half, unsigned - 2**bits, unsigned)
    return unsigned
