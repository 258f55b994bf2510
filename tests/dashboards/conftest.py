"""Fixture review snapshot for the dashboard tests, written with `write_review_snapshot`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from models.reporting.review import (
    ABLATION_TABLE,
    ADS_CALIBRATION_SCHEMA,
    ADS_METRICS_SCHEMA,
    CALIBRATION_CURVES_SCHEMA,
    DATA_CHECKS_SCHEMA,
    DWELL_THRESHOLDS_SCHEMA,
    GATE_CHECKS_SCHEMA,
    GATE_VERDICTS_SCHEMA,
    JOBS_METRICS_SCHEMA,
    JOBS_TOPK_SCHEMA,
    LABEL_RATES_SCHEMA,
    MODEL_LINEAGE_SCHEMA,
    MODELS_SCHEMA,
    OFFLINE_METRICS_SCHEMA,
    PAIRED_DIFFERENCES_SCHEMA,
    PRODUCT_VERDICTS_SCHEMA,
    REPLAY_METRICS_SCHEMA,
    SEGMENT_METRICS_SCHEMA,
    TRAINING_CURVES_SCHEMA,
    write_review_snapshot,
)

DAY1, DAY2, DAY3 = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "dashboards" / "app.py"

# Latest day (DAY2): model replay rate 34.38% [29.91%, 39.13%]; mean AUC over heads 0.7350 vs
# baseline 0.6150. Pooled: replay sees no significant difference from production (+5.4 pp on the
# one day production was replayed) while the paired ground truth says the model LOSES to it
# (-0.0085 per session); the model beats popularity on both.
MODELS = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "cold", None, 3, 120_000, 0.412, 95.0),
        (DAY2, "feed-2024-03-02", "incremental", "feed-2024-03-01", 1, 41_000, 0.398, 31.0),
    ],
    columns=list(MODELS_SCHEMA),
)
OFFLINE = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "model", "click", 9000, 900, 0.7100, 0.3010, 1.0300),
        (DAY1, "feed-2024-03-01", "model", "like", 9000, 400, 0.7400, 0.1820, 0.9700),
        (DAY1, "feed-2024-03-01", "popularity_baseline", "click", 9000, 900, 0.6000, 0.3300, 1.0),
        (DAY1, "feed-2024-03-01", "popularity_baseline", "like", 9000, 400, 0.6100, 0.2000, 1.0),
        (DAY2, "feed-2024-03-02", "model", "click", 9100, 950, 0.7200, 0.2980, 1.0210),
        (DAY2, "feed-2024-03-02", "model", "like", 9100, 410, 0.7500, 0.1790, 0.9630),
        (DAY2, "feed-2024-03-02", "popularity_baseline", "click", 9100, 950, 0.6100, 0.3290, 1.0),
        (DAY2, "feed-2024-03-02", "popularity_baseline", "like", 9100, 410, 0.6200, 0.1990, 1.0),
    ],
    columns=list(OFFLINE_METRICS_SCHEMA),
)
REPLAY = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "model", 2000, 400, 128, 0.32, 0.2763, 0.3671, 0.318),
        (
            DAY1,
            "feed-2024-03-01",
            "popularity_baseline",
            2000,
            395,
            79,
            0.20,
            0.1638,
            0.2418,
            0.205,
        ),
        (DAY1, "feed-2024-03-01", "random", 2000, 402, 60, 0.1493, 0.1178, 0.1874, 0.150),
        (DAY2, "feed-2024-03-02", "model", 2100, 416, 143, 0.3438, 0.2991, 0.3913, 0.337),
        (
            DAY2,
            "feed-2024-03-02",
            "popularity_baseline",
            2100,
            420,
            84,
            0.20,
            0.1651,
            0.2402,
            0.202,
        ),
        (DAY2, "feed-2024-03-02", "production", 2100, 418, 121, 0.2895, 0.2477, 0.3351, 0.291),
        (DAY2, "feed-2024-03-02", "random", 2100, 421, 63, 0.1496, 0.1187, 0.1870, 0.151),
    ],
    columns=list(REPLAY_METRICS_SCHEMA),
)
PAIRED = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "production", 2000, -0.0090, 0.0016),
        (DAY1, "feed-2024-03-01", "popularity_baseline", 2000, 0.1130, 0.0040),
        (DAY1, "feed-2024-03-01", "random", 2000, 0.1680, 0.0060),
        (DAY2, "feed-2024-03-02", "production", 2100, -0.0080, 0.0015),
        (DAY2, "feed-2024-03-02", "popularity_baseline", 2100, 0.1350, 0.0050),
    ],
    columns=list(PAIRED_DIFFERENCES_SCHEMA),
)


def _segments() -> pd.DataFrame:
    """Per day, scorer, segment and head: AUC with interval and O/E. The model's click AUC on
    DAY2 is 0.7200 [0.7000, 0.7400] overall, and 0.6500 [0.6000, 0.7000] on new members."""
    values = {
        "all": ["all"],
        "content_type": ["article", "image"],
        "platform": ["android", "web"],
        "position": ["0", "1"],
        "member": ["known", "new"],
    }
    overall = OFFLINE.set_index(["date", "scorer", "head"])["auc"]
    rows = []
    for (day, scorer, head), auc in overall.items():
        model_id = f"feed-{day.isoformat()}"
        for segment, names in values.items():
            for index, value in enumerate(names):
                point, half = (auc, 0.02) if segment == "all" else (auc - 0.07 * index, 0.05)
                rows.append(
                    (day, model_id, scorer, segment, value, head, 9100 // (index + 1), 400)
                    + (410.0, point, point - half, point + half, 1.02 - 0.05 * index)
                )
    return pd.DataFrame(rows, columns=list(SEGMENT_METRICS_SCHEMA))


def _calibration() -> pd.DataFrame:
    rows = []
    for day, model_id in ((DAY1, "feed-2024-03-01"), (DAY2, "feed-2024-03-02")):
        for scorer in ("model", "popularity_baseline"):
            for head in ("click", "like"):
                for index, predicted in enumerate((0.02, 0.06, 0.11, 0.2, 0.35)):
                    observed = predicted * (1.1 if scorer == "model" else 0.8)
                    rows.append(
                        (day, model_id, scorer, head, index, 1820, predicted, observed)
                        + (observed * 0.8, observed * 1.2)
                    )
    return pd.DataFrame(rows, columns=list(CALIBRATION_CURVES_SCHEMA))


# Three candidates: DAY1 and DAY2 pass and are promoted; DAY3's fails the gate on log loss, so
# feed-2024-03-02 keeps serving.
LOG_LOSS_REASON = (
    "log_loss_vs_previous[all]: mean per-row log loss 1.2342 vs previous promoted 1.1968: "
    "difference +0.0374, one-sided 95% lower bound +0.0175"
)
GATE_VERDICTS = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", True, True, True, "feed-2024-03-01", None, "", "t1"),
        (DAY2, "feed-2024-03-02", True, True, True, "feed-2024-03-02", "feed-2024-03-01", "", "t2"),
        (
            DAY3,
            "feed-2024-03-03",
            True,
            False,
            False,
            "feed-2024-03-02",
            "feed-2024-03-02",
            LOG_LOSS_REASON,
            "t3",
        ),
    ],
    columns=list(GATE_VERDICTS_SCHEMA),
)
GATE_CHECKS = pd.DataFrame(
    [
        (day, model_id, "final_loss", "all", 0.4, "<= 10 x first", True, "final epoch loss 0.4")
        for day, model_id in zip(GATE_VERDICTS["date"], GATE_VERDICTS["model_id"], strict=True)
    ]
    + [
        (DAY3, "feed-2024-03-03", "auc_vs_popularity", "click", 0.71, ">= 0", True, "AUC ok"),
        (DAY3, "feed-2024-03-03", "ece", "vote", None, "", None, "not judged: 3 positives"),
        (
            DAY3,
            "feed-2024-03-03",
            "log_loss_vs_previous",
            "all",
            0.0374,
            "<= 0.0012",
            False,
            LOG_LOSS_REASON,
        ),
    ],
    columns=list(GATE_CHECKS_SCHEMA),
)
LINEAGE = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "cold", None, "2024-02-28, 2024-02-29, 2024-03-01", 120_000)
        + (2, "in-process", '{"interaction": "dcn_v2", "tower": "mlp"}', '{"epochs": 2}'),
        (DAY2, "feed-2024-03-02", "incremental", "feed-2024-03-01", "2024-03-02", 41_000)
        + (2, "in-process", '{"interaction": "dcn_v2", "tower": "mlp"}', '{"epochs": 2}'),
        (DAY3, "feed-2024-03-03", "incremental", "feed-2024-03-02", "2024-03-03", 40_500)
        + (2, "in-process", '{"interaction": "dcn_v2", "tower": "mlp"}', '{"epochs": 2}'),
    ],
    columns=list(MODEL_LINEAGE_SCHEMA),
)
TRAINING_CURVES = pd.DataFrame(
    [
        (day, model_id, epoch, loss)
        for day, model_id, losses in (
            (DAY1, "feed-2024-03-01", (0.52, 0.412)),
            (DAY2, "feed-2024-03-02", (0.41, 0.398)),
            (DAY3, "feed-2024-03-03", (0.43, 0.421)),
        )
        for epoch, loss in enumerate(losses, start=1)
    ],
    columns=list(TRAINING_CURVES_SCHEMA),
)
LABEL_RATES = pd.DataFrame(
    [
        (day, split, label, rows, round(rows * rate), round(rows * rate) / rows)
        for day, scale in ((DAY1, 1.0), (DAY2, 1.05), (DAY3, 1.1))
        for split, rows in (("holdout", int(1000 * scale)), ("train", int(9000 * scale)))
        for label, rate in (("click", 0.1), ("like", 0.045), ("long_dwell", 0.1))
    ],
    columns=list(LABEL_RATES_SCHEMA),
)
DATA_CHECKS = pd.DataFrame(
    [
        (DAY1, "training_examples_quality", True, "label rates within bounds"),
        (DAY2, "training_examples_quality", True, "label rates within bounds"),
        (DAY3, "training_examples_quality", False, "long_dwell rate 0.2400 outside (0.05, 0.2)"),
    ],
    columns=list(DATA_CHECKS_SCHEMA),
)
DWELL_THRESHOLDS = pd.DataFrame(
    [
        (
            day,
            bucket,
            content,
            platform,
            30.0 + 5 * bucket + shift + (8 if content == "article" else 0),
        )
        + (400, "cluster", 0.9, 33.0)
        for day, shift in ((DAY1, 0.0), (DAY2, 1.5), (DAY3, 2.5))
        for bucket in (0, 1)
        for content in ("article", "image")
        for platform in ("android", "web")
    ],
    columns=list(DWELL_THRESHOLDS_SCHEMA),
)
ABLATION = pd.DataFrame(
    {
        "run_id": ["r1", "r1", "r1"],
        "row": [0, 1, 2],
        "variant": ["dot", "+ residual DCN", "+ isotonic + gating"],
        "expected_contributions": [0.3718, 0.3704, 0.3671],
        "diff_vs_previous": [None, -0.0014, -0.0033],
        "diff_ci_low": [None, -0.0041, -0.0062],
        "diff_ci_high": [None, 0.0013, -0.0004],
        "replay_rate": [0.41, 0.40, 0.39],
        "mean_auc": [0.79, 0.80, 0.80],
    }
)
EXPLORE = pd.DataFrame(
    {
        "date": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"]).date,
        "model_id": ["feed-2024-03-01", "feed-2024-03-02", "feed-2024-03-02"],
        "carried_over": [False, True, True],
        "day_rows": [9000, 3100, 2900],
        "rows": [9000, 12100, 15000],
        "dim": [101, 101, 101],
        "noise_variance": [0.071, 0.069, 0.070],
        "mean_weight_std": [0.0312, 0.0271, 0.0244],
        "top_slot_changed": [0.42, 0.37, 0.33],
        "sessions": [310, 305, 298],
        "prior_scale": [1.0, 1.0, 1.0],
        "explore_share": [0.1, 0.1, 0.1],
    }
)
COMPRESSED = pd.DataFrame(
    {
        "date": pd.to_datetime(["2024-03-01", "2024-03-02"]).date,
        "model_id": ["feed-2024-03-01", "feed-2024-03-02"],
        "scheme": ["middle_max_8bit", "middle_max_8bit"],
        "fp32_bytes": [9_029_760, 9_029_760],
        "bytes": [2_558_432, 2_558_432],
        "ratio": [0.2833, 0.2833],
        "mean_abs_error": [9.45e-5, 9.5e-5],
    }
)


def _random_effects_lift() -> pd.DataFrame:
    """Two days of windowed random effects: per head, the day ("all") and its three windows,
    lifts that grow with the day (AUC lift 0.010 / 0.014 on the last day for click / like)."""
    rows = []
    for d, date in enumerate(pd.to_datetime(["2024-03-02", "2024-03-03"]).date):
        for h, head in enumerate(("click", "like")):
            for w, hours in enumerate(("all", "00-08", "08-16", "16-24")):
                lift = 0.006 + 0.004 * d + 0.004 * h + 0.001 * w
                metrics = {}
                for prefix, scale in (("", 1.0), ("young_", 2.0)):
                    auc_global = 0.70 + 0.01 * h
                    metrics |= {
                        f"{prefix}auc_global": auc_global,
                        f"{prefix}auc_effects": auc_global + scale * lift,
                        f"{prefix}auc_lift": scale * lift,
                        f"{prefix}auc_lift_ci_low": scale * lift - 0.004 * scale,
                        f"{prefix}auc_lift_ci_high": scale * lift + 0.004 * scale,
                        f"{prefix}log_loss_global": 0.30,
                        f"{prefix}log_loss_effects": 0.30 - scale * lift / 4,
                        f"{prefix}log_loss_lift": scale * lift / 4,
                        f"{prefix}log_loss_lift_ci_low": scale * lift / 4 - 0.001,
                        f"{prefix}log_loss_lift_ci_high": scale * lift / 4 + 0.001,
                    }
                window = hours != "all"
                rows.append(
                    {
                        "date": date,
                        "model_id": f"feed-2024-03-0{1 + d}",
                        "head": head,
                        "scored_hours": hours,
                        "fit_rows": 9000.0 if window else None,
                        "posts": 800.0 if window else None,
                        "authors": 120.0 if window else None,
                        "post_effect_sd": 0.21 if window else None,
                        "author_effect_sd": 0.12 if window else None,
                        "scored_rows": 3000.0 if window else 9000.0,
                        "young_rows": 900.0 if window else 2700.0,
                        **metrics,
                    }
                )
    return pd.DataFrame(rows)


RANDOM_EFFECTS_LIFT = _random_effects_lift()
NAN = float("nan")


def _ads_metrics() -> pd.DataFrame:
    """Two days of Ads metrics per head and scorer. Latest day (DAY2), `website_visit`: model AUC
    0.765 [0.750, 0.780], 8-bit 0.765 (−0.0004), production 0.773 [0.758, 0.788]; model log loss
    0.2100, ECE 0.0040, O/E 1.010; production ECE 0.0120, O/E 0.930."""
    rows = []
    for d, (day, model_id) in enumerate(((DAY1, "ads-2024-03-01"), (DAY2, "ads-2024-03-02"))):
        for h, head in enumerate(("website_visit", "visit_or_social", "any_engagement", "all")):
            model_auc = 0.760 + 0.005 * d + 0.01 * h
            for scorer, auc, log_loss, ece, ratio in (
                ("model", model_auc, 0.210 + 0.01 * h, 0.0040, 1.010),
                ("model_8bit", model_auc - 0.0004, 0.2101 + 0.01 * h, 0.0041, 1.011),
                ("production", model_auc + 0.008, 0.215 + 0.01 * h, 0.0120, 0.930),
            ):
                rows.append(
                    (day, model_id, scorer, head, 8000, 400 + 100 * h, auc, auc - 0.015)
                    + (auc + 0.015, log_loss - 0.002 * d, ece, ratio)
                )
    return pd.DataFrame(rows, columns=list(ADS_METRICS_SCHEMA))


def _ads_calibration() -> pd.DataFrame:
    """Five bins per day, scorer and chargeability head; the model slightly under-predicts
    (observed = 1.05 x predicted), production over-predicts (0.85 x)."""
    rows = []
    for day, model_id in ((DAY1, "ads-2024-03-01"), (DAY2, "ads-2024-03-02")):
        for scorer, factor in (("model", 1.05), ("model_8bit", 1.04), ("production", 0.85)):
            for head in ("website_visit", "visit_or_social", "any_engagement"):
                for index, predicted in enumerate((0.01, 0.03, 0.05, 0.08, 0.12)):
                    rows.append(
                        (day, model_id, scorer, head, index, predicted, predicted * factor, 1600)
                    )
    return pd.DataFrame(rows, columns=list(ADS_CALIBRATION_SCHEMA))


def _jobs_metrics() -> pd.DataFrame:
    """Two days of apply / click metrics. Latest day: apply AUC model 0.812 [0.800, 0.824] vs
    production 0.781 [0.768, 0.794]; production has no log loss, ECE or O/E."""
    rows = []
    for d, (day, model_id) in enumerate(((DAY1, "jobs-2024-03-01"), (DAY2, "jobs-2024-03-02"))):
        for head, model_auc, production_auc, positives in (
            ("apply", 0.802 + 0.01 * d, 0.781, 240),
            ("click", 0.736 + 0.005 * d, 0.735, 900),
        ):
            rows.append(
                (day, model_id, "model", head, 6000, positives, model_auc, model_auc - 0.012)
                + (model_auc + 0.012, 0.150, 0.0060, 0.980)
            )
            rows.append(
                (day, model_id, "production", head, 6000, positives, production_auc)
                + (production_auc - 0.013, production_auc + 0.013, NAN, NAN, NAN)
            )
    return pd.DataFrame(rows, columns=list(JOBS_METRICS_SCHEMA))


def _jobs_topk() -> pd.DataFrame:
    """Qualified-application rate of the top 1 / 5 / 10 per ranker. Latest day: model top 1
    9.00% [7.00%, 11.00%] vs production 8.00%, model − production +1.00 points [+0.20, +1.80];
    top 10 +0.30 [−0.10, +0.70] (no significant difference)."""
    rows = []
    for d, (day, model_id) in enumerate(((DAY1, "jobs-2024-03-01"), (DAY2, "jobs-2024-03-02"))):
        for k, model, production, delta, low, high in (
            (1, 0.090, 0.080, 0.010, 0.002, 0.018),
            (5, 0.085, 0.079, 0.006, 0.001, 0.011),
            (10, 0.080, 0.077, 0.003, -0.001, 0.007),
        ):
            shift = 0.002 * (d - 1)
            rows.append(
                (day, model_id, "model", k, 600, model + shift, model + shift - 0.02)
                + (model + shift + 0.02, delta + shift, low + shift, high + shift)
            )
            rows.append(
                (day, model_id, "production", k, 600, production, production - 0.02)
                + (production + 0.02, 0.0, 0.0, 0.0)
            )
    return pd.DataFrame(rows, columns=list(JOBS_TOPK_SCHEMA))


# Latest day: Ads LOSES to production on AUC and beats it on ECE; Jobs beats it on apply AUC and
# shows no significant difference in the top-10 qualified rate.
PRODUCT_VERDICTS = pd.DataFrame(
    [
        (DAY1, "ads-2024-03-01", "ads", "auc", 0.7600, 0.7680, -0.0080, -0.0110, -0.0050, "loses"),
        (DAY2, "ads-2024-03-02", "ads", "auc", 0.7650, 0.7730, -0.0080, -0.0110, -0.0050, "loses"),
        (DAY2, "ads-2024-03-02", "ads", "ece", 0.0040, 0.0120, -0.0080, -0.0100, -0.0060, "wins"),
        (DAY2, "jobs-2024-03-02", "jobs", "apply_auc", 0.812, 0.781, 0.031, 0.020, 0.042, "wins"),
        (DAY2, "jobs-2024-03-02", "jobs", "qualified_rate@10", 0.080, 0.077, 0.003, -0.001)
        + (0.007, "no significant difference"),
    ],
    columns=list(PRODUCT_VERDICTS_SCHEMA),
)
DETAILS = {
    "ads_metrics": _ads_metrics(),
    "ads_calibration": _ads_calibration(),
    "jobs_metrics": _jobs_metrics(),
    "jobs_topk": _jobs_topk(),
    "product_verdicts": PRODUCT_VERDICTS,
    "random_effects_lift": RANDOM_EFFECTS_LIFT,
    "explore_exploit": EXPLORE,
    "compressed_models": COMPRESSED,
    "segment_metrics": _segments(),
    "calibration_curves": _calibration(),
    "model_lineage": LINEAGE,
    "gate_verdicts": GATE_VERDICTS,
    "gate_checks": GATE_CHECKS,
    "training_curves": TRAINING_CURVES,
    "label_rates": LABEL_RATES,
    "data_checks": DATA_CHECKS,
    "dwell_thresholds": DWELL_THRESHOLDS,
    ABLATION_TABLE: ABLATION,
}


@pytest.fixture
def snapshot(tmp_path, monkeypatch) -> Path:
    """A fixture snapshot with every detail table (and an ablation ladder), and
    `LIRANK_REVIEW_SNAPSHOT` pointing at it."""
    path = write_review_snapshot(
        tmp_path / "review" / "review.duckdb", MODELS, OFFLINE, REPLAY, PAIRED, details=DETAILS
    )
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(path))
    return path


@pytest.fixture
def snapshot_without_truth(tmp_path, monkeypatch) -> Path:
    """The fixture snapshot as a run without a ground truth writes it (no paired differences), and
    with no detail tables (no gate records, segments, data health or ablation)."""
    path = write_review_snapshot(tmp_path / "review" / "review.duckdb", MODELS, OFFLINE, REPLAY)
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(path))
    return path
