"""The training job: `run_training(plan) -> TrainingResult`, the one entry point of the asset, the
CLI and every Horovod rank.

* In-process (no Horovod hosts): `train_rank(plan, LocalDistributed())` in this process.
* Horovod: the plan is serialized once as JSON and every rank of
  ``horovodrun -np N -H hosts --gloo python -m models.training.cli PLAN.json --horovod`` runs
  `train_rank(plan, HorovodDistributed())`, averaging gradients with `hvd.allreduce`; rank 0
  prints its `TrainingResult` as the last line of its output, which this process parses.

What a rank does (`train_rank`):

1. A cold start learns the categorical vocabularies from the examples' training rows
   (`spec.learn_vocabularies` over the streamed categorical columns, values seen at least
   `plan.min_vocabulary_count` times) and then the dense normalization constants (the
   statistics pass of step 2), both frozen into the model config;
   an incremental run (paper §5) warm-starts from `plan.previous_model` and keeps its config, so
   a value the cold start never saw falls into the out-of-vocabulary bucket (counted in
   `TrainingResult.out_of_vocabulary`).
2. It reads the examples as a `models.inputs.stream` source: Avro shards streamed through ATDS
   (paper §13; the transform a parallel tf.data map, no in-memory copy of the day) or Parquet
   read into memory by pandas; both run the one feature transform and give the same rows in the
   same order. One statistics pass gives the row count, the out-of-vocabulary counts, the
   non-finite value check and, for a cold start, the dense normalization constants.
3. It trains (`loop.train_feed_model`) and rank 0 saves the model, with the serving SavedModel
   beside it, atomically: a failure or a divergence writes nothing and leaves the previous
   model untouched. With `training.incremental="fisher"` (paper §5, Eq. 3;
   `models.training.fisher`) an incremental run starts from α·w₀ + (1−α)·w_{t−1} and adds the
   Fisher penalty to its loss, and every run writes its own Fisher anchor (`fisher.npz`, plus
   a copy of the cold start's, `cold_anchor.npz`) into the model directory, recording the
   anchors it used (model id, path, SHA-256) in the manifest's `incremental` metadata.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from models.training.config import SAVED_MODEL_DIR, TrainingPlan, TrainingResult
from models.training.loop import DIVERGED_MESSAGE, TrainingDivergedError
from models.training.progress import (
    ProgressCallback,
    TensorBoardProgress,
    fan_out,
    with_tensorboard,
)

# rank 0 prints this before its result's JSON (the last line of its output)
RESULT_MARKER = "LIRANK_TRAINING_RESULT "
DIVERGED_EXIT_CODE = 2


def run_training(plan: TrainingPlan, progress: ProgressCallback | None = None) -> TrainingResult:
    """Train and save the model of `plan` (atomically; nothing is written on failure).

    `progress` receives rank 0's reports of an in-process run (`train_rank`); a Horovod run's
    output is collected when it exits (to stream it, launch it with `launch.launch_training`).

    Raises:
        FileNotFoundError: an examples path is missing (names it).
        TrainingDivergedError: the loss became NaN/inf; the previous model is untouched.
        RuntimeError: a Horovod run failed (its output's tail in the message).
    """
    check_examples(plan)
    if plan.horovod_hosts:
        return _run_horovod(plan)
    from models.training.distributed import LocalDistributed

    return train_rank(plan, LocalDistributed(), progress)


def train_rank(
    plan: TrainingPlan, distributed, progress: ProgressCallback | None = None
) -> TrainingResult:
    """What one rank does (see the module docstring); every rank returns the same result.

    Rank 0 writes TensorBoard scalars (loss, examples/s, learning rate) into
    `<out_dir>/tensorboard/` with the model, and calls `progress` (e.g. Dagster Pipes,
    `models.training.progress`) each time the loop reads the loss back.
    """
    from models.training.product import ProductPlan, train_product_rank

    if isinstance(plan, ProductPlan):  # the Ads and Jobs models: the same job, their own inputs
        return train_product_rank(plan, distributed, progress)
    import keras

    from models import registry
    from models.feed import FeedModel
    from models.inputs.stream import rank_batches
    from models.training.fisher import anchor_artifacts, prepare_incremental
    from models.training.loop import multitask_loss, train_feed_model, warm_start

    _limit_threads(distributed.size)
    keras.utils.set_random_seed(plan.training.seed + distributed.rank)
    if plan.incremental:
        previous, _ = registry.load_model(Path(plan.previous_model))
        source = read_training_data(plan, previous.config.input_spec())
        statistics = source.statistics()  # rows, OOV and non-finite counts, one pass
        model = warm_start(FeedModel(previous.config), previous)
        del previous
    else:
        architecture = cold_start_architecture(plan)
        source = read_training_data(plan, architecture.input_spec())
        statistics = source.statistics()  # + the dense normalization constants, one pass
        model = FeedModel(
            dataclasses.replace(
                architecture,
                dense_mean=statistics.dense_mean,
                dense_variance=statistics.dense_variance,
            )
        )
    incremental = prepare_incremental(model, plan.training, plan.previous_model)  # paper §5
    initial_weights = model.get_weights() if plan.dump_rank_weights else None
    tensorboard = TensorBoardProgress.staged() if distributed.rank == 0 else None
    stats = train_feed_model(
        model, source, None, plan.training, distributed, penalty=incremental.penalty,
        progress=fan_out(tensorboard, progress),
    )  # fmt: skip
    anchors = None
    if incremental.writes_anchor:  # the model's own Fisher anchor, on every rank's shard
        batches = rank_batches(source, distributed.rank, distributed.size, plan.training.batch_size)
        anchors = anchor_artifacts(
            model, plan.model_id, batches, multitask_loss, incremental, distributed
        )
    out = Path(plan.out_dir)
    result = TrainingResult(
        model_id=plan.model_id,
        mode="incremental" if plan.incremental else "cold",
        base_model_id=registry.model_id_of(Path(plan.previous_model)) if plan.incremental else None,
        train_days=len(plan.examples),
        train_rows=statistics.rows,
        steps=stats.steps,
        epoch_losses=stats.epoch_losses,
        train_seconds=stats.seconds,
        examples_per_second=stats.examples_per_second,
        engine=plan.engine,
        ranks=distributed.size,
        path=str(out),
        saved_model=str(out / SAVED_MODEL_DIR) if plan.export_saved_model else None,
        model_config=model.config.to_dict(),
        out_of_vocabulary=statistics.out_of_vocabulary,
    )
    if distributed.rank == 0:
        registry.save_model(
            model,
            out,
            {
                "model_config": result.model_config,
                "training_config": plan.training.to_dict(),
                "training_result": {
                    k: v for k, v in dataclasses.asdict(result).items() if k != "model_config"
                },
                "plan": plan.to_json(),
                # Horovod: how many gradients went as sparse rows vs dense all-reduces
                "gradient_exchange": getattr(distributed, "exchange_record", None),
                "incremental": {**incremental.record, **(anchors.record if anchors else {})},
            },
            extra_artifacts=with_tensorboard(_model_artifacts(plan, anchors), tensorboard),
        )
        tensorboard.cleanup()
    distributed.barrier()  # the model directory is in place before any rank writes into it
    if plan.dump_rank_weights:
        np.savez(out / f"rank-{distributed.rank}-weights.npz", *model.get_weights())
        np.savez(out / f"rank-{distributed.rank}-initial-weights.npz", *initial_weights)
    return result


def cold_start_architecture(plan: TrainingPlan):
    """`plan.model` with the vocabularies learned from the examples' training rows."""
    from models.inputs.spec import learn_vocabularies

    split = plan.rows_of_split
    if plan.examples_format == "avro":
        from models.inputs.atds import categorical_frames

        frames = categorical_frames(plan.examples, split=split)  # streamed, batch by batch
    else:
        from models.inputs.spec import CATEGORICAL

        frames = [read_parquet_examples(plan.examples, split, [*CATEGORICAL.values(), "split"])]
    vocabularies = learn_vocabularies(frames, min_count=plan.min_vocabulary_count)
    return plan.model.with_vocabularies(vocabularies["content_type"], vocabularies["platform"])


def read_training_data(plan: TrainingPlan, spec):
    """The plan's training rows for a model of `spec`, as a `models.inputs.stream` source.

    Avro: `AvroExamples`, streamed through ATDS (paper §13), never held in memory. Parquet:
    read into memory by pandas and transformed once (`ArrayExamples`); the loop then runs the
    same tf.data pipeline over it (`from_tensor_slices`), so the same rows in the same order
    train the same model either way.

    Raises:
        ValueError: no rows of `plan.split` (Avro: when the source's statistics are computed).
    """
    split = plan.rows_of_split
    if plan.examples_format == "avro":
        from models.inputs.stream import AvroExamples

        return AvroExamples(plan.examples, spec, split)
    from models.inputs.spec import examples_to_inputs, labels_from
    from models.inputs.stream import ArrayExamples

    frame = read_parquet_examples(plan.examples, split)
    return ArrayExamples(examples_to_inputs(frame, spec), labels_from(frame))


def read_parquet_examples(
    paths: tuple[str, ...], split: str | None, columns: list[str] | None = None
) -> pd.DataFrame:
    """The rows of `split` (all for None) of the Parquet files/directories `paths`, in order."""
    frame = pd.concat([pd.read_parquet(p, columns=columns) for p in paths], ignore_index=True)
    if split is not None:
        if "split" not in frame.columns:
            raise ValueError(f"split={split!r} given but the examples have no `split` column")
        frame = frame[frame["split"] == split].reset_index(drop=True)
    if frame.empty:
        raise ValueError(f"no examples with split={split!r} in {list(paths)}")
    return frame


def check_examples(plan: TrainingPlan) -> None:
    """Raise FileNotFoundError naming every missing examples path (for Avro, a directory
    without `part-*.avro` shards) and saying what to materialize."""
    if plan.examples_format == "avro":
        missing = [p for p in plan.examples if not _has_avro_shards(Path(p))]
        if missing:
            raise FileNotFoundError(
                f"missing Avro training shards (part-*.avro) in {missing}; the trainer reads the "
                "Avro shards of `training_examples_avro` through ATDS. Re-materialize "
                "`training_examples_avro` for those days, or train with examples_format='parquet'"
            )
        return
    missing = [p for p in plan.examples if not Path(p).exists()]
    if missing:
        # a ProductPlan (Ads, Jobs) trains on its product's examples asset
        asset = f"{plan.product}_examples" if hasattr(plan, "product") else "training_examples"
        raise FileNotFoundError(
            f"missing {asset} partitions {missing}; materialize `{asset}` for those days first"
        )


def _has_avro_shards(path: Path) -> bool:
    return path.is_file() or any(path.glob("part-*.avro"))


def _limit_threads(ranks: int) -> None:
    """Ranks sharing one machine split its cores instead of each taking all of them."""
    if ranks > 1:
        import tensorflow as tf

        threads = max(1, (os.cpu_count() or 1) // ranks)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _model_artifacts(plan: TrainingPlan, anchors):
    """What `save_model` writes beside the model: the Fisher anchors (`fisher.AnchorArtifacts`)
    and the serving SavedModel, as the plan asks; None when neither."""
    if anchors is None and not plan.export_saved_model:
        return None

    def write(model, directory: Path) -> None:
        if anchors is not None:
            anchors.write(directory)
        if plan.export_saved_model:
            _export_saved_model(model, directory)

    return write


def _export_saved_model(model, directory: Path) -> None:
    from models.serving.saved_model import export_saved_model

    export_saved_model(model, directory / SAVED_MODEL_DIR)


def _run_horovod(plan: TrainingPlan) -> TrainingResult:
    """Run `plan` under horovodrun (Gloo), collecting its output, and return rank 0's result
    (`launch.launch_training` is the streaming path, for a caller that launches processes)."""
    from models.training.launch import training_command

    with tempfile.TemporaryDirectory(prefix="lirank-plan-") as folder:
        plan_file = Path(folder) / "plan.json"
        plan_file.write_text(plan.to_json())
        proc = subprocess.run(training_command(plan, plan_file), capture_output=True, text=True)
    detail = (proc.stdout[-2000:] + proc.stderr[-4000:]).strip()
    # horovodrun exits 1 whatever its ranks' codes, so a rank's divergence is read from its output
    if proc.returncode == DIVERGED_EXIT_CODE or DIVERGED_MESSAGE in proc.stderr:
        raise TrainingDivergedError(
            f"training of {plan.model_id} diverged; nothing was written and the previous model "
            f"{plan.previous_model} is untouched. Lower the learning rate or lengthen the "
            f"warm-up and re-run. {detail}"
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"training of {plan.model_id} failed under horovodrun (exit code "
            f"{proc.returncode}): {detail}"
        )
    lines = [line for line in proc.stdout.splitlines() if RESULT_MARKER in line]
    if not lines:
        raise RuntimeError(f"rank 0 of {plan.model_id} reported no result: {detail}")
    return TrainingResult.from_json(lines[-1].split(RESULT_MARKER, 1)[1])
