"""Fisher-regularized incremental training (paper §5, Eq. 2–3): the Fisher diagonal, the penalty,
the anchored initialization and the anchors on disk.

Paper §5 (notes §5): an incremental model warm-starts from the previous one **and** is pulled
towards it, and towards the cycle's cold-start model, by a curvature-weighted quadratic, so that a
day of new data does not erase what older days taught (catastrophic forgetting). For weights w,
the cold start's weights w₀ with Fisher diagonal F₀, and the previous model's w_{t−1}, F_{t−1}:

    Eq. 3:  L(w) = loss_{D_t}(w)
                   + (λ_f/2)·[ α·(w−w₀)ᵀF₀(w−w₀) + (1−α)·(w−w_{t−1})ᵀF_{t−1}(w−w_{t−1}) ]
    init:   w ← α·w₀ + (1−α)·w_{t−1}

with forgetting factor λ_f and cold weight α ∈ [0, 1]; α = 0 is Eq. 2 (previous model only),
α = 1 anchors to the cold start alone. The Hessian of Eq. 2 is replaced by the empirical Fisher
diagonal (Pascanu & Bengio; Kirkpatrick et al., EWC), as the paper does:

    F_j = (1/N) Σ_n (∂ℓ_n/∂w_j)²,   ℓ_n = Σ_h BCE(y_nh, z_nh)   (one example's loss)

The two quadratics sum to one (completing the square), which is what a train step evaluates:

    α F₀ (w−w₀)² + (1−α) F₁ (w−w₁)² = A (w−m)² + c,
    A = α F₀ + (1−α) F₁,   m = (α F₀ w₀ + (1−α) F₁ w₁) / A   (m = the init where A = 0),
    c = α F₀ w₀² + (1−α) F₁ w₁² − A m²

so a step costs one elementwise pass over the weights, not two.

Decisions:
- **Fisher estimator: mini-batch squares scaled by the batch size** (default,
  `per_example=False`): F̂ = Σ_b n_b·(n_b·ḡ_b²) / Σ_b n_b, with ḡ_b the gradient of batch b's
  mean loss. For independent per-example gradients g_n with mean μ and variance σ²,
  E[n·ḡ²] = σ² + n·μ², while the textbook F = σ² + μ²: the two agree at a stationary point
  (μ ≈ 0, where the Fisher is meant to be taken) and the estimate is independent of the batch
  size there, so λ_f does not have to change with it. It costs one forward and backward pass per
  batch (about half a training epoch: no optimizer). The exact per-example Fisher
  (`per_example=True`, per-example gradients through `tf.vectorized_map`) is kept for checking;
  it is many times slower on the feed model's dozens of variables.
- **Scale of λ_f.** The training loss is a per-example mean and F a per-example mean, so
  λ_f = N_{t−1}/N_t is the Bayesian (Laplace) weight of the anchor's data relative to the day's:
  λ_f = 1 weighs the previous day as much as today's data.
- **Which weights.** Every trainable variable of the model, embedding tables included. Not
  regularized: non-trainable state (frozen normalization constants, isotonic buckets kept by
  the layer) and the optimizer's slots, which start fresh each day.
- **Embedding tables: a dense penalty, not a gather of the batch's rows.** The Fisher of a row
  that the anchor's data never touched is exactly 0, so new IDs are free, and rows the anchor
  knew are pulled back whether or not today's batch touches them: the gradient of Eq. 3 itself
  (the touched-rows form is a stochastic approximation of it that leaves untouched rows where
  the day's momentum put them). Cost: one elementwise pass over every table per step (2 flops
  per weight, the same order as the dense Adam update the loop already applies to every row),
  and a dense gradient for the tables; a sparse-update optimizer (issue 12, item 3) would want
  the gather form instead (`FisherPenalty` takes the batch's inputs for that reason).
- **Anchors on disk** (`FISHER_FILE`, `COLD_ANCHOR_FILE` in each model directory): a model writes
  its own weights and Fisher; an incremental model also keeps a copy of the cold start's, so a
  day re-runs from the previous model's directory alone, and its manifest records both anchors
  by model id, path and SHA-256 (`anchor_record`).

Example:

    fisher = fisher_diagonal(model, batches, multitask_loss)
    anchor = FisherAnchor.of(model, fisher, model_id="feed-2026-01-03")
    penalty = FisherPenalty(model, cold=anchor, previous=anchor, fisher_lambda=1.0, alpha=0.5)
    train_feed_model(model, inputs, labels, config, penalty=penalty)
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from models.training.config import check_incremental_settings

FISHER_FILE = "fisher.npz"
"""A model's own anchor: its trainable weights w and Fisher diagonal F on its training data."""
COLD_ANCHOR_FILE = "cold_anchor.npz"
"""In an incremental model's directory: a copy of its cycle's cold-start anchor (w₀, F₀)."""

