"""The Ads and Jobs models through the feed's training job (`models.training.product`) and the
product model gate (`models.training.product_promotion`), on real example frames of a small
simulated world (`lirank_assets.product_days.product_days`).

Covered: the `ProductPlan` JSON contract; cold then incremental runs in this process (manifest,
model id, Fisher anchors, the warm start from the previous weights, the previous config kept);
two Horovod ranks ending with identical weights; a diverging run writing nothing; the gate
promoting a healthy model, refusing a saturated one and an examples partition without holdout
rows; and `TrainingResource.product_plan` warm-starting from the promoted model.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lirank_assets.partitions import DailyCalendar
from lirank_assets.product_days import product_days
from lirank_assets.resources import TrainingResource
from lirank_assets.settings import WORLD_PRESETS
from models import registry
from models.ads import TINY_ADS_MODEL, AdsModelConfig
from models.jobs import JobsModelConfig
from models.training.config import TrainingConfig, TrainingPlan
from models.training.fisher import COLD_ANCHOR_FILE, FISHER_FILE
from models.training.job import run_training
from models.training.loop import TrainingDivergedError
from models.training.product import PRODUCTS, ProductPlan, plan_from_json, product_probabilities
from models.training.product_promotion import gate_product_candidate, train_and_gate_product
from spark.schemas import CHARGEABILITY_GROUPS
from spark.storage import DataLayout, write_parquet_table

HOROVODRUN = Path(sys.executable).parent / "horovodrun"
DAY1, DAY2, DAY3 = dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 1, 4)
# the tiny world with more members: ~2,000 impressed ad slots and ~3,500 impressed jobs a day
WORLD = dataclasses.replace(WORLD_PRESETS["tiny"], num_members=1500)
TINY_JOBS_MODEL = JobsModelConfig(
    embedding_dim=4, matrix_buckets=(200, 200, 400, 20, 8), projection_dim=2, head_units=(8,),
    qr_collisions=16,
)  # fmt: skip
QUICK = TrainingConfig(epochs=1, batch_size=128, learning_rate=0.01)


def _write(frame, path: Path) -> Path:
    write_parquet_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return path


def _tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under `root` by relative path (hidden staging files included)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(root).rglob("*"))
        if p.is_file()
    }


def _metadata(model_dir: Path) -> dict:
    return json.loads((Path(model_dir) / registry.MANIFEST_FILE).read_text())["metadata"]


def _trainable(model_dir: Path) -> list[np.ndarray]:
    model, _ = registry.load_model(Path(model_dir))
    return [np.asarray(v) for v in model.trainable_weights]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """Two simulated days' Ads and Jobs examples as Parquet partitions. The Ads days are split
    half and half by session (the world's ~10% holdout holds too few clicks per head for the
    gate to judge a head): the `split` column is the examples' own, only the share changes."""
    root = tmp_path_factory.mktemp("product-examples")
    days = product_days(WORLD, [1, 2])
    paths = {}
    for index, day in ((1, DAY1), (2, DAY2)):
        ads = days[index].ads.copy()
        ads["split"] = np.where(ads["session_id"] % 2 == 0, "holdout", "train")
        paths["ads", day] = _write(ads, root / "ads" / f"date={day}")
        paths["jobs", day] = _write(days[index].jobs, root / "jobs" / f"date={day}")
    return paths


@pytest.fixture(scope="module")
def ads_cold(examples, tmp_path_factory):
    """A cold-start tiny Ads model of day 1: (plan, result)."""
    out = tmp_path_factory.mktemp("ads-models") / "cold"
    plan = ProductPlan(
        product="ads", model_id="ads-cold", out_dir=out, examples=(examples["ads", DAY1],),
        model=TINY_ADS_MODEL.to_dict(), training=QUICK,
    )  # fmt: skip
    return plan, run_training(plan)


# --- 1. the plan's JSON contract -------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "model"), [("ads", TINY_ADS_MODEL.to_dict()), ("jobs", TINY_JOBS_MODEL.to_dict())]
)
def test_a_product_plan_round_trips_through_json(tmp_path, product, model):
    plan = ProductPlan(
        product=product, model_id=f"{product}-x", out_dir=tmp_path / "m",
        examples=(tmp_path / "d1", tmp_path / "d2"), previous_model=tmp_path / "prev",
        model=model, training=TrainingConfig(epochs=3, batch_size=64, fisher_alpha=0.25),
        split="all", horovod_hosts="localhost:2", dump_rank_weights=True,
    )  # fmt: skip
    text = plan.to_json()
    assert json.loads(text)["product"] == product
    back = plan_from_json(text)
    assert isinstance(back, ProductPlan) and back == plan
    assert back.examples == (str(tmp_path / "d1"), str(tmp_path / "d2"))
    assert back.training.fisher_alpha == 0.25 and back.incremental and back.rows_of_split is None
    assert (back.num_proc, back.engine) == (2, "horovod (2 ranks on localhost:2)")
    config = PRODUCTS[product].config_from_dict(back.model)
    assert config.to_dict() == model


