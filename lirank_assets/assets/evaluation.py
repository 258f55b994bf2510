"""Evaluation assets: offline metrics per head, replay contribution rate on the random bucket
(with the model's paired ground-truth differences against every other ranker), and the review
snapshot the dashboard reads. Next-day by default: day D is ranked by the model of day D−1
(`models.evaluation.protocol`). "The model of day D−1" is the model promoted as of D−1
(`models.training.promotion`): a candidate that failed the gate never ranks; the windowed random
effects of day D (`windowed_random_effects`) were fit for that same promoted model."""

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import frame_metadata, frame_table, rounded
from lirank_assets.partitions import PREVIOUS_DAY, DailyCalendar, partition_date
from lirank_assets.resources import GROUND_TRUTH, DataRoot, LogSource, Warehouse
from models.evaluation.offline import evaluate_offline_detail
from models.evaluation.protocol import DEFAULT_PROTOCOL, EvaluationDays, evaluation_days
from models.evaluation.replay_eval import evaluate_replay
from models.reporting.data_health import data_health
from models.reporting.model_records import read_model_records
from models.reporting.review import ABLATION_TABLE, write_review_snapshot
from models.training.promotion import require_promoted_model

EVALUATION = {"group_name": "evaluation", "automation_condition": DAILY_REFRESH}
# next-day: day D reads the model of day D-1, the random effects that score day D (fit for that
# model on log time before each row) and its own examples (the popularity baseline also reads day
# D-1's examples, upstream of that model already); the same partition of `training_examples`
# keeps its blocking quality check in front of the evaluation
RANKED_BY = [
    AssetDep("feed_ranking_model", partition_mapping=PREVIOUS_DAY),
    "windowed_random_effects",
    "training_examples",
]


def _effects(layout, days: EvaluationDays):
    """The random effects that score the evaluated day: fit for the next-day model, so the
    same-day protocol (another model) scores with the global model alone."""
    return layout.random_effects(days.evaluated) if days.ranked_by < days.evaluated else None


class EvaluationConfig(Config):
    """`protocol`: "next_day" (default: the model of day D−1 ranks day D's traffic, as in
    production) or "same_day" (the model of day D on day D's held-out traffic; materialize that
    model first). See `models.evaluation.protocol`."""

    protocol: str = DEFAULT_PROTOCOL