Batch = tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]
LossFn = Callable[[Mapping, Mapping], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class FisherAnchor:
    """One anchor of Eq. 3: a model's trainable weights and their Fisher diagonal.

    Args:
        model_id: the model the anchor was taken from (e.g. "feed-2026-01-03").
        paths: each trainable variable's path (for messages; variables match by position).
        weights: w, one array per trainable variable, in `model.trainable_variables` order.
        fisher: F, the same shapes, non-negative and finite.
    """

    model_id: str
    paths: tuple[str, ...]
    weights: tuple[np.ndarray, ...]
    fisher: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        if not (len(self.paths) == len(self.weights) == len(self.fisher)):
            raise ValueError(
                f"anchor {self.model_id}: {len(self.paths)} paths, {len(self.weights)} weights and "
                f"{len(self.fisher)} Fisher arrays; they must be one per trainable variable"
            )
        for path, w, f in zip(self.paths, self.weights, self.fisher, strict=True):
            if w.shape != f.shape:
                raise ValueError(
                    f"anchor {self.model_id}: `{path}` has weights of shape {w.shape} but Fisher "
                    f"of shape {f.shape}"
                )
            if not (np.isfinite(f).all() and (f >= 0).all()):
                raise ValueError(
                    f"anchor {self.model_id}: the Fisher diagonal of `{path}` must be finite and "
                    "non-negative; recompute it (`fisher_diagonal`) from a finite model"
                )

    @classmethod
    def of(cls, model: keras.Model, fisher: Sequence[np.ndarray], model_id: str) -> FisherAnchor:
        """The anchor of `model`'s current trainable weights with their Fisher `fisher`."""
        variables = model.trainable_variables
        return cls(
            model_id=model_id,
            paths=tuple(v.path for v in variables),
            weights=tuple(np.array(v.numpy(), dtype=np.float32) for v in variables),
            fisher=tuple(np.asarray(f, dtype=np.float32) for f in fisher),
        )

    def to_bytes(self) -> bytes:
        """The anchor as `.npz` bytes (`w_000…`, `f_000…`, `paths`, `model_id`)."""
        buffer = io.BytesIO()
        arrays = {f"w_{i:03d}": w for i, w in enumerate(self.weights)}
        arrays |= {f"f_{i:03d}": f for i, f in enumerate(self.fisher)}
        np.savez(buffer, paths=np.array(self.paths), model_id=np.array(self.model_id), **arrays)
        return buffer.getvalue()

    def save(self, path: Path) -> str:
        """Write the anchor to `path`; returns the file's SHA-256."""
        data = self.to_bytes()
        Path(path).write_bytes(data)
        return hashlib.sha256(data).hexdigest()

    @classmethod
    def load(cls, path: Path) -> FisherAnchor:
        """Read an anchor written by `save`.

        Raises:
            FileNotFoundError: no file at `path`; the message says how to produce one.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(
                f"no Fisher anchor at {path}: the model in {path.parent} was trained without "
                "`incremental='fisher'` (or before Fisher-regularized training existed). "
                "Re-materialize that day's model with incremental='fisher', or train this day "
                "with incremental='warm_start'"
            )
        with np.load(path) as data:
            count = len(data["paths"])
            return cls(
                model_id=str(data["model_id"]),
                paths=tuple(str(p) for p in data["paths"]),
                weights=tuple(data[f"w_{i:03d}"] for i in range(count)),
                fisher=tuple(data[f"f_{i:03d}"] for i in range(count)),
            )

    def check_matches(self, model: keras.Model) -> None:
        """Raise ValueError unless the anchor has one array per trainable variable of `model`,
        of the same shape (the first mismatch is named)."""
        variables = model.trainable_variables
        if len(variables) != len(self.weights):
            raise ValueError(
                f"anchor {self.model_id} has {len(self.weights)} weights but the model has "
                f"{len(variables)} trainable variables; an anchor belongs to the same "
                "architecture (start a new cycle with a cold start after changing it)"
            )
        for v, path, w in zip(variables, self.paths, self.weights, strict=True):
            if tuple(v.shape) != w.shape:
                raise ValueError(
                    f"anchor {self.model_id}: `{path}` has shape {w.shape} but the model's "
                    f"`{v.path}` has {tuple(v.shape)}"
                )


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def anchor_record(path: Path, model_id: str) -> dict:
    """How a model's manifest names an anchor it used: model id, path and SHA-256."""
    return {"model_id": model_id, "path": str(path), "sha256": file_sha256(path)}


def cold_anchor_file(model_dir: Path) -> Path:
    """The cycle's cold-start anchor as seen from `model_dir`: its copy in an incremental model's
    directory, else the model's own anchor (a cold start is its own cold anchor)."""
    copy = Path(model_dir) / COLD_ANCHOR_FILE
    return copy if copy.is_file() else Path(model_dir) / FISHER_FILE


def array_batches(
    inputs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], batch_size: int
) -> Iterable[Batch]:
    """(inputs, labels) batches of consecutive rows of in-memory arrays."""
    n = len(next(iter(labels.values())))
    for first in range(0, n, batch_size):
        rows = slice(first, first + batch_size)
        yield (
            {key: np.asarray(value)[rows] for key, value in inputs.items()},
            {key: np.asarray(value, dtype=np.float32)[rows] for key, value in labels.items()},
        )


