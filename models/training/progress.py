"""Training progress from rank 0: TensorBoard scalars and Dagster Pipes messages.

The loop (`loop.train_feed_model`) calls `progress(TrainingProgress)` on rank 0 each time it
reads the loss back (and once more at each epoch's end, with `epoch_loss`). What listens:

* `TensorBoardProgress`: `tf.summary` scalars (loss, examples/s, learning rate, epoch loss)
  into a log directory, which `job.train_rank` moves into `<model>/tensorboard/` with the model
  (so a diverged run writes nothing);
* `PipesProgress`: when the run was launched through Dagster Pipes (`PipesSubprocessClient`,
  see `models.training.launch`), log lines and custom messages into the launching asset's run,
  as they happen. Only rank 0 opens Pipes (`open_progress_channel`): every rank inherits the
  Pipes environment from `horovodrun`, and N writers would interleave N copies of each message.

No module here imports dagster; `dagster_pipes` (the external-process half, a small dependency
of dagster) is imported only when the process was launched through Pipes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

TENSORBOARD_DIR = "tensorboard"
"""Where a model directory keeps rank 0's TensorBoard logs (`tensorboard --logdir <model>`)."""
PIPES_CONTEXT_ENV = "DAGSTER_PIPES_CONTEXT"
"""Set by Dagster's Pipes client in the launched process's environment (dagster_pipes)."""

# kinds of the custom messages rank 0 sends (models.training.launch reads them)
PROGRESS_MESSAGE = "progress"
EPOCH_MESSAGE = "epoch"
RESULT_MESSAGE = "result"


@dataclasses.dataclass(frozen=True)
class TrainingProgress:
    """Where training is, as read back on rank 0.

    Args:
        epoch, epochs: the current epoch (1-based) and the run's epochs.
        step, total_steps: optimizer steps taken so far (global, 1-based) and in the whole run.
        loss: the last read-back step loss (rank-averaged).
        examples_per_second: global throughput (all ranks) since the loop started.
        learning_rate: the optimizer's learning rate at `step` (after warm-up scaling).
        epoch_loss: the epoch's mean loss, set only on the epoch's last report.
    """

    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    examples_per_second: float
    learning_rate: float
    epoch_loss: float | None = None

    @property
    def epoch_end(self) -> bool:
        return self.epoch_loss is not None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


ProgressCallback = Callable[[TrainingProgress], None]


class TensorBoardProgress:
    """Writes each report as `tf.summary` scalars at its step into `log_dir`.

    `staged()` writes into a temporary directory that `write_into` copies beside the model when
    it is saved: the model directory appears atomically with its logs, and a run that fails or
    diverges leaves no partial model directory behind (the temporary one is removed by `cleanup`,
    or when the object is garbage-collected or the process exits).
    """

    def __init__(self, log_dir: Path) -> None:
        import tensorflow as tf

        self.log_dir = Path(log_dir)
        self._writer = tf.summary.create_file_writer(str(self.log_dir))
        self._staging: tempfile.TemporaryDirectory | None = None

    @classmethod
    def staged(cls) -> TensorBoardProgress:
        staging = tempfile.TemporaryDirectory(prefix="lirank-tensorboard-")
        progress = cls(Path(staging.name))
        progress._staging = staging
        return progress

    def write_into(self, model_dir: Path) -> None:
        """Flush and copy the logs into `model_dir/TENSORBOARD_DIR` (the model's staging)."""
        self.close()
        shutil.copytree(self.log_dir, Path(model_dir) / TENSORBOARD_DIR)

    def cleanup(self) -> None:
        self.close()
        if self._staging is not None:
            self._staging.cleanup()

    def __call__(self, progress: TrainingProgress) -> None:
        import tensorflow as tf

        with self._writer.as_default(step=progress.step):
            if progress.epoch_end:
                tf.summary.scalar("epoch_loss", progress.epoch_loss, step=progress.epoch)
                return
            tf.summary.scalar("loss", progress.loss)
            tf.summary.scalar("examples_per_second", progress.examples_per_second)
            tf.summary.scalar("learning_rate", progress.learning_rate)

    def close(self) -> None:
        self._writer.flush()
        self._writer.close()


