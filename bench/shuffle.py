"""Benchmark of the session-explosion shuffle (paper §14): naive vs paper plan, and shuffle codecs.

Usage: `python bench/shuffle.py [--data DIR] [--repeats N]`.

Builds the simulated world's raw sessions + impressions at two scales: the default world (its last
2 days, 6 and 7) and a 10x world (`WorldConfig(num_members=30000, num_authors=6000,
posts_per_day=5000)`, its day 7), written as Parquet under `--data` (a temporary directory by
default; an existing `--data` built with the same spec is reused). The first week is simulated
but not measured: members' histories (the widest session features) are empty on the simulator's
day 0 and fill up over the first days, so day 0 would understate the session payload that the
paper's plan avoids shuffling.

Every measurement runs in a fresh `local[2]` Spark session in a subprocess with broadcast joins and
AQE off and the UI on (shuffle bytes come from its REST API, see `spark.shuffle_metrics`), on top
of the project's session defaults (`spark.session.DEFAULT_CONF`, which lets a join reuse a
partitioning on a subset of its keys). `spark.sql.shuffle.partitions` is Spark's default, 200: at
the project's laptop setting of 8, most of a session's 10 exploded rows land in the same shuffle
block, so the naive plan's repeated session features compress away in a way they cannot on a
cluster, where partitions far outnumber a session's rows; the 8-partition ratio is reported too.
`spark.io.compression.codec` is a SparkContext setting, so each codec gets its own subprocess.

* Plans: naive (`explode_session_features_naive`) vs the paper plan (`explode_session_features`)
  at both scales, under Spark's default codec (lz4), at 200 and at 8 shuffle partitions.
* Codecs: the paper plan at both scales under lz4, lzf, snappy and zstd (levels 1, 3, 6).

Shuffle bytes are deterministic for a given plan and codec; wall times are the best of `--repeats`
runs on a shared 2-core machine, so read them as rough. The last line printed is one JSON object:
`shuffle_ratio` (paper / naive shuffle write bytes at 10x), `shuffle_ratio_1x`,
`shuffle_ratio_8_partitions` (10x, at 8 partitions), `codec_ratio` (best codec / lz4 bytes of the
paper plan at 10x), `best_codec`, and the raw figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SCALES: dict[str, dict] = {
    "1x": {"config": {}, "days": [6, 7]},
    "10x": {
        "config": {"num_members": 30000, "num_authors": 6000, "posts_per_day": 5000},
        "days": [7],
    },
}
SHUFFLE_PARTITIONS = 200  # Spark's default
LAPTOP_PARTITIONS = 8  # spark.session.DEFAULT_CONF
DEFAULT_CODEC = "lz4"
# name -> Spark conf; zstd levels via spark.io.compression.zstd.level (Spark's default is 1).
CODECS: dict[str, dict[str, str]] = {
    "lz4": {"spark.io.compression.codec": "lz4"},
    "lzf": {"spark.io.compression.codec": "lzf"},
    "snappy": {"spark.io.compression.codec": "snappy"},
    "zstd-1": {"spark.io.compression.codec": "zstd", "spark.io.compression.zstd.level": "1"},
    "zstd-3": {"spark.io.compression.codec": "zstd", "spark.io.compression.zstd.level": "3"},
    "zstd-6": {"spark.io.compression.codec": "zstd", "spark.io.compression.zstd.level": "6"},
}
FAIR_CONF: dict[str, str] = {
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.adaptive.enabled": "false",
    "spark.ui.enabled": "true",
    "spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS),
}


def build_data(root: Path) -> dict[str, dict[str, int]]:
    """Simulate both scales and write their measured days' sessions/impressions under `root`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from spark.world import FeedWorld, WorldConfig

    sizes: dict[str, dict[str, int]] = {}
    for scale, spec in SCALES.items():
        out = root / scale
        marker = out / "spec.json"
        if not marker.exists() or json.loads(marker.read_text()) != spec:
            tick = time.perf_counter()
            world = FeedWorld(WorldConfig(**spec["config"]))
            days = [world.simulate_day(day) for day in range(max(spec["days"]) + 1)]
            kept = [days[day] for day in spec["days"]]
            out.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                pa.concat_tables([d.feed_sessions for d in kept]), out / "sessions.parquet"
            )
            pq.write_table(
                pa.concat_tables([d.feed_impressions for d in kept]), out / "impressions.parquet"
            )
            marker.write_text(json.dumps(spec))
            print(f"simulated {scale}: {time.perf_counter() - tick:.1f} s", flush=True)
        sizes[scale] = {
            "sessions": pq.read_metadata(out / "sessions.parquet").num_rows,
            "impressions": pq.read_metadata(out / "impressions.parquet").num_rows,
        }
    return sizes


