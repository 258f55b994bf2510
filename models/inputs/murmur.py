"""MurmurHash3 of string IDs (LiRank §11, A.7, "unlimited vocabulary"): the one hash that
training and serving share.

A string ID such as "member:1234" is hashed with MurmurHash3 x64-128 (UTF-8 bytes, seed 0) and
the first 64 bits are kept as a signed int64. Two implementations, bit-identical:

* `murmur64` / `hash_string_ids`: TensorFlow ops, used by the one feature transform
  (`models.inputs.tf_transform`) and so by the ATDS training input, the pandas path and the
  served SavedModel alike. TensorFlow has no Murmur op, and a `tf.py_function` would not survive
  `tf.saved_model.load` in another process.
* `murmur_int64`: the `mmh3` package, the reference the TF version is tested against, and the
  hash of `hash_to_halves` (the int64 bit-split into two uint32-range halves (B, C), each looked
  up in its own QR tables by `UnlimitedVocabEmbedding`).

Model IDs come in two widths. The hashed and QR tables take the low 31 bits
(`hash_string_ids`). The unlimited-vocabulary tables (``id_embedding="unlimited"``) take the
whole 64 bits as two halves (`hash_string_ids(..., full=True)`, then `id_halves`; numpy
reference `model_id_halves`): (hi, lo) = the upper and lower 32 bits, each read as a
two's-complement int32 (the paper's bitcast int64 → two int32), so they are exact on every
backend (JAX without x64 included). Padding is the hash -1, i.e. halves (-1, -1); the one real
hash equal to -1 (probability 2^-64 per ID) is moved to -2 so that it never reads as padding.

Importing this module does not import TensorFlow; the TF functions import it when called. Hashing
runs in preprocessing, never inside the model, so the layers stay backend-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterable

import mmh3
import numpy as np

UINT32_MASK = 0xFFFFFFFF
_C1 = 0x87C37B91114253D5
_C2 = 0x4CF5AD432745937F
# model IDs keep the low 31 bits: non-negative and exact in int32 (JAX without x64)
ID_HASH_MASK = 2**31 - 1
PAD_ID = -1
# a full 64-bit hash equal to PAD_ID is moved here, so a real ID never reads as padding
FULL_HASH_OF_PAD = -2


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


def int32_halves(x: np.ndarray | int) -> np.ndarray:
    """int64 [...] → int64 [..., 2]: (hi, lo), the upper and lower 32 bits of each value, each
    read as a signed int32 (so -1 → (-1, -1)); `id_halves` in numpy."""
    x = np.asarray(x, dtype=np.int64)
    return np.stack([x >> 32, x.astype(np.int32).astype(np.int64)], axis=-1)


def model_id_halves(strings: Iterable[str | bytes] | str | bytes) -> np.ndarray:
    """int64 [..., 2]: the unlimited-vocabulary model IDs of string IDs, as the transform makes
    them (`hash_string_ids(..., full=True)` then `id_halves`); "" → (-1, -1), padding."""
    array = np.asarray(strings, dtype=object)
    hashed = murmur_int64(array)
    hashed = np.where(hashed == PAD_ID, FULL_HASH_OF_PAD, hashed)
    empty = np.asarray([len(s) == 0 for s in array.reshape(-1)], dtype=bool)
    return int32_halves(np.where(empty.reshape(array.shape), PAD_ID, hashed))


def hash_to_halves(strings: Iterable[str | bytes] | str | bytes, seed: int = 0) -> np.ndarray:
    """Strings [...] → int64 [..., 2] holding (hi, lo): the input of `UnlimitedVocabEmbedding`."""
    hi, lo = split_int64(murmur_int64(strings, seed))
    return np.stack([hi, lo], axis=-1)


def _u64(value: int):
    import tensorflow as tf

    return tf.constant(value, tf.uint64)


def _rotl(x, r: int):
    import tensorflow as tf

    return tf.bitwise.bitwise_or(
        tf.bitwise.left_shift(x, _u64(r)), tf.bitwise.right_shift(x, _u64(64 - r))
    )


def _fmix64(k):
    import tensorflow as tf

    k = tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))
    k = k * _u64(0xFF51AFD7ED558CCD)
    k = tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))
    k = k * _u64(0xC4CEB9FE1A85EC53)
    return tf.bitwise.bitwise_xor(k, tf.bitwise.right_shift(k, _u64(33)))


def murmur64(strings):
    """MurmurHash3 x64-128 (seed 0) of each UTF-8 string, first 64 bits as int64; keeps the shape.

    Equal to `murmur_int64`. Each string is zero-padded to whole 16-byte
    blocks plus one: block b < len // 16 is mixed as a full block, block len // 16 as the tail
    (its zero bytes make the tail's k1/k2 terms vanish exactly as in the reference), later
    blocks are skipped; then the length is folded in and both halves finalized.
    """
    import tensorflow as tf

    strings = tf.convert_to_tensor(strings, tf.string)
    flat = tf.reshape(strings, [-1])
    chars = tf.strings.bytes_split(flat)
    byte_values = tf.reshape(tf.io.decode_raw(chars.flat_values, tf.uint8), [-1])
    data = tf.RaggedTensor.from_row_splits(byte_values, chars.row_splits)
    lengths = data.row_lengths()
    full_blocks = lengths // 16
    num_blocks = tf.reduce_max(tf.concat([full_blocks, [0]], 0)) + 1
    dense = data.to_tensor(default_value=0)
    rows = tf.shape(flat, out_type=tf.int64)[0]
    dense = tf.pad(dense, [[0, 0], [0, num_blocks * 16 - tf.shape(dense, out_type=tf.int64)[1]]])
    octets = tf.cast(tf.reshape(dense, [rows, num_blocks, 2, 8]), tf.uint64)
    words = octets[..., 0]
    for i in range(1, 8):
        words = tf.bitwise.bitwise_or(words, tf.bitwise.left_shift(octets[..., i], _u64(8 * i)))

    def mix(b, h1, h2):
        k1 = _rotl(words[:, b, 0] * _u64(_C1), 31) * _u64(_C2)
        k2 = _rotl(words[:, b, 1] * _u64(_C2), 33) * _u64(_C1)
        tail1, tail2 = tf.bitwise.bitwise_xor(h1, k1), tf.bitwise.bitwise_xor(h2, k2)
        full1 = _rotl(tail1, 27) + h2
        full1 = full1 * _u64(5) + _u64(0x52DCE729)
        full2 = _rotl(tail2, 31) + full1
        full2 = full2 * _u64(5) + _u64(0x38495AB5)
        is_full, is_tail = b < full_blocks, tf.equal(b, full_blocks)
        h1 = tf.where(is_full, full1, tf.where(is_tail, tail1, h1))
        h2 = tf.where(is_full, full2, tf.where(is_tail, tail2, h2))
        return b + 1, h1, h2

    zeros = tf.zeros([rows], tf.uint64)
    _, h1, h2 = tf.while_loop(
        lambda b, h1, h2: b < num_blocks, mix, (tf.constant(0, tf.int64), zeros, zeros)
    )
    length = tf.cast(lengths, tf.uint64)
    h1, h2 = tf.bitwise.bitwise_xor(h1, length), tf.bitwise.bitwise_xor(h2, length)
    h1 = h1 + h2
    h2 = h2 + h1
    h1, h2 = _fmix64(h1), _fmix64(h2)
    h1 = h1 + h2
    return tf.reshape(tf.bitcast(h1, tf.int64), tf.shape(strings))


def hash_string_ids(strings, full: bool = False):
    """Model IDs of string IDs in TF ops: murmur64 & (2^31 - 1), or with `full` the whole
    murmur64 (a hash equal to -1 becomes -2); "" (padding) -> -1."""
    import tensorflow as tf

    hashed = murmur64(strings)
    if full:
        hashed = tf.where(tf.equal(hashed, PAD_ID), tf.constant(FULL_HASH_OF_PAD, tf.int64), hashed)
    else:
        hashed = tf.bitwise.bitwise_and(hashed, tf.constant(ID_HASH_MASK, tf.int64))
    return tf.where(tf.equal(strings, ""), tf.constant(PAD_ID, tf.int64), hashed)


def id_halves(ids):
    """int64 [...] → int64 [..., 2] in TF ops: (hi, lo), the upper and lower 32 bits of each ID,
    each read as a signed int32 (an arithmetic shift and a wrapping cast); -1 → (-1, -1)."""
    import tensorflow as tf

    ids = tf.cast(ids, tf.int64)
    high = tf.bitwise.right_shift(ids, tf.constant(32, tf.int64))
    low = tf.cast(tf.cast(ids, tf.int32), tf.int64)
    return tf.stack([high, low], axis=-1)


def string_ids(ids: np.ndarray, namespace: str) -> np.ndarray:
    """Integer IDs as namespaced strings (object array): 1234 -> "member:1234", padding -> ""."""
    ids = np.asarray(ids, dtype=np.int64)
    flat = [f"{namespace}:{i}" if i >= 0 else "" for i in ids.reshape(-1).tolist()]
    return np.asarray(flat, dtype=object).reshape(ids.shape)
