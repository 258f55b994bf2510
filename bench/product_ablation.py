"""Ads and Jobs ablation ladders on the simulated world, paper Tables 8 and 10 (prints two tables,
one JSON line, and stores the rows in the warehouse table `product_ablation_results`).

Run: `make ablation` (after the feed's ladder) or `.venv/bin/python bench/product_ablation.py`
(`--seeds N`, default 2; `--world` a preset of `lirank_assets.settings.WORLD_PRESETS`; a few
minutes on 2 cores).

* Ads (Table 8 style, `models.ads_ablation.ADS_LADDER`): MLP baseline without IDs → + ID
  embeddings → + 8-bit quantization → + DCNv2 → + isotonic calibration → + multi-task
  chargeability heads, the rows stacked.
* Jobs (Table 10 style, `models.jobs_ablation.JOBS_LADDER`): IDs + MLP with full vocabularies →
  + QR compression → + task-specific DCNv2.

Every row trains with the graph's recipe (`TrainingResource.product_training_config`, the loop
of every LiRank model) on the cold-start window's examples (`product_days`: the graph's own
`ads_examples` / `jobs_examples` of the simulated days) and is judged on the next day's traffic,
with its paired 95% interval against the ladder's first row (DeLong: the same rows).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import pandas as pd  # noqa: E402

from lirank_assets.product_days import product_days  # noqa: E402
from lirank_assets.resources import DataRoot, TrainingResource, Warehouse  # noqa: E402
from lirank_assets.settings import WORLD_PRESETS, Settings  # noqa: E402
from models.ads_ablation import ads_ablation  # noqa: E402
from models.jobs_ablation import jobs_ablation  # noqa: E402
from spark.storage import DataLayout  # noqa: E402

TABLE = "product_ablation_results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="demo", choices=sorted(WORLD_PRESETS))
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "--data-root", default=None, help="warehouse root (default: $LIRANK_DATA_ROOT)"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = WORLD_PRESETS[args.world]
    cold_days = Settings().cold_start_days
    days = product_days(config, range(cold_days + 1))
    training = TrainingResource().product_training_config(incremental=False)
    seeds = tuple(range(args.seeds))
    ads = ads_ablation(
        pd.concat([days[d].ads for d in range(cold_days)], ignore_index=True),
        days[cold_days].ads,
        training,
        seeds=seeds,
    )
    jobs_train = pd.concat([days[d].jobs for d in range(cold_days)], ignore_index=True)
    jobs = jobs_ablation(
        jobs_train, days[cold_days].jobs, days[cold_days].jobs_truth, training, seeds=seeds
    )
    pd.set_option("display.width", 220)
    print("Ads CTR ladder (AUC of each slot's own chargeability head, next day):")
    print(ads.round(4).to_string(index=False))
    print("\nJobs ladder (next day; qualified_rate: the truth's rate of the top-3 by P(apply)):")
    print(jobs.round(4).to_string(index=False))
    rows = pd.concat(
        [ads.assign(product="ads", head="served"), jobs.assign(product="jobs")],
        ignore_index=True,
    ).assign(world=args.world, seeds=args.seeds, measured_at=dt.datetime.now(dt.UTC).isoformat())
    root = args.data_root or str(DataLayout.from_env().root)
    Path(root).mkdir(parents=True, exist_ok=True)
    Warehouse(data_root=DataRoot(path=root)).replace_rows(TABLE, "world", args.world, rows)
    summary = {
        "world": args.world,
        "seeds": args.seeds,
        "ads": {
            row.variant: [
                round(row.auc_delta_vs_baseline, 4),
                round(row.delta_lo, 4),
                round(row.delta_hi, 4),
            ]
            for row in ads.itertuples()
        },  # fmt: skip
        "jobs_apply": {
            row.variant: [
                round(row.auc_delta_vs_baseline, 4),
                round(row.delta_lo, 4),
                round(row.delta_hi, 4),
            ]
            for row in jobs[jobs["head"] == "apply"].itertuples()
        },  # fmt: skip
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
