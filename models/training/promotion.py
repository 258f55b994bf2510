"""A day's model from training to promotion: train the candidate, gate it, commit the verdict.

The filesystem is the truth. Each day's candidate lives in its own model directory
(`DataLayout.feed_model(D)`); it is *promoted* when its `gate.json` says so
(`models.registry.promoted_model_dir`). Whatever "uses the model of day X" (the next day's warm
start, the popularity random effects, the next-day evaluation) uses the model promoted as of X,
so a candidate that fails the gate stays on disk, visible with its reasons, while the last
promoted model keeps ranking and warm-starting.

`train_and_gate` writes in this order, the last step being the commit:

1. the model directory (`run_training`, atomic; a divergence raises and writes nothing);
2. the caller's record of it (`record`, e.g. the warehouse `models` row with `promoted`);
3. `gate.json` in the model directory (atomic), which promotes the model when it passed.

A failure before step 3 leaves the candidate unpromoted; re-running the day is safe (training
replaces the directory, and with it any earlier `gate.json`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.baselines import popularity_scores
from models.evaluation.gate import (
    ALL_HEADS,
    DEFAULT_GATE_CONFIG,
    GATE_METRIC_COLUMNS,
    GateConfig,
    GateVerdict,
    PickComparison,
    gate_model,
)
from models.evaluation.replay import replay_contribution_rate, top1_choices
from models.evaluation.scoring import model_probabilities, read_partition
from models.registry import (
    load_model,
    model_id_of,
    promoted_model_dir,
    read_gate_record,
    write_gate_record,
)
from models.training.config import TrainingPlan, TrainingResult
from models.training.job import run_training
from spark.schemas import LABELS

GATE_RECORD_VERSION = 1
HOLDOUT_SPLIT = "holdout"


@dataclasses.dataclass(frozen=True)
class Promotion:
    """What `train_and_gate` did.

    Args:
        result: the training run's result (the candidate is in `result.path`).
        verdict: the gate's verdict on the candidate.
        promoted: whether the candidate is now the promoted model (it passed the gate).
        compared_with: the previous promoted model it was judged against (None: cold start).
        gate_file: the committed `gate.json`.
    """

    result: TrainingResult
    verdict: GateVerdict
    promoted: bool
    compared_with: str | None
    gate_file: Path


def holdout_probabilities(model_dir: Path, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The global model's per-head probabilities on `rows` at their logged positions (no
    random effects: those are fit after the gate, for the promoted model)."""
    model, _ = load_model(model_dir)
    probabilities = model_probabilities(model, None, rows, rank_at_top=False)
    return {head: np.asarray(probabilities[head], dtype=np.float64) for head in LABELS}


def pick_comparison(
    model_dir: Path,
    compared_with: Path,
    candidates: pd.DataFrame,
    expected_top1: Callable[[pd.DataFrame], pd.Series] | None,
) -> PickComparison | None:
    """Both global models' #1 picks on the day's random-bucket candidates (scored at position 0
    by each model's final score), valued by the truth when known, else by replay @1."""
    if candidates.empty:
        return None
    scored = candidates[["session_id", "post_id", "position", "contribution"]].copy()
    for name, directory in (("candidate", model_dir), ("previous", compared_with)):
        model, _ = load_model(directory)
        scored[name] = model.config.final_score.score(
            model_probabilities(model, None, candidates, rank_at_top=True)
        )
    if expected_top1 is not None:
        new = expected_top1(top1_choices(scored, "candidate"))
        old = expected_top1(top1_choices(scored, "previous"))
        new, old = new.align(old, join="inner")
        return PickComparison(True, new.to_numpy(), old.to_numpy())
    rates = [replay_contribution_rate(scored, name) for name in ("candidate", "previous")]
    return PickComparison(
        False, *(np.array([r.matched, r.contributions]) for r in rates)
    )  # fmt: skip


