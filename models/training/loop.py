"""Training the feed model: multi-task loss, warm-up schedule, data-parallel train loop, warm start.

The loop is a custom TensorFlow train step (not `model.fit`) so that gradients can be averaged
across Horovod ranks before the optimizer sees them (see `models.training.distributed`):

    L = Σ_h mean_i BCE(y_ih, z_ih),   BCE(y, z) = max(z, 0) - z·y + log(1 + e^{-|z|})

for the six heads h (paper §1, §9: equal-weighted sum; the paper gives no head weights), with
logits z. Optimization follows paper §16: Adam for the dense weights and, by config, sparse
AdaGrad (or lazy Adam) for the embedding tables, updating only the rows a batch touches
(`models.training.optimizers`); a long linear learning-rate warm-up (the paper moved from 5% to
50% of the steps to stop DCNv2 runs from diverging) whose fraction doubles with each doubling of
the global batch, capped at 60% (`TrainingConfig.effective_warmup_fraction`), optionally a
learning rate scaled linearly with the global batch; global-norm gradient clipping.

Input (paper §13): the loop reads a `tf.data` pipeline (`models.inputs.stream`): Avro shards
streamed through ATDS with the feature transform as a parallel map, or in-memory arrays through
``from_tensor_slices``; each rank reads its own shard (its own files, or rows i ≡ rank mod N),
shuffled through a buffer, batched and prefetched (to the GPU when there is one). Every rank
takes the same number of rows (the smallest rank's), so every rank runs the same number of
steps (a Horovod all-reduce would deadlock otherwise); it starts from rank 0's initial variables.

No host sync per step: the step losses stay on the device and are read back together every
`log_every_n_steps` steps and at each epoch's end; the divergence guard checks each of them
then, so an explosion is caught at most `log_every_n_steps` − 1 steps after it happens (the
error names the exact step) and, as before, before anything is saved.

Incremental training (paper §5) starts from yesterday's weights: `warm_start` copies them into a
fresh model; with `incremental="fisher"` the job also passes the Fisher penalty of Eq. 2–3 as
`penalty` (`models.training.fisher`), added to every step's loss.
Training mutates only the model it is given, so a caller that warm-starts a copy keeps the
previous model intact when training diverges.

A divergence guard (`DivergenceGuard`) stops the run when the loss is NaN/±inf or explodes while
staying finite (paper §16 warns of diverging DCNv2 runs; users saw losses of 1.8e15 saved as the
day's model): `TrainingDivergedError` is raised before anything is saved.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from models.feed import FEED_TASKS
from models.inputs.spec import AFFINITY_FEATURES, DENSE_FEATURES
from models.inputs.stream import (
    ArrayExamples,
    ExampleSource,
    ExampleStatistics,
    batched_rows,
)
from models.inputs.stream import shard_rows as shard_rows
from models.tasks import RankingTasks
from models.training.config import TrainingConfig
from models.training.distributed import Distributed, LocalDistributed
from models.training.optimizers import SparseRowOptimizer, embedding_variables, unique_rows
from models.training.progress import ProgressCallback, TrainingProgress
from spark.schemas import LABELS


class TrainingDivergedError(ValueError):
    """The training loss became NaN/±inf or exploded past `divergence_factor` × its reference.

    A `ValueError`: the usual cause is a bad setting (learning rate too high for the batch,
    warm-up too short), not a fault of the machine; the message names the rule, the values and
    what to change. Raised before anything is written, so the previous model stays as it was.
    """


DIVERGED_MESSAGE = "training diverged at step"
"""How every `TrainingDivergedError` message begins (a Horovod rank's stderr carries it)."""


class DivergenceGuard:
    """Stops training whose loss is not finite or explodes while staying finite.

    Rule, checked on every step's loss L_t (the rank-averaged loss under Horovod, so every rank
    sees the same value and all ranks stop at the same step):

        L_t must be finite,  and  L_t <= k · L_ref

    with k = `divergence_factor` and L_ref the mean loss of the first `divergence_window` steps
    of the first epoch (all of them when the epoch is shorter). The loop reads the step losses
    back from the device every `log_every_n_steps` steps (no host sync per step) and the guard
    checks each of them then, in step order: the rule and the step it names are unchanged, it
    only fires up to `log_every_n_steps` − 1 steps later than a per-step check would.
    Until that window is complete, L_ref is the mean of the window steps seen so far (from the
    second step on), so an explosion inside the window is caught too and cannot inflate the
    reference.

    Why a window and not the very first step: one batch's loss is noisy (a batch may hold no
    positive of a rare head, or an unusual mix of positions), and a reference taken from a lucky
    batch would make the rule fire on a healthy run; the mean of a window of batches is stable.
    Why the first epoch: the reference must exist early, so that an explosion in the first
    epoch stops the run at once instead of after a whole epoch of wasted compute. A healthy loss
    falls from there, so k = 10 leaves a wide margin for noise, while an explosion overshoots it
    by orders of magnitude.

    Args:
        config: the loop's settings (k, window and, for the message, the optimizer settings).
        total_steps: the run's total optimizer steps (for the message).
    """

    def __init__(self, config: TrainingConfig, total_steps: int) -> None:
        self.config = config
        self.total_steps = total_steps
        self._window: list[float] = []
        self._window_size = config.divergence_window

    def limit_window(self, steps_per_epoch: int) -> None:
        """A first epoch shorter than the window makes the whole epoch the window."""
        self._window_size = min(self.config.divergence_window, steps_per_epoch)

    @property
    def reference(self) -> float | None:
        """The reference loss so far (None before the first step)."""
        return float(np.mean(self._window)) if self._window else None

    def observe(self, loss: float, epoch: int, step: int) -> None:
        """Check step `step`'s (1-based, global) loss in `epoch` (1-based).

        Raises:
            TrainingDivergedError: the loss is not finite or exceeds k × the reference.
        """
        reference = self.reference
        if not math.isfinite(loss):
            self._raise(loss, epoch, step, f"loss={loss} is not finite", reference)
        if reference is not None and loss > self.config.divergence_factor * reference:
            self._raise(
                loss,
                epoch,
                step,
                f"loss={loss:.4g} exceeds divergence_factor {self.config.divergence_factor:g} × "
                f"the reference loss {reference:.4g}",
                reference,
            )
        if epoch == 1 and len(self._window) < self._window_size:
            self._window.append(loss)

    def _raise(
        self, loss: float, epoch: int, step: int, what: str, reference: float | None
    ) -> None:
        config = self.config
        basis = (
            f"the mean loss of the first {len(self._window)} step(s) of epoch 1"
            if reference is not None
            else "no reference yet: first step"
        )
        raise TrainingDivergedError(
            f"{DIVERGED_MESSAGE} {step} of {self.total_steps} (epoch {epoch}): {what} "
            f"(reference: {basis}; rule: every step's loss must be finite and at most "
            f"divergence_factor × the reference). Nothing was written; the previous model is "
            f"untouched. Try a lower learning rate (now {config.learning_rate}), a longer "
            f"warm-up (warmup_fraction now {config.warmup_fraction}) or a smaller clip_norm "
            f"(now {config.clip_norm}), and check the inputs for extreme values"
        )


@dataclasses.dataclass(frozen=True)
class LoopResult:
    """What the training loop did.

    Args:
        steps: optimizer steps taken (the same on every rank).
        epoch_losses: mean training loss of each epoch, averaged over ranks.
        examples_per_second: global throughput (all ranks) over the training loop.
        seconds: wall time of the training loop (excluding model construction).
    """

    steps: int
    epoch_losses: tuple[float, ...]
    examples_per_second: float
    seconds: float

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["epoch_losses"] = list(self.epoch_losses)
        return out


@keras.saving.register_keras_serializable(package="lirank")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """lr(t) = peak · min(1, (t + 1) / warmup_steps); constant `peak` after warm-up."""

    def __init__(self, peak: float, warmup_steps: int) -> None:
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        if self.warmup_steps <= 0:
            return ops.convert_to_tensor(self.peak, "float32")
        progress = (ops.cast(step, "float32") + 1.0) / float(self.warmup_steps)
        return self.peak * ops.minimum(1.0, progress)

    def get_config(self) -> dict:
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def multitask_loss(logits: Mapping, labels: Mapping):
    """Σ_h mean_i BCE(labels[h], logits[h]) over `LABELS` (numerically stable, from logits)."""
    return FEED_TASKS.loss(logits, labels)


def check_finite_inputs(inputs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]) -> None:
    """Raise `ValueError` naming each float input column or label that holds NaN or ±inf.

    Checked before the first step: a NaN feature is a data error, not a divergence, and whether
    it surfaces as a NaN loss at step 1 depends on the CPU kernels (oneDNN's fused ReLU maps NaN
    to 0 inside `tf.function`, so the loss goes NaN only a step later, through the gradients).
    """
    bad = []
    for key in ("dense", "affinity"):
        values = np.asarray(inputs[key], dtype=np.float64)
        finite = np.isfinite(values)
        if not finite.all():
            names = DENSE_FEATURES if key == "dense" else AFFINITY_FEATURES
            for column in np.flatnonzero(~finite.all(axis=0)):
                bad.append(f"{names[column]} ({int((~finite[:, column]).sum())} rows)")
    for head in LABELS:
        count = int((~np.isfinite(np.asarray(labels[head], dtype=np.float64))).sum())
        if count:
            bad.append(f"label {head} ({count} rows)")
    _raise_non_finite(bad)