class PipesProgress:
    """Sends reports into the launching Dagster run through an open `PipesContext`.

    Every epoch end is logged and sent as an `EPOCH_MESSAGE` custom message; step reports at most
    once every `interval_s` seconds (a fast loop reads the loss back many times a second, and
    each log line is an event in the run's log), as a log line and a `PROGRESS_MESSAGE`.
    """

    def __init__(self, pipes: Any, interval_s: float = 5.0) -> None:
        self.pipes = pipes
        self.interval_s = interval_s
        self.epochs: list[dict] = []
        self._last = -float("inf")

    def __call__(self, progress: TrainingProgress) -> None:
        if progress.epoch_end:
            self.epochs.append(
                {
                    "epoch": progress.epoch,
                    "loss": progress.epoch_loss,
                    "step": progress.step,
                    "examples_per_second": progress.examples_per_second,
                    "learning_rate": progress.learning_rate,
                }
            )
            self.pipes.log.info(
                f"epoch {progress.epoch}/{progress.epochs}: mean loss {progress.epoch_loss:.5f} "
                f"(step {progress.step}/{progress.total_steps}, "
                f"{progress.examples_per_second:,.0f} examples/s)"
            )
            self.pipes.report_custom_message({"kind": EPOCH_MESSAGE, **progress.to_dict()})
            return
        now = time.monotonic()
        if now - self._last < self.interval_s:
            return
        self._last = now
        self.pipes.log.info(
            f"step {progress.step}/{progress.total_steps} (epoch {progress.epoch}/"
            f"{progress.epochs}): loss {progress.loss:.5f}, "
            f"{progress.examples_per_second:,.0f} examples/s, lr {progress.learning_rate:.3g}"
        )
        self.pipes.report_custom_message({"kind": PROGRESS_MESSAGE, **progress.to_dict()})

    def report_result(self, result: Any) -> None:
        """Send rank 0's `TrainingResult` (custom message `RESULT_MESSAGE`, what the launcher
        returns) and report the asset materialization with the training metrics, which the
        asset merges into its own metadata (`training_metadata`)."""
        self.pipes.report_custom_message({"kind": RESULT_MESSAGE, "result": result.to_json()})
        self.pipes.report_asset_materialization(metadata=training_metadata(result, self.epochs))


def training_metadata(result: Any, epochs: list[dict]) -> dict:
    """The materialization metadata of a training run, in dagster_pipes' form
    ({"raw_value", "type"}): per-epoch metrics, steps, ranks, throughput, TensorBoard logs."""
    return {
        "training_epochs": {"raw_value": epochs, "type": "json"},
        "training_steps": {"raw_value": int(result.steps), "type": "int"},
        "training_ranks": {"raw_value": int(result.ranks), "type": "int"},
        "training_examples_per_second": {
            "raw_value": round(float(result.examples_per_second), 1),
            "type": "float",
        },
        "tensorboard": {
            "raw_value": str(Path(result.path) / TENSORBOARD_DIR),
            "type": "path",
        },
    }


def with_tensorboard(
    write: Callable[[Any, Path], None] | None, tensorboard: TensorBoardProgress | None
) -> Callable[[Any, Path], None] | None:
    """`registry.save_model`'s `extra_artifacts`: `write` (if any), then the TensorBoard logs."""
    if tensorboard is None:
        return write

    def write_all(model: Any, directory: Path) -> None:
        if write is not None:
            write(model, directory)
        tensorboard.write_into(directory)

    return write_all


def fan_out(*callbacks: ProgressCallback | None) -> ProgressCallback | None:
    """One callback calling each given one in order (None when none is given)."""
    present = [c for c in callbacks if c is not None]
    if not present:
        return None

    def call_all(progress: TrainingProgress) -> None:
        for callback in present:
            callback(progress)

    return call_all


def launched_by_pipes(environ: dict[str, str] | None = None) -> bool:
    """Whether this process was launched by a Dagster Pipes client."""
    return bool((os.environ if environ is None else environ).get(PIPES_CONTEXT_ENV))


@contextlib.contextmanager
def open_progress_channel(rank: int) -> Iterator[Any | None]:
    """The Pipes context on rank 0 of a Pipes-launched run, else None (every other rank, and a
    run by hand or from a benchmark, talks to no one). Closing it tells Dagster the process is
    done; an exception escaping the block is reported to the run before it propagates."""
    if rank != 0 or not launched_by_pipes():
        yield None
        return
    from dagster_pipes import open_dagster_pipes

    with open_dagster_pipes() as pipes:
        yield pipes
