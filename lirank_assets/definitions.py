"""The Dagster definitions: the LiRank asset graph, its resources chosen in one place.

`dagster dev -w workspace.yaml` (or `dg dev`) loads `defs` from here. The graph's shape comes from
`settings.Settings` (read when the code location loads); the resources' run settings are
`EnvVar`s, read when each run starts (`settings.run_setting`). Local defaults: simulated world,
Spark `local[2]`, TensorFlow training in one child process launched through Dagster Pipes,
DuckDB under the data root.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

from dagster import (
    AssetSelection,
    BetaWarning,
    Definitions,
    PipesSubprocessClient,
    define_asset_job,
    in_process_executor,
)

from lirank_assets.assets.compression import build_compression_assets
from lirank_assets.assets.evaluation import build_evaluation_assets
from lirank_assets.assets.explore import build_explore_assets
from lirank_assets.assets.features import build_feature_assets
from lirank_assets.assets.popularity import build_popularity_assets
from lirank_assets.assets.products import build_product_assets
from lirank_assets.assets.ranking import build_ranking_assets
from lirank_assets.assets.world import build_raw_log_assets
from lirank_assets.automation import build_automation_sensor
from lirank_assets.checks import build_checks
from lirank_assets.gate_checks import build_gate_checks
from lirank_assets.partitions import DailyCalendar
from lirank_assets.resources import (
    DataRoot,
    FileLogs,
    LogSource,
    SimulatedLogs,
    SparkResource,
    TrainingResource,
    Warehouse,
)
from lirank_assets.settings import (
    Settings,
    bool_setting,
    int_run_setting,
    list_setting,
    mapping_setting,
    run_setting,
    settings_from_env,
)
from spark.ingest import check_value_policy, log_tables
from spark.schemas import PRODUCT_RAW_TABLES
from spark.session import DEFAULT_MASTER, LOOPBACK
from spark.storage import DATA_ROOT_ENV, DEFAULT_DATA_ROOT


def build_log_source(
    settings: Settings, data_root: DataRoot, environ: Mapping[str, str] | None = None
) -> LogSource:
    """`FileLogs` over the user's logs when `settings.logs_path` is set (with the products of
    `LIRANK_PRODUCTS`), else `SimulatedLogs` (every product)."""
    if settings.logs_path:
        value_policy = mapping_setting("LIRANK_LOGS_VALUE_POLICY", environ)
        check_value_policy(value_policy)  # a bad setting fails the code location, naming it
        products = list_setting("LIRANK_PRODUCTS", environ)
        log_tables(products)  # so does an unknown product
        return FileLogs(
            data_root=data_root,
            path=run_setting("LIRANK_LOGS_PATH", settings.logs_path, environ),
            value_policy=value_policy,
            products=products,
        )
    return SimulatedLogs(
        data_root=data_root,
        world=settings.world_choice,
        num_shards=int_run_setting("LIRANK_WORLD_SHARDS", None, environ),
    )


def build_resources(
    settings: Settings, root: str | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, object]:
    """The resources of a deployment; `root` fixes the data root (tests, the demo), else it is
    `$LIRANK_DATA_ROOT` at run time (`.lirank/` when unset)."""
    data_root = DataRoot(path=root or run_setting(DATA_ROOT_ENV, DEFAULT_DATA_ROOT, environ))
    return {
        "data_root": data_root,
        "spark": SparkResource(
            master=run_setting("LIRANK_SPARK_MASTER", DEFAULT_MASTER, environ),
            bind_address=run_setting("LIRANK_SPARK_BIND_ADDRESS", LOOPBACK, environ),
            ui=bool_setting("LIRANK_SPARK_UI", True, environ),
            ui_host=run_setting("LIRANK_SPARK_UI_HOST", LOOPBACK, environ),
        ),
        "log_source": build_log_source(settings, data_root, environ),
        "training": TrainingResource(
            horovod_hosts=run_setting("LIRANK_HOROVOD_HOSTS", None, environ),
            horovod_num_proc=int_run_setting("LIRANK_HOROVOD_NP", 0, environ),
        ),
        "warehouse": Warehouse(data_root=data_root),
        # launches training (one process, or horovodrun) and streams rank 0's progress and
        # metrics into the run (`lirank_assets.training_launch`); the child's output goes to the
        # step's logs as it is written
        "pipes_subprocess_client": PipesSubprocessClient(),
    }


def products_of(tables: tuple[str, ...]) -> tuple[str, ...]:
    """The products beyond the feed whose raw tables the log source writes ("ads", "jobs"):
    the simulated world has both; a user's logs those named in `LIRANK_PRODUCTS`."""
    return tuple(
        product
        for product, product_tables in PRODUCT_RAW_TABLES.items()
        if all(table in tables for table in product_tables)
    )


def calendar_of(settings: Settings) -> DailyCalendar:
    """The graph's days: the settings' partition range and cold-start window."""
    return DailyCalendar(settings.start_date, settings.end_date, settings.cold_start_days)


def build_definitions(
    settings: Settings, root: str | None = None, environ: Mapping[str, str] | None = None
) -> Definitions:
    calendar = calendar_of(settings)
    resources = build_resources(settings, root, environ)
    products = products_of(resources["log_source"].tables)
    # `backfill_policy` is flagged beta; single-run backfills of the Spark assets are what the
    # graph needs, so its warning is expected, not news.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*backfill_policy", category=BetaWarning)
        assets = [
            build_raw_log_assets(calendar, resources["log_source"].tables),
            *build_feature_assets(calendar),
            *build_ranking_assets(calendar),
            *build_explore_assets(calendar),
            *build_compression_assets(calendar),
            *build_popularity_assets(calendar),
            *build_evaluation_assets(
                calendar, with_ground_truth=not settings.logs_path, products=products
            ),
            *build_product_assets(calendar, products, with_ground_truth=not settings.logs_path),
        ]
    jobs = [
        define_asset_job(
            "raw_logs_job",
            selection=AssetSelection.groups("world"),
            description="Raw feed logs of the days (simulated, or the user's files validated).",
        ),
        define_asset_job(
            "features_job",
            selection=AssetSelection.groups("features"),
            description="Features, labels and training examples of the days (Feed, and the "
            "Ads and Jobs examples).",
        ),
        define_asset_job(
            "ranking_job",
            selection=AssetSelection.groups("ranking"),
            description="The day's Feed, Ads CTR and Jobs models (cold start or incremental, "
            "gated), the feed's explore/exploit posterior and the compressed variants.",
        ),
        define_asset_job(
            "evaluation_job",
            selection=AssetSelection.groups("evaluation"),
            description="The day's traffic ranked by the previous day's model (next-day "
            "protocol) with random effects refit every 8 hours: offline metrics, replay, paired "
            "ground truth and the review snapshot.",
        ),
    ]
    return Definitions(
        assets=assets,
        asset_checks=[*build_checks(calendar), *build_gate_checks(calendar, products)],
        jobs=jobs,
        sensors=[build_automation_sensor()],
        resources=resources,
        # One process per run: the Spark session and TensorFlow runtime are started once per run.
        executor=in_process_executor,
    )


defs = build_definitions(settings_from_env())