def fisher_diagonal(
    model: keras.Model,
    batches: Iterable[Batch],
    loss_fn: LossFn,
    *,
    per_example: bool = False,
    distributed=None,
) -> list[np.ndarray]:
    """The empirical Fisher diagonal of `model`'s trainable variables over `batches`.

    F_j = (1/N) Σ_n (∂ℓ_n/∂w_j)² with `per_example=True`; by default the mini-batch estimate
    Σ_b n_b·(n_b·ḡ_b²) / Σ_b n_b (see the module docstring), ḡ_b the gradient of
    `loss_fn(model(inputs_b), labels_b)`, a mean over the batch's rows. The model runs in
    inference mode; its weights are not changed.

    Args:
        model: the trained model.
        batches: (inputs, labels) batches (e.g. `array_batches`, or a `tf.data.Dataset`).
        loss_fn: (logits, labels) -> the batch's mean loss (e.g. `loop.multitask_loss`).
        per_example: the exact per-example Fisher (slow; for checks).
        distributed: a `models.training.distributed` backend; each rank passes its own shard
            and every rank returns the Fisher averaged over ranks (equal shard sizes).

    Returns:
        One float32 array per variable of `model.trainable_variables`, in order.

    Raises:
        ValueError: `batches` is empty.
    """
    variables = model.trainable_variables

    def batch_loss(batch_inputs, batch_labels):
        return loss_fn(model(batch_inputs, training=False), batch_labels)

    @tf.function(reduce_retracing=True)
    def batch_squares(batch_inputs, batch_labels):
        n = tf.cast(tf.shape(next(iter(batch_labels.values())))[0], tf.float32)
        with tf.GradientTape() as tape:
            loss = batch_loss(batch_inputs, batch_labels)
        grads = tape.gradient(loss, variables, unconnected_gradients="zero")
        return [n * n * tf.square(tf.convert_to_tensor(g)) for g in grads], n

    @tf.function(reduce_retracing=True)
    def example_squares(batch_inputs, batch_labels):
        def one(example):
            example_inputs, example_labels = tf.nest.map_structure(
                lambda t: tf.expand_dims(t, 0), example
            )
            with tf.GradientTape() as tape:
                loss = batch_loss(example_inputs, example_labels)
            grads = tape.gradient(loss, variables, unconnected_gradients="zero")
            return [tf.convert_to_tensor(g) for g in grads]

        grads = tf.vectorized_map(one, (batch_inputs, batch_labels))
        n = tf.cast(tf.shape(next(iter(batch_labels.values())))[0], tf.float32)
        return [tf.reduce_sum(tf.square(g), axis=0) for g in grads], n

    squares = example_squares if per_example else batch_squares
    totals = [np.zeros(tuple(v.shape), dtype=np.float64) for v in variables]
    rows = 0.0
    for batch_inputs, batch_labels in batches:
        batch_totals, n = squares(dict(batch_inputs), dict(batch_labels))
        for total, value in zip(totals, batch_totals, strict=True):
            total += value.numpy()
        rows += float(n)
    if rows == 0:
        raise ValueError("cannot compute a Fisher diagonal from no batches; pass the training rows")
    fisher = [(total / rows).astype(np.float32) for total in totals]
    if distributed is not None and distributed.size > 1:
        fisher = [np.asarray(f) for f in distributed.average_gradients(fisher)]
    return fisher