def gate_candidate(
    model_dir: Path,
    examples_dir: Path,
    epoch_losses: tuple[float, ...],
    compared_with: Path | None,
    config: GateConfig = DEFAULT_GATE_CONFIG,
    replay_dir: Path | None = None,
    expected_top1: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> GateVerdict:
    """Gate the candidate in `model_dir` on the held-out rows of its day.

    Args:
        model_dir: the candidate's model directory.
        examples_dir: the day's `training_examples` partition (Parquet, with `split`): its
            `holdout` rows are judged (the candidate never trained on them); its `train` rows
            fit the popularity baseline.
        epoch_losses: the candidate's training loss per epoch.
        compared_with: the previous promoted model (None at a cold start).
        config: the gate's thresholds.
        replay_dir: the day's `replay_candidates` partition: both models' #1 picks on its
            random-bucket sessions are compared (rule 6); None or missing: not judged.
        expected_top1: the day's ground-truth valuer of #1 picks (a simulated world), else None
            (replay rates are compared instead).

    Returns:
        the `GateVerdict`; a day without holdout rows fails (the gate cannot judge it).
    """
    examples = read_partition(examples_dir)
    holdout = examples[examples["split"] == HOLDOUT_SPLIT].reset_index(drop=True)
    train = examples[examples["split"] == "train"]
    if holdout.empty or train.empty:
        return unjudged_verdict(len(holdout), len(train), examples_dir)
    labels = {head: holdout[head].to_numpy(dtype=np.float64) for head in LABELS}
    baseline = {
        head: popularity_scores(
            train["post_id"].to_numpy(), train[head].to_numpy(), holdout["post_id"].to_numpy()
        )
        for head in LABELS
    }
    candidate = holdout_probabilities(Path(model_dir), holdout)
    previous = holdout_probabilities(compared_with, holdout) if compared_with else None
    picks = None
    if compared_with and replay_dir is not None and Path(replay_dir).exists():
        picks = pick_comparison(
            Path(model_dir), Path(compared_with), read_partition(replay_dir), expected_top1
        )
    return gate_model(labels, candidate, baseline, epoch_losses, previous, config, picks)


def unjudged_verdict(holdout_rows: int, train_rows: int, examples_dir: Path) -> GateVerdict:
    """The failed verdict of a day the gate cannot judge: no holdout rows (nothing to judge on)
    or no train rows (nothing to fit the popularity baseline on)."""
    reason = (
        f"holdout[{ALL_HEADS}]: {holdout_rows} holdout and {train_rows} train rows in "
        f"{examples_dir}; the gate needs both (holdout to judge, train to fit the popularity "
        "baseline), so the model is not promoted"
    )
    metrics = pd.DataFrame(
        [["holdout", ALL_HEADS, float(holdout_rows), "> 0", False, reason]],
        columns=list(GATE_METRIC_COLUMNS),
    )
    return GateVerdict(passed=False, reasons=[reason], metrics=metrics)


def gate_record(
    result: TrainingResult,
    verdict: GateVerdict,
    compared_with: Path | None,
    config: GateConfig,
) -> dict:
    """The JSON of `gate.json`: the verdict, its reasons and metrics, whether the model is
    promoted, which model it warm-started from and which promoted model it was judged against."""
    metrics = verdict.metrics.astype(object).where(verdict.metrics.notna(), None)
    return {
        "format_version": GATE_RECORD_VERSION,
        "model_id": result.model_id,
        "passed": verdict.passed,
        "promoted": verdict.passed,
        "reasons": list(verdict.reasons),
        "metrics": metrics.to_dict("records"),
        "base_model": result.base_model_id,
        "compared_with": model_id_of(compared_with) if compared_with else None,
        "epoch_losses": [float(x) if np.isfinite(x) else None for x in result.epoch_losses],
        "config": config.to_dict(),
        "gated_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def models_row(result: TrainingResult, verdict: GateVerdict, date: dt.date) -> pd.DataFrame:
    """The warehouse `models` row of the candidate: its manifest row with `promoted` and
    `gate_reasons` ("" when it passed)."""
    return result.manifest_row(date).assign(
        promoted=bool(verdict.passed), gate_reasons="; ".join(verdict.reasons)
    )


def train_and_gate(
    plan: TrainingPlan,
    examples_dir: Path,
    *,
    compared_with: Path | None,
    config: GateConfig = DEFAULT_GATE_CONFIG,
    record: Callable[[TrainingResult, GateVerdict], None] | None = None,
    replay_dir: Path | None = None,
    expected_top1: Callable[[pd.DataFrame], pd.Series] | None = None,
    train: Callable[[TrainingPlan], TrainingResult] = run_training,
) -> Promotion:
    """Train `plan`'s candidate, gate it and commit the verdict (see the module docstring).

    Args:
        plan: the day's training plan (its `out_dir` is the candidate's model directory).
        examples_dir: the day's `training_examples` partition (holdout rows to judge).
        compared_with: the model promoted before this day (None: cold start).
        config: the gate's thresholds.
        record: called with (result, verdict) after the model directory is written and before
            `gate.json` commits (e.g. to write the warehouse row).
        replay_dir, expected_top1: see `gate_candidate` (rule 6 of the gate).
        train: trains and saves the plan's model (atomically) and returns its result:
            `run_training` in this process (tests, benchmarks), or a launcher that streams a
            child process's progress (the asset's Pipes launch, `launch.launch_training`).

    Returns:
        the `Promotion`.

    Raises:
        TrainingDivergedError: training diverged; nothing was written.
    """
    result = train(plan)
    verdict = gate_candidate(
        Path(result.path),
        examples_dir,
        result.epoch_losses,
        compared_with,
        config,
        replay_dir=replay_dir,
        expected_top1=expected_top1,
    )
    return commit_verdict(result, verdict, compared_with, config, record)


def commit_verdict(
    result: TrainingResult,
    verdict: GateVerdict,
    compared_with: Path | None,
    config: GateConfig,
    record: Callable[[TrainingResult, GateVerdict], None] | None = None,
) -> Promotion:
    """Steps 2 and 3 of the module docstring for a trained candidate: the caller's `record`,
    then `gate.json` (atomic), which promotes the model when `verdict` passed."""
    if record is not None:
        record(result, verdict)
    gate_file = write_gate_record(
        Path(result.path), gate_record(result, verdict, compared_with, config)
    )
    return Promotion(
        result=result,
        verdict=verdict,
        promoted=verdict.passed,
        compared_with=str(compared_with) if compared_with else None,
        gate_file=gate_file,
    )


def require_promoted_model(models_root: Path, date: dt.date) -> Path:
    """The model promoted as of `date` (`registry.promoted_model_dir`).

    Raises:
        FileNotFoundError: no model is promoted as of `date`; names the latest candidate that
            failed (with its reasons) or says that none was gated.
    """
    promoted = promoted_model_dir(models_root, date)
    if promoted is not None:
        return promoted
    root = Path(models_root)
    candidates = sorted(
        (p for p in root.glob("date=*") if p.is_dir() and _day_of(p) and _day_of(p) <= date),
        reverse=True,
    )
    if not candidates:
        detail = f"no model directory under {root} up to that day; materialize feed_ranking_model"
    else:
        latest = candidates[0]
        gate = read_gate_record(latest)
        if gate is None:
            detail = (
                f"the latest candidate {latest} has no gate.json (its training or gate did not "
                "finish); re-materialize feed_ranking_model for that day"
            )
        else:
            detail = (
                f"the latest candidate {latest} failed the gate: {'; '.join(gate['reasons'])}. "
                "Fix the cause (see its gate.json) and re-materialize feed_ranking_model"
            )
    raise FileNotFoundError(f"no feed model is promoted as of {date.isoformat()}: {detail}")


def _day_of(model_dir: Path) -> dt.date | None:
    try:
        return dt.date.fromisoformat(model_dir.name.removeprefix("date="))
    except ValueError:
        return None
