"""Benchmark: the cost of a served request holding one 1 MB id, before and after the bound on
string lengths (issue 11, "Safe serving").

Run: `.venv/bin/python bench/serving_safety.py` (about a minute on 2 cores; `--long-bytes` and
`--rows` change the request).

The graph's feed model (`GRAPH_FEED_MODEL`, murmur string ids) scores a request of `--rows`
valid candidate rows ("normal"), and the same request with one `author_id` of `--long-bytes`
bytes ("long"), two ways:

* before: the serving computation without the row checks (`saved_model.model_outputs` in a
  `tf.function` of the signature's inputs): MurmurHash pads every id to the longest one, so one
  1 MB id makes the whole column 1 MB per row;
* after: the exported SavedModel's `serving_default` signature, which cuts strings to
  `row_policy.MAX_STRING_BYTES` before hashing (and rejects that row).

Each (way, request) runs in its own process (so its peak memory is its own): one warm-up call on
the normal request, then the timed call(s). Reported per case: the call's wall time (best of
`--repeats`) and the process's peak resident memory. Last line: one JSON object with the cases
and the long/normal ratios of time and peak memory before and after (target: about 1 after).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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
import pandas as pd  # noqa: E402

from spark.world.config import CONTENT_TYPES, PLATFORMS  # noqa: E402

CASES = ("before-normal", "before-long", "after-normal", "after-long")


def _config():
    from models.feed import GRAPH_FEED_MODEL

    return GRAPH_FEED_MODEL.with_vocabularies(CONTENT_TYPES, PLATFORMS)


def _request(rows: int, long_bytes: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw features of `rows` valid candidates; with `long_bytes`, row 0's author_id that long."""
    from models.serving.saved_model import raw_features

    rng = np.random.default_rng(seed)
    history = [rng.integers(0, 5000, k) for k in rng.integers(0, 25, rows)]
    frame = pd.DataFrame(
        {
            "member_id": rng.integers(0, 100_000, rows),
            "author_id": rng.integers(0, 5000, rows),
            "post_id": rng.integers(0, 100_000, rows),
            "hist_post_ids": [3 * h + 1 for h in history],
            "hist_author_ids": history,
            "hist_actions": [rng.integers(0, 5, len(h)) for h in history],
            "hashtag_ids": [rng.integers(0, 400, k) for k in rng.integers(1, 4, rows)],
            "content_type": rng.choice(np.array(CONTENT_TYPES), rows),
            "platform": rng.choice(np.array(PLATFORMS), rows),
            "member_seniority": rng.integers(0, 8, rows),
            "member_industry": rng.integers(0, 30, rows),
            "member_country": rng.integers(0, 20, rows),
            "position": np.zeros(rows, np.int64),
            "hour": rng.integers(0, 24, rows),
            "member_log_connections": rng.uniform(2.0, 8.0, rows),
            "length": rng.exponential(100.0, rows),
            "post_age_hours": rng.uniform(0, 96, rows),
            "author_log_followers": rng.uniform(1.0, 9.0, rows),
        }
    )
    raw = raw_features(frame, _config())
    if long_bytes:
        raw["author_id"] = raw["author_id"].astype(object)
        raw["author_id"][0] = b"actor:" + b"7" * (long_bytes - len(b"actor:"))
    return raw


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def run_case(case: str, saved_model: Path, rows: int, long_bytes: int, repeats: int) -> dict:
    """Time one (way, request) case in this process; see the module docstring."""
    import keras
    import tensorflow as tf

    way, request = case.split("-")
    if way == "before":
        from models.feed import FeedModel
        from models.serving.saved_model import model_outputs, raw_signature

        keras.utils.set_random_seed(0)
        model = FeedModel(_config())
        call = tf.function(
            lambda raw: model_outputs(model, raw), input_signature=[raw_signature(model.config)]
        )
        score = lambda raw: call(raw)  # noqa: E731
    else:
        signature = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
        score = lambda raw: signature(**raw)  # noqa: E731

    def tensors(raw: dict[str, np.ndarray]) -> dict[str, tf.Tensor]:
        return {key: tf.constant(value) for key, value in raw.items()}

    score(tensors(_request(rows, 0)))  # warm-up: tracing and first allocations
    raw = tensors(_request(rows, long_bytes if request == "long" else 0))
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = score(raw)
        _ = {key: value.numpy() for key, value in out.items()}
        seconds.append(time.perf_counter() - start)
    result = {"case": case, "seconds": min(seconds), "peak_rss_mb": round(_peak_rss_mb(), 1)}
    if "status" in out:
        result["rejected_rows"] = int((out["status"].numpy() != 0).sum())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=256)
    parser.add_argument("--long-bytes", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per case (best of)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    parser.add_argument("--saved-model", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        result = run_case(args.case, args.saved_model, args.rows, args.long_bytes, args.repeats)
        print(json.dumps(result))
        return

    import keras

    from models.feed import FeedModel
    from models.serving.row_policy import MAX_STRING_BYTES
    from models.serving.saved_model import export_saved_model

    with tempfile.TemporaryDirectory() as tmp:
        keras.utils.set_random_seed(0)
        saved_model = export_saved_model(FeedModel(_config()), Path(tmp) / "saved_model")
        results = {}
        for case in CASES:
            command = [
                sys.executable,
                __file__,
                f"--case={case}",
                f"--saved-model={saved_model}",
                f"--rows={args.rows}",
                f"--long-bytes={args.long_bytes}",
                f"--repeats={1 if case == 'before-long' else args.repeats}",
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                raise SystemExit(f"case {case} failed:\n{done.stderr[-3000:]}")
            results[case] = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{case:14s} {results[case]['seconds']:8.3f} s  "
                f"peak RSS {results[case]['peak_rss_mb']:8.1f} MB"
            )

    def ratio(way: str, key: str) -> float:
        return round(results[f"{way}-long"][key] / results[f"{way}-normal"][key], 2)

    summary = {
        "rows": args.rows,
        "long_id_bytes": args.long_bytes,
        "max_string_bytes": MAX_STRING_BYTES,
        **{
            f"{case.replace('-', '_')}_{key}": results[case][key]
            for case in CASES
            for key in ("seconds", "peak_rss_mb")
        },
        "before_long_vs_normal_time": ratio("before", "seconds"),
        "before_long_vs_normal_peak_rss": ratio("before", "peak_rss_mb"),
        "after_long_vs_normal_time": ratio("after", "seconds"),
        "after_long_vs_normal_peak_rss": ratio("after", "peak_rss_mb"),
        "after_long_rejected_rows": results["after-long"].get("rejected_rows"),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
