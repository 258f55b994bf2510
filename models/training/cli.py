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

Rank 0 prints `job.RESULT_MARKER` and the `TrainingResult` JSON as its last line (launched
through Dagster Pipes it reports the result as a Pipes message instead, so a run's log does not
repeat it). Exit status 2
means training diverged: nothing was written and the previous model is untouched.

Launched through Dagster Pipes (`models.training.launch`, the `feed_ranking_model` asset), rank 0
also opens Pipes: it streams progress (step, loss, examples/s) and per-epoch metrics into the
run's logs, and reports its result (a custom message) and its training metrics (the asset
materialization's metadata). The other ranks do not open Pipes (`progress.open_progress_channel`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.training.cli", description=__doc__)
    parser.add_argument("plan", type=Path, help="a TrainingPlan or ProductPlan JSON file")
    parser.add_argument("--horovod", action="store_true", help="run as a Horovod rank")
    args = parser.parse_args(argv)

    from models.training.job import DIVERGED_EXIT_CODE, RESULT_MARKER, run_training, train_rank
    from models.training.loop import TrainingDivergedError
    from models.training.product import plan_from_json
    from models.training.progress import PipesProgress, open_progress_channel

    plan = plan_from_json(args.plan.read_text())  # the feed's TrainingPlan or a ProductPlan
    distributed = None
    if args.horovod:
        from models.training.distributed import HorovodDistributed

        distributed = HorovodDistributed()
    rank = distributed.rank if distributed is not None else 0
    with open_progress_channel(rank) as pipes:
        progress = PipesProgress(pipes) if pipes is not None else None
        try:
            if distributed is not None:
                result = train_rank(plan, distributed, progress)
            else:
                result = run_training(plan, progress=progress)
        except TrainingDivergedError as error:
            print(f"{plan.model_id}: {error}", file=sys.stderr, flush=True)
            if distributed is not None:
                # every rank checks the same averaged loss and stops at the same step; wait for
                # all of them to have said so before exiting (horovodrun kills the others as
                # soon as one rank exits, which would cut their messages)
                distributed.barrier()
            return DIVERGED_EXIT_CODE
        if progress is not None:
            progress.report_result(result)
    if rank == 0 and progress is None:  # through Pipes the result went as a message instead
        print(RESULT_MARKER + result.to_json(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
