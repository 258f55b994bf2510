"""The model gate: blocking checks a day's candidate model must pass before it is promoted.

Promoted means: it ranks the next day's traffic, warm-starts the next day's training and shows as
current in the review (`models.training.promotion`). A candidate that fails stays on disk with
its reasons; the last promoted model keeps serving. The gate is pure: it judges the candidate's
predicted probabilities on the day's held-out rows (`split == "holdout"`, which it never trained
on) and its training losses, against

* the popularity baseline fit on the day's training rows (`baselines.popularity_scores`), the
  bar any personalised ranker must clear (paper §15), and
* the previous promoted model's probabilities on the same rows (None at a cold start).

Rules (thresholds in `GateConfig`), each a named check in the verdict's metrics table:

1. `final_loss`: the final epoch's training loss is finite and ≤ `loss_factor` × the first
   epoch's (a second line behind the training loop's divergence guard, which may be relaxed).
2. `auc_vs_popularity` (per head): AUC ≥ the popularity baseline's AUC − `auc_tolerance`,
   unless the shortfall is within noise: the rule fails only when the upper one-sided
   `confidence` bound of AUC_model − AUC_baseline (DeLong's paired variance: both scorers rank
   the same rows) is below −`auc_tolerance`. A head on which both scorers sit near 0.5 (little
   signal) would otherwise fail on a coin flip; a broken model (AUC 0.5 against a baseline's
   0.6 on hundreds of rows) fails decisively.
3. `calibration` (per head): observed / expected (Σy / Σp) within `calibration_range`.
4. `ece` (per head): the debiased expected calibration error ≤ `max_ece`: the binned ECE minus
   the ECE a perfectly calibrated model would show from sampling noise alone on the same bins
   (Σ_b (n_b / n) · √(2/π) · √(p̄_b(1 − p̄_b) / n_b)), so that a small day is not judged on noise.
5. `log_loss_vs_previous`: the multi-task log loss per row (Σ over heads, the training
   objective) is not significantly worse than the previous promoted model's on the same rows:
   with d_i = LL_candidate,i − LL_previous,i, the one-sided `confidence` lower bound of mean(d)
   must not exceed `log_loss_margin` × mean(LL_previous).
6. `truth_vs_previous` or `replay_vs_previous`: what the candidate's #1 picks earn on the day's
   random-bucket sessions (which no model trained on) is not significantly below what the
   previous promoted model's picks earn (`PickComparison`). With the ground truth (a simulated
   world), per session d_s = value(candidate's pick) − value(previous's pick) and the one-sided
   `confidence` upper bound of mean(d) must be ≥ −`pick_margin` × mean(previous); without it,
   the replay rates' difference with Newcombe's interval (at two-sided 2·confidence − 1), whose
   upper end must be ≥ −`pick_margin` × the previous rate.

Per-head rules 2–4 judge a head only when the held-out rows hold at least `min_class_rows`
positives and as many negatives: below that, AUC's standard error exceeds about 0.05 and O/E's
relative error about 20%, so the rule would judge noise (the head is listed as not judged).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from models.evaluation.intervals import (
    paired_difference_stats,
    pooled_paired_interval,
    rate_difference_interval,
)
from models.evaluation.metrics import auc, calibration_ratio

GATE_METRIC_COLUMNS: tuple[str, ...] = ("check", "head", "value", "bound", "passed", "detail")
"""The verdict's metrics table: one row per check (and head); `passed` is None when not judged."""

ALL_HEADS = "all"
EPS = 1e-7  # probabilities clipped to [EPS, 1 - EPS] in log losses, as `metrics.log_loss`