def anchored_initialization(
    cold: FisherAnchor, previous: FisherAnchor, alpha: float
) -> list[np.ndarray]:
    """w_init = α·w₀ + (1−α)·w_{t−1} (paper §5), one array per trainable variable."""
    return [
        (alpha * w0.astype(np.float64) + (1.0 - alpha) * w1.astype(np.float64)).astype(np.float32)
        for w0, w1 in zip(cold.weights, previous.weights, strict=True)
    ]


def combined_quadratic(
    cold: FisherAnchor, previous: FisherAnchor, alpha: float
) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """(A, m, c) with α F₀ (w−w₀)² + (1−α) F₁ (w−w₁)² = Σ A (w−m)² + c (module docstring);
    where A = 0 the center m is the anchored initialization."""
    curvatures, centers, constant = [], [], 0.0
    for w0, f0, w1, f1 in zip(
        cold.weights, cold.fisher, previous.weights, previous.fisher, strict=True
    ):
        w0, f0, w1, f1 = (np.asarray(x, dtype=np.float64) for x in (w0, f0, w1, f1))
        a = alpha * f0 + (1.0 - alpha) * f1
        weighted = alpha * f0 * w0 + (1.0 - alpha) * f1 * w1
        m = np.where(a > 0, weighted / np.where(a > 0, a, 1.0), alpha * w0 + (1.0 - alpha) * w1)
        constant += float(np.sum(alpha * f0 * w0**2 + (1.0 - alpha) * f1 * w1**2 - a * m**2))
        curvatures.append(a.astype(np.float32))
        centers.append(m.astype(np.float32))
    return curvatures, centers, constant


