"""Benchmark of the simulated feed world: impressions generated per second, numpy vs Spark.

Usage: `python bench/world.py [--scales 1,10] [--days 8,3] [--shards 1,2,4] [--master local[2]]`.

For each scale (a multiplier of members, authors and posts per day of the default `WorldConfig`)
it generates the first `days` days with each engine, in the same run:

* numpy: `FeedWorld`, the simulator kernel over all members in this process (tables in memory,
  nothing written);
* numpy+parquet: the same, plus each day's five tables written with `spark.storage.write_partition`
  (what `raw_feed_logs` did before the world moved to Spark);
* Spark: `SparkWorld.write_day` for each day with each shard count, from an empty cache: the same
  kernel in one task per shard, the day-0 follow graph, the state cache and the five raw tables
  written as Parquet (what the `raw_feed_logs` asset does). Session start-up and a warm-up day of
  a tiny world (Python workers importing the simulator) are not counted.

Every run is checked to produce exactly as many impressions as numpy (the tables are the same for
any number of shards). Besides wall time, each run records its CPU seconds (numpy: this
process; Spark: this process and all its descendants, the JVM and its Python workers, from /proc;
a worker that exits mid-run can take its CPU with it), the achieved parallelism (CPU s / wall s)
and the machine's 1-minute load average at its end: on a shared machine shards can only shorten a
run when cores are idle, while CPU per impression depends much less on the load.

The last line printed is one JSON object: `impressions_per_s` is the best Spark wall-clock rate at
the largest scale, `numpy_impressions_per_s` the in-process rate there, `spark_vs_numpy` their
ratio, `spark_vs_numpy_parquet` the ratio to the numpy+parquet path, `*_impressions_per_cpu_s`
the rates per CPU second, and `runs` every measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark.schemas import ACTIONS  # noqa: E402
from spark.storage import write_partition  # noqa: E402
from spark.world import RAW_TABLE_ORDER, FeedWorld, SparkWorld, WorldConfig  # noqa: E402


def _tree_cpu_seconds() -> float | None:
    """CPU seconds of this process and its live descendants, with their reaped children."""
    if not os.path.isdir("/proc"):
        return None
    usage: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
        usage[int(entry)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))
    tree, grown = {os.getpid()}, True
    while grown:
        children = {pid for pid, (parent, _) in usage.items() if parent in tree} - tree
        tree |= children
        grown = bool(children)
    return sum(usage[pid][1] for pid in tree if pid in usage) / os.sysconf("SC_CLK_TCK")


def _measured(run, tree: bool) -> dict:
    """Call `run()` (which returns a dict) and add its wall and CPU seconds and the load.

    CPU is this process's own (`tree=False`: the in-process engine; the idle Spark JVM is not
    charged to it) or that of the whole process tree (`tree=True`: driver, JVM, Python workers).
    """
    clock = _tree_cpu_seconds if tree else time.process_time
    cpu, start = clock(), time.perf_counter()
    result = run()
    wall, cpu_end = time.perf_counter() - start, clock()
    result["seconds"] = wall
    if cpu is not None and cpu_end is not None:
        result["cpu_s"] = round(cpu_end - cpu, 1)
        result["parallelism"] = round((cpu_end - cpu) / wall, 2)
    result["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return result


def _ints(text: str) -> list[int]:
    values = [int(v) for v in text.split(",") if v]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, e.g. 1,2. Received: {text}")
    return values


def _scaled(scale: int) -> WorldConfig:
    base = WorldConfig()
    return dataclasses.replace(
        base,
        num_members=base.num_members * scale,
        num_authors=base.num_authors * scale,
        posts_per_day=base.posts_per_day * scale,
    )


def _numpy_run(config: WorldConfig, days: int, workdir: Path | None = None) -> dict:
    """FeedWorld over `days` days; with `workdir`, each day's tables are written there too."""
    world = FeedWorld(config)
    impressions = sessions = 0
    for day in range(days):
        result = world.simulate_day(day)
        impressions += result.feed_impressions.num_rows
        sessions += result.feed_sessions.num_rows
        if workdir is not None:
            for name in RAW_TABLE_ORDER:
                write_partition(getattr(result, name), workdir, name, result.date)
            continue
        rates = {
            a: round(float(result.feed_impressions.column(a).to_numpy().mean()), 4) for a in ACTIONS
        }
        print(f"  day {day}: {result.feed_sessions.num_rows} sessions, rates {rates}", flush=True)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"impressions": impressions, "sessions": sessions}