@dataclasses.dataclass(frozen=True)
class GateConfig:
    """The gate's thresholds.

    Args:
        loss_factor: the final epoch's loss may be at most this many times the first epoch's
            (10: the training loop's `divergence_factor`; a healthy run's loss falls).
        auc_tolerance: a head's AUC may fall at most this far below the popularity baseline's
            beyond noise (0: the model must not rank significantly worse than popularity on any
            judged head).
        calibration_range: allowed observed / expected (Σy / Σp) per head. Wide on purpose
            ([0.5, 2]): the global model is calibrated to about ±10% on a day, a rare head's
            O/E has ~20% sampling error at 30 positives, while a broken model (saturated or
            exploded probabilities) is off by far more.
        max_ece: the largest debiased expected calibration error per head, from
            ECE = Σ_b (n_b / n) · |ȳ_b − p̄_b| over `ece_bins` equal-width bins of p. 0.1 is
            well above a healthy model's few hundredths and well below a saturated one's.
        ece_bins: equal-width probability bins of the ECE.
        log_loss_margin: the candidate's mean per-row log loss may be worse than the previous
            promoted model's by this share of the latter before the rule can fail (0.001: on a
            large day any tiny difference is significant; 0.1% is not worth blocking).
        pick_margin: the candidate's #1 picks may earn less than the previous promoted
            model's by this share of the latter before rule 6 can fail (0.01: a 1% loss).
        confidence: the one-sided confidence of "significantly worse" (0.95).
        min_class_rows: per-head rules judge a head with at least this many held-out positives
            and negatives (30: see the module docstring).
    """

    loss_factor: float = 10.0
    auc_tolerance: float = 0.0
    calibration_range: tuple[float, float] = (0.5, 2.0)
    max_ece: float = 0.1
    ece_bins: int = 10
    log_loss_margin: float = 0.001
    pick_margin: float = 0.01
    confidence: float = 0.95
    min_class_rows: int = 30

    def __post_init__(self) -> None:
        low, high = self.calibration_range
        if not 0.0 < low < 1.0 < high:
            raise ValueError(
                "`calibration_range` must be (low, high) with 0 < low < 1 < high. Received: "
                f"calibration_range={self.calibration_range}"
            )
        if not (math.isfinite(self.loss_factor) and self.loss_factor >= 1.0):
            raise ValueError(f"`loss_factor` must be >= 1. Received: {self.loss_factor}")
        if not 0.0 < self.max_ece < 1.0:
            raise ValueError(f"`max_ece` must be in (0, 1). Received: {self.max_ece}")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"`confidence` must be in (0.5, 1). Received: {self.confidence}")
        for name in ("ece_bins", "min_class_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be >= 1. Received: {getattr(self, name)}")
        if self.auc_tolerance < 0 or self.log_loss_margin < 0 or self.pick_margin < 0:
            raise ValueError(
                "`auc_tolerance`, `log_loss_margin` and `pick_margin` must be >= 0. Received: "
                f"{self.auc_tolerance}, {self.log_loss_margin}, {self.pick_margin}"
            )

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["calibration_range"] = list(self.calibration_range)
        return values


DEFAULT_GATE_CONFIG = GateConfig()


@dataclasses.dataclass(frozen=True)
class PickComparison:
    """The candidate's and the previous promoted model's #1 picks on the day's random bucket.

    With the ground truth: `candidate` and `previous` hold each session's value of the two picks
    (aligned). Without it: each holds (matched, contributions) of its replay rate @1.
    """

    truth_known: bool
    candidate: np.ndarray
    previous: np.ndarray


@dataclasses.dataclass(frozen=True)
class GateVerdict:
    """The gate's decision.

    Args:
        passed: every judged rule held.
        reasons: one sentence per failed rule (empty when passed), naming the check, the head,
            the value and the bound.
        metrics: the `GATE_METRIC_COLUMNS` table of every check, passed or not.
    """

    passed: bool
    reasons: list[str]
    metrics: pd.DataFrame


