"""Explore/exploit asset: the last-layer posterior of the promoted model, updated with each day
(paper §7), for Thompson sampling at ranking time."""

import datetime as dt

import pandas as pd
from dagster import AssetDep, AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import rounded
from lirank_assets.partitions import PREVIOUS_DAY, DailyCalendar, partition_date
from lirank_assets.resources import DataRoot, Warehouse
from models.explore.update import update_posterior
from models.training.promotion import require_promoted_model


class ExploreConfig(Config):
    """`prior_scale`: prior standard deviation of each last-layer weight in units of the noise
    (larger explores more on little data); `forgetting` in (0, 1]: how much of the previous days'
    statistics to keep (1: the exact posterior of every day); `explore_share`: the share of
    sessions ranked by a Thompson draw at serving time; `seed`: the measurement's draws."""

    prior_scale: float = 1.0
    forgetting: float = 1.0
    explore_share: float = 0.1
    seed: int = 0


def build_explore_assets(calendar: DailyCalendar):
    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=[
            "feed_ranking_model",
            "training_examples",
            AssetDep("explore_exploit_posterior", partition_mapping=PREVIOUS_DAY),
        ],
        kinds={"numpy"},
        automation_condition=DAILY_REFRESH,
    )
    def explore_exploit_posterior(
        context: AssetExecutionContext, config: ExploreConfig, data_root: DataRoot,
        warehouse: Warehouse,
    ) -> MaterializeResult:  # fmt: skip
        """Bayesian linear regression of the contribution label on the promoted model's
        last-layer input Z(x) (Normal–inverse-gamma, `models.explore.posterior`), updated with
        the day's training rows from the previous day's posterior (the exact batch posterior of
        every day since the model's cold start), not refit. Thompson sampling draws the weights
        once per session (`models.explore.thompson`). Metadata: the posterior's uncertainty and
        how often a draw changes the top slot of a held-out session."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        previous = layout.explore_posterior(date - dt.timedelta(days=1))
        update = update_posterior(
            require_promoted_model(layout.feed_model(date).parent, date),
            pd.read_parquet(layout.training_examples(date)),
            previous if previous.is_dir() else None,
            layout.explore_posterior(date),
            prior_scale=config.prior_scale,
            forgetting=config.forgetting,
            explore_share=config.explore_share,
            seed=config.seed,
        )
        posterior = update.posterior
        row = pd.DataFrame(
            [
                {
                    "date": date,
                    "model_id": update.model_id,
                    "carried_over": update.carried_over,
                    "day_rows": update.rows,
                    "rows": posterior.rows,
                    "dim": posterior.dim,
                    "noise_variance": posterior.noise_variance,
                    "mean_weight_std": posterior.mean_weight_std,
                    "top_slot_changed": update.top_slot_changed,
                    "sessions": update.sessions,
                    "prior_scale": config.prior_scale,
                    "explore_share": config.explore_share,
                }
            ]
        )
        warehouse.replace_partition("explore_exploit", date, row)
        return MaterializeResult(
            metadata={
                "model_id": update.model_id,
                "updated_from": "previous day's posterior" if update.carried_over else "prior",
                "rows": MetadataValue.int(posterior.rows),
                "dim": MetadataValue.int(posterior.dim),
                "noise_variance": rounded(posterior.noise_variance),
                "mean_weight_std": rounded(posterior.mean_weight_std),
                "top_slot_changed": rounded(update.top_slot_changed),
                "explore_share": rounded(config.explore_share),
                "path": MetadataValue.path(str(layout.explore_posterior(date))),
            }
        )

    return [explore_exploit_posterior]
