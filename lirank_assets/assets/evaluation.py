"""Evaluation assets: offline metrics per head, replay contribution rate on the random bucket,
and the review snapshot the dashboard reads."""

import pandas as pd
from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from lirank_assets.assets.ranking import examples_dir, model_dir
from lirank_assets.partitions import partition_date
from lirank_assets.resources import DataRoot, FeedLogSource, Warehouse
from models.evaluation import evaluate_offline, evaluate_replay
from models.review import write_review_snapshot


def build_evaluation_assets(partitions_def):
    @asset(
        group_name="evaluation",
        partitions_def=partitions_def,
        deps=["feed_ranking_model", "popularity_random_effects", "training_examples"],
    )
    def offline_metrics(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """AUC, log loss and calibration (observed / expected) per head on the held-out sessions,
        for the model (+ popularity random effects) and the popularity baseline."""
        date = partition_date(context.partition_key)
        effects = (
            data_root.root / "models" / "popularity_random_effects" / f"date={date.isoformat()}"
        )
        metrics = evaluate_offline(
            model_dir(data_root, date), effects, examples_dir(data_root, date), date
        )
        warehouse.replace_partition("offline_metrics", date, metrics)
        model_rows = metrics[metrics["scorer"] == "model"].set_index("head")
        base_rows = metrics[metrics["scorer"] == "popularity_baseline"].set_index("head")
        return MaterializeResult(
            metadata={
                "mean_auc": MetadataValue.float(float(model_rows["auc"].mean())),
                "mean_baseline_auc": MetadataValue.float(float(base_rows["auc"].mean())),
                "per_head": MetadataValue.md(
                    metrics.drop(columns=["date", "model_id"]).round(4).to_markdown(index=False)
                ),
            }
        )

    @asset(
        group_name="evaluation",
        partitions_def=partitions_def,
        deps=[
            "feed_ranking_model",
            "popularity_random_effects",
            "replay_candidates",
            "training_examples",
            "feed_ground_truth",
        ],
    )
    def replay_metrics(
        context: AssetExecutionContext,
        data_root: DataRoot,
        log_source: FeedLogSource,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """Replay contribution rate at position 1 on the random bucket (paper §15) with a 95%
        interval, for the model and for baseline rankers; with the simulator, also the
        ground-truth expected contributions of each ranker's picks."""
        date = partition_date(context.partition_key)
        root = data_root.root
        effects = root / "models" / "popularity_random_effects" / f"date={date.isoformat()}"
        candidates = root / "features" / "replay_candidates" / f"date={date.isoformat()}"
        truth = root / "raw" / "feed_ground_truth" / f"date={date.isoformat()}"
        metrics = evaluate_replay(
            model_dir(data_root, date),
            effects,
            candidates,
            examples_dir(data_root, date),
            date,
            ground_truth_dir=truth if truth.exists() else None,
            world=log_source.world_config() if log_source.is_simulated else None,
        )
        warehouse.replace_partition("replay_metrics", date, metrics)
        # Numeric entries are plotted across partitions in the asset's Plots tab.
        metadata = {}
        for row in metrics.itertuples():
            metadata[f"{row.ranker}_interval"] = MetadataValue.text(
                f"{row.rate:.4f} [{row.ci_low:.4f}, {row.ci_high:.4f}] (matched {row.matched})"
            )
            for name, value in (("rate", row.rate), ("expected", row.expected_contributions)):
                if pd.notna(value):
                    metadata[f"{row.ranker}_{name}"] = MetadataValue.float(float(value))
        return MaterializeResult(metadata=metadata)

    @asset(
        group_name="evaluation",
        partitions_def=partitions_def,
        deps=["offline_metrics", "replay_metrics", "feed_ranking_model"],
    )
    def model_review(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """The review snapshot: a separate DuckDB file, swapped in atomically, that the dashboard
        opens read-only, so it never holds a lock the pipeline needs."""
        path = write_review_snapshot(
            data_root.review_snapshot_path,
            models=warehouse.table_or_empty("models"),
            offline_metrics=warehouse.table_or_empty("offline_metrics"),
            replay_metrics=warehouse.table_or_empty("replay_metrics"),
        )
        return MaterializeResult(
            metadata={"snapshot": MetadataValue.path(str(path)), "through": context.partition_key}
        )

    return [offline_metrics, replay_metrics, model_review]
