"""Launch a `TrainingPlan` as a child process whose output streams, through a caller's runner.

`run_training(plan)` trains in this process or collects horovodrun's output when it exits (what
benchmarks and tests call). `launch_training(plan, run)` is the path for an orchestrator that
launches processes itself (the `feed_ranking_model` asset runs the command through Dagster's
`PipesSubprocessClient`, so rank 0's progress streams into the run as it trains):

    python -m models.training.cli PLAN.json                          # no Horovod hosts
    horovodrun -np N -H hosts --gloo \\
        python -m models.training.cli PLAN.json --horovod            # Horovod (Gloo)

Both wrapped in this module's tee (``python -m models.training.launch --outcome F -- CMD``),
which streams the child's output through unchanged and, when it exits, writes to F its exit
status, its output's last lines and every line reporting a divergence. The output can then go
to the run's logs as it happens and still be read once it is over: horovodrun exits 1 whatever
its ranks' codes, so a rank's divergence is only known from its output (`DIVERGED_MESSAGE`),
and a failure is only explained by the output's tail. The tee itself exits 0 once the outcome
is written, so the runner returns the process's messages instead of raising its own generic
error first; `launch_training` raises from the outcome.

Rank 0's `TrainingResult` comes back through the runner (a Pipes custom message of kind
`progress.RESULT_MESSAGE`), not by parsing the stream.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

TAIL_LINES = 60
KEPT_LINES = 40

Runner = Callable[[list[str]], Sequence[Mapping]]
"""run(command) -> the custom messages of the launched process (the runner streams its output;
e.g. `PipesSubprocessClient.run` in `lirank_assets`); it may raise when the tee itself fails."""


def training_command(plan, plan_file: Path) -> list[str]:
    """The command that trains `plan` (serialized in `plan_file`): one process without Horovod
    hosts, else one Horovod rank per slot under ``horovodrun --gloo``."""
    cli = [sys.executable, "-m", "models.training.cli", str(plan_file)]
    if not plan.horovod_hosts:
        return cli
    horovodrun = shutil.which("horovodrun") or str(Path(sys.executable).parent / "horovodrun")
    return [
        horovodrun, "-np", str(plan.num_proc), "-H", plan.horovod_hosts, "--gloo",
        *cli, "--horovod",
    ]  # fmt: skip


def tee_command(command: Sequence[str], outcome: Path, keep: str) -> list[str]:
    """`command` run through this module's tee, which writes its outcome to `outcome` and keeps
    every output line containing `keep`."""
    return [
        sys.executable, "-m", "models.training.launch", "--outcome", str(outcome),
        "--keep", keep, "--", *command,
    ]  # fmt: skip


def launch_training(plan, run: Runner):
    """Train `plan` by running its command through `run`; return rank 0's `TrainingResult`.

    Raises:
        FileNotFoundError: an examples path is missing (names it; nothing is launched).
        TrainingDivergedError: a rank's loss diverged (the exit status is `DIVERGED_EXIT_CODE`,
            or a line of the output says so); nothing was written, the previous model is
            untouched.
        RuntimeError: the process failed otherwise, or reported no result; names the exit status
            and quotes the output's tail.
    """
    from models.training.config import TrainingResult
    from models.training.job import DIVERGED_EXIT_CODE, check_examples
    from models.training.loop import DIVERGED_MESSAGE, TrainingDivergedError
    from models.training.progress import RESULT_MESSAGE

    check_examples(plan)
    with tempfile.TemporaryDirectory(prefix="lirank-launch-") as folder:
        plan_file, outcome_file = Path(folder) / "plan.json", Path(folder) / "outcome.json"
        plan_file.write_text(plan.to_json())
        command = training_command(plan, plan_file)
        messages = run(tee_command(command, outcome_file, keep=DIVERGED_MESSAGE))
        outcome = _read_outcome(outcome_file)
    where = f"training of {plan.model_id} ({plan.engine})"
    tail = "\n".join(outcome.get("tail", []))
    if outcome.get("returncode") == DIVERGED_EXIT_CODE or outcome.get("kept"):
        raise TrainingDivergedError(
            f"{where} diverged; nothing was written and the previous model "
            f"{plan.previous_model} is untouched. Lower the learning rate or lengthen the "
            f"warm-up and re-run. " + "\n".join(outcome.get("kept", [])[:KEPT_LINES])
        )
    if outcome.get("returncode") != 0:
        raise RuntimeError(
            f"{where} failed with exit code {outcome.get('returncode')} "
            f"({outcome.get('error', 'see the output below')}). The output's last lines:\n{tail}"
        )
    results = [m for m in messages if isinstance(m, Mapping) and m.get("kind") == RESULT_MESSAGE]
    if not results:
        raise RuntimeError(
            f"{where} exited 0 but rank 0 reported no result (no {RESULT_MESSAGE!r} message "
            f"through Pipes; was rank 0 on another host?). The output's last lines:\n{tail}"
        )
    return TrainingResult.from_json(results[-1]["result"])


def _read_outcome(path: Path) -> dict:
    if not path.exists():
        return {"returncode": None, "error": f"the launcher wrote no outcome to {path}: killed?"}
    return json.loads(path.read_text())


def tee(command: Sequence[str], outcome: Path, keep: str) -> int:
    """Run `command`, copy its output (stdout and stderr, merged) to this stdout line by line,
    write {"returncode", "tail", "kept"} to `outcome`, and return the child's exit status.
    SIGINT and SIGTERM are passed on to the child (Dagster interrupts a run with SIGINT)."""
    try:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as error:
        Path(outcome).write_text(
            json.dumps({"returncode": 127, "tail": [], "kept": [], "error": str(error)})
        )
        print(f"cannot run {command[0]}: {error}", file=sys.stderr)
        return 127
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda number, _frame: child.send_signal(number))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    kept: list[str] = []
    out = sys.stdout.buffer
    for raw in iter(child.stdout.readline, b""):
        out.write(raw)
        out.flush()
        line = raw.decode(errors="replace").rstrip("\n")
        tail.append(line)
        if keep and keep in line and len(kept) < KEPT_LINES:
            kept.append(line)
    returncode = child.wait()
    staging = Path(f"{outcome}.tmp")
    staging.write_text(json.dumps({"returncode": returncode, "tail": list(tail), "kept": kept}))
    os.replace(staging, outcome)
    return returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.training.launch", description=__doc__)
    parser.add_argument("--outcome", type=Path, required=True, help="where to write the outcome")
    parser.add_argument("--keep", default="", help="keep every output line containing this")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --")
    tee(command, args.outcome, args.keep)
    return 0  # the child's status is in the outcome (see the module docstring)


if __name__ == "__main__":
    sys.exit(main())
