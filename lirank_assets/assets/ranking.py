"""Ranking assets: the multi-task feed model (cold start, then incremental), gated before it is
promoted. Its popularity random effects are refit every 8 hours of the traffic it ranks
(`lirank_assets.assets.popularity`)."""

import datetime as dt

from dagster import (
    AssetDep,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    asset,
)

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.code_version import FEED_MODEL_PACKAGES, source_version
from lirank_assets.metadata import frame_table, rounded
from lirank_assets.model_choice import FeedModelChoice
from lirank_assets.partitions import PREVIOUS_DAY, DailyCalendar, partition_date, trailing_days
from lirank_assets.resources import GROUND_TRUTH, DataRoot, LogSource, TrainingResource, Warehouse
from lirank_assets.training_launch import PipesTraining
from models.registry import model_id_of, promoted_model_dir
from models.training.promotion import models_row, train_and_gate

FEED_MODEL_CODE_VERSION = source_version(FEED_MODEL_PACKAGES)
"""`feed_ranking_model`'s code version: a hash of the model's packages (`code_version`)."""

# the block choices shown in the asset's metadata
_BLOCKS = (
    "interaction",
    "calibration",
    "tower",
    "history_pooling",
    "affinity",
    "id_embedding",
    "id_hash",
    "task_grouping",
)


def promotion_metadata(context, promotion, models_root, date: dt.date) -> dict:
    """The materialization metadata of a day's gated candidate (feed, Ads or Jobs): the gate's
    verdict, reasons and checks, the model promoted after the day, and the training run; logs a
    warning when the candidate is not promoted."""
    result, verdict = promotion.result, promotion.verdict
    serving = promoted_model_dir(models_root, date)
    if not promotion.promoted:
        context.log.warning(
            f"{result.model_id} failed the model gate and is NOT promoted; "
            f"{model_id_of(serving) if serving else 'no model'} stays promoted. Reasons: "
            + "; ".join(verdict.reasons)
        )
    return {
        "gate": "passed: promoted" if promotion.promoted else "FAILED: not promoted",
        "gate_reasons": "\n".join(verdict.reasons) or "none",
        "gate_checks": frame_table(verdict.metrics.drop(columns=["detail"])),
        "promoted_model": model_id_of(serving) if serving else "none",
        "compared_with": (
            model_id_of(promotion.compared_with)
            if promotion.compared_with
            else "popularity baseline only (cold start)"
        ),
        "model_id": result.model_id,
        "mode": result.mode,
        "base_model_id": result.base_model_id or "none (cold start)",
        "train_days": MetadataValue.int(result.train_days),
        "train_rows": MetadataValue.int(result.train_rows),
        "final_loss": rounded(result.final_loss),
        "train_seconds": rounded(result.train_seconds, 1),
        "examples_per_second": rounded(result.examples_per_second, 0),
        "engine": result.engine,
        "path": MetadataValue.path(str(result.path)),
    }


def build_ranking_assets(calendar: DailyCalendar):
    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=[
            AssetDep(
                "training_examples_avro",
                partition_mapping=trailing_days(calendar.cold_start_days),
            ),
            AssetDep("feed_ranking_model", partition_mapping=PREVIOUS_DAY),
            "training_examples",  # the day's holdout rows, which the gate judges
            "replay_candidates",  # the day's random bucket: the gate compares #1 picks on it
        ],
        kinds={"tensorflow", "keras"},
        code_version=FEED_MODEL_CODE_VERSION,
        automation_condition=DAILY_REFRESH,
    )
    def feed_ranking_model(
        context: AssetExecutionContext,
        config: FeedModelChoice,
        data_root: DataRoot,
        training: TrainingResource,
        warehouse: Warehouse,
        log_source: LogSource,
        pipes_subprocess_client: PipesSubprocessClient,
    ) -> MaterializeResult:
        """Multi-task feed ranker (click tower: click, long dwell; contribution tower: like,
        comment, share, vote). Warm-starts from the previous day's model and trains on the new day
        (paper §5); without one, cold-starts on the trailing `cold_start_days` days with the
        blocks of `config` (Residual DCN, isotonic calibration, dense gating, history encoder,
        QR or hashed ids, task grouping, score weights). Reads the training examples' Avro shards
        through ATDS (paper §13; `training.examples_format`). Also writes the serving
        SavedModel.

        "The previous day's model" is the model promoted as of that day: each candidate passes
        the model gate (`models.evaluation.gate`) on the day's held-out rows before `gate.json`
        promotes it (`models.training.promotion`), including its #1 picks on the day's random
        bucket against the previous promoted model's (ground truth when the log source knows
        it, else replay); one that fails stays in its directory with
        its reasons (metadata, the `model_gate` check) and the last promoted model keeps
        serving. A diverging run fails here and writes nothing."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        models_root = layout.feed_model(date).parent
        plan = training.plan(
            layout, calendar, date, model=config.to_feed_model_config(), model_id=f"feed-{date}"
        )
        # a child process (horovodrun when `training` names hosts) whose rank 0 streams its
        # progress into this run through Dagster Pipes and reports its training metrics
        trainer = PipesTraining(pipes_subprocess_client, context)
        promotion = train_and_gate(
            plan,
            layout.training_examples(date),
            compared_with=promoted_model_dir(models_root, date - dt.timedelta(days=1)),
            record=lambda result, verdict: warehouse.replace_partition(
                "models", date, models_row(result, verdict, date)
            ),
            replay_dir=layout.replay_candidates(date),
            # read only when an incremental day's gate values picks (a simulated world)
            expected_top1=(
                (lambda picks: log_source.ground_truth(date)(picks))
                if GROUND_TRUTH in log_source.tables
                else None
            ),
            train=trainer,
        )
        result = promotion.result
        return MaterializeResult(
            metadata={
                **trainer.metadata,  # rank 0's, through Pipes: per-epoch metrics, TensorBoard
                **promotion_metadata(context, promotion, models_root, date),
                "examples_format": plan.examples_format,
                "blocks": ", ".join(f"{b}={result.model_config.get(b)}" for b in _BLOCKS),
                "score_weights": MetadataValue.json(dict(result.model_config["score_weights"])),
                "out_of_vocabulary": MetadataValue.json(dict(result.out_of_vocabulary)),
                "saved_model": str(result.saved_model or "not exported"),
            }
        )

    return [feed_ranking_model]
