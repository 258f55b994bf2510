"""No bad model replaces a good one (issue 11, item 4): the model gate judges each day's candidate
on its day's held-out rows; only a candidate that passes is promoted (its `gate.json` says so),
and everything that uses "the model of day X" uses the model promoted as of X. A failed
candidate stays on disk with its reasons; the last promoted model keeps serving and warm-starting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from lirank_assets.gate_checks import gate_check_result
from lirank_assets.partitions import DailyCalendar
from lirank_assets.resources import TrainingResource
from models.evaluation.baselines import popularity_scores
from models.evaluation.gate import (
    GateConfig,
    PickComparison,
    ece_noise,
    expected_calibration_error,
    gate_model,
    paired_auc_difference,
)
from models.evaluation.metrics import auc
from models.feed import TINY_FEED_MODEL
from models.registry import (
    GATE_FILE,
    MANIFEST_FILE,
    promoted_model_dir,
    read_gate_record,
    write_gate_record,
)
from models.training.loop import TrainingDivergedError
from models.training.promotion import require_promoted_model, train_and_gate
from spark.schemas import LABELS
from spark.storage import DataLayout
from tests.models.conftest import synthetic_examples

GOOD_LOSSES = (3.7, 2.6, 2.0)
INTERCEPTS = {"click": -0.5, "like": -1.0, "comment": -2.0, "share": -2.2, "vote": -1.8}
INTERCEPTS["long_dwell"] = -1.5


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def holdout():
    """6,000 held-out rows whose labels follow P(y_h) = σ(a_h + 1.5·x + z): the true
    probabilities are a good model; popularity (per post, posts binned by z) a weaker bar."""
    rng = np.random.default_rng(7)
    n = 6000
    x, z = rng.normal(size=n), rng.normal(size=n)
    post = np.digitize(z, np.quantile(z, np.linspace(0, 1, 21)[1:-1]))
    truth = {h: _sigmoid(a + 1.5 * x + z) for h, a in INTERCEPTS.items()}
    labels = {h: (rng.random(n) < p).astype(np.float64) for h, p in truth.items()}
    train = np.arange(n) % 2 == 0  # the baseline is fit on other rows of the same posts
    baseline = {
        h: popularity_scores(post[train], labels[h][train], post) for h in LABELS
    }  # fmt: skip
    return labels, truth, baseline


def _failed_checks(verdict) -> set[tuple[str, str]]:
    failed = verdict.metrics[verdict.metrics["passed"].eq(False)]
    return set(zip(failed["check"], failed["head"], strict=True))


def test_a_good_model_passes_every_rule(holdout):
    labels, truth, baseline = holdout
    verdict = gate_model(labels, truth, baseline, GOOD_LOSSES, previous=truth)
    assert verdict.passed and verdict.reasons == []
    judged = verdict.metrics.set_index(["check", "head"])
    for head in LABELS:
        assert judged.loc[("auc_vs_popularity", head), "value"] > auc(labels[head], baseline[head])
        assert 0.8 < judged.loc[("calibration", head), "value"] < 1.25
    assert judged.loc[("log_loss_vs_previous", "all"), "value"] == 0.0  # same predictions


def test_constant_predictions_fail_on_auc_for_every_head_with_named_reasons(holdout):
    labels, _, baseline = holdout
    constant = {h: np.full(len(y), y.mean()) for h, y in labels.items()}
    verdict = gate_model(labels, constant, baseline, GOOD_LOSSES)
    assert not verdict.passed
    assert _failed_checks(verdict) == {("auc_vs_popularity", h) for h in LABELS}
    reason = next(r for r in verdict.reasons if r.startswith("auc_vs_popularity[click]"))
    assert "model AUC 0.5000 vs popularity baseline 0.6" in reason
    assert "not significantly below the baseline" in reason


def test_shuffled_predictions_fail_on_auc_and_against_the_previous_model(holdout):
    labels, truth, baseline = holdout
    order = np.random.default_rng(3).permutation(len(labels["click"]))
    shuffled = {h: p[order] for h, p in truth.items()}
    verdict = gate_model(labels, shuffled, baseline, GOOD_LOSSES, previous=truth)
    failed = _failed_checks(verdict)
    assert {("auc_vs_popularity", h) for h in LABELS} <= failed
    assert ("log_loss_vs_previous", "all") in failed
    reason = next(r for r in verdict.reasons if r.startswith("log_loss_vs_previous[all]"))
    assert "vs previous promoted" in reason and "lower bound" in reason


def test_an_exploded_model_fails_on_loss_calibration_and_log_loss(holdout):
    """What a finite explosion leaves: saturated probabilities (logits ~1e11)."""
    labels, truth, baseline = holdout
    saturated = {h: (p > 0.5).astype(np.float64) * 0.0 + (p > 0.9) for h, p in truth.items()}
    verdict = gate_model(labels, saturated, baseline, (4.0, 1.8e15), previous=truth)
    failed = _failed_checks(verdict)
    assert ("final_loss", "all") in failed
    assert ("calibration", "click") in failed and ("ece", "click") in failed
    assert ("log_loss_vs_previous", "all") in failed
    assert any("final epoch loss 1.8e+15 vs first epoch 4" in r for r in verdict.reasons)


def test_a_nan_loss_or_nan_predictions_fail(holdout):
    labels, truth, baseline = holdout
    assert ("final_loss", "all") in _failed_checks(
        gate_model(labels, truth, baseline, (4.0, float("nan")))
    )
    broken = {**truth, "like": np.full(len(truth["like"]), np.nan)}
    verdict = gate_model(labels, broken, baseline, GOOD_LOSSES, previous=truth)
    assert ("finite_predictions", "like") in _failed_checks(verdict)
    assert ("log_loss_vs_previous", "all") in _failed_checks(verdict)


def test_worse_picks_than_the_previous_model_fail_on_the_truth_and_on_replay(holdout):
    """Rule 6: the candidate's #1 picks on the random bucket against the previous model's."""
    labels, truth, baseline = holdout
    rng = np.random.default_rng(3)
    previous_value = rng.uniform(0.2, 0.5, size=2000)  # each session's value of the old pick
    equal = PickComparison(True, previous_value + rng.normal(0, 0.01, 2000), previous_value)
    worse = PickComparison(True, previous_value - 0.03, previous_value)
    ok = gate_model(labels, truth, baseline, GOOD_LOSSES, truth, picks=equal)
    assert ok.passed, ok.reasons
    bad = gate_model(labels, truth, baseline, GOOD_LOSSES, truth, picks=worse)
    assert _failed_checks(bad) == {("truth_vs_previous", "all")}
    assert "ground-truth expected contributions of the #1 pick" in bad.reasons[0]
    assert "paired over 2000 sessions" in bad.reasons[0]
    # without the truth: replay rates, Newcombe's interval
    close = PickComparison(False, np.array([200, 80]), np.array([210, 86]))
    far = PickComparison(False, np.array([2000, 500]), np.array([2000, 800]))
    assert gate_model(labels, truth, baseline, GOOD_LOSSES, truth, picks=close).passed
    replay = gate_model(labels, truth, baseline, GOOD_LOSSES, truth, picks=far)
    assert _failed_checks(replay) == {("replay_vs_previous", "all")}
    assert "500/2000 vs previous promoted 800/2000" in replay.reasons[0]
    # cold start: not judged, listed
    cold = gate_model(labels, truth, baseline, GOOD_LOSSES).metrics.set_index("check")
    assert cold.loc["picks_vs_previous", "passed"] is None


def test_heads_with_too_few_positives_are_listed_but_not_judged(holdout):
    labels, _, baseline = holdout
    rows = slice(0, 150)  # share: ~15 positives
    small = {h: y[rows] for h, y in labels.items()}
    constant = {h: np.full(150, 0.1) for h in LABELS}
    verdict = gate_model(
        small, constant, {h: b[rows] for h, b in baseline.items()}, GOOD_LOSSES,
        config=GateConfig(min_class_rows=40),
    )  # fmt: skip
    share = verdict.metrics[verdict.metrics["head"] == "share"]
    assert share["passed"].isna().all()
    assert share["detail"].str.contains("not judged: .* positives").all()
    assert not [r for r in verdict.reasons if "[share]" in r]


def test_delong_standard_error_matches_a_bootstrap(holdout):
    labels, truth, baseline = holdout
    y, a, b = labels["like"], truth["like"], baseline["like"]
    difference, error = paired_auc_difference(y, a, b)
    assert difference == pytest.approx(auc(y, a) - auc(y, b), abs=1e-12)
    rng = np.random.default_rng(0)
    boot = []
    for _ in range(300):
        i = rng.integers(0, len(y), len(y))
        boot.append(auc(y[i], a[i]) - auc(y[i], b[i]))
    assert error == pytest.approx(np.std(boot), rel=0.2)
    assert paired_auc_difference(y, a, a) == (0.0, 0.0)


def test_debiased_ece_is_near_zero_for_a_calibrated_model_and_large_for_a_skewed_one(holdout):
    labels, truth, _ = holdout
    y, p = labels["vote"], truth["vote"]
    calibrated = expected_calibration_error(y, p) - ece_noise(p)
    over = np.clip(p * 2.5, 0, 1)
    skewed = expected_calibration_error(y, over) - ece_noise(over)
    assert abs(calibrated) < 0.015 and skewed > 0.1


# ---- promotion on disk ------------------------------------------------------------------------


def _fake_model(root: Path, day: str, promoted: bool | None, reasons=()) -> Path:
    directory = root / f"date={day}"
    directory.mkdir(parents=True)
    (directory / MANIFEST_FILE).write_text("{}")
    if promoted is not None:
        record = {"model_id": f"feed-{day}", "promoted": promoted, "reasons": list(reasons)}
        write_gate_record(directory, record)
    return directory


def test_promoted_model_dir_skips_failed_and_ungated_candidates(tmp_path):
    root = tmp_path / "feed_ranking_model"
    first = _fake_model(root, "2026-01-01", True)
    second = _fake_model(root, "2026-01-02", True)
    _fake_model(root, "2026-01-03", False, ["auc_vs_popularity[click]: model AUC 0.5000"])
    _fake_model(root, "2026-01-04", None)  # training finished, the gate never committed
    staging = _fake_model(tmp_path, "2026-01-05", True)  # a staging folder is never a model
    staging.rename(root / ".date=2026-01-05.tmp-x")
    day = dt.date.fromisoformat
    assert promoted_model_dir(root, day("2026-01-05")) == second
    assert promoted_model_dir(root, day("2026-01-03")) == second
    assert promoted_model_dir(root, day("2026-01-01")) == first
    assert promoted_model_dir(root, day("2025-12-31")) is None
    assert promoted_model_dir(tmp_path / "absent", day("2026-01-05")) is None
    with pytest.raises(FileNotFoundError, match=r"as of 2025-12-31: no model directory"):
        require_promoted_model(root, day("2025-12-31"))


def test_require_promoted_model_names_the_failed_candidate_and_its_reasons(tmp_path):
    root = tmp_path / "feed_ranking_model"
    _fake_model(root, "2026-01-02", False, ["final_loss[all]: final epoch loss 1.8e+15"])
    with pytest.raises(FileNotFoundError) as raised:
        require_promoted_model(root, dt.date(2026, 1, 3))
    message = str(raised.value)
    assert "date=2026-01-02 failed the gate: final_loss[all]: final epoch loss 1.8e+15" in message
    assert "re-materialize feed_ranking_model" in message


def test_gate_record_writes_are_atomic_and_refuse_bad_records(tmp_path):
    directory = _fake_model(tmp_path, "2026-01-01", True)
    before = (directory / GATE_FILE).read_bytes()
    with pytest.raises(ValueError, match="without NaN"):
        write_gate_record(directory, {"promoted": True, "value": float("nan")})
    assert (directory / GATE_FILE).read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == [GATE_FILE, MANIFEST_FILE]
    with pytest.raises(FileNotFoundError, match="holds no saved model"):
        write_gate_record(tmp_path / "empty", {"promoted": True})
    (directory / GATE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON.*re-materialize"):
        read_gate_record(directory)


def test_the_model_gate_check_reports_the_verdict_and_reasons(tmp_path):
    passed = gate_check_result(_fake_model(tmp_path, "2026-01-01", True))
    failed = gate_check_result(
        _fake_model(tmp_path, "2026-01-02", False, ["calibration[like]: observed/expected 0.1"])
    )
    missing = gate_check_result(_fake_model(tmp_path, "2026-01-03", None))
    assert passed.passed and "is promoted" in passed.description
    assert not failed.passed and "NOT promoted" in failed.description
    assert "calibration[like]: observed/expected 0.1" in failed.description
    assert failed.severity.value == "ERROR"
    assert not missing.passed and "no gate.json" in missing.description


# ---- end to end: train, gate, promote, warm-start ------------------------------------------


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_a_broken_day_is_never_promoted_and_the_next_day_warm_starts_from_the_last_good_one(
    tmp_path,
):
    """Day 1 cold-starts and is promoted. Day 2 with a learning rate whose loss explodes (finite)
    stops in the guard and writes nothing. With the guard relaxed the same run trains a model
    that the gate rejects: it stays on disk with its reasons, day 1 stays promoted, and day 3
    warm-starts from day 1 and is gated against it."""
    layout = DataLayout(tmp_path.resolve())
    days = [dt.date(2026, 1, 1) + dt.timedelta(days=i) for i in range(3)]
    for index, day in enumerate(days):
        folder = layout.training_examples(day)
        folder.mkdir(parents=True)
        synthetic_examples(3000, seed=31 + index).to_parquet(folder / "part-0.parquet")
    calendar = DailyCalendar(days[0], days[-1] + dt.timedelta(days=1), 1)
    resource = TrainingResource(
        examples_format="parquet", cold_start_epochs=3, incremental_epochs=1, batch_size=128
    )
    root = layout.feed_model(days[0]).parent
    # the synthetic comment/share/vote/long_dwell heads are pure noise, on which model and
    # popularity both sit at AUC 0.5 ± noise: the paired rule judges them beyond noise only

    def plan(day, **training):
        base = resource.plan(layout, calendar, day, model=TINY_FEED_MODEL, model_id=f"feed-{day}")
        return dataclasses.replace(
            base, export_saved_model=False,
            training=dataclasses.replace(base.training, **training),
        )  # fmt: skip

    recorded = []

    def record(result, verdict):  # the warehouse row's moment: model written, gate not yet
        assert (Path(result.path) / MANIFEST_FILE).is_file()
        assert not (Path(result.path) / GATE_FILE).exists()
        recorded.append((result.model_id, verdict.passed))

    first = train_and_gate(plan(days[0]), layout.training_examples(days[0]), compared_with=None,
                           record=record)  # fmt: skip
    assert first.promoted, first.verdict.reasons
    assert first.result.mode == "cold" and recorded == [("feed-2026-01-01", True)]
    assert promoted_model_dir(root, days[1]) == layout.feed_model(days[0])

    before = _digest(tmp_path)
    exploding = plan(days[1], learning_rate=100.0, warmup_fraction=0.0)
    assert exploding.previous_model == str(layout.feed_model(days[0]))
    with pytest.raises(TrainingDivergedError, match="exceeds divergence_factor 10"):
        train_and_gate(exploding, layout.training_examples(days[1]),
                       compared_with=layout.feed_model(days[0]), record=record)  # fmt: skip
    assert _digest(tmp_path) == before and len(recorded) == 1

    unguarded = dataclasses.replace(
        exploding, training=dataclasses.replace(exploding.training, divergence_factor=1e30)
    )
    bad = train_and_gate(unguarded, layout.training_examples(days[1]),
                         compared_with=layout.feed_model(days[0]), record=record)  # fmt: skip
    assert not bad.promoted and recorded[-1] == ("feed-2026-01-02", False)
    gate = json.loads((layout.feed_model(days[1]) / GATE_FILE).read_text())
    assert gate["promoted"] is False and gate["base_model"] == "feed-2026-01-01"
    assert gate["compared_with"] == "feed-2026-01-01"
    assert any(r.startswith("log_loss_vs_previous[all]") for r in gate["reasons"])
    # a calibration rule of the click head fires: observed/expected or the ECE, whichever the
    # blown-up model's probabilities break first
    calibration = ("calibration[click]", "ece[click]")
    assert any(r.startswith(calibration) for r in gate["reasons"]), gate["reasons"]
    assert (layout.feed_model(days[1]) / MANIFEST_FILE).is_file()  # stays visible on disk
    assert promoted_model_dir(root, days[1]) == layout.feed_model(days[0])
    assert not gate_check_result(layout.feed_model(days[1])).passed

    third = plan(days[2])
    assert third.previous_model == str(layout.feed_model(days[0]))
    assert third.examples == (str(layout.training_examples(days[2])),)
    good = train_and_gate(third, layout.training_examples(days[2]),
                          compared_with=promoted_model_dir(root, days[1]))  # fmt: skip
    assert good.result.base_model_id == "feed-2026-01-01"
    assert good.compared_with == str(layout.feed_model(days[0]))
    assert good.promoted, good.verdict.reasons
    assert promoted_model_dir(root, days[2]) == layout.feed_model(days[2])


def test_a_failure_before_the_gate_commits_leaves_the_candidate_unpromoted(tmp_path):
    layout = DataLayout(tmp_path.resolve())
    day = dt.date(2026, 1, 1)
    folder = layout.training_examples(day)
    folder.mkdir(parents=True)
    synthetic_examples(1500, seed=41).to_parquet(folder / "part-0.parquet")
    calendar = DailyCalendar(day, day + dt.timedelta(days=1), 1)
    plan = TrainingResource(examples_format="parquet", cold_start_epochs=1).plan(
        layout, calendar, day, model=TINY_FEED_MODEL, model_id="feed-2026-01-01"
    )
    plan = dataclasses.replace(plan, export_saved_model=False)

    def warehouse_locked(result, verdict):
        raise OSError("warehouse is locked by another process")

    with pytest.raises(OSError, match="locked"):
        train_and_gate(plan, folder, compared_with=None, record=warehouse_locked)
    assert (layout.feed_model(day) / MANIFEST_FILE).is_file()
    assert read_gate_record(layout.feed_model(day)) is None
    assert promoted_model_dir(layout.feed_model(day).parent, day) is None
