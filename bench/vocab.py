"""Row collisions of the ID tables: the 31-bit Murmur hash mod buckets (today's path) against the
unlimited vocabulary (paper A.7: the 64-bit hash's two halves through QR tables, no modulo).

Run: `.venv/bin/python bench/vocab.py` (a few seconds on 2 cores).

For every world preset of `lirank_assets.settings.WORLD_PRESETS` (tiny, demo, large, xlarge) the
member, actor (author) and post IDs the world holds (members and authors as configured, posts
`posts_per_day × num_days`; IDs 0..n-1, the worlds are not simulated) are written as the graph's
string IDs ("member:17"), hashed by the served transform's own TF ops and mapped to the rows they
read:

* old path: ``murmur64 & (2^31 - 1)`` mod `member_buckets` / `actor_buckets` / `post_buckets`
  (the "hashed" tables; a "qr" table reads the (quotient, remainder) of that bucket, so its
  collisions are the same);
* unlimited: the full hash's int32 halves through `UnlimitedVocabEmbedding`'s rows
  (`unlimited_rows`: four rows a table), at the config's default table sizes (Q = m = 2^12) and
  at the full range (Q = m = 2^16, each half taken whole).

The row-collision rate of a table is the share of its distinct IDs that share their row (old) or
all four rows (unlimited) with another ID. Parameter counts are those of the built layers at the
graph's 30-dim embeddings. The last line is one JSON object.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lirank_assets.settings import WORLD_PRESETS  # noqa: E402
from models.feed import GRAPH_FEED_MODEL, FeedModelConfig  # noqa: E402
from models.feed.model import embedding_tables  # noqa: E402
from models.feed.sparse import ID_EMBEDDINGS  # noqa: E402
from models.inputs.murmur import hash_string_ids, id_halves  # noqa: E402
from models.layers.pooling import id_halves_index  # noqa: E402
from models.layers.unlimited_vocab_embedding import unlimited_rows  # noqa: E402

# table -> (namespace of its string IDs, FeedModelConfig field of its hashed size)
TABLES: dict[str, tuple[str, str]] = {
    "member_id": ("member", "member_buckets"),
    "actor": ("actor", "actor_buckets"),
    "post": ("post", "post_buckets"),
}
# the ID tables as the graph would build them: post IDs included (history_items with posts)
_POSTS = {"history_pooling": "transformer", "history_items": "posts_and_authors"}
PATHS: dict[str, FeedModelConfig] = {
    "hashed": dataclasses.replace(GRAPH_FEED_MODEL, **_POSTS),
    "qr": dataclasses.replace(GRAPH_FEED_MODEL, id_embedding="qr", **_POSTS),
    "unlimited": dataclasses.replace(GRAPH_FEED_MODEL, id_embedding="unlimited", **_POSTS),
    "unlimited_full_range": dataclasses.replace(
        GRAPH_FEED_MODEL,
        id_embedding="unlimited",
        unlimited_collisions=2**16,
        unlimited_quotient_rows=2**16,
        **_POSTS,
    ),
}


def id_counts(preset: str) -> dict[str, int]:
    """Distinct member, actor and post IDs of a world preset."""
    world = WORLD_PRESETS[preset]
    return {
        "member_id": world.num_members,
        "actor": world.num_authors,
        "post": world.posts_per_day * world.num_days,
    }


def shared_share(rows: np.ndarray) -> float:
    """Share of the IDs (one row, or one tuple of rows, each) whose rows another ID also has."""
    rows = rows.reshape(len(rows), -1)
    _, index, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return float((counts[index.reshape(-1)] > 1).mean())


def old_rows(strings: tf.Tensor, buckets: int) -> np.ndarray:
    """The bucket each ID reads today: 31-bit Murmur mod `buckets`."""
    return hash_string_ids(strings).numpy() % buckets


def unlimited_table_rows(strings: tf.Tensor, config: FeedModelConfig) -> np.ndarray:
    """[n, 4]: the rows each ID reads in an unlimited table of `config`, through the transform's
    hash and halves and the layer's lookup."""
    halves, _ = id_halves_index(id_halves(hash_string_ids(strings, full=True)))
    rows = unlimited_rows(halves, config.unlimited_collisions, config.unlimited_half_buckets)
    return keras.ops.convert_to_numpy(rows)


def table_parameters(config: FeedModelConfig) -> dict[str, int]:
    """Parameters of the member, actor and post tables of `config`, from the built layers."""
    out = {}
    for table in embedding_tables(config):
        if table.name in TABLES:
            layer = ID_EMBEDDINGS[table.kind](table, config.embedding_dim)
            layer.build((None, 2) if table.kind == "unlimited" else (None,))
            out[table.name] = int(layer.count_params())
    return out


def collision_rates(preset: str) -> dict[str, dict[str, float]]:
    """{path: {table: row-collision rate}} at the ID counts of `preset`."""
    rates: dict[str, dict[str, float]] = {"old": {}, "unlimited": {}, "unlimited_full_range": {}}
    for table, count in id_counts(preset).items():
        namespace, buckets_field = TABLES[table]
        strings = tf.constant([f"{namespace}:{i}" for i in range(count)])
        rates["old"][table] = shared_share(
            old_rows(strings, getattr(PATHS["hashed"], buckets_field))
        )
        for path in ("unlimited", "unlimited_full_range"):
            rates[path][table] = shared_share(unlimited_table_rows(strings, PATHS[path]))
    return rates


def main() -> None:
    start = time.perf_counter()
    params = {path: table_parameters(config) for path, config in PATHS.items()}
    presets = {}
    for preset in ("tiny", "demo", "large", "xlarge"):
        presets[preset] = {"ids": id_counts(preset), "collision_rate": collision_rates(preset)}
    sizes = {
        "embedding_dim": GRAPH_FEED_MODEL.embedding_dim,
        **{field: getattr(GRAPH_FEED_MODEL, field) for _, field in TABLES.values()},
        "qr_collisions": GRAPH_FEED_MODEL.qr_collisions,
        "unlimited_collisions": PATHS["unlimited"].unlimited_collisions,
        "unlimited_quotient_rows": PATHS["unlimited"].unlimited_quotient_rows,
        "unlimited_full_range": 2**16,
    }
    print("table sizes:", sizes)
    print(f"{'path':<22}" + "".join(f"{t + ' params':>18}" for t in TABLES))
    for path, counts in params.items():
        print(f"{path:<22}" + "".join(f"{counts[t]:>18,}" for t in TABLES))
    print("\nrow-collision rate (share of distinct IDs sharing their row(s) with another ID)")
    header = "".join(f"{t:>12}" for t in TABLES)
    print(f"{'preset':<8}{'ids (member/actor/post)':>26}  {'path':<22}{header}")
    for preset, result in presets.items():
        ids = "/".join(f"{n:,}" for n in result["ids"].values())
        for path, rates in result["collision_rate"].items():
            cells = "".join(f"{rates[t]:>12.4%}" for t in TABLES)
            print(f"{preset:<8}{ids:>26}  {path:<22}{cells}")
    report = {
        "table_sizes": sizes,
        "params": params,
        "presets": presets,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