class FisherPenalty:
    """The penalty of Eq. 3 as a train-step callable: `penalty(model, batch_inputs)` is

        (λ_f/2)·[ α (w−w₀)ᵀF₀(w−w₀) + (1−α)(w−w_{t−1})ᵀF_{t−1}(w−w_{t−1}) ]

    over `model.trainable_variables`, a scalar tensor whose gradient flows to the weights
    (evaluated as (λ_f/2)(Σ A (w−m)² + c), `combined_quadratic`). `batch_inputs` is unused:
    the penalty is dense (module docstring, "Embedding tables").

    Args:
        model: the model being trained (its trainable variables must match the anchors).
        cold: the cycle's cold-start anchor (w₀, F₀).
        previous: the previous model's anchor (w_{t−1}, F_{t−1}).
        fisher_lambda: λ_f ≥ 0, the forgetting factor.
        alpha: α ∈ [0, 1], the cold weight.

    Raises:
        ValueError: a bad λ_f or α, or anchors that do not match the model.
    """

    def __init__(
        self,
        model: keras.Model,
        cold: FisherAnchor,
        previous: FisherAnchor,
        fisher_lambda: float,
        alpha: float,
    ) -> None:
        check_incremental_settings("fisher", fisher_lambda, alpha)
        cold.check_matches(model)
        previous.check_matches(model)
        self.fisher_lambda = float(fisher_lambda)
        self.alpha = float(alpha)
        curvatures, centers, constant = combined_quadratic(cold, previous, alpha)
        self._curvatures = [tf.constant(a) for a in curvatures]
        self._centers = [tf.constant(m) for m in centers]
        self._constant = tf.constant(constant, tf.float32)

    def __call__(self, model: keras.Model, batch_inputs: Mapping | None = None) -> tf.Tensor:
        quadratic = tf.add_n(
            [
                tf.reduce_sum(a * tf.square(tf.convert_to_tensor(v) - m))
                for v, a, m in zip(
                    model.trainable_variables, self._curvatures, self._centers, strict=True
                )
            ]
        )
        return 0.5 * self.fisher_lambda * (quadratic + self._constant)


@dataclasses.dataclass(frozen=True)
class IncrementalRun:
    """How one training run uses and writes Fisher anchors (`prepare_incremental`).

    Args:
        method: "fisher" or "warm_start" (`TrainingConfig.incremental`).
        penalty: the train step's penalty (None: a cold start, a warm start, or λ_f = 0).
        record: the manifest's record of the settings and of the anchors used (model id,
            path, SHA-256 of each), so the day can be re-run and checked.
        cold_anchor_bytes: the cold-start anchor's file as read, copied into the new model's
            directory as `COLD_ANCHOR_FILE` (None: a cold start, its own cold anchor).
    """

    method: str
    penalty: FisherPenalty | None
    record: dict
    cold_anchor_bytes: bytes | None = None

    @property
    def writes_anchor(self) -> bool:
        return self.method == "fisher"


def prepare_incremental(model: keras.Model, training, previous_dir: Path | None) -> IncrementalRun:
    """Set up a run of `training.incremental` on `model` (already warm-started from
    `previous_dir`, or a cold start when it is None).

    For an incremental "fisher" run: reads the previous model's anchor (w_{t−1}, F_{t−1}) and
    the cycle's cold-start anchor (w₀, F₀) from `previous_dir`, sets `model`'s trainable
    weights to α·w₀ + (1−α)·w_{t−1} and builds the penalty of Eq. 3.

    A previous model without an anchor (trained with "warm_start", or before anchors existed)
    gives a plain warm start whose own anchor starts a new cycle, so an existing chain of models
    continues instead of failing.

    Raises:
        ValueError: the anchors do not match the model's variables.
    """
    settings = {
        "method": training.incremental,
        "fisher_lambda": training.fisher_lambda,
        "fisher_alpha": training.fisher_alpha,
    }
    if training.incremental != "fisher":
        return IncrementalRun(training.incremental, None, {"method": training.incremental})
    if previous_dir is None:
        return IncrementalRun("fisher", None, {**settings, "cold_anchor": "self (cold start)"})
    previous_dir = Path(previous_dir)
    previous_file, cold_file = previous_dir / FISHER_FILE, cold_anchor_file(previous_dir)
    if not previous_file.is_file():
        # trained before anchors existed, or with "warm_start": a plain warm start today, and
        # this model's own anchor starts a new cycle (it becomes the next day's w₀, F₀)
        return IncrementalRun(
            "fisher",
            None,
            {
                **settings,
                "cold_anchor": "self (new cycle: the previous model has no Fisher anchor, "
                f"{previous_file} is missing; this day was a plain warm start)",
            },
        )
    previous = FisherAnchor.load(previous_file)
    cold_bytes = cold_file.read_bytes()
    cold = FisherAnchor.load(cold_file)
    for anchor in (cold, previous):
        anchor.check_matches(model)
    for variable, value in zip(
        model.trainable_variables,
        anchored_initialization(cold, previous, training.fisher_alpha),
        strict=True,
    ):
        variable.assign(value)
    penalty = (
        FisherPenalty(model, cold, previous, training.fisher_lambda, training.fisher_alpha)
        if training.fisher_lambda > 0
        else None
    )
    record = {
        **settings,
        "previous_anchor": anchor_record(previous_file, previous.model_id),
        "cold_anchor": {
            "model_id": cold.model_id,
            "path": str(cold_file),
            "sha256": hashlib.sha256(cold_bytes).hexdigest(),
        },
    }
    return IncrementalRun("fisher", penalty, record, cold_bytes)


