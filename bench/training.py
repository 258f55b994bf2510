"""Training throughput and memory (paper §13, §16): in-memory vs streaming input, 1 vs 2 Horovod
ranks on CPU, embedding-table optimizers, embedding-gradient bytes per step (prints a table,
then one JSON line).

Run: `.venv/bin/python bench/training.py [--root DIR] [--days 1,16] [--epochs 1]`
(about 4–8 minutes on 2 cores once the days are materialized; `--root` reuses a data root that
`lirank_assets.backfill.materialize_days` fills, e.g. the ablation's).

What it measures, each variant in its own subprocess (so its peak RSS is its own:
`resource.getrusage(RUSAGE_SELF).ru_maxrss`; for Horovod, the largest rank's, from
`RUSAGE_CHILDREN` of the process that waited for `horovodrun`):

* `input`: the graph's cold start (`GRAPH_FEED_MODEL`, `TrainingResource` batch size and learning
  rate, `--epochs` epochs) on the first k demo days for each k of `--days` (k beyond the
  world's days cycles through them again, to make a bigger stream of real rows), two ways:
  "in_memory" reads every example into numpy arrays first (`atds.read_feed_examples`, the
  former trainer) and feeds them through `from_tensor_slices`; "streaming" streams the Avro shards
  (`models.inputs.stream.AvroExamples`: ATDS, the transform as a parallel map, shuffle buffer).
  Figures: the loop's examples/s, wall seconds end to end (reading, statistics pass, model,
  loop), peak RSS. Streaming's RSS should stay flat as days are added; in-memory's grows.
* `horovod`: `run_training` on the streaming path with 1 rank in-process and 2 Gloo ranks on
  this machine (`horovod_hosts="localhost:2"`). On 2 cores, 2 ranks share the cores
  (`job._limit_threads`: 1 thread each), so the scaling shows Horovod's overhead, not a speed-up.
* `embeddings`: a 1M-row table (dim 32, 8 ids per example) trained with Keras Adam (dense updates,
  `embedding_optimizer="adam"`), sparse AdaGrad and lazy Adam (`models.training.optimizers`), and
  a QR table (m=1000) with Adam: examples/s of a train step (`bench/models.py` measured 3.6k vs
  172k examples/s for the 1M table vs QR with dense Adam).
  The 1M table is the graph's `GatherEmbedding` (a ResourceGather lookup on TensorFlow,
  `models.layers.lookup`); a fourth row looks it up with Keras's own `Embedding` (`ops.take`):
  once a variable takes sparse updates, TensorFlow switches it to copy-on-read, so every dense
  read of the table (what `ops.take` does) copies all of it, and the sparse optimizers only reach
  their O(touched rows) cost with the sparse lookup.
* `gradient_bytes`: `models.training.gradient_bytes.embedding_gradient_bytes` of the graph's model
  on one real batch, for 2 ranks: dense all-reduce vs sparse rows, bytes per step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

DEFAULT_ROOT = Path(tempfile.gettempdir()) / "lirank-ablation"  # shared with the other benches
VOCAB = 1_000_000
EMBED_DIM = 32
IDS_PER_EXAMPLE = 8
EMBED_BATCH = 512


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # ru_maxrss is in KiB on Linux


def _plan(root: Path, days: int, epochs: int, out: Path, **plan_overrides):
    from lirank_assets.backfill import graph_training_plan
    from lirank_assets.settings import settings_from_env
    from models.feed import GRAPH_FEED_MODEL
    from spark.storage import DataLayout

    world = settings_from_env().world
    # more days than the world has cycle through its days again (a bigger stream, same rows)
    window = [world.date_of(d % world.num_days) for d in range(days)]
    plan = graph_training_plan(
        DataLayout(root), out, window, model=GRAPH_FEED_MODEL, seed=0, model_id="bench"
    )
    training = dataclasses.replace(plan.training, epochs=epochs)
    return dataclasses.replace(plan, training=training, **plan_overrides)


def child_input(root: Path, days: int, epochs: int, mode: str) -> dict:
    """One cold start on `days` days, reading `mode` ("in_memory" | "streaming")."""
    import keras

    from models.feed import FeedModel
    from models.inputs.atds import read_feed_examples
    from models.inputs.stream import ArrayExamples, AvroExamples
    from models.training.job import cold_start_architecture
    from models.training.loop import train_feed_model

    start = time.perf_counter()
    plan = _plan(root, days, epochs, Path("/tmp/unused"))
    architecture = cold_start_architecture(plan)
    spec = architecture.input_spec()
    if mode == "in_memory":
        inputs, labels = read_feed_examples(plan.examples, spec=spec, split="train")
        source = ArrayExamples(inputs, labels)
    else:
        source = AvroExamples(plan.examples, spec, "train")
    statistics = source.statistics()
    keras.utils.set_random_seed(0)
    model = FeedModel(
        dataclasses.replace(
            architecture,
            dense_mean=statistics.dense_mean,
            dense_variance=statistics.dense_variance,
        )
    )
    result = train_feed_model(model, source, None, plan.training)
    return {
        "rows": statistics.rows,
        "loop_examples_per_s": round(result.examples_per_second, 1),
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "final_loss": round(result.epoch_losses[-1], 5),
    }


def child_horovod(root: Path, days: int, epochs: int, ranks: int) -> dict:
    import tempfile

    from models.training.job import run_training

    with tempfile.TemporaryDirectory(prefix="lirank-bench-hvd-") as folder:
        overrides = {"horovod_hosts": f"localhost:{ranks}"} if ranks > 1 else {}
        plan = _plan(root, days, epochs, Path(folder) / "model", **overrides)
        start = time.perf_counter()
        if ranks > 1:
            horovodrun = Path(sys.executable).parent
            os.environ["PATH"] = f"{horovodrun}{os.pathsep}{os.environ.get('PATH', '')}"
        result = run_training(plan)
        wall = time.perf_counter() - start
    rss = _peak_rss_mb(resource.RUSAGE_CHILDREN if ranks > 1 else resource.RUSAGE_SELF)
    return {
        "ranks": ranks,
        "rows": result.train_rows,
        "steps": result.steps,
        "loop_examples_per_s": round(result.examples_per_second, 1),
        "wall_s": round(wall, 2),
        "peak_rss_mb_per_rank": round(rss, 1),
        "final_loss": round(result.final_loss, 5),
    }


def child_embeddings(steps: int) -> dict:
    """Train-step examples/s of a 1M-row table under each optimizer, and of a QR table."""
    import keras
    import numpy as np
    import tensorflow as tf

    from models.layers import GatherEmbedding, QREmbedding
    from models.training.optimizers import SparseRowOptimizer, embedding_variables

    rng = np.random.default_rng(0)
    ids = tf.constant(rng.integers(0, VOCAB, (EMBED_BATCH, IDS_PER_EXAMPLE)), tf.int32)
    labels = tf.constant(rng.integers(0, 2, (EMBED_BATCH, 1)), tf.float32)

    def build(layer):
        inputs = keras.Input((IDS_PER_EXAMPLE,), dtype="int32")
        flat = keras.layers.Flatten()(layer(inputs))
        return keras.Model(inputs, keras.layers.Dense(1)(flat))

    def run(layer, optimizer_kind: str) -> float:
        model = build(layer)
        variables = list(model.trainable_variables)
        tables = embedding_variables(model) if optimizer_kind != "adam" else []
        is_table = [any(v is t for t in tables) for v in variables]
        dense = [v for v, table in zip(variables, is_table, strict=True) if not table]
        adam = keras.optimizers.Adam(1e-3)
        adam.build(dense)
        sparse = SparseRowOptimizer(optimizer_kind, 1e-3, tables) if tables else None

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                logits = model(ids, training=True)
                loss = tf.reduce_mean(
                    tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
                )
            grads = tape.gradient(loss, variables)
            adam.apply([g for g, t in zip(grads, is_table, strict=True) if not t], dense)
            if sparse is not None:
                sparse.apply([g for g, t in zip(grads, is_table, strict=True) if t], tables)
            return loss

        step()  # trace
        start = time.perf_counter()
        for _ in range(steps):
            loss = step()
        float(loss)
        return EMBED_BATCH * steps / (time.perf_counter() - start)

    table = GatherEmbedding  # the graph's hashed table: a ResourceGather lookup on TensorFlow
    rows = {}
    for name, factory, kind in (
        ("table_1m_adam_dense", lambda: table(VOCAB, EMBED_DIM), "adam"),
        ("table_1m_adagrad_sparse", lambda: table(VOCAB, EMBED_DIM), "adagrad"),
        ("table_1m_lazy_adam_sparse", lambda: table(VOCAB, EMBED_DIM), "lazy_adam"),
        (
            "table_1m_adagrad_sparse_keras_take",
            lambda: keras.layers.Embedding(VOCAB, EMBED_DIM),
            "adagrad",
        ),
        ("qr_m1000_adam", lambda: QREmbedding(VOCAB, 1000, EMBED_DIM), "adam"),
    ):
        keras.utils.set_random_seed(0)
        rows[name] = round(run(factory(), kind), 1)
    return rows


def child_gradient_bytes(root: Path, ranks: int = 2) -> dict:
    """Dense vs sparse embedding-gradient bytes per step of the graph's model on one batch."""
    import keras

    from models.feed import FeedModel
    from models.inputs.stream import AvroExamples, rank_batches
    from models.training.gradient_bytes import embedding_gradient_bytes
    from models.training.job import cold_start_architecture

    plan = _plan(root, 1, 1, Path("/tmp/unused"))
    architecture = cold_start_architecture(plan)
    source = AvroExamples(plan.examples, architecture.input_spec(), "train")
    keras.utils.set_random_seed(0)
    model = FeedModel(architecture)
    batch_inputs, _ = next(iter(rank_batches(source, 0, 1, plan.training.batch_size)))
    measured = embedding_gradient_bytes(model, batch_inputs, ranks=ranks)
    return {key: measured[key] for key in ("ranks", "batch_rows", "dense_bytes", "sparse_bytes",
                                           "ratio")}  # fmt: skip


