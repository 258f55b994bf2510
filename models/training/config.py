"""The typed training plan: one frozen object that the asset, the CLI and every Horovod rank share.

`TrainingPlan` says everything one training run needs (which examples, cold start or warm start,
the cold start's architecture, the loop's settings, where to write, which engine); it is built
once (by the `feed_ranking_model` asset or by hand) and serialized once as JSON when the run goes
to `horovodrun`, so every rank trains from the same plan. `TrainingResult` is what a run did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd

from models.feed import FeedModelConfig

EXAMPLES_FORMATS: tuple[str, ...] = ("avro", "parquet")
SAVED_MODEL_DIR = "saved_model"
LEARNING_RATE_SCALINGS: tuple[str, ...] = ("none", "linear")
EMBEDDING_OPTIMIZERS: tuple[str, ...] = ("adam", "adagrad", "lazy_adam")
# paper §16: the warm-up fraction doubles with the batch, capped at 60% of the steps
MAX_WARMUP_FRACTION = 0.6

INCREMENTAL_METHODS: tuple[str, ...] = ("fisher", "warm_start")


def check_incremental_settings(method: str, fisher_lambda: float, fisher_alpha: float) -> None:
    """Raise ValueError naming a bad `incremental`, `fisher_lambda` or `fisher_alpha`."""
    if method not in INCREMENTAL_METHODS:
        raise ValueError(
            f"`incremental` must be one of {INCREMENTAL_METHODS}. Received: incremental={method!r}"
        )
    if not (math.isfinite(fisher_lambda) and fisher_lambda >= 0):
        raise ValueError(
            "`fisher_lambda` (the forgetting factor λ_f) must be finite and >= 0 (0: no penalty, "
            f"the anchored initialization only). Received: fisher_lambda={fisher_lambda}"
        )
    if not 0.0 <= fisher_alpha <= 1.0:
        raise ValueError(
            "`fisher_alpha` (the cold weight α) must be in [0, 1] (0: the previous model only, "
            f"Eq. 2; 1: the cold start only). Received: fisher_alpha={fisher_alpha}"
        )


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the training loop runs.

    Args:
        epochs: passes over each rank's shard.
        batch_size: examples per rank per step (global batch = batch_size × ranks).
        learning_rate: peak learning rate, reached at the end of warm-up.
        warmup_fraction: share of all steps spent in linear warm-up from 0 (paper §16: 50%).
        clip_norm: global-norm gradient clipping threshold (paper §16; value NOT CONFIRMED).
        seed: seeds the weight initialization (seed + rank) and the per-epoch shuffles.
        shuffle: reshuffle each rank's shard every epoch.
        divergence_factor: the divergence guard stops training when a step's (rank-averaged)
            loss exceeds this many times the reference loss, or is not finite (see
            `models.training.loop.DivergenceGuard`). 10× is far above the step-to-step noise of
            a healthy run and far below an explosion (users saw 1.8e15).
        divergence_window: the reference loss is the mean loss of the first this many steps of
            the first epoch (fewer when the epoch is shorter).
        shuffle_buffer_size: examples in each rank's tf.data shuffle buffer (paper §13: the
            input streams, so the shuffle is a window, not a permutation of the day; memory
            grows with this, not with the day). A shard smaller than the buffer is shuffled
            whole.
        log_every_n_steps: the loop reads the step losses back from the device every this many
            steps (and at each epoch's end), not every step; the divergence guard checks them
            then, so an explosion is caught within this many steps (the error still names the
            exact step) and nothing is saved.
        warmup_reference_batch: the global batch (batch_size × ranks) at which
            `warmup_fraction` applies; the warm-up fraction then doubles with each doubling of
            the global batch, capped at 60% of the steps (paper §16):
            f = min(0.6, warmup_fraction · global_batch / warmup_reference_batch).
            None keeps `warmup_fraction` whatever the batch.
        learning_rate_scaling: "none" (peak rate `learning_rate` whatever the batch) or
            "linear" (lr = learning_rate · global_batch / warmup_reference_batch, the linear
            scaling rule; the paper gives no LR-vs-batch rule, paper-notes §16 NOT CONFIRMED).
        embedding_optimizer: the optimizer of the embedding tables (paper §16: Adam for dense
            weights, AdaGrad for the many-sparse-feature models): "adam" (one Keras Adam over
            every weight, tables included: dense updates), "adagrad" (sparse AdaGrad on the
            rows a batch touches) or "lazy_adam" (sparse Adam on the touched rows, moments of
            untouched rows kept). See `models.training.optimizers`.
        embedding_learning_rate: the peak rate of the separate embedding optimizer (same
            warm-up and scaling as the dense rate); None uses `learning_rate`. AdaGrad's
            accumulator shrinks its steps, so it usually wants a larger rate than Adam.
        incremental: how an incremental day trains (paper §5): "fisher" (default: Eq. 3, the
            anchored initialization α·w₀ + (1−α)·w_{t−1} and the Fisher penalty towards the
            cold start and the previous model; every run also writes its own Fisher anchor)
            or "warm_start" (plain warm start from the previous model, no penalty, no anchor).
            See `models.training.fisher`.
        fisher_lambda: λ_f ≥ 0, the forgetting factor of Eq. 2–3 (1: the anchor's data weighs
            as much as the day's). 1: the best of {0.1, 1, 10} on `bench/incremental.py`'s
            selection day with the AdaGrad tables (AUC 0.7724 vs 0.7714 and 0.7722: a weak
            preference; with one Adam everywhere 0.1 had won by 0.0008).
        fisher_alpha: α ∈ [0, 1], the cold weight of Eq. 3 (0: Eq. 2, previous model only).
            0.0: the bench's tie-break; on its selection day (the first update) both anchors
            are the cold start, so α is not identified there.
    """

    epochs: int = 1
    batch_size: int = 512
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.5
    clip_norm: float = 1.0
    seed: int = 0
    shuffle: bool = True
    divergence_factor: float = 10.0
    divergence_window: int = 20
    shuffle_buffer_size: int = 10_000
    log_every_n_steps: int = 50
    warmup_reference_batch: int | None = None
    learning_rate_scaling: str = "none"
    embedding_optimizer: str = "adam"
    embedding_learning_rate: float | None = None
    incremental: str = "fisher"
    fisher_lambda: float = 1.0
    fisher_alpha: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "epochs",
            "batch_size",
            "divergence_window",
            "shuffle_buffer_size",
            "log_every_n_steps",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
        for name in ("learning_rate", "clip_norm"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive and finite. Received: {name}={value}")
        if not (math.isfinite(self.divergence_factor) and self.divergence_factor > 1.0):
            raise ValueError(
                "`divergence_factor` must be finite and > 1 (a multiple of the reference loss). "
                f"Received: divergence_factor={self.divergence_factor}"
            )
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(
                f"`warmup_fraction` must be in [0, 1). Received: warmup_fraction="
                f"{self.warmup_fraction}"
            )

        reference = self.warmup_reference_batch
        if reference is not None and (
            isinstance(reference, bool) or not isinstance(reference, int) or reference <= 0
        ):
            raise ValueError(
                "`warmup_reference_batch` must be a positive integer (a global batch size) or "
                f"None. Received: warmup_reference_batch={reference!r}"
            )
        if self.learning_rate_scaling not in LEARNING_RATE_SCALINGS:
            raise ValueError(
                f"`learning_rate_scaling` must be one of {LEARNING_RATE_SCALINGS}. Received: "
                f"learning_rate_scaling={self.learning_rate_scaling!r}"
            )
        if self.learning_rate_scaling == "linear" and reference is None:
            raise ValueError(
                "learning_rate_scaling='linear' scales the rate by global_batch / "
                "warmup_reference_batch; set `warmup_reference_batch` (e.g. to the global batch "
                "the learning rate was tuned at). Received: warmup_reference_batch=None"
            )
        if self.embedding_optimizer not in EMBEDDING_OPTIMIZERS:
            raise ValueError(
                f"`embedding_optimizer` must be one of {EMBEDDING_OPTIMIZERS}. Received: "
                f"embedding_optimizer={self.embedding_optimizer!r}"
            )
        rate = self.embedding_learning_rate
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise ValueError(
                "`embedding_learning_rate` must be positive and finite, or None (the dense "
                f"rate). Received: embedding_learning_rate={rate}"
            )
        if rate is not None and self.embedding_optimizer == "adam":
            raise ValueError(
                "`embedding_learning_rate` applies to a separate embedding optimizer; with "
                "embedding_optimizer='adam' one Adam trains every weight at `learning_rate`. "
                "Set embedding_optimizer to 'adagrad' or 'lazy_adam', or leave the rate None"
            )

        check_incremental_settings(self.incremental, self.fisher_lambda, self.fisher_alpha)

    def global_batch(self, ranks: int) -> int:
        """Examples per optimizer step over all ranks: batch_size × ranks."""
        if ranks < 1:
            raise ValueError(f"`ranks` must be at least 1. Received: ranks={ranks}")
        return self.batch_size * ranks

    def effective_warmup_fraction(self, ranks: int = 1) -> float:
        """The warm-up share of the steps at `ranks` ranks (paper §16):

            f = min(0.6, f0 · global_batch / ref)

        with f0 = `warmup_fraction` and ref = `warmup_reference_batch`: each doubling of the
        global batch doubles the warm-up, up to 60% of the steps. f0 when ref is None.
        """
        if self.warmup_reference_batch is None:
            return self.warmup_fraction
        scaled = self.warmup_fraction * self.global_batch(ranks) / self.warmup_reference_batch
        return min(MAX_WARMUP_FRACTION, scaled)

    def effective_learning_rate(self, ranks: int = 1) -> float:
        """The peak learning rate at `ranks` ranks: `learning_rate`, times global_batch / ref
        with learning_rate_scaling="linear" (the linear scaling rule)."""
        if self.learning_rate_scaling == "linear":
            return self.learning_rate * self.global_batch(ranks) / self.warmup_reference_batch
        return self.learning_rate

    def effective_embedding_learning_rate(self, ranks: int = 1) -> float:
        """The embedding optimizer's peak rate at `ranks` ranks (scaled like the dense rate)."""
        if self.embedding_learning_rate is None:
            return self.effective_learning_rate(ranks)
        return (
            self.embedding_learning_rate * self.effective_learning_rate(ranks) / self.learning_rate
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """One training run of the feed model.

    Args:
        model_id: the model's name (e.g. "feed-2026-01-04").
        out_dir: the model directory to write (replaced atomically; nothing on failure).
        examples: one path per day (a directory or a file) in `examples_format`, read in order.
        examples_format: "avro" (Avro shard directories of `training_examples_avro`, read by
            ATDS, paper §13) or "parquet" (Parquet partitions of `training_examples`, pandas).
        previous_model: the model directory to warm-start from (paper §5, incremental); None
            is a cold start. An incremental run keeps the previous model's config (blocks,
            vocabularies, normalization constants), whatever `model` says.
        model: the cold start's architecture; its vocabularies and dense normalization
            constants are learned from the examples.
        training: the loop's settings.
        split: the `split` value whose rows train ("all" keeps every row).
        min_vocabulary_count: a categorical value joins the cold start's vocabulary when it
            appears in at least this many training rows (rarer ones share the OOV bucket).
        horovod_hosts: `host:slots[,host:slots]`; None trains in this process.
        horovod_num_proc: total Horovod ranks (0: the sum of the host slots).
        export_saved_model: also write the serving SavedModel into `<out_dir>/saved_model`.
        dump_rank_weights: every rank also writes `rank-<r>-weights.npz` and
            `rank-<r>-initial-weights.npz` into `out_dir` (for checking data parallelism).
    """

    model_id: str
    out_dir: str
    examples: tuple[str, ...]
    examples_format: str = "avro"
    previous_model: str | None = None
    model: FeedModelConfig = FeedModelConfig()
    training: TrainingConfig = TrainingConfig()
    split: str = "train"
    min_vocabulary_count: int = 1
    horovod_hosts: str | None = None
    horovod_num_proc: int = 0
    export_saved_model: bool = True
    dump_rank_weights: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out_dir", str(self.out_dir))
        object.__setattr__(self, "examples", tuple(str(p) for p in self.examples))
        if self.previous_model is not None:
            object.__setattr__(self, "previous_model", str(self.previous_model))
        if not self.examples:
            raise ValueError(f"a training plan needs examples. Received: examples={self.examples}")
        if self.examples_format not in EXAMPLES_FORMATS:
            raise ValueError(
                f"`examples_format` must be one of {EXAMPLES_FORMATS}. Received: "
                f"examples_format={self.examples_format!r}"
            )
        if self.min_vocabulary_count < 1:
            raise ValueError(
                "`min_vocabulary_count` must be at least 1. Received: "
                f"min_vocabulary_count={self.min_vocabulary_count}"
            )
        if self.horovod_num_proc < 0:
            raise ValueError(f"`horovod_num_proc` must be >= 0. Received: {self.horovod_num_proc}")

    @property
    def incremental(self) -> bool:
        return self.previous_model is not None

    @property
    def rows_of_split(self) -> str | None:
        """The `split` value the training rows have; None for "all" (every row)."""
        return None if self.split == "all" else self.split

    @property
    def num_proc(self) -> int:
        """Horovod ranks: `horovod_num_proc`, or the sum of the host slots."""
        if self.horovod_num_proc > 0 or not self.horovod_hosts:
            return self.horovod_num_proc or 1
        return sum(
            int(h.rsplit(":", 1)[1]) if ":" in h else 1 for h in self.horovod_hosts.split(",")
        )

    @property
    def engine(self) -> str:
        if self.horovod_hosts:
            return f"horovod ({self.num_proc} ranks on {self.horovod_hosts})"
        return "in-process"

    def to_json(self) -> str:
        values = dataclasses.asdict(self)
        values["model"] = self.model.to_dict()
        values["training"] = self.training.to_dict()
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingPlan:
        values = json.loads(text)
        values["model"] = FeedModelConfig.from_dict(values["model"])
        values["training"] = TrainingConfig(**values["training"])
        values["examples"] = tuple(values["examples"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What a training run did (identical on every rank).

    Args:
        model_id, mode ("cold" | "incremental"), base_model_id: which model this is.
        train_days: example paths read; train_rows: rows of the training split.
        steps: optimizer steps; epoch_losses: mean loss of each epoch, averaged over ranks.
        train_seconds: wall time of the loop; examples_per_second: global throughput.
        engine: "in-process" or "horovod (N ranks on hosts)"; ranks: Horovod ranks.
        path: the model directory; saved_model: the serving SavedModel in it, if exported.
        model_config: the trained model's `FeedModelConfig.to_dict()`.
        out_of_vocabulary: training rows per categorical column whose value fell in the OOV
            bucket (new values on an incremental day; values rarer than the cold start's
            `min_vocabulary_count`).
    """

    model_id: str
    mode: str
    base_model_id: str | None
    train_days: int
    train_rows: int
    steps: int
    epoch_losses: tuple[float, ...]
    train_seconds: float
    examples_per_second: float
    engine: str
    ranks: int
    path: str
    saved_model: str | None
    model_config: dict
    out_of_vocabulary: dict

    @property
    def final_loss(self) -> float:
        return float(self.epoch_losses[-1])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainingResult:
        values = json.loads(text)
        values["epoch_losses"] = tuple(values["epoch_losses"])
        return cls(**values)

    def manifest_row(self, date: dt.date) -> pd.DataFrame:
        """The model's row of the warehouse `models` table."""
        row = {
            "date": date,
            "model_id": self.model_id,
            "mode": self.mode,
            "base_model_id": self.base_model_id,
            "train_days": self.train_days,
            "train_rows": self.train_rows,
            "final_loss": self.final_loss,
            "train_seconds": self.train_seconds,
            "engine": self.engine,
            "path": str(Path(self.path)),
        }
        return pd.DataFrame([row]).astype({"base_model_id": "string"})
