"""The day's popularity random effects: per-post effects on the residual of the feed model (§8).

For each head in `RANDOM_EFFECT_HEADS` (the paper's RO model uses like and click, the labels with
the best coverage), b_post maximizes the Bernoulli likelihood of the day's training impressions
with the global model's logit as a fixed offset, under a N(0, 1/l2) prior
(`random_effects.fit_random_effects`), so that y_final = σ(logit(y_global) + b_post).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.feed import feed_inputs, predict_probabilities
from models.random_effects import RANDOM_EFFECT_HEADS, fit_random_effects, logits_from
from models.registry import load_model


def fit_popularity_effects(model_dir: Path, examples_dir: Path, l2: float = 1.0) -> pd.DataFrame:
    """Per-post effects (post_id, effect, count, head) of the model in `model_dir` on the
    training rows of the Parquet examples in `examples_dir`.

    Raises:
        FileNotFoundError: the examples partition or the model is missing (named).
    """
    if not Path(examples_dir).exists():
        raise FileNotFoundError(
            f"missing training_examples partition {examples_dir}; materialize "
            "`training_examples` for that day first"
        )
    model, _ = load_model(model_dir)
    examples = pd.read_parquet(examples_dir)
    train = examples[examples["split"] == "train"].reset_index(drop=True)
    probabilities = predict_probabilities(model, feed_inputs(train, model.config))
    frames = []
    for head in RANDOM_EFFECT_HEADS:
        effects = fit_random_effects(
            train["post_id"].to_numpy(),
            logits_from(probabilities[head]),
            train[head].to_numpy(),
            l2=l2,
        )
        frames.append(effects.rename(columns={"id": "post_id"}).assign(head=head))
    table = pd.concat(frames, ignore_index=True)
    table["post_id"] = table["post_id"].astype("int64")
    return table


def effect_spread(effects: pd.DataFrame) -> pd.DataFrame:
    """Per head: the standard deviation, min, max and count of the effects."""
    return effects.groupby("head")["effect"].agg(["std", "min", "max", "count"]).reset_index()
