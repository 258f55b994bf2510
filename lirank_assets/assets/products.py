"""The Ads CTR and Jobs products (paper §1, §17): examples, daily models and their evaluation.

Each product follows the feed's life cycle with its own raw tables (`spark.schemas`
`PRODUCT_RAW_TABLES`): day D's examples (features group); the model of D, a cold start on the
cold-start window then incremental from the model promoted as of D−1 with the same training job
and recipe (`models.training.product`), gated before it is promoted (ranking group); and day D's
traffic ranked by the model promoted as of D−1 against the product's production ranker, with an
interval on every headline figure (evaluation group; `models.evaluation.product_days`).

The examples are built with pandas from the day's partitions (a product's day is small next to the
feed's sessions: O(impressions) joins); the feed's exploded session features are the Spark jobs.
"""

import datetime as dt

import pyarrow as pa
from dagster import (
    AssetDep,
    AssetExecutionContext,
    BackfillPolicy,
    Config,
    MaterializeResult,
    MetadataValue,
    PipesSubprocessClient,
    asset,
)

from lirank_assets.assets.ranking import promotion_metadata
from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import frame_table, rounded
from lirank_assets.partitions import (
    PREVIOUS_DAY,
    DailyCalendar,
    partition_date,
    partition_dates,
    trailing_days,
)
from lirank_assets.resources import DataRoot, TrainingResource, Warehouse
from lirank_assets.training_launch import PipesTraining
from models.registry import load_model, model_id_of, promoted_model_dir
from models.training.product_promotion import train_and_gate_product
from models.training.promotion import models_row, require_promoted_model
from spark.storage import write_parquet_table

POSTING_WINDOW_DAYS = 30
"""Job postings created this many days back (at most) are looked up for a day's served jobs."""


class AdsModelChoice(Config):
    """The Ads model's cold-start architecture (`models.ads.AdsModelConfig`): `head_interaction`
    "dcnv2" (default) or "mlp"; `isotonic` calibration on each head; `use_ids` (False: the no-ID
    MLP baseline); `multitask` chargeability heads (False: one chargeable-click head)."""

    head_interaction: str = "dcnv2"
    isotonic: bool = True
    use_ids: bool = True
    multitask: bool = True

    def to_model_config(self) -> dict:
        from models.ads import AdsModelConfig

        heads = {} if self.multitask else {"heads": ("chargeable_click",)}
        config = AdsModelConfig(
            head_interaction=self.head_interaction,
            isotonic=self.isotonic,
            use_ids=self.use_ids,
            **heads,
        )
        return config.to_dict()


class JobsModelChoice(Config):
    """The Jobs model's cold-start architecture (`models.jobs.JobsModelConfig`): `embedding`
    "qr" (default: quotient-remainder compressed shared matrices) or "hash" (full
    vocabularies); `cross_layers` of each task's DCNv2 (2, paper; 0: an MLP per task)."""

    embedding: str = "qr"
    cross_layers: int = 2

    def to_model_config(self) -> dict:
        from models.jobs import JobsModelConfig

        return JobsModelConfig(embedding=self.embedding, cross_layers=self.cross_layers).to_dict()


def _read(layout, table: str, date: dt.date):
    import pandas as pd

    return pd.read_parquet(layout.raw_table(table, date))


def _write_examples(frame, path):
    write_parquet_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def _train_model(
    context, calendar, product, config_dict, data_root, training, warehouse, pipes_client
):
    """Train, gate and maybe promote the day's model of `product` (the feed's protocol)."""
    date = partition_date(context.partition_key)
    layout = data_root.layout
    plan = training.product_plan(
        layout, calendar, date, product=product, model=config_dict, model_id=f"{product}-{date}"
    )
    trainer = PipesTraining(pipes_client, context)
    models_root = layout.product_model(product, date).parent
    promotion = train_and_gate_product(
        plan,
        layout.product_examples(product, date),
        compared_with=promoted_model_dir(models_root, date - dt.timedelta(days=1)),
        record=lambda result, verdict: warehouse.replace_rows(
            "product_models",
            "model_id",
            result.model_id,
            models_row(result, verdict, date).assign(product=product),
        ),
        train=trainer,
    )
    return MaterializeResult(
        metadata={
            **trainer.metadata,
            **promotion_metadata(context, promotion, models_root, date),
            "model_config": MetadataValue.json(promotion.result.model_config),
        }
    )


