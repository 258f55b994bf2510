"""The quantization schemes a trained feed model can be compressed with (paper §3.13)."""

from __future__ import annotations

import dataclasses

from models.compression.packing import check_packed_bits
from models.compression.rowwise import check_method


@dataclasses.dataclass(frozen=True)
class QuantizationScheme:
    """Row-wise post-training quantization of every embedding table.

    Args:
        method: "middle_max" (LiRank's, signed codes) or "min_max" (unsigned codes).
        bits: bits per value, 8 (int8) or 4 (two values a byte).
    """

    method: str = "middle_max"
    bits: int = 8

    def __post_init__(self) -> None:
        check_method(self.method)
        check_packed_bits(self.bits)

    @property
    def signed(self) -> bool:
        """Whether the codes are signed (middle-max) or unsigned (min-max)."""
        return self.method == "middle_max"


SCHEMES: dict[str, QuantizationScheme] = {
    "middle_max_8bit": QuantizationScheme("middle_max", 8),
    "min_max_8bit": QuantizationScheme("min_max", 8),
    "4bit": QuantizationScheme("middle_max", 4),
}
"""Named schemes: LiRank's 8-bit middle-max (the default), 8-bit min-max for comparison, and
middle-max at 4 bits (half the bytes again, coarser steps)."""
DEFAULT_SCHEME = "middle_max_8bit"


def scheme_named(name: str) -> QuantizationScheme:
    """The scheme called `name` (a key of `SCHEMES`)."""
    if name not in SCHEMES:
        raise ValueError(f"`scheme` must be one of {sorted(SCHEMES)}. Received: scheme={name!r}")
    return SCHEMES[name]
