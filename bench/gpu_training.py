"""The graph's Feed model trained on an accelerator under JAX (issue 12, item 5; paper §12–13).

Run: `KERAS_BACKEND=jax python bench/gpu_training.py [--rows 262144] [--batch-size 4096]
[--steps 200] [--no-bf16]`. The model code is backend-agnostic Keras 3, so the same `FeedModel`
(the graph's default, `GRAPH_FEED_MODEL`) trains under JAX on whatever device JAX sees: a GPU when
one is lent (the device machine has JAX and CUDA but no TensorFlow), else the CPU (figures then
only show that the script works). Nothing here needs TensorFlow.

What it measures, one process, after `--warmup` compiled steps that are not timed:

- **examples/s** end to end: batches are sliced on the host and put on the device one step ahead
  (`jax.device_put` is asynchronous, so the next batch's transfer overlaps the current step: the
  on-device prefetch), with `train_on_batch` of the compiled train step (Adam, the six-head loss).
- **step time split**: `input_ms`, the host slice + transfer of one batch timed alone (blocked
  until on the device), and `compute_ms`, one train step on device-resident batches timed alone
  (blocked until done). With the prefetch, a step costs max(input, compute), not their sum.
- **achieved TFLOP/s** against the card's bf16 dense peak (read from `nvidia-smi`'s model name:
  H200 SXM / H100 SXM about 989, H200 NVL about 835, H100 PCIe about 756). FLOPs per example are
  counted as 6 × the number of dense (matmul) weights — 2 for the forward multiply-add and 4 for
  the backward — the usual approximation, which leaves out embedding lookups, attention's
  activation-by-activation products and elementwise work, so it understates a little.

Mixed precision: `mixed_bfloat16` (bf16 compute, fp32 variables) unless `--no-bf16`. The data are
the synthetic feed examples of the tests (`tests/models/conftest.synthetic_examples`: the log
contract's columns with planted click/like structure), repeated to `--rows`; speed depends on
shapes, not on where the rows came from. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.insert(1, str(_HERE.parent / "tests" / "models"))  # synthetic_examples

import keras  # noqa: E402
import numpy as np  # noqa: E402

# bf16 dense peaks (TFLOP/s, no sparsity) by the name `nvidia-smi` reports
PEAK_BF16_TFLOPS = (
    ("H200 NVL", 835.0),
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),
    ("A100", 312.0),
)


def device_name() -> str | None:
    """The first GPU's model name from `nvidia-smi`, None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    )
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return names[0] if names else None


def peak_tflops(name: str | None) -> float | None:
    if name is None:
        return None
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def dense_flops_per_example(model: keras.Model) -> float:
    """6 × the number of weights of matmul kernels (2-D, not embedding tables)."""
    embedding_ids = {
        id(w)
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.Embedding)
        for w in layer.weights
    }
    matmul = sum(
        int(np.prod(w.shape))
        for w in model.trainable_weights
        if len(w.shape) == 2 and id(w) not in embedding_ids and "embedding" not in w.path
    )
    return 6.0 * matmul


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=262_144)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--no-bf16", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    backend = keras.backend.backend()
    if not args.no_bf16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    keras.utils.set_random_seed(args.seed)

    from conftest import synthetic_examples

    from models.feed import GRAPH_FEED_MODEL, FeedModel, config_for, feed_inputs
    from models.inputs.spec import labels_from

    base = synthetic_examples(8192, seed=args.seed)
    config = config_for(base, GRAPH_FEED_MODEL)
    repeat = -(-args.rows // len(base))
    index = np.tile(np.arange(len(base)), repeat)[: args.rows]
    inputs = {k: np.asarray(v)[index] for k, v in feed_inputs(base, config).items()}
    labels = {k: np.asarray(v, np.float32)[index] for k, v in labels_from(base).items()}
    model = FeedModel(config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **model.tasks.compile_arguments())
    batches = args.rows // args.batch_size
    if batches < 2:
        raise SystemExit(f"--rows {args.rows} gives fewer than 2 batches of {args.batch_size}")

    if backend == "jax":
        import jax

        devices = jax.devices()
        put = jax.device_put

        def ready(tree):
            return jax.block_until_ready(tree)
    else:  # other backends: no explicit transfer (the step converts host arrays itself)
        devices = ["host"]

        def put(tree):
            return tree

        def ready(tree):
            return tree

    def host_batch(i: int):
        rows = slice((i % batches) * args.batch_size, (i % batches + 1) * args.batch_size)
        return (
            {k: v[rows] for k, v in inputs.items()},
            {k: v[rows] for k, v in labels.items()},
        )

    # compile and warm up (not timed)
    for i in range(args.warmup):
        model.train_on_batch(*put(host_batch(i)))

    # input alone: host slice + transfer, blocked until on the device
    started = time.perf_counter()
    for i in range(args.steps):
        ready(put(host_batch(i)))
    input_s = (time.perf_counter() - started) / args.steps

    # compute alone: steps on batches already on the device
    resident = [ready(put(host_batch(i))) for i in range(min(batches, 8))]
    started = time.perf_counter()
    for i in range(args.steps):
        loss = model.train_on_batch(*resident[i % len(resident)], return_dict=True)["loss"]
    float(loss)  # the last step has finished
    compute_s = (time.perf_counter() - started) / args.steps

    # end to end with the next batch transferred one step ahead
    started = time.perf_counter()
    upcoming = put(host_batch(0))
    for i in range(args.steps):
        current, upcoming = upcoming, put(host_batch(i + 1))
        loss = model.train_on_batch(*current, return_dict=True)["loss"]
    final_loss = float(loss)
    total_s = time.perf_counter() - started

    examples_per_s = args.steps * args.batch_size / total_s
    flops = dense_flops_per_example(model)
    achieved = flops * examples_per_s / 1e12
    name = device_name()
    peak = peak_tflops(name)
    report = {
        "backend": backend,
        "device": name or str(devices[0]),
        "precision": "float32" if args.no_bf16 else "mixed_bfloat16",
        "batch_size": args.batch_size,
        "steps": args.steps,
        "examples_per_second": round(examples_per_s, 1),
        "step_ms": round(1000 * total_s / args.steps, 3),
        "input_ms": round(1000 * input_s, 3),
        "compute_ms": round(1000 * compute_s, 3),
        "input_share": round(input_s / (input_s + compute_s), 3),
        "flops_per_example": flops,
        "achieved_tflops": round(achieved, 3),
        "peak_bf16_tflops": peak,
        "share_of_peak": round(achieved / peak, 5) if peak else None,
        "final_loss": round(final_loss, 4),
        "parameters": int(model.count_params()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