def test_a_feed_plan_json_still_reads_as_the_feed_training_plan(tmp_path):
    feed = TrainingPlan(model_id="feed-x", out_dir=tmp_path / "m", examples=(tmp_path / "d",))
    back = plan_from_json(feed.to_json())
    assert type(back) is TrainingPlan and back == feed


@pytest.mark.parametrize(
    ("product", "model", "message"),
    [
        ("ads", {"embedding_dim": -1}, r"embedding_dim.*Received: embedding_dim=-1"),
        ("ads", {"towers": 2}, r"unknown AdsModelConfig fields \['towers'\]"),
        ("jobs", {"cross_layers": -2}, r"cross_layers.*Received: cross_layers=-2"),
        ("jobs", {"embedding": "bloom"}, r"embedding.*Received: embedding='bloom'"),
        ("video", {}, r"unknown product 'video'; known: \['ads', 'jobs'\]"),
    ],
)
def test_a_bad_model_config_or_unknown_product_fails_naming_it(tmp_path, product, model, message):
    with pytest.raises(ValueError, match=message):
        ProductPlan(product=product, model_id="x", out_dir=tmp_path, examples=("d",), model=model)
    # the same check guards a plan read back from JSON (what every Horovod rank does)
    good = ProductPlan(product="ads", model_id="x", out_dir=tmp_path, examples=("d",))
    values = {**json.loads(good.to_json()), "product": product, "model": model}
    with pytest.raises(ValueError, match=message):
        plan_from_json(json.dumps(values))


def test_a_plan_without_examples_fails():
    with pytest.raises(ValueError, match=r"needs examples. Received: examples=\(\)"):
        ProductPlan(product="jobs", model_id="x", out_dir="m", examples=())


def test_missing_examples_are_named_before_anything_trains(tmp_path):
    plan = ProductPlan(
        product="ads", model_id="ads-x", out_dir=tmp_path / "m", examples=(tmp_path / "none",)
    )
    with pytest.raises(FileNotFoundError, match=r"none.*materialize `ads_examples`"):
        run_training(plan)
    assert not (tmp_path / "m").exists()


# --- 2. cold then incremental, in this process -----------------------------------------------


