"""The popularity random effects that rank a day's traffic beside the previous day's model: post
and author effects on its residual, refit every 8 hours of log time (paper §8)."""

import math

import pyarrow as pa
from dagster import AssetDep, AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import frame_table, parquet_metadata, rounded
from lirank_assets.partitions import PREVIOUS_DAY, DailyCalendar, partition_date
from lirank_assets.resources import DataRoot, Warehouse
from models.evaluation.protocol import evaluation_days
from models.evaluation.scoring import model_probabilities, read_partition
from models.popularity import effect_spread, fit_day_effects, lift_summary
from models.registry import load_model, model_id_of
from models.training.promotion import require_promoted_model
from models.windowed_effects import WindowedEffectsConfig
from spark.storage import write_parquet_table


class RandomEffectsConfig(Config):
    """`cadence_hours`: hours between refits (must divide 24; paper: 8); `window_hours`: the
    trailing log time each fit sees; `l2_post`, `l2_author`: the effects' prior precisions (see
    `models.windowed_effects` for why 10)."""

    cadence_hours: float = 8.0
    window_hours: float = 24.0
    l2_post: float = 10.0
    l2_author: float = 10.0

    def windows(self) -> WindowedEffectsConfig:
        return WindowedEffectsConfig(
            cadence_hours=self.cadence_hours,
            window_hours=self.window_hours,
            l2_post=self.l2_post,
            l2_author=self.l2_author,
        )


def build_popularity_assets(calendar: DailyCalendar):
    @asset(
        group_name="evaluation",
        partitions_def=calendar.evaluations,
        deps=[
            AssetDep("feed_ranking_model", partition_mapping=PREVIOUS_DAY),
            # the day's examples (the later windows, the lift), behind their blocking quality
            # check; the day before's (the first window) are upstream of that model already
            "training_examples",
        ],
        kinds={"pandas", "parquet"},
        automation_condition=DAILY_REFRESH,
    )
    def windowed_random_effects(
        context: AssetExecutionContext,
        config: RandomEffectsConfig,
        data_root: DataRoot,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """Per-post and per-author random effects on the residual of the model that ranks the
        day (the one promoted as of the day before), for the click and like heads (paper §8):
        y = σ(logit(y_global) + b_post + b_author). Refit every `cadence_hours` of log time on a
        trailing `window_hours` window (`models.popularity`); each window's effects score only
        the traffic after it, so the day's first window is fit on the day before and the later
        ones on the day's own earlier hours. The offline metrics and replay of the day score
        with them. Metadata and the warehouse's `random_effects_lift`: per head and window,
        AUC and log loss of the global model alone and with the effects on the traffic each
        window scored, overall and on posts younger than a day."""
        days = evaluation_days(partition_date(context.partition_key))
        layout = data_root.layout
        model_dir = require_promoted_model(layout.feed_model(days.ranked_by).parent, days.ranked_by)
        model, _ = load_model(model_dir)
        fitted = fit_day_effects(
            lambda rows: model_probabilities(model, None, rows, rank_at_top=False),
            read_partition(layout.training_examples(days.ranked_by)),
            read_partition(layout.training_examples(days.evaluated)),
            config.windows(),
        )
        path = write_parquet_table(
            pa.Table.from_pandas(fitted.effects, preserve_index=False),
            layout.random_effects(days.evaluated),
        )
        model_id = model_id_of(model_dir)
        lift = fitted.lift.assign(date=days.evaluated, model_id=model_id)
        warehouse.replace_partition("random_effects_lift", days.evaluated, lift)
        summary = lift_summary(fitted.lift)
        return MaterializeResult(
            metadata={
                **parquet_metadata(path),
                "fit_for_model": model_id,
                "windows": MetadataValue.int(int(fitted.effects["window_end"].nunique())),
                # numeric entries are plotted across partitions in the asset's Plots tab
                **{name: rounded(value) for name, value in summary.items() if math.isfinite(value)},
                "lift": frame_table(
                    fitted.lift[
                        [
                            "head",
                            "scored_hours",
                            "scored_rows",
                            "auc_global",
                            "auc_effects",
                            "log_loss_global",
                            "log_loss_effects",
                        ]
                    ]
                ),  # fmt: skip
                "effect_sd": frame_table(effect_spread(fitted.effects)),
            }
        )

    return [windowed_random_effects]