def _child(arguments: list[str], timeout: float) -> dict:
    """Run this file with `arguments` in a subprocess; its last stdout line is its JSON."""
    command = [sys.executable, str(Path(__file__).resolve()), *arguments]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=str(_HERE.parent)
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stdout[-800:] + proc.stderr[-1500:]).strip()}
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help="data root (LIRANK_DATA_ROOT)"
    )
    parser.add_argument(
        "--days", default="1,16", help="day counts of the input comparison (cycling the world)"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--horovod-days", type=int, default=2)
    parser.add_argument("--embedding-steps", type=int, default=20)
    parser.add_argument("--skip-horovod", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:  # one measurement, in this (fresh) process
        kind, *rest = args.child.split(":")
        if kind == "input":
            out = child_input(args.root, int(rest[0]), args.epochs, rest[1])
        elif kind == "horovod":
            out = child_horovod(args.root, args.horovod_days, args.epochs, int(rest[0]))
        elif kind == "embeddings":
            out = child_embeddings(args.embedding_steps)
        else:
            out = child_gradient_bytes(args.root)
        print(json.dumps(out))
        return

    from lirank_assets.backfill import materialize_days

    day_counts = [int(d) for d in args.days.split(",")]
    materialize_days(args.root, max([*day_counts, args.horovod_days]))
    common = ["--root", str(args.root), "--epochs", str(args.epochs),
              "--horovod-days", str(args.horovod_days),
              "--embedding-steps", str(args.embedding_steps)]  # fmt: skip
    summary: dict = {"cpus": os.cpu_count(), "epochs": args.epochs, "input": {}}
    for mode in ("in_memory", "streaming"):
        for days in day_counts:
            row = _child([*common, "--child", f"input:{days}:{mode}"], timeout=900)
            summary["input"][f"{mode}_days{days}"] = row
            print(f"input {mode:<10} days={days}: {row}", flush=True)
    if not args.skip_horovod:
        summary["horovod"] = {}
        for ranks in (1, 2):
            row = _child([*common, "--child", f"horovod:{ranks}"], timeout=900)
            summary["horovod"][f"ranks{ranks}"] = row
            print(f"horovod ranks={ranks}: {row}", flush=True)
        one = summary["horovod"]["ranks1"].get("loop_examples_per_s")
        two = summary["horovod"]["ranks2"].get("loop_examples_per_s")
        if one and two:
            summary["horovod"]["scaling_2_vs_1"] = round(two / one, 3)
    summary["embeddings_examples_per_s"] = _child([*common, "--child", "embeddings"], 900)
    print(f"embeddings: {summary['embeddings_examples_per_s']}", flush=True)
    summary["gradient_bytes"] = _child([*common, "--child", "gradient_bytes"], 600)
    print(f"gradient bytes: {summary['gradient_bytes']}", flush=True)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
