"""Benchmark: off-policy values of three policies on the Open Bandit Dataset (real ZOZOTOWN logs,
uniform-random logging; `models.evaluation.obd`).

Run: `.venv/bin/python bench/obd.py` (under a minute on 2 cores; `--campaign all|men|women`,
`--data-dir` or $LIRANK_OBD_DIR for the dataset folder, default ../shared/datasets/obd).

Per campaign, greedy and Thompson sampling are learned on the earliest 70% of the rounds and,
with the logging policy (random), valued on the rest with replay (Wilson interval), IPS, SNIPS
and the IPS difference from the logging policy (bootstrap intervals). `events` is the number of
clicked rounds the policy could have chosen: with 0 (or a few) the bootstrap intervals collapse,
so read replay's there. Last line: one JSON object
{campaign: {policy: {estimator: {"value", "ci"}}}}.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from models.evaluation.obd import (  # noqa: E402
    CAMPAIGN_ITEMS,
    TRAIN_FRACTION,
    evaluate_campaign,
    learn_policies,
    load_campaign,
    obd_dir,
    rewarded_matches,
    time_split,
)

ESTIMATORS = ("on-policy", "replay", "ips", "snips", "ips-diff")


def _row(campaign: str, policy: str, name: str, estimate, events: int) -> str:
    return (
        f"{campaign:<6} {policy:<9} {name:<10} {100 * estimate.value:>8.3f}%  "
        f"[{100 * estimate.ci_low:>7.3f}%, {100 * estimate.ci_high:>7.3f}%]  "
        f"{estimate.effective_matches:>8.1f} {events:>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaign", choices=sorted(CAMPAIGN_ITEMS), action="append")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    campaigns = args.campaign or list(CAMPAIGN_ITEMS)
    print(
        f"Open Bandit Dataset at {obd_dir(args.data_dir)}; train/test {TRAIN_FRACTION:.0%} by time"
    )
    print(
        f"{'camp.':<6} {'policy':<9} {'estimator':<10} {'value':>9}  {'95% CI':<22} "
        f"{'ess':>8} {'events':>6}"
    )
    summary: dict[str, dict] = {}
    start = time.perf_counter()
    for campaign in campaigns:
        logs = load_campaign(campaign, args.data_dir)
        train, test = time_split(logs)
        policies = learn_policies(train, seed=args.seed)
        results = evaluate_campaign(logs, bootstrap=args.bootstrap, seed=args.seed)
        summary[campaign] = {"rounds": {"train": len(train), "test": len(test)}}
        for policy, estimates in results.items():
            events = rewarded_matches(test, policies[policy])
            summary[campaign][policy] = {"events": events}
            for name in ESTIMATORS:
                if name not in estimates:
                    continue
                e = estimates[name]
                print(_row(campaign, policy, name, e, events))
                summary[campaign][policy][name] = {
                    "value": round(e.value, 6),
                    "ci": [round(e.ci_low, 6), round(e.ci_high, 6)],
                }
    summary["wall_s"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
