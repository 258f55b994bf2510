"""Evaluation assets: offline metrics per head, replay contribution rate on the random bucket,
and the review snapshot the dashboard reads."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import frame_metadata, frame_table, rounded
from lirank_assets.partitions import DailyCalendar, partition_date
from lirank_assets.resources import GROUND_TRUTH, DataRoot, LogSource, Warehouse
from models.evaluation.offline import evaluate_offline
from models.evaluation.replay_eval import evaluate_replay
from models.reporting.review import write_review_snapshot

EVALUATION = {"group_name": "evaluation", "automation_condition": DAILY_REFRESH}


def build_evaluation_assets(calendar: DailyCalendar, with_ground_truth: bool):
    """The evaluation group; `replay_metrics` reads the simulator's truth when the log source
    has one (`with_ground_truth`)."""

    @asset(
        partitions_def=calendar.models,
        deps=["feed_ranking_model", "popularity_random_effects", "training_examples"],
        kinds={"duckdb"},
        **EVALUATION,
    )
    def offline_metrics(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """AUC, log loss and calibration (observed / expected) per head on the held-out sessions,
        for the model (+ popularity random effects) and the popularity baseline."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        metrics = evaluate_offline(
            layout.feed_model(date),
            layout.random_effects(date),
            layout.training_examples(date),
            date,
        )
        warehouse.replace_partition("offline_metrics", date, metrics)
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
        partitions_def=calendar.models,
        deps=[
            "feed_ranking_model",
            "popularity_random_effects",
            "replay_candidates",
            "training_examples",
            *([GROUND_TRUTH] if with_ground_truth else []),
        ],
        kinds={"duckdb"},
        **EVALUATION,
    )
    def replay_metrics(
        context: AssetExecutionContext,
        data_root: DataRoot,
        log_source: LogSource,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """Replay contribution rate at position 1 on the random bucket (paper §15) with a 95%
        interval, for the model and for baseline rankers; with the simulator, also the
        ground-truth expected contributions of each ranker's picks."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        metrics = evaluate_replay(
            layout.feed_model(date),
            layout.random_effects(date),
            layout.replay_candidates(date),
            layout.training_examples(date),
            date,
            expected_top1=log_source.ground_truth(date),
        )
        warehouse.replace_partition("replay_metrics", date, metrics)
        # Numeric entries are plotted across partitions in the asset's Plots tab.
        per_ranker = {}
        for row in metrics.itertuples():
            per_ranker[f"{row.ranker}_rate"] = rounded(row.rate)
            if pd.notna(row.expected_contributions):
                per_ranker[f"{row.ranker}_expected"] = rounded(row.expected_contributions)
        return MaterializeResult(
            metadata={
                **frame_metadata(metrics),
                **per_ranker,
                "rankers": frame_table(metrics.drop(columns=["date", "model_id"])),
            }
        )

    @asset(
        partitions_def=calendar.models,
        deps=["offline_metrics", "replay_metrics", "feed_ranking_model"],
        kinds={"duckdb"},
        **EVALUATION,
    )
    def model_review(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """The review snapshot: a separate DuckDB file, swapped in atomically, that the dashboard
        opens read-only, so it never holds a lock the pipeline needs."""
        path = write_review_snapshot(
            data_root.layout.review_snapshot,
            models=warehouse.table_or_empty("models"),
            offline_metrics=warehouse.table_or_empty("offline_metrics"),
            replay_metrics=warehouse.table_or_empty("replay_metrics"),
        )
        return MaterializeResult(
            metadata={"snapshot": MetadataValue.path(str(path)), "through": context.partition_key}
        )

    return [offline_metrics, replay_metrics, model_review]