@dataclasses.dataclass(frozen=True)
class AnchorArtifacts:
    """A trained model's anchor files, ready to be written into its (staging) directory.

    Args:
        anchor_bytes: `FISHER_FILE`: the model's own weights and Fisher diagonal.
        cold_anchor_bytes: `COLD_ANCHOR_FILE`: the cycle's cold anchor (None for a cold start).
        record: the manifest's record (SHA-256 of the files, Fisher seconds and estimator).
    """

    anchor_bytes: bytes
    cold_anchor_bytes: bytes | None
    record: dict

    def write(self, directory: Path) -> None:
        (Path(directory) / FISHER_FILE).write_bytes(self.anchor_bytes)
        if self.cold_anchor_bytes is not None:
            (Path(directory) / COLD_ANCHOR_FILE).write_bytes(self.cold_anchor_bytes)


def anchor_artifacts(
    model: keras.Model,
    model_id: str,
    batches: Iterable[Batch],
    loss_fn: LossFn,
    run: IncrementalRun,
    distributed=None,
) -> AnchorArtifacts:
    """The Fisher diagonal of the trained `model` on its training `batches` (`fisher_diagonal`,
    every rank its shard) and the anchor files to write beside it."""
    start = time.perf_counter()
    fisher = fisher_diagonal(model, batches, loss_fn, distributed=distributed)
    seconds = time.perf_counter() - start
    data = FisherAnchor.of(model, fisher, model_id).to_bytes()
    record = {
        "fisher_file": {"file": FISHER_FILE, "sha256": hashlib.sha256(data).hexdigest()},
        "fisher_estimator": "minibatch (n·ḡ², batch-weighted mean)",
        "fisher_seconds": round(seconds, 3),
    }
    if run.cold_anchor_bytes is not None:
        record["cold_anchor_copy"] = {
            "file": COLD_ANCHOR_FILE,
            "sha256": hashlib.sha256(run.cold_anchor_bytes).hexdigest(),
        }
    return AnchorArtifacts(data, run.cold_anchor_bytes, record)


def cycle_cold_start(model_dir: Path, max_models: int = 10_000) -> Path | None:
    """The cold-start model directory of `model_dir`'s cycle: follows each manifest's plan back
    through `previous_model` until a cold start (None when the chain is broken)."""
    from models.registry import MANIFEST_FILE

    current = Path(model_dir)
    for _ in range(max_models):
        manifest = current / MANIFEST_FILE
        if not manifest.is_file():
            return None
        metadata = json.loads(manifest.read_text())["metadata"]
        if metadata.get("training_result", {}).get("mode") == "cold":
            return current
        previous = json.loads(metadata.get("plan", "{}")).get("previous_model")
        if not previous:
            return None
        current = Path(previous)
    return None
