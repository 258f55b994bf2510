"""The served byte layout of quantized codes: int8 bytes, two 4-bit codes a byte."""

from __future__ import annotations

import numpy as np
import pytest

from models.compression.packing import pack_codes, packed_width, unpack_codes


@pytest.mark.parametrize(("bits", "signed", "low", "high"), [
    (8, True, -128, 127), (8, False, 0, 255), (4, True, -8, 7), (4, False, 0, 15),
])  # fmt: skip
@pytest.mark.parametrize("dim", [6, 7])
def test_codes_round_trip(bits, signed, low, high, dim):
    codes = np.random.default_rng(0).integers(low, high + 1, size=(20, dim))
    codes[0, :2] = low, high
    packed = pack_codes(codes, bits)
    assert packed.dtype == np.int8 and packed.shape == (20, packed_width(dim, bits))
    np.testing.assert_array_equal(unpack_codes(packed, bits, dim, signed), codes)


def test_four_bit_nibbles_by_hand():
    # codes (−1, 2): low nibble 0xF, high nibble 0x2 → byte 0x2F = 47
    assert pack_codes(np.array([[-1, 2]]), 4).tolist() == [[47]]
    assert pack_codes(np.array([[3]]), 4).tolist() == [[3]]  # odd width: a zero high nibble


def test_rejects_bits_without_a_layout():
    with pytest.raises(ValueError, match="Received: bits=6"):
        pack_codes(np.zeros((2, 2), int), 6)
