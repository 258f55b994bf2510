"""Benchmark: the default demo end to end, per-stage wall times and peak memory.

Runs `python -m lirank_assets.demo` on a fresh data root as a child process, sampling the resident
memory of the whole process tree (Spark's JVM included), and reads per-step durations from the
Dagster instance it wrote. Last line: one JSON object with `total_s` and `peak_rss_mb`.
Target (issue 2): the default demo finishes in under 10 minutes on 2 cores.
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
    print("\nper-stage wall seconds (summed over days):")
    for step, seconds in steps.items():
        print(f"  {step:40s} {seconds:8.1f}")
    print(
        json.dumps(
            {
                "total_s": round(total, 1),
                "peak_rss_mb": round(peak, 1),
                "stages_s": {k: round(v, 1) for k, v in steps.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
