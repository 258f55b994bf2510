"""Should the graph's default model change? The default against the default with some fields
changed, on the next-day protocol, judged by the paired ground-truth difference of their #1 picks.

Run: `.venv/bin/python bench/default_choice.py id_embedding=unlimited` (about 6 minutes on 2 cores
with the world prepared; `--seeds N` for more seeds, `--data-root` to reuse prepared features).
A change `training.FIELD=VALUE` sets a field of the graph's `TrainingResource` instead (e.g.
`training.embedding_optimizer=adagrad training.embedding_learning_rate=0.05`).

Both configs are trained and evaluated exactly as one row of `bench/ablation.py` (`run_variant`:
cold start, incremental days, each day after the cold start ranked by the previous day's model);
per session of each evaluated day's random bucket, d_s = value(changed's #1) − value(default's
#1) from the simulator's truth, pooled over days and seeds (`intervals.pooled_paired_interval`).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402

from lirank_assets.resources import TrainingResource  # noqa: E402
from models.evaluation.intervals import paired_difference_stats, pooled_paired_interval  # noqa: E402
from models.feed import GRAPH_FEED_MODEL  # noqa: E402


def _ablation():
    """`bench/ablation.py` as a module (its `prepare_world` and `run_variant`)."""
    spec = importlib.util.spec_from_file_location("bench_ablation", _HERE / "ablation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _mean_value(run: dict) -> float:
    """The mean value of a run's #1 picks over every evaluated session."""
    return float(np.mean(np.concatenate([v.to_numpy() for v in run["values"].values()])))


def _override(text: str) -> tuple[str, object]:
    """`FIELD=VALUE` of `FeedModelConfig`, or `training.FIELD=VALUE` of `TrainingResource`."""
    key, _, value = text.partition("=")
    if key.startswith("training."):
        field = key.removeprefix("training.")
        if field not in TrainingResource.model_fields:
            raise SystemExit(f"unknown TrainingResource field {field!r}")
        current = getattr(TrainingResource(), field)
        kind = type(current) if current is not None else float
        return key, value if isinstance(current, str) else kind(value)
    if not hasattr(GRAPH_FEED_MODEL, key):
        raise SystemExit(f"unknown FeedModelConfig field {key!r}")
    current = getattr(GRAPH_FEED_MODEL, key)
    return key, type(current)(value) if not isinstance(current, str) else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("changes", nargs="+", help="FIELD=VALUE of FeedModelConfig")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    changes = dict(_override(c) for c in args.changes)
    model_changes = {k: v for k, v in changes.items() if not k.startswith("training.")}
    training_changes = {
        k.removeprefix("training."): v for k, v in changes.items() if k.startswith("training.")
    }
    ablation = _ablation()
    days, world, cold = ablation.prepare_world(args.data_root.resolve(), None)
    configs = {
        "default": (GRAPH_FEED_MODEL, TrainingResource()),
        "changed": (
            dataclasses.replace(GRAPH_FEED_MODEL, **model_changes),
            TrainingResource(**training_changes),
        ),
    }
    runs: dict[str, list[dict]] = {name: [] for name in configs}
    for seed in range(args.seeds):
        for name, (config, training) in configs.items():
            work = Path(tempfile.mkdtemp(prefix="default-choice-"))
            try:
                runs[name].append(
                    ablation.run_variant(
                        args.data_root.resolve(),
                        work,
                        days,
                        world,
                        cold,
                        config,
                        seed,
                        training=training,
                    )
                )
            finally:
                shutil.rmtree(work, ignore_errors=True)
            print(f"seed {seed}: {name} trained and evaluated", flush=True)
    stats = []
    for new, old in zip(runs["changed"], runs["default"], strict=True):
        for day, values in new["values"].items():
            a, b = values.align(old["values"][day], join="inner")
            stats.append(paired_difference_stats(a.to_numpy(), b.to_numpy()))
    n, mean, variance = (list(x) for x in zip(*stats, strict=True))
    diff, low, high = pooled_paired_interval(n, mean, variance)
    expected = {name: float(np.mean([_mean_value(r) for r in rs])) for name, rs in runs.items()}
    auc = {name: float(np.mean([r["mean_auc"] for r in rs])) for name, rs in runs.items()}
    verdict = (
        "changed is better" if low > 0 else "changed is worse" if high < 0 else "no difference"
    )
    print(
        f"\n{changes}: expected contributions of the #1 pick {expected['changed']:.4f} vs default "
        f"{expected['default']:.4f}; paired difference {diff:+.4f} [{low:+.4f}, {high:+.4f}] over "
        f"{int(sum(n))} sessions: {verdict}; mean AUC {auc['changed']:.4f} vs {auc['default']:.4f}"
    )
    print(
        json.dumps(
            {
                "changes": {k: str(v) for k, v in changes.items()},
                "seeds": args.seeds,
                "expected_default": round(expected["default"], 5),
                "expected_changed": round(expected["changed"], 5),
                "difference": round(diff, 5),
                "difference_ci": [round(low, 5), round(high, 5)],
                "sessions": int(sum(n)),
                "verdict": verdict,
                "mean_auc_default": round(auc["default"], 4),
                "mean_auc_changed": round(auc["changed"], 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
