"""String-ID hashing for the input pipeline (LiRank A.7, "unlimited vocabulary"; no Keras/TF).

A string ID such as "member:1234" is hashed with MurmurHash3 x64-128 (the `mmh3` package,
UTF-8 bytes, seed 0) and the first 64 bits are kept as a signed int64. The int64 is then
bit-split into two uint32-range halves (B, C), each looked up in its own QR tables by
`UnlimitedVocabEmbedding`. Hashing runs in preprocessing, never inside the model, so the layers
stay backend-agnostic: here for training (`feature_spec.hash_string_ids`), and as bit-identical
TensorFlow ops in the served SavedModel (`models.serving.saved_model.murmur64`).
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3
import numpy as np

UINT32_MASK = 0xFFFFFFFF


def murmur_int64(strings: Iterable[str | bytes] | str | bytes, seed: int = 0) -> np.ndarray:
    """MurmurHash3 x64-128 of each string, first 64 bits as signed int64; keeps the input shape."""
    array = np.asarray(strings, dtype=object)
    flat = [mmh3.hash64(s, seed, True, True)[0] for s in array.reshape(-1)]
    return np.asarray(flat, dtype=np.int64).reshape(array.shape)


def split_int64(x: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Bitcasts int64 to (hi, lo): the upper and lower 32 bits, each in [0, 2^32) as int64."""
    bits = np.asarray(x, dtype=np.int64).view(np.uint64)
    hi = (bits >> np.uint64(32)).astype(np.int64)
    lo = (bits & np.uint64(UINT32_MASK)).astype(np.int64)
    return hi, lo


def join_int64(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Inverse of `split_int64`."""
    bits = (np.asarray(hi, dtype=np.uint64) << np.uint64(32)) | np.asarray(lo, dtype=np.uint64)
    return bits.view(np.int64)


def hash_to_halves(strings: Iterable[str | bytes] | str | bytes, seed: int = 0) -> np.ndarray:
    """Strings [...] → int64 [..., 2] holding (hi, lo): the input of `UnlimitedVocabEmbedding`."""
    hi, lo = split_int64(murmur_int64(strings, seed))
    return np.stack([hi, lo], axis=-1)
