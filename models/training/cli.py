"""Train the feed model from a `TrainingPlan` JSON file: a thin adapter over `models.training.job`.

    python -m models.training.cli PLAN.json                  # in this process
    horovodrun -np 2 -H localhost:2 --gloo \\
        python -m models.training.cli PLAN.json --horovod    # one Horovod rank each

The plan is what `TrainingPlan.to_json()` writes (the `feed_ranking_model` asset builds one per
day; for a run by hand, e.g.):

    from models.training.config import TrainingConfig, TrainingPlan
    plan = TrainingPlan(model_id="feed-x", out_dir="models/x", examples=("shards/day1",),
                        training=TrainingConfig(epochs=2))
    Path("plan.json").write_text(plan.to_json())

Rank 0 prints `job.RESULT_MARKER` and the `TrainingResult` JSON as its last line. Exit status 2
means training diverged: nothing was written and the previous model is untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.training.cli", description=__doc__)
    parser.add_argument("plan", type=Path, help="a TrainingPlan JSON file")
    parser.add_argument("--horovod", action="store_true", help="run as a Horovod rank")
    args = parser.parse_args(argv)

    from models.training.config import TrainingPlan
    from models.training.job import DIVERGED_EXIT_CODE, RESULT_MARKER, run_training, train_rank
    from models.training.loop import TrainingDivergedError

    plan = TrainingPlan.from_json(args.plan.read_text())
    try:
        if args.horovod:
            from models.training.distributed import HorovodDistributed

            distributed = HorovodDistributed()
            result, rank = train_rank(plan, distributed), distributed.rank
        else:
            result, rank = run_training(plan), 0
    except TrainingDivergedError as error:
        print(f"{plan.model_id}: {error}", file=sys.stderr)
        return DIVERGED_EXIT_CODE
    if rank == 0:
        print(RESULT_MARKER + result.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
