"""The feed model's final post score: a linear combination of head probabilities (paper §1, §9)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from spark.schemas import CONTRIBUTION_ACTIONS, LABELS

# the default final score: the contribution heads, equally weighted (what replay measures)
CONTRIBUTION_SCORE_WEIGHTS: tuple[tuple[str, float], ...] = tuple(
    (head, 1.0) for head in CONTRIBUTION_ACTIONS
)


@dataclasses.dataclass(frozen=True)
class FeedScore:
    """Final post score as a linear combination of head probabilities (paper §1, §9).

        score = Σ_h w_h · P(h)

    The paper states that the final score is a linear combination but gives no weights (NOT
    CONFIRMED). The default is this project's choice for its replay objective: the contribution
    heads, equally weighted (for rare, roughly independent actions Σ_k P(k) ≈ P(any
    contribution)). Set `FeedModelConfig.score_weights` (or `--score-weights` at a cold start)
    to rank by another mix, e.g. ``(("click", 0.5), ("like", 1.0), ("comment", 2.0))``.

    Args:
        weights: (head, weight) pairs; heads from `LABELS`, each at most once, weights finite.

    Example:

        FeedScore((("click", 1.0), ("share", 2.0))).score({"click": p_click, "share": p_share})
    """

    weights: tuple[tuple[str, float], ...] = CONTRIBUTION_SCORE_WEIGHTS

    def __post_init__(self) -> None:
        if not self.weights:
            raise ValueError("`weights` must name at least one head. Received: weights=()")
        heads = [head for head, _ in self.weights]
        for head, weight in self.weights:
            if head not in LABELS:
                raise ValueError(
                    f"unknown head `{head}` in the score weights; heads: {LABELS}. "
                    f"Received: weights={self.weights}"
                )
            if not math.isfinite(weight):
                raise ValueError(
                    f"the score weight of `{head}` must be finite. Received: {head}={weight}"
                )
        if len(set(heads)) != len(heads):
            raise ValueError(f"each head may appear once in `weights`. Received: weights={heads}")

    def score(self, probabilities: Mapping[str, np.ndarray]) -> np.ndarray:
        """Σ_h w_h · P(h) per example, as float64 [n]."""
        total = None
        for head, weight in self.weights:
            term = weight * np.asarray(probabilities[head], dtype=np.float64)
            total = term if total is None else total + term
        return total