def _spark_run(spark, config: WorldConfig, days: int, shards: int, workdir: Path) -> dict:
    root = Path(tempfile.mkdtemp(dir=workdir))
    try:
        world = SparkWorld(spark, config, root / "world_state", num_shards=shards)
        impressions = sessions = 0
        for day in range(days):
            written = {t.name: t.rows for t in world.write_day(day, root / "raw")}
            impressions += written["feed_impressions"]
            sessions += written["feed_sessions"]
        return {"impressions": impressions, "sessions": sessions, "shards": world.num_shards}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=_ints, default=[1, 10], help="world size multipliers")
    parser.add_argument("--days", type=_ints, default=[8, 3], help="days per scale (or one)")
    parser.add_argument("--shards", type=_ints, default=[1, 2, 4], help="Spark shard counts")
    parser.add_argument("--master", default="local[2]", help="Spark master URL")
    args = parser.parse_args()
    if len(args.days) not in (1, len(args.scales)):
        raise SystemExit(f"--days needs 1 or {len(args.scales)} values. Received: {args.days}")
    days_of = dict(zip(args.scales, args.days * (len(args.scales) // len(args.days)), strict=True))

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from spark.session import build_spark_session

    tick = time.perf_counter()
    spark = build_spark_session(args.master)
    spark.range(4).count()
    startup = time.perf_counter() - tick
    print(f"Spark session on {args.master}: {startup:.1f} s (not counted)", flush=True)

    runs = []
    workdir = Path(tempfile.mkdtemp(prefix="bench-world-"))
    try:
        tiny = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=1)
        _spark_run(spark, tiny, 1, 2, workdir)  # warm-up: Python workers import the simulator,
        _spark_run(spark, tiny, 1, 1, workdir)  # the JVM compiles the conversion and write paths
        for scale in args.scales:
            config = _scaled(scale)
            days = min(days_of[scale], config.num_days)
            print(f"scale {scale}: {config.num_members} members, {days} days", flush=True)
            measured = [
                {
                    "engine": "numpy",
                    **_measured(functools.partial(_numpy_run, config, days), False),
                },
                {
                    "engine": "numpy+parquet",
                    **_measured(
                        functools.partial(_numpy_run, config, days, workdir / "numpy"), False
                    ),
                },
            ]
            for shards in args.shards:
                run = _measured(
                    functools.partial(_spark_run, spark, config, days, shards, workdir), True
                )
                measured.append({"engine": "spark", **run})
            for run in measured:
                if run["impressions"] != measured[0]["impressions"]:
                    raise SystemExit(
                        f"{run['engine']} {run.get('shards', '')} made {run['impressions']} "
                        f"impressions, numpy {measured[0]['impressions']}: the generators disagree"
                    )
                run.update(scale=scale, days=days)
                run["impressions_per_s"] = round(run["impressions"] / run["seconds"], 1)
                if "cpu_s" in run:
                    run["impressions_per_cpu_s"] = round(run["impressions"] / run["cpu_s"], 1)
                run["seconds"] = round(run["seconds"], 2)
                label = run["engine"] + (f" {run['shards']} shards" if "shards" in run else "")
                print(
                    f"  {label:>16}: {run['impressions']} impressions in {run['seconds']:.1f} s "
                    f"= {run['impressions_per_s']:,.0f} /s; CPU {run.get('cpu_s')} s, "
                    f"parallelism {run.get('parallelism')}, load {run['load_avg_1m']}",
                    flush=True,
                )
            runs.extend(measured)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    top = max(args.scales)
    rate = {r["engine"]: r["impressions_per_s"] for r in runs if r["scale"] == top}
    cpu_rate = {r["engine"]: r.get("impressions_per_cpu_s") for r in runs if r["scale"] == top}
    best = max(
        (r for r in runs if r["engine"] == "spark" and r["scale"] == top),
        key=lambda r: r["impressions_per_s"],
    )
    print(
        json.dumps(
            {
                "impressions_per_s": best["impressions_per_s"],
                "shards": best["shards"],
                "scale": top,
                "numpy_impressions_per_s": rate["numpy"],
                "spark_vs_numpy": round(best["impressions_per_s"] / rate["numpy"], 3),
                "spark_vs_numpy_parquet": round(
                    best["impressions_per_s"] / rate["numpy+parquet"], 3
                ),
                "numpy_impressions_per_cpu_s": cpu_rate["numpy"],
                "spark_impressions_per_cpu_s": best.get("impressions_per_cpu_s"),
                "master": args.master,
                "spark_startup_s": round(startup, 1),
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    main()