def worker(data: Path, codec: str, plans: list[str], repeats: int, partitions: int) -> None:
    """Measure `plans` at every scale in a fresh Spark session with `codec`; print one JSON line."""
    from spark.explode import explode_session_features, explode_session_features_naive
    from spark.session import build_spark_session
    from spark.shuffle_metrics import measure_shuffle

    build = {"naive": explode_session_features_naive, "paper": explode_session_features}
    conf = {**FAIR_CONF, **CODECS[codec], "spark.sql.shuffle.partitions": str(partitions)}
    spark = build_spark_session("local[2]", conf, app_name=f"shuffle-{codec}")
    results: dict[str, dict[str, dict]] = {}
    for scale in SCALES:
        sessions = spark.read.parquet(str(data / scale / "sessions.parquet"))
        impressions = spark.read.parquet(str(data / scale / "impressions.parquet"))
        for plan in plans:
            runs = [
                measure_shuffle(spark, build[plan](sessions, impressions), f"{scale}/{plan}")
                for _ in range(repeats)
            ]
            if len({run.shuffle_write_bytes for run in runs}) != 1:
                print(f"note: {scale}/{plan} bytes vary between runs: {runs}", file=sys.stderr)
            results.setdefault(scale, {})[plan] = {
                "shuffle_write_bytes": runs[-1].shuffle_write_bytes,
                "seconds": round(min(run.seconds for run in runs), 3),
                "rows": runs[-1].rows,
            }
    spark.stop()
    print(json.dumps({"codec": codec, "results": results}))


def run_worker(
    data: Path, codec: str, plans: list[str], repeats: int, partitions: int = SHUFFLE_PARTITIONS
) -> dict:
    command = [sys.executable, __file__, "--worker", codec, "--data", str(data)]
    command += ["--plans", ",".join(plans), "--repeats", str(repeats)]
    command += ["--partitions", str(partitions)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"worker for codec {codec} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="Parquet directory (reused)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per measurement (min time)")
    parser.add_argument("--worker", choices=sorted(CODECS), help=argparse.SUPPRESS)
    parser.add_argument("--plans", default="naive,paper", help=argparse.SUPPRESS)
    parser.add_argument(
        "--partitions", type=int, default=SHUFFLE_PARTITIONS, help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1. Received: --repeats {args.repeats}")
    if args.worker:
        worker(args.data, args.worker, args.plans.split(","), args.repeats, args.partitions)
        return

    with tempfile.TemporaryDirectory(prefix="lirank-shuffle-") as tmp:
        data = args.data or Path(tmp)
        sizes = build_data(data)
        for scale, size in sizes.items():
            print(f"{scale}: {size['sessions']} sessions, {size['impressions']} impressions")
        by_codec: dict[str, dict] = {}
        for codec in CODECS:
            plans = ["naive", "paper"] if codec == DEFAULT_CODEC else ["paper"]
            tick = time.perf_counter()
            by_codec[codec] = run_worker(data, codec, plans, args.repeats)["results"]
            print(f"measured {codec} ({time.perf_counter() - tick:.0f} s)", flush=True)
        laptop = run_worker(
            data, DEFAULT_CODEC, ["naive", "paper"], args.repeats, LAPTOP_PARTITIONS
        )["results"]
        print(f"measured {DEFAULT_CODEC} at {LAPTOP_PARTITIONS} partitions", flush=True)

    plans = by_codec[DEFAULT_CODEC]
    print(f"\n{'scale':<6}{'plan':<8}{'codec':<8}{'rows':>9}{'shuffle MB':>12}{'seconds':>9}")
    for scale in SCALES:
        for plan, codec in [("naive", DEFAULT_CODEC)] + [("paper", c) for c in CODECS]:
            r = by_codec[codec][scale][plan]
            mb = r["shuffle_write_bytes"] / 1e6
            print(f"{scale:<6}{plan:<8}{codec:<8}{r['rows']:>9}{mb:>12.2f}{r['seconds']:>9.2f}")
    rows_match = all(plans[s]["naive"]["rows"] == plans[s]["paper"]["rows"] for s in SCALES)
    paper_bytes = {
        codec: by_codec[codec]["10x"]["paper"]["shuffle_write_bytes"] for codec in CODECS
    }
    best_codec = min(paper_bytes, key=paper_bytes.get)
    summary = {
        "shuffle_ratio": round(
            plans["10x"]["paper"]["shuffle_write_bytes"]
            / plans["10x"]["naive"]["shuffle_write_bytes"],
            4,
        ),
        "shuffle_ratio_1x": round(
            plans["1x"]["paper"]["shuffle_write_bytes"]
            / plans["1x"]["naive"]["shuffle_write_bytes"],
            4,
        ),
        "shuffle_ratio_8_partitions": round(
            laptop["10x"]["paper"]["shuffle_write_bytes"]
            / laptop["10x"]["naive"]["shuffle_write_bytes"],
            4,
        ),
        "codec_ratio": round(paper_bytes[best_codec] / paper_bytes[DEFAULT_CODEC], 4),
        "best_codec": best_codec,
        "time_ratio_10x": round(
            plans["10x"]["paper"]["seconds"] / plans["10x"]["naive"]["seconds"], 4
        ),
        "rows_match": rows_match,
        "shuffle_partitions": SHUFFLE_PARTITIONS,
        "data": sizes,
        "by_codec": by_codec,
        "at_8_partitions": laptop,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
