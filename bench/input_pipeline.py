"""Benchmark of training-input readers (paper §13): ATDS vs a Python Avro reader vs Parquet.

Usage: `python bench/input_pipeline.py [--days 2] [--first-day 6] [--batch-size 512]
[--repeats 3] [--shards 4]`.

Builds TRAINING_EXAMPLE rows from the default simulated world (`--days` days from `--first-day`,
~17k impressions a day; the world's first week is simulated but not used, since member histories,
the varlen columns a reader spends most on, are empty on day 0 and fill up over the first days)
and writes the same rows three ways, then times reading them back into batched tensors:

* ATDS: Avro shards (`spark.avro_shards.write_avro_shards`, deflate) read by tensorflow-io's
  `ATDSDataset` (`spark.avro_shards.atds_dataset`), sequential and with `num_parallel_calls`
  AUTOTUNE; list columns come out as sparse tensors.
* Python Avro: the same shards read record by record with fastavro and fed through
  `tf.data.Dataset.from_generator` (list columns padded to fixed length in Python), then batched.
* Parquet: one Parquet file read with pyarrow, list columns padded with numpy, then
  `tf.data.Dataset.from_tensor_slices(...).batch(...)`.

The rows are built with pyarrow rather than Spark, to keep the benchmark Spark-free: the explode
and label join are those of `spark.explode` (impressed posts only), but `split` is only
"random_bucket" vs "train" and `long_dwell` is dwell above the 75th percentile of its content type
(a stand-in for `spark.dwell`'s per-context percentiles). Column types and value distributions are
the real ones, which is what a reader's speed depends on.

Each figure is rows / wall seconds from building the dataset to exhausting it, best of `--repeats`
after one warm-up read (the Python reader: a single read), on a shared 2-core machine. The last
line printed is one JSON object with `atds_rows_per_s`, `atds_sequential_rows_per_s`,
`python_avro_rows_per_s`, `parquet_rows_per_s`, `atds_speedup_vs_python` and the setup.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastavro  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import tensorflow as tf  # noqa: E402

from spark.avro_shards import AVRO_SCHEMA, atds_dataset, write_avro_shards  # noqa: E402
from spark.explode import LABEL_COLUMNS, SERVED_POST_COLUMNS  # noqa: E402
from spark.schemas import TRAINING_EXAMPLE  # noqa: E402
from spark.world import FeedWorld, WorldConfig  # noqa: E402

PAD = -1
LONG_DWELL_QUANTILE = 0.75


def build_examples(days: int, first_day: int = 0) -> pa.Table:
    """TRAINING_EXAMPLE rows (one per impression) of the default world's days
    `first_day` .. `first_day + days - 1` (the days before are simulated, not kept)."""
    config = WorldConfig()
    if first_day + days > config.num_days:
        raise SystemExit(
            f"--first-day {first_day} + --days {days} exceeds the default world's "
            f"{config.num_days} days"
        )
    world = FeedWorld(config)
    simulated = [world.simulate_day(day) for day in range(first_day + days)][first_day:]
    sessions = pa.concat_tables([d.feed_sessions for d in simulated])
    impressions = pa.concat_tables([d.feed_impressions for d in simulated])

    served = sessions.column("served").combine_chunks()
    parent = pc.list_parent_indices(served).to_numpy()
    posts = pa.Table.from_struct_array(pc.list_flatten(served))
    served_keys = pd.DataFrame(
        {
            "session_id": sessions.column("session_id").to_numpy()[parent],
            "post_id": posts.column("post_id").to_numpy(),
            "served_row": np.arange(len(parent)),
        }
    )
    impression_keys = impressions.select(["session_id", "post_id"]).to_pandas()
    impression_keys["impression_row"] = np.arange(len(impression_keys))
    matched = impression_keys.merge(served_keys, on=["session_id", "post_id"], how="inner")
    served_rows = matched["served_row"].to_numpy()
    session_rows = parent[served_rows]
    impression_rows = matched["impression_row"].to_numpy()

    session_part = sessions.take(session_rows)
    post_part = posts.take(served_rows)
    label_part = impressions.take(impression_rows)
    split = np.where(session_part.column("random_bucket").to_numpy(), "random_bucket", "train")
    dwell = label_part.column("dwell_seconds").to_numpy()
    content = post_part.column("content_type").to_numpy(zero_copy_only=False)
    threshold = (
        pd.Series(dwell).groupby(content).transform(lambda x: x.quantile(LONG_DWELL_QUANTILE))
    )
    columns: dict[str, pa.Array] = {"split": pa.array(split)}
    columns["long_dwell"] = pa.array((dwell > threshold.to_numpy()).astype(np.int8))
    for name in TRAINING_EXAMPLE.names:
        if name in columns:
            continue
        if name in SERVED_POST_COLUMNS:
            columns[name] = post_part.column(name)
        elif name in LABEL_COLUMNS:
            columns[name] = label_part.column(name)
        else:
            columns[name] = session_part.column(name)
    return pa.table({name: columns[name] for name in TRAINING_EXAMPLE.names}).cast(TRAINING_EXAMPLE)


def _list_widths(table: pa.Table) -> dict[str, int]:
    return {
        field.name: max(1, int(pc.max(pc.list_value_length(table.column(field.name))).as_py()))
        for field in table.schema
        if pa.types.is_list(field.type)
    }


def _signature(widths: dict[str, int]) -> dict[str, tf.TensorSpec]:
    dtypes = {"int": tf.int32, "long": tf.int64, "float": tf.float32, "string": tf.string}
    spec = {}
    for field in AVRO_SCHEMA["fields"]:
        avro_type = field["type"]
        if isinstance(avro_type, dict):
            spec[field["name"]] = tf.TensorSpec([widths[field["name"]]], dtypes[avro_type["items"]])
        else:
            spec[field["name"]] = tf.TensorSpec([], dtypes[avro_type])
    return spec


def python_avro_dataset(
    paths: list[Path], batch_size: int, widths: dict[str, int]
) -> tf.data.Dataset:
    """fastavro records -> `from_generator` (lists padded in Python) -> batches."""

    def records():
        for path in paths:
            with open(path, "rb") as shard:
                for record in fastavro.reader(shard):
                    for name, width in widths.items():
                        values = record[name]
                        record[name] = values + [PAD] * (width - len(values))
                    yield record

    return tf.data.Dataset.from_generator(records, output_signature=_signature(widths)).batch(
        batch_size
    )


def _padded(column: pa.ChunkedArray, width: int) -> np.ndarray:
    """A list column as a [rows, width] numpy array, PAD-filled at the end."""
    array = column.combine_chunks()
    lengths = pc.list_value_length(array).to_numpy()
    values = pc.list_flatten(array).to_numpy()
    out = np.full((len(array), width), PAD, dtype=values.dtype)
    rows = np.repeat(np.arange(len(array)), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out[rows, np.arange(len(values)) - np.repeat(starts, lengths)] = values
    return out


def parquet_dataset(path: Path, batch_size: int, widths: dict[str, int]) -> tf.data.Dataset:
    """pyarrow Parquet read -> numpy (lists padded) -> `from_tensor_slices` -> batches."""
    table = pq.read_table(path)
    arrays: dict[str, np.ndarray] = {}
    for field in table.schema:
        column = table.column(field.name)
        if field.name in widths:
            arrays[field.name] = _padded(column, widths[field.name])
        elif pa.types.is_date32(field.type):
            arrays[field.name] = column.cast(pa.int32()).to_numpy()
        elif pa.types.is_string(field.type):
            arrays[field.name] = column.to_numpy(zero_copy_only=False).astype(object)
        else:
            arrays[field.name] = column.to_numpy()
    return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)


def rows_per_second(
    build: Callable[[], tf.data.Dataset], repeats: int, warm_up: bool = True
) -> tuple[float, int]:
    """Best rows/s over `repeats` full reads (after one untimed warm-up read), and the rows read."""
    best, rows = 0.0, 0
    first_timed = 1 if warm_up else 0
    for attempt in range(repeats + first_timed):
        start = time.perf_counter()
        rows = 0
        for batch in build():
            rows += int(batch["post_id"].shape[0])
        seconds = time.perf_counter() - start
        if attempt >= first_timed:
            best = max(best, rows / seconds)
    return best, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2, help="simulated days of examples")
    parser.add_argument("--first-day", type=int, default=6, help="first world day kept")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3, help="timed reads per reader (best)")
    parser.add_argument("--shards", type=int, default=4, help="Avro shards")
    args = parser.parse_args()
    for name in ("days", "batch_size", "repeats", "shards"):
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')} must be >= 1")

    tick = time.perf_counter()
    if args.first_day < 0:
        raise SystemExit("--first-day must be >= 0")
    examples = build_examples(args.days, args.first_day)
    widths = _list_widths(examples)
    print(
        f"built {examples.num_rows} examples in {time.perf_counter() - tick:.1f} s; "
        f"list widths {widths}",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="lirank-input-") as tmp:
        shards = write_avro_shards(examples, Path(tmp) / "avro", num_shards=args.shards)
        parquet = Path(tmp) / "examples.parquet"
        pq.write_table(examples, parquet)
        sizes = {
            "avro_bytes": sum(p.stat().st_size for p in shards),
            "parquet_bytes": parquet.stat().st_size,
        }
        readers = {
            "atds": lambda: atds_dataset(
                shards, args.batch_size, num_parallel_calls=tf.data.AUTOTUNE
            ),
            "atds_sequential": lambda: atds_dataset(shards, args.batch_size),
            "python_avro": lambda: python_avro_dataset(shards, args.batch_size, widths),
            "parquet": lambda: parquet_dataset(parquet, args.batch_size, widths),
        }
        figures: dict[str, float] = {}
        for name, build in readers.items():
            # The Python reader is slow and has no graph to warm up: one timed read is enough.
            slow = name == "python_avro"
            rate, rows = rows_per_second(build, 1 if slow else args.repeats, warm_up=not slow)
            if rows != examples.num_rows:
                raise SystemExit(f"{name} read {rows} rows, expected {examples.num_rows}")
            figures[name] = rate
            print(f"{name:<16}{rate:>12,.0f} rows/s", flush=True)

    print(
        json.dumps(
            {
                "atds_rows_per_s": round(figures["atds"]),
                "atds_sequential_rows_per_s": round(figures["atds_sequential"]),
                "python_avro_rows_per_s": round(figures["python_avro"]),
                "parquet_rows_per_s": round(figures["parquet"]),
                "atds_speedup_vs_python": round(figures["atds"] / figures["python_avro"], 2),
                "rows": examples.num_rows,
                "world_days": [args.first_day, args.first_day + args.days - 1],
                "batch_size": args.batch_size,
                "shards": args.shards,
                "columns": len(TRAINING_EXAMPLE.names),
                **sizes,
            }
        )
    )


if __name__ == "__main__":
    main()