def test_ads_cold_then_incremental_warm_starts_from_the_previous_weights(
    ads_cold, examples, tmp_path
):
    cold_plan, cold = ads_cold
    cold_dir = Path(cold_plan.out_dir)
    assert (cold_dir / registry.MODEL_FILE).is_file() and (cold_dir / FISHER_FILE).is_file()
    assert not (cold_dir / COLD_ANCHOR_FILE).exists()  # a cold start is its own cold anchor
    metadata = _metadata(cold_dir)
    assert metadata["product"] == "ads"
    assert metadata["training_result"]["model_id"] == "ads-cold"
    assert registry.model_id_of(cold_dir) == "ads-cold"  # not "feed-cold"
    assert metadata["incremental"]["cold_anchor"] == "self (cold start)"
    assert (cold.mode, cold.base_model_id, cold.ranks, cold.engine) == (
        "cold", None, 1, "in-process",
    )  # fmt: skip
    train_rows = int((pd.read_parquet(examples["ads", DAY1])["split"] == "train").sum())
    assert cold.train_rows == train_rows and cold.steps == -(-train_rows // 128)
    assert len(cold.epoch_losses) == 1 and np.isfinite(cold.epoch_losses[0])
    assert AdsModelConfig.from_dict(cold.model_config) == TINY_ADS_MODEL
    assert cold.model_config["heads"] == list(CHARGEABILITY_GROUPS)

    # day 2 from the cold model; a learning rate of 1e-7 keeps the weights where they started,
    # so they show the start: the previous model's trained weights, not a fresh initialization
    incremental_plan = dataclasses.replace(
        cold_plan, model_id="ads-inc", out_dir=str(tmp_path / "inc"),
        examples=(str(examples["ads", DAY2]),), previous_model=cold_plan.out_dir,
        model={**TINY_ADS_MODEL.to_dict(), "embedding_dim": 8},  # ignored: the previous config
        training=dataclasses.replace(QUICK, learning_rate=1e-7),
    )  # fmt: skip
    result = run_training(incremental_plan)
    inc_dir = tmp_path / "inc"
    assert (result.mode, result.base_model_id) == ("incremental", "ads-cold")
    assert registry.model_id_of(inc_dir) == "ads-inc"
    assert result.model_config == cold.model_config  # embedding_dim stays 4
    record = _metadata(inc_dir)["incremental"]
    assert record["method"] == "fisher"
    assert record["previous_anchor"]["model_id"] == "ads-cold"
    assert record["previous_anchor"]["path"] == str(cold_dir / FISHER_FILE)
    assert record["cold_anchor"]["model_id"] == "ads-cold"
    # the cycle's cold anchor is copied byte for byte; the model's own anchor is new
    assert (inc_dir / COLD_ANCHOR_FILE).read_bytes() == (cold_dir / FISHER_FILE).read_bytes()
    assert (
        record["fisher_file"]["sha256"]
        == hashlib.sha256((inc_dir / FISHER_FILE).read_bytes()).hexdigest()
    )

    previous, started = _trainable(cold_dir), _trainable(inc_dir)
    for a, b in zip(started, previous, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)
    keras.utils.set_random_seed(QUICK.seed)
    fresh = PRODUCTS["ads"].build(TINY_ADS_MODEL)  # what a cold start would begin from
    distance = max(
        float(np.abs(np.asarray(f) - p).max())
        for f, p in zip(fresh.trainable_weights, previous, strict=True)
    )
    assert distance > 1e-2


def test_jobs_cold_then_incremental_keeps_the_cold_config_and_trains_on(examples, tmp_path):
    cold_plan = ProductPlan(
        product="jobs", model_id="jobs-cold", out_dir=tmp_path / "cold",
        examples=(examples["jobs", DAY1],), model=TINY_JOBS_MODEL.to_dict(), training=QUICK,
    )  # fmt: skip
    cold = run_training(cold_plan)
    day1 = pd.read_parquet(examples["jobs", DAY1])
    # Jobs examples keep whole slates; the model learns from the impressed training rows only
    impressed_train = int((day1["impressed"] & (day1["split"] == "train")).sum())
    assert 0 < impressed_train < int((day1["split"] == "train").sum())
    assert cold.train_rows == impressed_train
    assert registry.model_id_of(tmp_path / "cold") == "jobs-cold"
    assert _metadata(tmp_path / "cold")["product"] == "jobs"
    assert JobsModelConfig.from_dict(cold.model_config) == TINY_JOBS_MODEL

    incremental_plan = dataclasses.replace(
        cold_plan, model_id="jobs-inc", out_dir=str(tmp_path / "inc"),
        examples=(str(examples["jobs", DAY2]),), previous_model=cold_plan.out_dir,
        model={},  # the default (large) config would not fit the previous weights: ignored
    )  # fmt: skip
    result = run_training(incremental_plan)
    assert (result.mode, result.base_model_id, result.train_days) == ("incremental", "jobs-cold", 1)
    assert result.model_config == cold.model_config
    metadata = _metadata(tmp_path / "inc")
    assert metadata["training_result"]["model_id"] == "jobs-inc"
    assert metadata["incremental"]["previous_anchor"]["model_id"] == "jobs-cold"
    assert (tmp_path / "inc" / COLD_ANCHOR_FILE).is_file()
    # it trained: the weights moved from the previous model's
    moved = [
        float(np.abs(a - b).max())
        for a, b in zip(_trainable(tmp_path / "inc"), _trainable(tmp_path / "cold"), strict=True)
    ]
    assert max(moved) > 1e-3
    # the saved model scores every head of the task set with probabilities in (0, 1)
    probs = product_probabilities(tmp_path / "inc", "jobs", day1.head(50))
    assert set(probs) == {"apply", "click"}
    assert all(((p > 0) & (p < 1)).all() and p.shape == (50,) for p in probs.values())


def test_a_fresh_process_loads_a_saved_ads_model_for_scoring(ads_cold, examples):
    """The gate and the next day's evaluation load the model in a process that never built one
    (`registry.load_model` registers only the feed's Keras classes)."""
    plan, _ = ads_cold
    rows = pd.read_parquet(examples["ads", DAY1]).head(64)
    here = product_probabilities(Path(plan.out_dir), "ads", rows)
    script = (
        "import sys, pandas as pd\n"
        "from models.training.product import product_probabilities\n"
        f"rows = pd.read_parquet({str(examples['ads', DAY1])!r}).head(64)\n"
        f"probs = product_probabilities({plan.out_dir!r}, 'ads', rows)\n"
        "print({h: float(p.sum()) for h, p in sorted(probs.items())})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=Path.cwd(), timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = eval(proc.stdout.strip().splitlines()[-1])  # noqa: S307 (our own dict literal)
    assert sorted(there) == sorted(CHARGEABILITY_GROUPS)
    for head, total in there.items():
        assert total == pytest.approx(float(here[head].sum()), rel=1e-6)


# --- 3. Horovod --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_gloo_ranks_train_the_ads_model_to_identical_weights(examples, tmp_path, monkeypatch):
    if not HOROVODRUN.exists():
        pytest.skip(f"{HOROVODRUN} not found: horovod is not built into this environment")
    out = tmp_path / "model"
    plan = ProductPlan(
        product="ads", model_id="ads-hvd", out_dir=out, examples=(examples["ads", DAY1],),
        model=TINY_ADS_MODEL.to_dict(), training=QUICK, horovod_hosts="localhost:2",
        dump_rank_weights=True,
    )  # fmt: skip
    monkeypatch.setenv("PATH", f"{HOROVODRUN.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = run_training(plan)

    def load(path: Path) -> list[np.ndarray]:
        with np.load(path) as archive:
            return [archive[f"arr_{i}"] for i in range(len(archive.files))]

    final = [load(out / f"rank-{r}-weights.npz") for r in range(2)]
    for a, b in zip(*final, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert (result.ranks, result.engine) == (2, "horovod (2 ranks on localhost:2)")
    assert (result.model_id, result.mode) == ("ads-hvd", "cold")
    # every rank takes floor(rows / 2) rows and steps ceil(that / 128) times
    assert result.steps == -(-(result.train_rows // 2) // 128)
    model, metadata = registry.load_model(out)
    assert metadata["product"] == "ads" and metadata["training_result"]["ranks"] == 2
    assert registry.model_id_of(out) == "ads-hvd"
    for a, b in zip(model.get_weights(), final[0], strict=True):
        np.testing.assert_array_equal(a, b)


# --- 4. divergence ---------------------------------------------------------------------------


def test_a_diverging_product_run_raises_and_writes_nothing(ads_cold, examples, tmp_path):
    cold_plan, _ = ads_cold
    previous = Path(cold_plan.out_dir)
    before = _tree_digest(previous.parent)
    exploding = dataclasses.replace(
        cold_plan, model_id="ads-boom", out_dir=str(tmp_path / "boom"),
        examples=(str(examples["ads", DAY2]),), previous_model=cold_plan.out_dir,
        training=TrainingConfig(
            epochs=2, batch_size=64, learning_rate=1e6, warmup_fraction=0.0, divergence_window=2
        ),
    )  # fmt: skip
    with pytest.raises(TrainingDivergedError) as raised:
        run_training(exploding)
    message = str(raised.value)
    assert "exceeds divergence_factor 10 × the reference loss" in message or "not finite" in message
    assert "Nothing was written" in message
    assert not (tmp_path / "boom").exists()
    assert not any(tmp_path.iterdir())  # no staging directory left either
    assert _tree_digest(previous.parent) == before  # the warm-start source keeps every byte


# --- 5. the gate -----------------------------------------------------------------------------


def _saturated_copy(model_dir: Path, out: Path, shift: float = 9.0) -> Path:
    """`model_dir`'s model with every head's isotonic bias raised by `shift`: the same ranking
    (AUC unchanged), probabilities pushed towards 1 (a broken calibration)."""
    model, metadata = registry.load_model(model_dir)
    shifted = 0
    for variable in model.weights:
        if variable.path.endswith("_isotonic/bias"):
            variable.assign(np.asarray(variable) + shift)
            shifted += 1
    assert shifted == len(CHARGEABILITY_GROUPS)
    return registry.save_model(model, out, metadata)


def test_the_gate_promotes_a_healthy_ads_model_and_refuses_broken_ones(examples, tmp_path):
    layout = DataLayout(tmp_path / "data")
    for day in (DAY1, DAY2):
        shutil.copytree(examples["ads", day], layout.product_examples("ads", day))
    calendar = DailyCalendar(DAY1, DAY3 + dt.timedelta(days=1), cold_start_days=2)
    resource = TrainingResource(
        examples_format="parquet", product_batch_size=128, product_cold_start_epochs=10,
        learning_rate=0.01, embedding_learning_rate=0.05,
    )  # fmt: skip
    plan = resource.product_plan(
        layout, calendar, DAY2, product="ads", model=TINY_ADS_MODEL.to_dict(), model_id="ads-d2"
    )
    # no model promoted yet: a cold start on the cold-start window (days 1 and 2)
    assert plan.previous_model is None and plan.training.epochs == 10
    # the product recipe: the feed's loop settings at the product batch size
    assert (plan.training.batch_size, plan.training.warmup_reference_batch) == (128, 128)
    assert plan.training.embedding_optimizer == resource.embedding_optimizer
    assert plan.examples == tuple(str(layout.product_examples("ads", d)) for d in (DAY1, DAY2))
    recorded = []
    promotion = train_and_gate_product(
        plan, layout.product_examples("ads", DAY2), compared_with=None,
        record=lambda result, verdict: recorded.append((result.model_id, verdict.passed)),
    )  # fmt: skip
    good_dir = layout.product_model("ads", DAY2)
    assert promotion.promoted, promotion.verdict.reasons
    assert recorded == [("ads-d2", True)]
    gate = registry.read_gate_record(good_dir)
    assert (gate["promoted"], gate["model_id"], gate["reasons"]) == (True, "ads-d2", [])
    auc_rows = [m for m in gate["metrics"] if m["check"] == "auc_vs_popularity"]
    assert sorted(m["head"] for m in auc_rows) == sorted(CHARGEABILITY_GROUPS)
    assert all(m["passed"] is True and 0.5 < m["value"] < 1 for m in auc_rows)
    # every per-head rule was judged (enough held-out clicks), none skipped
    judged = [m for m in gate["metrics"] if m["head"] in CHARGEABILITY_GROUPS]
    assert len(judged) == 3 * len(CHARGEABILITY_GROUPS)
    assert all(m["passed"] is True for m in judged)
    root = good_dir.parent
    assert registry.promoted_model_dir(root, DAY2) == good_dir

    # the next day warm-starts from the promoted model, on its own day only
    warm = resource.product_plan(
        layout, calendar, DAY3, product="ads", model=TINY_ADS_MODEL.to_dict(), model_id="ads-d3"
    )
    assert warm.previous_model == str(good_dir)
    assert warm.examples == (str(layout.product_examples("ads", DAY3)),)
    assert warm.training.epochs == resource.incremental_epochs

    # a saturated model (probabilities near 1, the same ranking) fails the calibration rules
    bad_dir = _saturated_copy(good_dir, tmp_path / "bad")
    verdict = gate_product_candidate(
        "ads", bad_dir, layout.product_examples("ads", DAY2), promotion.result.epoch_losses, None
    )
    assert not verdict.passed
    for head in CHARGEABILITY_GROUPS:
        assert any(r.startswith(f"calibration[{head}]: observed/expected") for r in verdict.reasons)
        assert any(r.startswith(f"ece[{head}]") for r in verdict.reasons)
        assert not any(r.startswith(f"auc_vs_popularity[{head}]") for r in verdict.reasons)

    # through train_and_gate_product (its training replaced by the saturated model): gate.json
    # says not promoted, and day 2's model stays the promoted one as of day 3
    day3_dir = layout.product_model("ads", DAY3)
    shutil.copytree(bad_dir, day3_dir)
    failed = train_and_gate_product(
        warm, layout.product_examples("ads", DAY2), compared_with=good_dir,
        train=lambda _plan: dataclasses.replace(
            promotion.result, model_id="ads-d3", path=str(day3_dir), mode="incremental",
            base_model_id="ads-d2",
        ),
    )  # fmt: skip
    assert not failed.promoted and failed.compared_with == str(good_dir)
    record = registry.read_gate_record(day3_dir)
    assert (record["promoted"], record["compared_with"], record["base_model"]) == (
        False, "ads-d2", "ads-d2",
    )  # fmt: skip
    assert any(r.startswith("log_loss_vs_previous[all]") for r in record["reasons"])
    assert registry.promoted_model_dir(root, DAY3) == good_dir

    # an examples partition without holdout rows: nothing to judge on, not promoted
    no_holdout = pd.read_parquet(layout.product_examples("ads", DAY2)).assign(split="train")
    empty = _write(no_holdout, tmp_path / "no-holdout")
    verdict = gate_product_candidate("ads", good_dir, empty, promotion.result.epoch_losses, None)
    assert not verdict.passed and len(verdict.reasons) == 1
    assert f"0 holdout and {len(no_holdout)} train rows" in verdict.reasons[0]
    assert "the gate needs both" in verdict.reasons[0] and "not promoted" in verdict.reasons[0]
    assert verdict.metrics["passed"].tolist() == [False]