def build_evaluation_assets(
    calendar: DailyCalendar, with_ground_truth: bool, products: tuple[str, ...] = ()
):
    """The evaluation group; `replay_metrics` reads the simulator's truth when the log source
    has one (`with_ground_truth`); `model_review` also snapshots the evaluations of the
    `products` the graph has ("ads", "jobs": `lirank_assets.assets.products`)."""

    @asset(partitions_def=calendar.evaluations, deps=RANKED_BY, kinds={"duckdb"}, **EVALUATION)
    def offline_metrics(
        context: AssetExecutionContext,
        config: EvaluationConfig,
        data_root: DataRoot,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """AUC, log loss and calibration (observed / expected) per head on the day's traffic,
        for the model (+ popularity random effects) and the popularity baseline; also by
        segment (`segment_metrics`) and as reliability diagrams (`calibration_curves`)."""
        days = evaluation_days(partition_date(context.partition_key), config.protocol)
        layout = data_root.layout
        evaluation = evaluate_offline_detail(
            require_promoted_model(layout.feed_model(days.ranked_by).parent, days.ranked_by),
            _effects(layout, days),
            layout.training_examples(days.evaluated),
            days.evaluated,
            baseline_examples_dir=layout.training_examples(days.ranked_by),
            splits=days.splits,
        )
        metrics = evaluation.metrics
        warehouse.replace_partition("offline_metrics", days.evaluated, metrics)
        warehouse.replace_partition("segment_metrics", days.evaluated, evaluation.segments)
        warehouse.replace_partition("calibration_curves", days.evaluated, evaluation.calibration)
        mean_auc = metrics.groupby("scorer")["auc"].mean()
        return MaterializeResult(
            metadata={
                **frame_metadata(metrics),
                "mean_auc": rounded(mean_auc["model"]),
                "mean_baseline_auc": rounded(mean_auc["popularity_baseline"]),
                "per_head": frame_table(metrics.drop(columns=["date", "model_id"])),
            }
        )

    @asset(
        partitions_def=calendar.evaluations,
        deps=[*RANKED_BY, "replay_candidates", *([GROUND_TRUTH] if with_ground_truth else [])],
        kinds={"duckdb"},
        **EVALUATION,
    )
    def replay_metrics(
        context: AssetExecutionContext,
        config: EvaluationConfig,
        data_root: DataRoot,
        log_source: LogSource,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """Replay contribution rate at position 1 on the random bucket (paper §15) with a 95%
        interval, for the model and for baseline rankers; with the simulator, also the
        ground-truth expected contributions of each ranker's picks and the model's paired
        differences against each of them (`paired_differences`)."""
        days = evaluation_days(partition_date(context.partition_key), config.protocol)
        layout = data_root.layout
        replay = evaluate_replay(
            require_promoted_model(layout.feed_model(days.ranked_by).parent, days.ranked_by),
            _effects(layout, days),
            layout.replay_candidates(days.evaluated),
            layout.training_examples(days.ranked_by),
            days.evaluated,
            expected_top1=log_source.ground_truth(days.evaluated),
        )
        metrics = replay.rates
        warehouse.replace_partition("replay_metrics", days.evaluated, metrics)
        if not replay.paired.empty:
            warehouse.replace_partition("paired_differences", days.evaluated, replay.paired)
        # Numeric entries are plotted across partitions in the asset's Plots tab.
        per_ranker = {}
        for row in metrics.itertuples():
            per_ranker[f"{row.ranker}_rate"] = rounded(row.rate)
            if pd.notna(row.expected_contributions):
                per_ranker[f"{row.ranker}_expected"] = rounded(row.expected_contributions)
        for row in replay.paired.itertuples():
            per_ranker[f"model_minus_{row.reference}_expected"] = rounded(row.mean_difference)
        return MaterializeResult(
            metadata={
                **frame_metadata(metrics),
                **per_ranker,
                "rankers": frame_table(metrics.drop(columns=["date", "model_id"])),
            }
        )

    @asset(
        partitions_def=calendar.evaluations,
        deps=[
            "offline_metrics",
            "replay_metrics",
            "windowed_random_effects",
            *(f"{product}_evaluation" for product in products),
        ],
        kinds={"duckdb"},
        **EVALUATION,
    )
    def model_review(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """The review snapshot: a separate DuckDB file, swapped in atomically, that the dashboard
        opens read-only, so it never holds a lock the pipeline needs. Besides the warehouse's
        tables it carries each model directory's lineage and gate verdict and the data's health
        through the day (`models.reporting.model_records`, `models.reporting.data_health`)."""
        layout, date = data_root.layout, partition_date(context.partition_key)
        through = [day for day in calendar.days if day <= date]
        details = {
            **{
                t: warehouse.table_or_empty(t)
                for t in (
                    "segment_metrics",
                    "calibration_curves",
                    "explore_exploit",
                    "compressed_models",
                    "random_effects_lift",
                    "ads_metrics",
                    "ads_calibration",
                    "jobs_metrics",
                    "jobs_topk",
                    "product_verdicts",
                )
            },
            ABLATION_TABLE: warehouse.table_or_empty(ABLATION_TABLE, order_by=None),
            **read_model_records(layout.feed_model(date).parent).tables(),
            **data_health(
                {day: layout.training_examples(day) for day in through},
                {day: layout.dwell_thresholds(day) for day in through},
            ).tables(),
        }
        path = write_review_snapshot(
            layout.review_snapshot,
            models=warehouse.table_or_empty("models"),
            offline_metrics=warehouse.table_or_empty("offline_metrics"),
            replay_metrics=warehouse.table_or_empty("replay_metrics"),
            paired_differences=warehouse.table_or_empty("paired_differences"),
            details=details,
        )
        return MaterializeResult(
            metadata={"snapshot": MetadataValue.path(str(path)), "through": context.partition_key}
        )

    return [offline_metrics, replay_metrics, model_review]
