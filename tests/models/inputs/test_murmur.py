"""murmur: MurmurHash3 x64-128 → int64 (mmh3 and TensorFlow, bit-identical), stable across
processes; int64 ↔ uint32 halves; 31-bit model IDs; full 64-bit model IDs as int32 halves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from models.inputs.murmur import (
    hash_string_ids,
    hash_to_halves,
    id_halves,
    int32_halves,
    join_int64,
    model_id_halves,
    murmur64,
    murmur_int64,
    split_int64,
)

REPO = Path(__file__).resolve().parents[3]
MASK64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK64


def _fmix(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & MASK64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & MASK64
    return k ^ (k >> 33)


def _reference_first_64(data: bytes, seed: int = 0) -> int:
    """Plain-Python MurmurHash3_x64_128 (Appleby's reference), first 64 bits, signed."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    blocks = len(data) // 16
    for i in range(blocks):
        k1 = int.from_bytes(data[16 * i : 16 * i + 8], "little")
        k2 = int.from_bytes(data[16 * i + 8 : 16 * i + 16], "little")
        h1 ^= (_rotl((k1 * c1) & MASK64, 31) * c2) & MASK64
        h1 = (_rotl(h1, 27) + h2) & MASK64
        h1 = (h1 * 5 + 0x52DCE729) & MASK64
        h2 ^= (_rotl((k2 * c2) & MASK64, 33) * c1) & MASK64
        h2 = (_rotl(h2, 31) + h1) & MASK64
        h2 = (h2 * 5 + 0x38495AB5) & MASK64
    tail = data[16 * blocks :]
    k1 = int.from_bytes(tail[:8], "little")
    k2 = int.from_bytes(tail[8:], "little")
    if len(tail) > 8:
        h2 ^= (_rotl((k2 * c2) & MASK64, 33) * c1) & MASK64
    if tail:
        h1 ^= (_rotl((k1 * c1) & MASK64, 31) * c2) & MASK64
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & MASK64
    h2 = (h2 + h1) & MASK64
    h1, h2 = _fmix(h1), _fmix(h2)
    h1 = (h1 + h2) & MASK64
    return h1 - (1 << 64) if h1 >> 63 else h1


def test_known_value():
    # mmh3's documented value: mmh3.hash64("foo") == (-2129773440516405919, 9128664383759220103).
    assert murmur_int64(["foo"])[0] == -2129773440516405919
    assert murmur_int64("foo").dtype == np.int64


def test_matches_reference_implementation():
    keys = ["", "a", "member:1234", "hashtag:#ai", "x" * 15, "y" * 16, "z" * 33, "ünïcødé"]
    got = murmur_int64(keys)
    expected = [_reference_first_64(k.encode("utf-8")) for k in keys]
    assert got.tolist() == expected


def test_keeps_shape_and_accepts_bytes():
    grid = murmur_int64(np.array([["a", "b"], ["c", "a"]]))
    assert grid.shape == (2, 2) and grid[0, 0] == grid[1, 1]
    assert murmur_int64([b"member:1"])[0] == murmur_int64(["member:1"])[0]


def test_stable_across_processes_without_keras():
    keys = ["member:1234", "actor:42", "hashtag:ml"]
    code = (
        "import sys; from models.inputs.murmur import murmur_int64; "
        f"print(','.join(map(str, murmur_int64({keys!r})))); "
        "print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    )
    for hash_seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={"PYTHONHASHSEED": hash_seed, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert [int(v) for v in out[0].split(",")] == murmur_int64(keys).tolist()
        assert out[1:] == ["False", "False"]


def test_split_int64_by_hand_and_round_trip():
    values = np.array([0, 1, -1, 2**32, -(2**63), 2**63 - 1], dtype=np.int64)
    hi, lo = split_int64(values)
    assert hi.tolist() == [0, 0, 2**32 - 1, 1, 2**31, 2**31 - 1]
    assert lo.tolist() == [0, 1, 2**32 - 1, 0, 0, 2**32 - 1]
    np.testing.assert_array_equal(join_int64(hi, lo), values)
    random = np.random.default_rng(0).integers(-(2**63), 2**63 - 1, size=1000, dtype=np.int64)
    hi, lo = split_int64(random)
    assert hi.min() >= 0 and lo.min() >= 0 and max(hi.max(), lo.max()) < 2**32
    np.testing.assert_array_equal(join_int64(hi, lo), random)


def test_hash_to_halves():
    halves = hash_to_halves(["foo", "bar"])
    assert halves.shape == (2, 2) and halves.dtype == np.int64
    np.testing.assert_array_equal(
        join_int64(halves[:, 0], halves[:, 1]), murmur_int64(["foo", "bar"])
    )


def _strings() -> list[str]:
    """Every length 0..40 (full blocks, tails of each size), unicode, and id-like strings."""
    rng = np.random.default_rng(0)
    alphabet = list("abcxyz0189:#-_ é€𝄞")
    out = ["".join(rng.choice(alphabet, size=n)) for n in range(41)]
    return out + ["", "member:1234", "actor:77", "hashtag:#ai", "ünïcødé", "x" * 160]


def test_tf_murmur_is_bit_identical_to_mmh3():
    strings = _strings()
    np.testing.assert_array_equal(murmur64(tf.constant(strings)).numpy(), murmur_int64(strings))
    # inside a graph, on a 2-D batch: same values, same shape
    grid = np.array(strings[:12], dtype=object).reshape(3, 4)
    graph = tf.function(murmur64)(tf.constant(grid.tolist()))
    np.testing.assert_array_equal(graph.numpy(), murmur_int64(grid))
    assert murmur64(tf.constant([], tf.string)).shape == (0,)


def test_string_id_hashes_are_31_bit_murmur_and_keep_padding():
    strings = np.array([["member:1", ""], ["actor:2", "member:1"]], dtype=object)
    tf_ids = hash_string_ids(tf.constant(strings.astype(bytes))).numpy()
    np.testing.assert_array_equal(tf_ids[1], murmur_int64(strings[1]) & (2**31 - 1))
    assert tf_ids[0, 1] == -1 and tf_ids[0, 0] == tf_ids[1, 1]
    assert np.all(tf_ids[strings != ""] >= 0) and np.all(tf_ids < 2**31)


def test_int32_halves_by_hand_in_numpy_and_tf():
    values = np.array([0, -1, 2**32 + 5, -(2**32) + 7, 2**31, -(2**63), 2**63 - 1], np.int64)
    expected = [[0, 0], [-1, -1], [1, 5], [-1, 7], [0, -(2**31)], [-(2**31), 0],
                [2**31 - 1, -1]]  # fmt: skip
    np.testing.assert_array_equal(int32_halves(values), expected)
    np.testing.assert_array_equal(id_halves(tf.constant(values)).numpy(), expected)
    # the int32 readings are the uint32 halves of `split_int64`, wrapped: same bits
    np.testing.assert_array_equal(
        int32_halves(values).astype(np.uint32), np.stack(split_int64(values), -1).astype(np.uint32)
    )
    assert np.all(np.abs(int32_halves(values)) <= 2**31)  # exact in int32 (JAX without x64)


def test_full_string_id_hashes_keep_64_bits_and_padding():
    strings = np.array([["member:1", ""], ["actor:2", "member:1"]], dtype=object)
    tf_ids = hash_string_ids(tf.constant(strings.astype(bytes)), full=True).numpy()
    np.testing.assert_array_equal(tf_ids[1], murmur_int64(strings[1]))
    assert tf_ids[0, 1] == -1 and tf_ids[0, 0] == tf_ids[1, 1]
    halves = id_halves(tf_ids).numpy()
    np.testing.assert_array_equal(halves, model_id_halves(strings))
    np.testing.assert_array_equal(halves[0, 1], [-1, -1])
    many = [f"member:{i}" for i in range(2000)]
    full = hash_string_ids(tf.constant(many), full=True).numpy()
    assert (full < 0).any() and (full >= 2**31).any()  # all 64 bits are kept
