"""The `model_gate` asset check: shows, per day, whether the day's feed model passed the model gate
and was promoted, with the gate's reasons (read from the model directory's `gate.json`)."""

import warnings
from pathlib import Path

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    MetadataValue,
    PreviewWarning,
    asset_check,
)

from lirank_assets.checks import check_each_day
from lirank_assets.partitions import DailyCalendar
from lirank_assets.resources import DataRoot
from models.registry import GATE_FILE, read_gate_record
from spark.storage import PRODUCT_MODEL_ASSETS


def gate_check_result(model_dir: Path, asset: str = "feed_ranking_model") -> AssetCheckResult:
    """The `model_gate` result of one model directory: passed when its `gate.json` says the model
    is promoted; failed (severity ERROR) with the gate's reasons otherwise, or when the gate never
    committed a verdict (training or gating stopped before `gate.json`)."""
    record = read_gate_record(model_dir)
    if record is None:
        return AssetCheckResult(
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            description=(
                f"no {GATE_FILE} in {model_dir}: the gate did not commit a verdict, so this "
                f"model is not promoted; re-materialize {asset} for the day"
            ),
            metadata={"promoted": False, "path": MetadataValue.path(str(model_dir))},
        )
    promoted = bool(record.get("promoted"))
    reasons = list(record.get("reasons", []))
    description = (
        f"{record['model_id']} passed the model gate and is promoted"
        if promoted
        else f"{record['model_id']} failed the model gate and is NOT promoted (the last "
        f"promoted model keeps serving): {'; '.join(reasons)}"
    )
    return AssetCheckResult(
        passed=promoted,
        severity=AssetCheckSeverity.ERROR,
        description=description,
        metadata={
            "promoted": promoted,
            "reasons": "\n".join(reasons) or "none",
            "base_model": str(record.get("base_model") or "none (cold start)"),
            "compared_with": str(record.get("compared_with") or "popularity baseline only"),
            "gate_file": MetadataValue.path(str(Path(model_dir) / GATE_FILE)),
        },
    )


def build_gate_checks(calendar: DailyCalendar, products: tuple[str, ...] = ()):
    """The `model_gate` check on `feed_ranking_model`, and on the model of each of `products`
    ("ads": `ads_ctr_model`, "jobs": `jobs_ranking_model`), partitioned like them."""
    # Partitioned asset checks are flagged preview; per-day checks are what the graph needs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)

        @asset_check(asset="feed_ranking_model", partitions_def=calendar.models, blocking=False)
        def model_gate(
            context: AssetCheckExecutionContext, data_root: DataRoot
        ) -> AssetCheckResult:
            """Did the day's model pass the model gate (`models.evaluation.gate`) and get
            promoted? Reports the gate's verdict and reasons from the model's `gate.json`.

            Severity ERROR but not blocking: the block is the promotion itself. A failed model
            is not promoted, so nothing downstream uses it: the next day warm-starts from the
            last promoted model, the day's random effects are fit for that model and the
            next-day evaluation ranks with it. Blocking here would instead stop those assets
            from running with the promoted model."""
            layout = data_root.layout
            return check_each_day(
                context,
                "feed_ranking_model",
                "model_gate",
                lambda day: gate_check_result(layout.feed_model(day)),
            )

        product_checks = [_product_gate_check(calendar, product) for product in products]

    return [model_gate, *product_checks]


def _product_gate_check(calendar: DailyCalendar, product: str):
    asset = PRODUCT_MODEL_ASSETS[product]

    @asset_check(asset=asset, name="model_gate", partitions_def=calendar.models, blocking=False)
    def product_model_gate(
        context: AssetCheckExecutionContext, data_root: DataRoot
    ) -> AssetCheckResult:
        """Did the day's model pass the model gate and get promoted? (As the feed's.)"""
        layout = data_root.layout
        return check_each_day(
            context,
            asset,
            "model_gate",
            lambda day: gate_check_result(layout.product_model(product, day), asset),
        )

    return product_model_gate
