"""Benchmark: the default demo end to end, per-stage wall times and peak memory.

Runs `python -m lirank_assets.demo` on a fresh data root as a child process, sampling the resident
memory of the whole process tree (Spark's JVM included), and reads per-step durations from the
Dagster instance it wrote. Last line: one JSON object with `total_s`, `peak_rss_mb`, the stage
times and the demo's verdict: `protocol` ("next_day"), and for the production ranker and the
popularity baseline the model's pooled difference in ground-truth expected contributions per
session (`vs_production_expected`, paired, with `_ci`) and in replay rate (`vs_production_replay`,
Newcombe, with `_ci`). Targets: the default demo finishes in under 10 minutes on 2 cores; the
graph's default model beats production with an interval that excludes zero.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(entry.name))
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        total += rss.get(current, 0)
        stack.extend(children.get(current, []))
    return total / 2**20


def _step_seconds(dagster_home: Path) -> dict[str, float]:
    from dagster import DagsterEventType, DagsterInstance

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    instance = DagsterInstance.get()
    kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    totals: dict[str, float] = collections.defaultdict(float)
    for run in instance.get_runs():
        starts: dict[str, float] = {}
        for entry in instance.all_logs(run.run_id, of_type=kinds):
            if entry.dagster_event.event_type == DagsterEventType.STEP_START:
                starts[entry.step_key] = entry.timestamp
            elif entry.step_key in starts:
                totals[entry.step_key] += entry.timestamp - starts[entry.step_key]
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _verdict(warehouse: Path) -> dict:
    """The demo's pooled comparisons (`models.reporting.summary`) as JSON fields."""
    import duckdb

    # Run as a script, this file's folder comes first on sys.path, and `models` would name
    # bench/models.py instead of the package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    from models.reporting.summary import summarize

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = {
            name: conn.execute(f"SELECT * FROM {name}").df()
            for name in ("offline_metrics", "replay_metrics", "paired_differences")
        }
    summary = summarize(*tables.values())
    out: dict = {"protocol": summary.protocol}
    for row in summary.overview.itertuples():
        name = "production" if row.reference == "production" else "popularity"
        out[f"vs_{name}_expected"] = round(row.truth_difference, 5)
        out[f"vs_{name}_expected_ci"] = [round(row.truth_ci_low, 5), round(row.truth_ci_high, 5)]
        out[f"vs_{name}_replay"] = round(row.replay_difference, 4)
        out[f"vs_{name}_replay_ci"] = [round(row.replay_ci_low, 4), round(row.replay_ci_high, 4)]
        out[f"verdict_vs_{name}"] = row.verdict
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--world", default="demo", help="world preset (LIRANK_WORLD)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lirank-bench-") as tmp:
        root = Path(tmp)
        env = {
            **os.environ,
            "LIRANK_DATA_ROOT": str(root / "data"),
            "DAGSTER_HOME": str(root / "dagster_home"),
            "LIRANK_WORLD": args.world,
        }
        (root / "dagster_home").mkdir()
        (root / "dagster_home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        peak = 0.0
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "lirank_assets.demo"], env=env)

        def sample() -> None:
            nonlocal peak
            while proc.poll() is None:
                peak = max(peak, _tree_rss_mb(proc.pid))
                time.sleep(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        total = time.perf_counter() - started
        sampler.join()
        if code != 0:
            sys.exit(f"demo failed with exit code {code}")
        steps = _step_seconds(root / "dagster_home")
        verdict = _verdict(root / "data" / "warehouse.duckdb")
    print("\nper-stage wall seconds (summed over days):")
    for step, seconds in steps.items():
        print(f"  {step:40s} {seconds:8.1f}")
    print(
        json.dumps(
            {
                "total_s": round(total, 1),
                "peak_rss_mb": round(peak, 1),
                "stages_s": {k: round(v, 1) for k, v in steps.items()},
                **verdict,
            }
        )
    )


if __name__ == "__main__":
    main()
