"""Jobs: QR-compressed shared embedding matrices against full vocabularies (paper §11, Table 10).

Run: `.venv/bin/python bench/jobs.py` (about a minute on 2 cores; `--seeds N` trains each model N
times, `--world` picks a preset of `lirank_assets.settings.WORLD_PRESETS`).

1. The world's Jobs examples (`lirank_assets.product_days.product_days`: the simulator's
   Job Search and JYMBII slates through the graph's `jobs_examples`) of the cold-start window
   (days 0 .. cold_start_days−1) train, the next day is judged (next-day protocol).
2. Two models trained alike with the graph's recipe (`TrainingResource().training_config`, the
   loop of every LiRank model), both with the production task-specific 2-layer DCNv2: the
   five shared matrices as full vocabularies (`embedding="hash"`, the baseline) and
   QR-compressed (`embedding="qr"`, the graph's default).
3. `param_ratio` = embedding parameters QR / full (paper: 5× fewer, target ≤ 0.2);
   `auc_delta` = AUC(QR) − AUC(full) averaged over the apply and click heads on the next day's
   impressed rows (target ≥ −0.001), each head's with its paired DeLong 95% interval; and the
   ground truth's qualified-application rate of each model's top-3 per slate.

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
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
from lirank_assets.resources import TrainingResource  # noqa: E402
from lirank_assets.settings import WORLD_PRESETS, Settings  # noqa: E402
from models.jobs_ablation import LadderRow, jobs_ablation  # noqa: E402

LADDER = (
    LadderRow("full vocabularies + DCNv2", "hash", 2),
    LadderRow("QR-compressed + DCNv2", "qr", 2),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="demo", choices=sorted(WORLD_PRESETS))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = WORLD_PRESETS[args.world]
    cold_days = Settings().cold_start_days
    days = product_days(config, range(cold_days + 1))
    train = pd.concat([days[d].jobs for d in range(cold_days)], ignore_index=True)
    evaluate = days[cold_days]
    table = jobs_ablation(
        train,
        evaluate.jobs,
        evaluate.jobs_truth,
        TrainingResource().product_training_config(incremental=False),
        seeds=tuple(range(args.seeds)),
        ladder=LADDER,
    )
    pd.set_option("display.width", 200)
    print(table.round(4).to_string(index=False))
    qr = table[table["row"] == 1]
    result = {
        "world": args.world,
        "train_days": cold_days,
        "seeds": args.seeds,
        "param_ratio": float(qr["param_ratio"].iloc[0]),
        "param_ratio_target": 0.2,
        "auc_delta": float(qr["auc_delta_vs_baseline"].mean()),
        "auc_delta_target": -0.001,
        **{
            f"{row.head}_auc_delta": [
                round(float(row.auc_delta_vs_baseline), 5),
                round(float(row.delta_lo), 5),
                round(float(row.delta_hi), 5),
            ]
            for row in qr.itertuples()
        },
        "qualified_rate_full": float(table[table["row"] == 0]["qualified_rate"].iloc[0]),
        "qualified_rate_qr": float(qr["qualified_rate"].iloc[0]),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
