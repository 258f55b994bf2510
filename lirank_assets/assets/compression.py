"""Compression asset: the promoted feed model with 8-bit (or 4-bit) embedding tables, served from
int codes dequantized in the graph (paper §3.13)."""

import pandas as pd
from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from lirank_assets.automation import DAILY_REFRESH
from lirank_assets.metadata import frame_table, rounded
from lirank_assets.partitions import DailyCalendar, partition_date
from lirank_assets.resources import DataRoot, Warehouse
from models.compression.feed import write_compressed_model
from models.compression.schemes import DEFAULT_SCHEME
from models.registry import model_id_of
from models.training.promotion import require_promoted_model


class CompressionConfig(Config):
    """`scheme`: "middle_max_8bit" (LiRank's, default), "min_max_8bit" or "4bit" (middle-max)."""

    scheme: str = DEFAULT_SCHEME


def build_compression_assets(calendar: DailyCalendar):
    @asset(
        group_name="ranking",
        partitions_def=calendar.models,
        deps=["feed_ranking_model"],
        kinds={"tensorflow", "keras"},
        automation_condition=DAILY_REFRESH,
    )
    def compressed_feed_model(
        context: AssetExecutionContext,
        config: CompressionConfig,
        data_root: DataRoot,
        warehouse: Warehouse,
    ) -> MaterializeResult:
        """The model promoted as of the day, every embedding table quantized row-wise after
        training (plain tables, and a QR table's quotient and remainder tables each on its own),
        with its serving SavedModel: the same raw `serving_default` signature as the fp32 model,
        the int tables dequantized inside the graph. Metadata: embedding bytes fp32 vs
        compressed and the mean absolute reconstruction error of every table."""
        date = partition_date(context.partition_key)
        layout = data_root.layout
        source = require_promoted_model(layout.feed_model(date).parent, date)
        out = layout.compressed_feed_model(date)
        compressed = write_compressed_model(source, out, config.scheme)
        errors = compressed.tables[["table", "rows", "dim", "ratio", "mean_abs_error"]]
        warehouse.replace_partition(
            "compressed_models",
            date,
            pd.DataFrame(
                [
                    {
                        "date": date,
                        "model_id": model_id_of(source),
                        "scheme": config.scheme,
                        "fp32_bytes": compressed.fp32_bytes,
                        "bytes": compressed.bytes,
                        "ratio": compressed.ratio,
                        "mean_abs_error": compressed.mean_abs_error,
                    }
                ]
            ),
        )
        return MaterializeResult(
            metadata={
                "compressed_from": model_id_of(source),
                "scheme": config.scheme,
                "fp32_bytes": MetadataValue.int(compressed.fp32_bytes),
                "compressed_bytes": MetadataValue.int(compressed.bytes),
                "ratio": rounded(compressed.ratio),
                "mean_abs_error": rounded(compressed.mean_abs_error, 8),
                "tables": frame_table(errors, digits=8),
                "path": MetadataValue.path(str(out)),
            }
        )

    return [compressed_feed_model]