def expected_calibration_error(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> float:
    """ECE = Σ_b (n_b / n) · |ȳ_b − p̄_b| over `bins` equal-width bins of p on [0, 1]
    (p = 1 falls in the last bin). NaN for empty input."""
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.size == 0:
        return float("nan")
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    observed = np.bincount(index, weights=y, minlength=bins)
    expected = np.bincount(index, weights=p, minlength=bins)
    return float(np.abs(observed - expected).sum() / y.size)


def ece_noise(probs: np.ndarray, bins: int = 10) -> float:
    """The ECE a perfectly calibrated model would show from sampling noise alone on these
    predictions' bins: Σ_b (n_b / n) · √(2/π) · √(p̄_b(1 − p̄_b) / n_b) (E|N(0, σ²)| = σ√(2/π),
    with σ² the variance of a bin's observed rate when its labels are Bernoulli(p̄_b))."""
    p = np.clip(np.asarray(probs, dtype=np.float64).ravel(), 0.0, 1.0)
    if p.size == 0:
        return float("nan")
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    mean = np.bincount(index, weights=p, minlength=bins) / np.maximum(counts, 1)
    sigma = np.sqrt(mean * (1.0 - mean) / np.maximum(counts, 1))
    return float((counts / p.size * math.sqrt(2.0 / math.pi) * sigma).sum())


def paired_auc_difference(
    labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray
) -> tuple[float, float]:
    """AUC_a − AUC_b of two scorers on the same rows and its standard error, with DeLong's
    paired variance (DeLong et al. 1988; midrank form of Sun & Xu 2014).

    With m positives and n negatives, a scorer's structural components are, per positive i,
    V10_i = (R_i − R⁺_i) / n and, per negative j, V01_j = 1 − (R_j − R⁻_j) / m, where R is the
    midrank among all rows and R⁺ / R⁻ the midrank among the positives / negatives. Then

        Var(AUC_a − AUC_b) = (S10_aa + S10_bb − 2 S10_ab) / m + (S01_aa + S01_bb − 2 S01_ab) / n

    with S10 and S01 the sample covariances of the components across the two scorers.
    Returns (NaN, NaN) when a class has fewer than 2 rows.
    """
    y = np.asarray(labels, dtype=np.float64).ravel() > 0.5
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:
        return float("nan"), float("nan")
    v10, v01, aucs = [], [], []
    for scores in (scores_a, scores_b):
        s = np.asarray(scores, dtype=np.float64).ravel()
        pos, neg = s[y], s[~y]
        ranks = rankdata(np.concatenate([pos, neg]))
        v10.append((ranks[:m] - rankdata(pos)) / n)
        v01.append(1.0 - (ranks[m:] - rankdata(neg)) / m)
        aucs.append(float(v10[-1].mean()))
    s10, s01 = np.cov(np.vstack(v10)), np.cov(np.vstack(v01))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / n
    return aucs[0] - aucs[1], float(math.sqrt(max(variance, 0.0)))


def row_log_loss(labels: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per-row multi-task log loss Σ_h BCE(y_h, p_h), probabilities clipped to [EPS, 1 − EPS]."""
    total = None
    for head, head_probs in probs.items():
        y = np.asarray(labels[head], dtype=np.float64)
        p = np.clip(np.asarray(head_probs, dtype=np.float64), EPS, 1.0 - EPS)
        loss = -(y * np.log(p) + (1.0 - y) * np.log1p(-p))
        total = loss if total is None else total + loss
    return total


def gate_model(
    labels: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    baseline: Mapping[str, np.ndarray],
    epoch_losses: Sequence[float],
    previous: Mapping[str, np.ndarray] | None = None,
    config: GateConfig = DEFAULT_GATE_CONFIG,
    picks: PickComparison | None = None,
) -> GateVerdict:
    """Judge a candidate model (see the module docstring for the rules).

    Args:
        labels: head → 0/1 labels of the held-out rows.
        candidate: head → the candidate's probabilities on those rows (every head of `labels`).
        baseline: head → the popularity baseline's probabilities on those rows.
        epoch_losses: the candidate's mean training loss per epoch.
        previous: head → the previous promoted model's probabilities on the same rows; None at a
            cold start (the log-loss rule is then not judged).
        config: the thresholds.
        picks: the two models' #1 picks on the day's random bucket (rule 6); None: not judged
            (cold start, or no random bucket).

    Returns:
        the `GateVerdict`.

    Raises:
        ValueError: a head is missing from a probability map, or arrays are misaligned.
    """
    heads = list(labels)
    for name, probs in (("candidate", candidate), ("baseline", baseline), ("previous", previous)):
        if probs is None:
            continue
        missing = [h for h in heads if h not in probs]
        if missing:
            raise ValueError(f"{name} probabilities lack heads {missing}; need {heads}")
        for head in heads:
            if np.shape(probs[head]) != np.shape(labels[head]):
                raise ValueError(
                    f"{name} probabilities of head {head!r} have shape {np.shape(probs[head])}, "
                    f"labels {np.shape(labels[head])}"
                )
    rows: list[dict] = [_final_loss_row(epoch_losses, config)]
    for head in heads:
        rows.extend(_head_rows(head, labels[head], candidate[head], baseline[head], config))
    rows.append(_log_loss_row(labels, candidate, previous, config))
    rows.append(_picks_row(picks, config))
    metrics = pd.DataFrame(rows, columns=list(GATE_METRIC_COLUMNS))
    failed = metrics[metrics["passed"].eq(False)]
    reasons = [f"{row.check}[{row.head}]: {row.detail}" for row in failed.itertuples()]
    return GateVerdict(passed=not reasons, reasons=reasons, metrics=metrics)


def _row(check: str, head: str, value: float, bound, passed: bool | None, detail: str) -> dict:
    return {
        "check": check,
        "head": head,
        "value": float(value),
        "bound": str(bound),
        "passed": passed,
        "detail": detail,
    }


def _final_loss_row(epoch_losses: Sequence[float], config: GateConfig) -> dict:
    if not epoch_losses:
        return _row("final_loss", ALL_HEADS, math.nan, "", False, "no training losses recorded")
    first, final = float(epoch_losses[0]), float(epoch_losses[-1])
    limit = config.loss_factor * first
    passed = math.isfinite(final) and math.isfinite(first) and final <= limit
    return _row(
        "final_loss",
        ALL_HEADS,
        final,
        f"finite and <= {config.loss_factor:g} x first epoch {first:.4g}",
        passed,
        f"final epoch loss {final:.4g} vs first epoch {first:.4g} "
        f"(rule: finite and <= {config.loss_factor:g} x first epoch)",
    )


def _head_rows(
    head: str, y: np.ndarray, p: np.ndarray, base: np.ndarray, config: GateConfig
) -> list[dict]:
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if not np.isfinite(p).all():
        bad = int((~np.isfinite(p)).sum())
        return [
            _row(
                "finite_predictions", head, bad, 0, False, f"{bad} NaN/inf predictions of {p.size}"
            )
        ]
    positives = int((y > 0.5).sum())
    negatives = y.size - positives
    if min(positives, negatives) < config.min_class_rows:
        note = (
            f"not judged: {positives} positives and {negatives} negatives in the holdout "
            f"(need {config.min_class_rows} of each)"
        )
        return [
            _row(check, head, math.nan, "", None, note)
            for check in ("auc_vs_popularity", "calibration", "ece")
        ]
    model_auc, base_auc = auc(y, p), auc(y, base)
    difference, error = paired_auc_difference(y, p, base)
    upper = difference + float(norm.ppf(config.confidence)) * error
    ratio = calibration_ratio(y, p)
    low, high = config.calibration_range
    ece = expected_calibration_error(y, p, config.ece_bins)
    debiased = max(ece - ece_noise(p, config.ece_bins), 0.0)
    return [
        _row(
            "auc_vs_popularity",
            head,
            model_auc,
            f"upper bound of difference >= {-config.auc_tolerance:g}",
            bool(upper >= -config.auc_tolerance),
            f"model AUC {model_auc:.4f} vs popularity baseline {base_auc:.4f}: difference "
            f"{difference:+.4f}, one-sided {config.confidence:.0%} upper bound {upper:+.4f} "
            f"(rule: upper bound >= -{config.auc_tolerance:g}, i.e. not significantly below "
            "the baseline)",
        ),
        _row(
            "calibration",
            head,
            ratio,
            f"[{low:g}, {high:g}]",
            bool(low <= ratio <= high),
            f"observed/expected {ratio:.4f} (rule: within [{low:g}, {high:g}])",
        ),
        _row(
            "ece",
            head,
            debiased,
            f"<= {config.max_ece:g}",
            bool(debiased <= config.max_ece),
            f"expected calibration error {ece:.4f}, {debiased:.4f} beyond sampling noise "
            f"(rule: debiased <= {config.max_ece:g})",
        ),
    ]


def _log_loss_row(
    labels: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    previous: Mapping[str, np.ndarray] | None,
    config: GateConfig,
) -> dict:
    if previous is None:
        return _row(
            "log_loss_vs_previous", ALL_HEADS, math.nan, "", None,
            "not judged: no previous promoted model (cold start: gated against popularity only)",
        )  # fmt: skip
    heads = list(labels)
    new = row_log_loss(labels, {h: candidate[h] for h in heads})
    old = row_log_loss(labels, {h: previous[h] for h in heads})
    n, mean, variance = paired_difference_stats(new, old)
    # the two-sided (2c - 1) interval's lower end is the one-sided c lower bound
    _, lower, _ = pooled_paired_interval([n], [mean], [variance], 2 * config.confidence - 1)
    allowed = config.log_loss_margin * float(old.mean())
    passed = bool(n >= 2 and math.isfinite(lower) and lower <= allowed)
    return _row(
        "log_loss_vs_previous",
        ALL_HEADS,
        mean,
        f"lower bound <= {allowed:.4g}",
        passed,
        f"mean per-row log loss {float(new.mean()):.4f} vs previous promoted "
        f"{float(old.mean()):.4f}: difference {mean:+.4f}, one-sided {config.confidence:.0%} "
        f"lower bound {lower:+.4f} (rule: lower bound <= {config.log_loss_margin:g} x previous "
        f"= {allowed:.4f}; over {n} rows)",
    )


def _picks_row(picks: PickComparison | None, config: GateConfig) -> dict:
    if picks is None:
        return _row(
            "picks_vs_previous", ALL_HEADS, math.nan, "", None,
            "not judged: no previous promoted model or no random-bucket sessions",
        )  # fmt: skip
    two_sided = 2 * config.confidence - 1
    if picks.truth_known:
        n, mean, variance = paired_difference_stats(picks.candidate, picks.previous)
        _, _, upper = pooled_paired_interval([n], [mean], [variance], two_sided)
        reference = float(np.mean(picks.previous)) if n else math.nan
        check, what = "truth_vs_previous", "ground-truth expected contributions of the #1 pick"
        values = f"{float(np.mean(picks.candidate)):.4f} vs previous promoted {reference:.4f}"
        over = f"paired over {n} sessions"
    else:
        (m_new, c_new), (m_old, c_old) = picks.candidate, picks.previous
        mean, _, upper = rate_difference_interval(
            int(c_new), int(m_new), int(c_old), int(m_old), two_sided
        )
        reference = c_old / m_old if m_old else math.nan
        check, what = "replay_vs_previous", "replay contribution rate @1"
        values = f"{c_new}/{m_new} vs previous promoted {c_old}/{m_old}"
        over = "Newcombe interval"
    allowed = -config.pick_margin * reference
    judged = math.isfinite(upper) and math.isfinite(allowed)
    passed = bool(upper >= allowed) if judged else None
    return _row(
        check,
        ALL_HEADS,
        mean,
        f"upper bound >= {allowed:.4g}",
        passed,
        f"{what} {values}: difference {mean:+.4f}, one-sided {config.confidence:.0%} upper bound "
        f"{upper:+.4f} (rule: upper bound >= -{config.pick_margin:g} x previous = "
        f"{allowed:.4f}; {over})",
    )
