"""Training the Ads CTR and Jobs models with the feed's training job (paper §1, §5, §16).

One job trains every product: a `ProductPlan` goes through the same entry points as the feed's
`TrainingPlan` (`job.run_training` in this process, `horovodrun ... python -m
models.training.cli PLAN.json --horovod` for Horovod ranks, the assets' Dagster Pipes launch),
and every rank runs `train_product_rank`, which is `job.train_rank` with the product's model and
inputs in place of the feed's:

1. the day's examples (`ads_examples` / `jobs_examples` Parquet partitions, the plan's `split`
   rows, and for Jobs the impressed ones) become the model's arrays (`models.ads_examples`,
   `models.jobs_examples`) and a `KeyedArrayExamples` source; every rank reads rows
   i ≡ rank (mod N);
2. a cold start builds the model from `plan.model` (an `AdsModelConfig` / `JobsModelConfig`
   dict); an incremental run (paper §5) warm-starts from `plan.previous_model` and keeps its
   config, and with `training.incremental="fisher"` starts from α·w₀ + (1−α)·w_{t−1} and adds
   the Fisher penalty of Eq. 3 (`models.training.fisher`), exactly as the feed does;
3. `loop.train_feed_model` trains it with the recipe (warm-up that grows with the global batch,
   Adam for dense weights and sparse AdaGrad on the touched embedding rows, clipping, the
   divergence guard) on the loss of the model's own heads (`model.tasks`);
4. rank 0 saves the model atomically (`models.registry.save_model`) with its Fisher anchor; a
   divergence writes nothing and leaves the previous model untouched.

NOT CONFIRMED by the paper: Ads uses "0.5 day" incremental steps (§5 table); this graph refits
Ads daily like Feed and Jobs, on the same daily partitions (a half-day cadence would need
half-day partitions).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.training.config import TrainingConfig, TrainingPlan, TrainingResult


@dataclasses.dataclass(frozen=True)
class Product:
    """How the training job handles one product's model and examples.

    Args:
        name: "ads" or "jobs".
        item_column: the examples' item id, which the gate's popularity baseline counts.
        score_head: the head whose probability ranks the product's items.
    """

    name: str
    item_column: str
    score_head: str | None

    def config_from_dict(self, values: Mapping):
        if self.name == "ads":
            from models.ads import AdsModelConfig

            return AdsModelConfig.from_dict(dict(values))
        from models.jobs import JobsModelConfig

        return JobsModelConfig.from_dict(dict(values))

    def register_model_classes(self) -> None:
        """Import the module that registers the product's Keras classes (`models.ads`,
        `models.jobs`): `registry.load_model` imports only the feed's, so a process that loads
        a saved Ads or Jobs model before building one (the gate, the next day's evaluation, an
        incremental run's warm start) would fail with "Could not locate class 'AdsModel'"."""
        import importlib

        importlib.import_module("models.ads" if self.name == "ads" else "models.jobs")

    def build(self, config):
        if self.name == "ads":
            from models.ads import AdsModel

            return AdsModel(config)
        from models.jobs import JobsModel

        return JobsModel(config)

    def training_rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows a model learns from and is judged on: impressed rows (Ads examples hold
        only those; Jobs examples keep whole slates for re-ranking)."""
        if "impressed" in frame.columns:
            frame = frame[frame["impressed"].astype(bool)]
        return frame.reset_index(drop=True)

    def inputs(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        if self.name == "ads":
            from models.ads_examples import ads_inputs

            return ads_inputs(frame)
        from models.jobs_examples import jobs_inputs

        return jobs_inputs(frame)

    def labels(self, frame: pd.DataFrame, heads: tuple[str, ...]) -> dict[str, np.ndarray]:
        if self.name == "ads":
            from models.ads_examples import ads_labels

            return ads_labels(frame, heads)
        from models.jobs_examples import jobs_labels

        labels = jobs_labels(frame)
        return {head: labels[head] for head in heads}

    def probabilities(self, model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """head → P(label) of `model` on `frame`'s rows (sigmoid of the logits), in batches."""
        return predict_heads(model, self.inputs(frame))


PRODUCTS: dict[str, Product] = {
    "ads": Product("ads", item_column="ad_id", score_head=None),
    "jobs": Product("jobs", item_column="job_id", score_head="apply"),
}


def product_of(name: str) -> Product:
    if name not in PRODUCTS:
        raise ValueError(f"unknown product {name!r}; known: {sorted(PRODUCTS)}")
    return PRODUCTS[name]


def predict_heads(model, inputs: Mapping[str, np.ndarray], batch_size: int = 8192):
    """head → sigmoid(logit) of `model` on the arrays `inputs`, in batches (float64)."""
    import keras

    n = len(next(iter(inputs.values())))
    parts: dict[str, list[np.ndarray]] = {}
    for first in range(0, max(n, 1), batch_size):
        batch = {key: value[first : first + batch_size] for key, value in inputs.items()}
        if n == 0:
            break
        logits = model(batch, training=False)
        for head, logit in logits.items():
            parts.setdefault(head, []).append(keras.ops.convert_to_numpy(logit).reshape(-1))
    return {
        head: 1.0 / (1.0 + np.exp(-np.concatenate(values).astype(np.float64)))
        for head, values in parts.items()
    }


@dataclasses.dataclass(frozen=True)
class ProductPlan:
    """One training run of a product model (`PRODUCTS`): the feed `TrainingPlan`'s fields, with
    the product's model config as a dict and Parquet examples.

    Args:
        product: "ads" or "jobs".
        model_id: e.g. "ads-2026-01-04".
        out_dir: the model directory (replaced atomically; nothing on failure).
        examples: the `ads_examples` / `jobs_examples` partitions to train on, in order.
        previous_model: the model directory to warm-start from (paper §5); None: cold start.
        model: the cold start's `AdsModelConfig` / `JobsModelConfig` as a dict.
        training: the loop's settings (the feed's recipe).
        split: the `split` value whose rows train ("all" keeps every row).
        horovod_hosts, horovod_num_proc: as in `TrainingPlan`.
    """

    product: str
    model_id: str
    out_dir: str
    examples: tuple[str, ...]
    previous_model: str | None = None
    model: dict = dataclasses.field(default_factory=dict)
    training: TrainingConfig = TrainingConfig()
    split: str = "train"
    horovod_hosts: str | None = None
    horovod_num_proc: int = 0
    export_saved_model: bool = False
    dump_rank_weights: bool = False

    def __post_init__(self) -> None:
        product_of(self.product)
        object.__setattr__(self, "out_dir", str(self.out_dir))
        object.__setattr__(self, "examples", tuple(str(p) for p in self.examples))
        if self.previous_model is not None:
            object.__setattr__(self, "previous_model", str(self.previous_model))
        if not self.examples:
            raise ValueError(f"a training plan needs examples. Received: examples={self.examples}")
        if self.horovod_num_proc < 0:
            raise ValueError(f"`horovod_num_proc` must be >= 0. Received: {self.horovod_num_proc}")
        product_of(self.product).config_from_dict(self.model)  # a bad config fails here

    examples_format = "parquet"  # what `job.check_examples` checks (not a field)

    # the same meaning as the feed plan's: one definition of each
    incremental = TrainingPlan.incremental
    rows_of_split = TrainingPlan.rows_of_split
    num_proc = TrainingPlan.num_proc
    engine = TrainingPlan.engine

    def to_json(self) -> str:
        values = dataclasses.asdict(self)
        values["training"] = self.training.to_dict()
        return json.dumps(values, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProductPlan:
        values = json.loads(text)
        values["training"] = TrainingConfig(**values["training"])
        values["examples"] = tuple(values["examples"])
        return cls(**values)


def plan_from_json(text: str):
    """A `ProductPlan` when the JSON names a product, else the feed's `TrainingPlan`."""
    if "product" in json.loads(text):
        return ProductPlan.from_json(text)
    return TrainingPlan.from_json(text)


def read_product_rows(plan: ProductPlan) -> pd.DataFrame:
    """The plan's training rows: its `split` rows of every examples partition, impressed."""
    from models.training.job import read_parquet_examples

    frame = read_parquet_examples(plan.examples, plan.rows_of_split)
    rows = product_of(plan.product).training_rows(frame)
    if rows.empty:
        raise ValueError(f"no impressed {plan.split!r} rows in {list(plan.examples)}")
    return rows


def train_product_rank(plan: ProductPlan, distributed, progress=None) -> TrainingResult:
    """What one rank does (see the module docstring); every rank returns the same result."""
    import keras

    from models import registry
    from models.inputs.stream import KeyedArrayExamples, rank_batches
    from models.training.fisher import anchor_artifacts, prepare_incremental
    from models.training.job import _limit_threads
    from models.training.loop import train_feed_model, warm_start
    from models.training.progress import TensorBoardProgress, fan_out, with_tensorboard

    product = product_of(plan.product)
    _limit_threads(distributed.size)
    keras.utils.set_random_seed(plan.training.seed + distributed.rank)
    if plan.incremental:
        product.register_model_classes()
        previous, _ = registry.load_model(Path(plan.previous_model))
        model = warm_start(product.build(previous.config), previous)
        del previous
    else:
        model = product.build(product.config_from_dict(plan.model))
    frame = read_product_rows(plan)
    source = KeyedArrayExamples(product.inputs(frame), product.labels(frame, model.tasks.heads))
    rows = source.statistics().rows
    del frame
    incremental = prepare_incremental(model, plan.training, plan.previous_model)  # paper §5
    tensorboard = TensorBoardProgress.staged() if distributed.rank == 0 else None
    stats = train_feed_model(
        model, source, None, plan.training, distributed, penalty=incremental.penalty,
        progress=fan_out(tensorboard, progress), tasks=model.tasks,
    )  # fmt: skip
    anchors = None
    if incremental.writes_anchor:
        batches = rank_batches(source, distributed.rank, distributed.size, plan.training.batch_size)
        anchors = anchor_artifacts(
            model, plan.model_id, batches, model.tasks.loss, incremental, distributed
        )
    out = Path(plan.out_dir)
    result = TrainingResult(
        model_id=plan.model_id,
        mode="incremental" if plan.incremental else "cold",
        base_model_id=(
            registry.model_id_of(Path(plan.previous_model)) if plan.incremental else None
        ),
        train_days=len(plan.examples),
        train_rows=rows,
        steps=stats.steps,
        epoch_losses=stats.epoch_losses,
        train_seconds=stats.seconds,
        examples_per_second=stats.examples_per_second,
        engine=plan.engine,
        ranks=distributed.size,
        path=str(out),
        saved_model=None,
        model_config=model.config.to_dict(),
        out_of_vocabulary={},
    )
    if distributed.rank == 0:
        registry.save_model(
            model,
            out,
            {
                "product": plan.product,
                "model_config": result.model_config,
                "training_config": plan.training.to_dict(),
                "training_result": {
                    k: v for k, v in dataclasses.asdict(result).items() if k != "model_config"
                },
                "plan": plan.to_json(),
                "gradient_exchange": getattr(distributed, "exchange_record", None),
                "incremental": {**incremental.record, **(anchors.record if anchors else {})},
            },
            extra_artifacts=with_tensorboard(
                (lambda _model, directory: anchors.write(directory)) if anchors else None,
                tensorboard,
            ),
        )
        tensorboard.cleanup()
    distributed.barrier()
    if plan.dump_rank_weights:
        np.savez(out / f"rank-{distributed.rank}-weights.npz", *model.get_weights())
    return result


def product_probabilities(model_dir: Path, product: str, frame: pd.DataFrame):
    """head → the saved model's probabilities on `frame`'s rows."""
    from models import registry

    spec = product_of(product)
    spec.register_model_classes()
    model, _ = registry.load_model(Path(model_dir))
    return spec.probabilities(model, frame)