def _write_evaluation(warehouse, product: str, date: dt.date, model_id: str, result) -> None:
    """The day's evaluation tables of `product`; its verdict rows replace only its own rows of
    the shared `product_verdicts`."""
    for table, frame in result.tables.items():
        warehouse.replace_partition(table, date, frame.assign(date=date, model_id=model_id))
    warehouse.replace_where(
        "product_verdicts",
        {"date": date, "product": product},
        result.verdict.assign(date=date, model_id=model_id),
    )


def build_product_assets(
    calendar: DailyCalendar, products: tuple[str, ...], with_ground_truth: bool
):
    """The assets of each product in `products` ("ads", "jobs"), in the stage groups; the Jobs
    evaluation reads the simulator's truth when the log source has one (`with_ground_truth`)."""
    assets = []
    if "ads" in products:
        assets += _ads_assets(calendar)
    if "jobs" in products:
        assets += _jobs_assets(calendar, with_ground_truth)
    return assets


def _ads_assets(calendar: DailyCalendar):
    @asset(
        group_name="features",
        partitions_def=calendar.logs,
        deps=["ad_impressions", "ad_catalog", "members"],
        kinds={"parquet"},
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=DAILY_REFRESH,
    )
    def ads_examples(context: AssetExecutionContext, data_root: DataRoot) -> None:
        """The day's Ads rows: impressed sponsored slots joined with the ad catalog and the
        member snapshot, the three chargeability labels, the dense features in the paper's five
        groups, and a per-session train / holdout split (`models.ads_examples`). Bad values
        (unknown ads, pCTRs outside (0, 1), labels inconsistent with the ad's group, ...) fail
        naming the table and column; nothing is written. A backfill is one run, day by day."""
        from models.ads_examples import ads_examples as build

        layout = data_root.layout
        for date in partition_dates(context):
            frame = build(
                _read(layout, "ad_impressions", date),
                _read(layout, "ad_catalog", date),
                _read(layout, "members", date),
            )
            _write_examples(frame, layout.product_examples("ads", date))
            rates = frame.groupby("chargeability_group")["chargeable_click"].agg(["size", "mean"])
            context.add_asset_metadata(
                {
                    "rows": MetadataValue.int(len(frame)),
                    "holdout_rows": MetadataValue.int(int((frame["split"] == "holdout").sum())),
                    "chargeable_rate_by_group": frame_table(rates.reset_index()),
                },
                partition_key=date.isoformat(),
            )

    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=[
            AssetDep("ads_examples", partition_mapping=trailing_days(calendar.cold_start_days)),
            AssetDep("ads_ctr_model", partition_mapping=PREVIOUS_DAY),
        ],
        kinds={"tensorflow", "keras"},
        automation_condition=DAILY_REFRESH,
    )
    def ads_ctr_model(
        context: AssetExecutionContext,
        config: AdsModelChoice,
        data_root: DataRoot,
        training: TrainingResource,
        warehouse: Warehouse,
        pipes_subprocess_client: PipesSubprocessClient,
    ) -> MaterializeResult:
        """The Ads CTR model (paper §1): advertiser, campaign, ad and member ID embeddings and
        the five dense feature groups into one DCNv2 + MLP head per chargeability group, each
        with isotonic calibration. Cold start on the cold-start window, then incremental from
        the model promoted as of the previous day with the feed's training job and recipe
        (Fisher-regularized, paper §5); gated on the day's held-out sessions before `gate.json`
        promotes it (`models.training.product_promotion`)."""
        return _train_model(
            context, calendar, "ads", config.to_model_config(), data_root, training, warehouse,
            pipes_subprocess_client,
        )  # fmt: skip

    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=["ads_ctr_model"],
        kinds={"tensorflow", "keras"},
        automation_condition=DAILY_REFRESH,
    )
    def ads_ctr_model_8bit(
        context: AssetExecutionContext, data_root: DataRoot
    ) -> MaterializeResult:
        """The Ads model promoted as of the day with its ID embedding tables quantized to 8 bits
        row-wise (middle-max, paper §3.13), after training: what `ads_evaluation` scores beside
        the float model (the paper's Ads row "IDs + 8-bit quantization")."""
        from models.compression.ads import write_quantized_ads_model

        date = partition_date(context.partition_key)
        layout = data_root.layout
        source = require_promoted_model(layout.product_model("ads", date).parent, date)
        model, metadata = load_model(source)
        sizes = write_quantized_ads_model(
            model,
            layout.quantized_ads_model(date),
            {"product": "ads", "training_result": metadata["training_result"]},
        )
        return MaterializeResult(
            metadata={
                "quantized_from": model_id_of(source),
                **{k: rounded(v) if isinstance(v, float) else v for k, v in sizes.items()},
                "path": MetadataValue.path(str(layout.quantized_ads_model(date))),
            }
        )

    @asset(
        group_name="evaluation",
        partitions_def=calendar.evaluations,
        deps=[
            AssetDep("ads_ctr_model", partition_mapping=PREVIOUS_DAY),
            AssetDep("ads_ctr_model_8bit", partition_mapping=PREVIOUS_DAY),
            "ads_examples",
        ],
        kinds={"duckdb"},
        automation_condition=DAILY_REFRESH,
    )
    def ads_evaluation(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """Day D's sponsored impressions priced by the Ads model promoted as of D−1 (next-day
        protocol), its 8-bit variant and the production ranker's logged pCTR: per chargeability
        head AUC (95% DeLong interval), log loss, ECE and observed / expected (calibration
        prices ads: pCTR × bid), reliability curves, and the verdict against production with
        paired intervals (`product_verdicts`)."""
        from models.evaluation.product_days import evaluate_ads_day

        date = partition_date(context.partition_key)
        layout = data_root.layout
        ranked_by = date - dt.timedelta(days=1)
        model_dir = require_promoted_model(layout.product_model("ads", ranked_by).parent, ranked_by)
        quantized = layout.quantized_ads_model(ranked_by)
        result = evaluate_ads_day(
            layout.product_examples("ads", date),
            model_dir,
            quantized if quantized.is_dir() else None,
        )
        model_id = model_id_of(model_dir)
        _write_evaluation(warehouse, "ads", date, model_id, result)
        return MaterializeResult(
            metadata={
                "model_id": model_id,
                "verdict": frame_table(result.verdict),
                "per_head": frame_table(result.tables["ads_metrics"]),
            }
        )

    return [ads_examples, ads_ctr_model, ads_ctr_model_8bit, ads_evaluation]


def _jobs_assets(calendar: DailyCalendar, with_ground_truth: bool):
    @asset(
        group_name="features",
        partitions_def=calendar.logs,
        deps=[
            "job_impressions",
            "member_profiles",
            AssetDep("job_postings", partition_mapping=trailing_days(POSTING_WINDOW_DAYS)),
        ],
        kinds={"parquet"},
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=DAILY_REFRESH,
    )
    def jobs_examples(context: AssetExecutionContext, data_root: DataRoot) -> None:
        """The day's Jobs rows: every served job of the day's Job Search and JYMBII sessions
        (whole slates, so evaluation can re-rank them; training reads the impressed ones)
        joined with its posting (created up to 30 days before) and the member's profile, the
        fields of the five shared embedding matrices, the field-match features, the apply and
        click labels and a per-session train / holdout split (`models.jobs_examples`). A
        backfill is one run, day by day."""
        import pandas as pd

        from models.jobs_examples import jobs_examples as build

        layout = data_root.layout
        for date in partition_dates(context):
            postings = [
                layout.raw_table("job_postings", date - dt.timedelta(days=back))
                for back in range(POSTING_WINDOW_DAYS)
            ]
            frame = build(
                _read(layout, "job_impressions", date),
                pd.concat([pd.read_parquet(p) for p in postings if p.is_dir()], ignore_index=True),
                _read(layout, "member_profiles", date),
            )
            _write_examples(frame, layout.product_examples("jobs", date))
            impressed = frame[frame["impressed"]]
            context.add_asset_metadata(
                {
                    "served_rows": MetadataValue.int(len(frame)),
                    "impressed_rows": MetadataValue.int(len(impressed)),
                    "click_rate": rounded(float(impressed["click"].mean())),
                    "apply_rate": rounded(float(impressed["apply"].mean())),
                    "qualified_apply_rate": rounded(float(impressed["qualified_apply"].mean())),
                },
                partition_key=date.isoformat(),
            )

    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=[
            AssetDep("jobs_examples", partition_mapping=trailing_days(calendar.cold_start_days)),
            AssetDep("jobs_ranking_model", partition_mapping=PREVIOUS_DAY),
        ],
        kinds={"tensorflow", "keras"},
        automation_condition=DAILY_REFRESH,
    )
    def jobs_ranking_model(
        context: AssetExecutionContext,
        config: JobsModelChoice,
        data_root: DataRoot,
        training: TrainingResource,
        warehouse: Warehouse,
        pipes_subprocess_client: PipesSubprocessClient,
    ) -> MaterializeResult:
        """The Jobs model (paper §1, Job Search + JYMBII): the categorical fields through five
        shared embedding matrices (title, skill, company, industry, seniority), QR-compressed
        (paper §11: 5× fewer parameters), a task-specific 2-layer DCNv2 per head, P(apply) and
        P(click). Cold start then incremental with the feed's training job and recipe, gated
        before it is promoted."""
        return _train_model(
            context, calendar, "jobs", config.to_model_config(), data_root, training, warehouse,
            pipes_subprocess_client,
        )  # fmt: skip

    @asset(
        group_name="evaluation",
        partitions_def=calendar.evaluations,
        deps=[
            AssetDep("jobs_ranking_model", partition_mapping=PREVIOUS_DAY),
            "jobs_examples",
            *(["jobs_ground_truth"] if with_ground_truth else []),
        ],
        kinds={"duckdb"},
        automation_condition=DAILY_REFRESH,
    )
    def jobs_evaluation(
        context: AssetExecutionContext, data_root: DataRoot, warehouse: Warehouse
    ) -> MaterializeResult:
        """Day D's job slates ranked by the Jobs model promoted as of D−1 (next-day protocol)
        against the production ranker: apply and click AUC with 95% DeLong intervals, and the
        ground truth's qualified-application rate of each ranker's top-k with paired intervals
        (`product_verdicts`)."""
        from models.evaluation.product_days import evaluate_jobs_day

        date = partition_date(context.partition_key)
        layout = data_root.layout
        ranked_by = date - dt.timedelta(days=1)
        model_dir = require_promoted_model(
            layout.product_model("jobs", ranked_by).parent, ranked_by
        )
        truth = layout.raw_table("jobs_ground_truth", date) if with_ground_truth else None
        result = evaluate_jobs_day(layout.product_examples("jobs", date), model_dir, truth)
        model_id = model_id_of(model_dir)
        _write_evaluation(warehouse, "jobs", date, model_id, result)
        return MaterializeResult(
            metadata={
                "model_id": model_id,
                "verdict": frame_table(result.verdict),
                "per_head": frame_table(result.tables["jobs_metrics"]),
            }
        )

    return [jobs_examples, jobs_ranking_model, jobs_evaluation]