def check_finite_statistics(statistics: ExampleStatistics) -> None:
    """`check_finite_inputs` for a streamed source: the same error, from the counts of its
    statistics pass (`models.inputs.stream.ExampleStatistics.non_finite`)."""
    _raise_non_finite([f"{name} ({count} rows)" for name, count in statistics.non_finite.items()])


def _raise_non_finite(bad: list[str]) -> None:
    if bad:
        raise ValueError(
            f"training inputs hold NaN or infinite values in {', '.join(bad)}; fix or drop those "
            "rows upstream (the `training_examples_quality` check reports them) and re-run"
        )


def train_feed_model(
    model: keras.Model,
    inputs: Mapping[str, np.ndarray] | ExampleSource,
    labels: Mapping[str, np.ndarray] | None,
    config: TrainingConfig,
    distributed: Distributed | None = None,
    penalty: Callable[[keras.Model, Mapping], tf.Tensor] | None = None,
    progress: ProgressCallback | None = None,
    tasks: RankingTasks | None = None,
) -> LoopResult:
    """Train `model` in place on this rank's shard of (inputs, labels).

    Args:
        model: a built feed model (e.g. `FeedModel`, possibly warm-started).
        inputs: an `ExampleSource` (`models.inputs.stream`: streamed Avro shards, or
            `ArrayExamples`) with `labels=None`, or `models.inputs` arrays over all examples
            (every rank passes the same arrays; each keeps its own shard).
        labels: `spec.labels_from` arrays, aligned with array `inputs`; None with a source.
        config: the training configuration.
        distributed: data-parallel backend; `LocalDistributed()` (one process) by default.
        penalty: `penalty(model, batch_inputs)` -> a scalar added to each step's loss inside the
            traced step, so its gradient flows (e.g. `fisher.FisherPenalty`, paper §5 Eq. 3);
            the reported losses include it.
        progress: called on rank 0 with a `TrainingProgress` each time the loss is read back
            and at each epoch's end (TensorBoard, Dagster Pipes: `models.training.progress`).
        tasks: the loss of the model's heads (`models.tasks.RankingTasks`); None: the feed
            model's six heads (`multitask_loss`). The Ads and Jobs models pass `model.tasks`.

    Returns:
        the `LoopResult` (identical `steps` and `epoch_losses` on every rank).

    Raises:
        TrainingDivergedError: the (rank-averaged) loss became NaN/±inf or exploded past
            `config.divergence_factor` × its reference (`DivergenceGuard`); names the step.
        ValueError: inputs or labels are missing keys, misaligned, or hold NaN/inf values.
    """
    distributed = distributed or LocalDistributed()
    rank, size = distributed.rank, distributed.size
    loss_of = tasks.loss if tasks is not None else multitask_loss
    source = inputs if labels is None else ArrayExamples(inputs, labels)
    check_finite_statistics(source.statistics())  # before the first step, naming the columns

    # every rank computes the same counts, so every rank takes the same rows and steps
    per_rank = min(source.rows_per_rank(size))
    if per_rank == 0:
        raise ValueError(
            f"{source.statistics().rows} examples cannot be split over {size} ranks "
            f"(rows per rank: {source.rows_per_rank(size)})"
        )
    steps_per_epoch = math.ceil(per_rank / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    dataset = batched_rows(
        source.rank_rows(rank, size),
        take=per_rank,
        batch_size=config.batch_size,
        shuffle_buffer_size=config.shuffle_buffer_size if config.shuffle else None,
        seed=config.seed * 1000 + rank,
    )

    schedule = LinearWarmup(
        config.effective_learning_rate(size),
        round(config.effective_warmup_fraction(size) * total_steps),
    )
    trainable = list(model.trainable_variables)
    tables = embedding_variables(model) if config.embedding_optimizer != "adam" else []
    is_table = [any(v is t for t in tables) for v in trainable]
    if tables:  # paper §16: Adam for dense weights, a sparse row optimizer for the tables
        dense_variables = [v for v, table in zip(trainable, is_table, strict=True) if not table]
        optimizer = keras.optimizers.Adam(learning_rate=schedule)
        optimizer.build(dense_variables)
        table_schedule = LinearWarmup(
            config.effective_embedding_learning_rate(size), schedule.warmup_steps
        )
        sparse = SparseRowOptimizer(config.embedding_optimizer, table_schedule, tables)
        optimizer_variables = [*optimizer.variables, *sparse.variables]
    else:  # one Adam over every weight (dense updates of the tables)
        optimizer = keras.optimizers.Adam(learning_rate=schedule, global_clipnorm=config.clip_norm)
        optimizer.build(trainable)
        optimizer_variables = list(optimizer.variables)
    distributed.broadcast_variables(list(model.variables) + optimizer_variables)

    def apply_gradients(gradients) -> None:
        if not tables:
            optimizer.apply(gradients, trainable)
            return
        # dedupe the table rows first, so the global norm is that of the dense gradient
        gradients = [
            unique_rows(g, v.shape[0]) if table and g is not None else g
            for g, v, table in zip(gradients, trainable, is_table, strict=True)
        ]
        gradients, _ = tf.clip_by_global_norm(gradients, config.clip_norm)
        pairs = list(zip(gradients, trainable, is_table, strict=True))
        optimizer.apply([g for g, _, t in pairs if not t], dense_variables)
        sparse.apply([g for g, _, t in pairs if t], [v for _, v, t in pairs if t])

    # one trace, whatever the last batch's size (the batch dimension is None)
    @tf.function(input_signature=list(dataset.element_spec))
    def train_step(batch_inputs, batch_labels):
        with tf.GradientTape() as tape:
            loss = loss_of(model(batch_inputs, training=True), batch_labels)
            if penalty is not None:
                loss = loss + penalty(model, batch_inputs)
        gradients = tape.gradient(loss, model.trainable_variables)
        # the loss rides along so every rank sees (and checks) the same averaged value
        *gradients, loss = distributed.average_gradients([*gradients, loss])
        apply_gradients(gradients)
        return loss

    guard = DivergenceGuard(config, total_steps)
    guard.limit_window(steps_per_epoch)
    epoch_losses: list[float] = []
    step = seen = 0
    start = time.perf_counter()

    def report(epoch: int, step: int, loss: float, seen: int, epoch_loss=None) -> None:
        if progress is not None and distributed.rank == 0:
            progress(
                TrainingProgress(
                    epoch, config.epochs, step, total_steps, loss,
                    seen / max(time.perf_counter() - start, 1e-9),
                    float(optimizer.learning_rate), epoch_loss,
                )
            )  # fmt: skip

    def read_back(pending: list, epoch: int, step: int, seen: int) -> list[float]:
        """One device→host copy of the pending step losses; the guard checks each in order."""
        values = [float(v) for v in tf.stack(pending).numpy()]
        for offset, value in enumerate(values):
            guard.observe(value, epoch, step - len(values) + 1 + offset)
        report(epoch, step, values[-1], seen)
        return values

    for epoch in range(1, config.epochs + 1):
        losses: list[float] = []
        pending: list = []  # step losses still on the device
        for batch_inputs, batch_labels in dataset:
            pending.append(train_step(batch_inputs, batch_labels))
            step += 1
            seen += int(next(iter(batch_labels.values())).shape[0]) * size  # static: no sync
            if len(pending) == config.log_every_n_steps:
                losses += read_back(pending, epoch, step, seen)
                pending = []
        if pending:
            losses += read_back(pending, epoch, step, seen)
        if len(losses) != steps_per_epoch:  # equal steps on every rank, or all-reduce hangs
            raise RuntimeError(
                f"rank {rank} ran {len(losses)} steps in epoch {epoch}, expected "
                f"{steps_per_epoch} (⌈{per_rank} rows / {config.batch_size}⌉); its input "
                "stream ended early or ran long"
            )
        epoch_losses.append(float(np.mean(losses)))
        report(epoch, step, losses[-1], seen, epoch_loss=epoch_losses[-1])
    if size > 1:
        # state no gradient carries (BatchNormalization's moving statistics in the Ads and Jobs
        # models, updated from each rank's own batches) is averaged over the ranks, so every
        # rank ends with the same model and rank 0 saves statistics of all ranks' rows
        state = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
        for variable, mean in zip(
            state, distributed.average_gradients([v.value for v in state]), strict=True
        ):
            variable.assign(mean)
    seconds = time.perf_counter() - start
    return LoopResult(
        steps=step,
        epoch_losses=tuple(epoch_losses),
        examples_per_second=per_rank * size * config.epochs / max(seconds, 1e-9),
        seconds=seconds,
    )


def warm_start(model: keras.Model, previous_model: keras.Model) -> keras.Model:
    """Copy `previous_model`'s weights into `model` exactly (paper §5, plain warm start).

    Both models must have the same architecture; `previous_model` is not modified.

    Raises:
        ValueError: the weight lists differ in count or shape (names the first mismatch).
    """
    target, source = model.weights, previous_model.weights
    if len(target) != len(source):
        raise ValueError(
            f"cannot warm-start: model has {len(target)} weights, previous model {len(source)}; "
            "build the new model from the previous model's config"
        )
    for new, old in zip(target, source, strict=True):
        if tuple(new.shape) != tuple(old.shape):
            raise ValueError(
                f"cannot warm-start: weight `{new.path}` has shape {tuple(new.shape)} but the "
                f"previous model's `{old.path}` has {tuple(old.shape)}"
            )
    for new, old in zip(target, source, strict=True):
        new.assign(ops.convert_to_numpy(old))
    return model
