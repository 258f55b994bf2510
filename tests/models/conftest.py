"""Fixtures for the model tests: small synthetic TRAINING_EXAMPLE frames with planted signals."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spark.world.config import CONTENT_TYPES, PLATFORMS


def synthetic_examples(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` TRAINING_EXAMPLE rows whose labels follow known logistic models.

    P(click) = σ(-1 + 2.5·[video] - 2·[job] + 1.2·z(author_log_followers) - 0.2·position
    + 2·[author in the member's history]); P(like) = σ(-2 + 2.5·[hashtag < 10] - 1·[web]).
    The other heads are independent coin flips at low rates.
    """
    rng = np.random.default_rng(seed)
    num_authors = 60
    author_id = rng.integers(0, num_authors, n)
    content_type = rng.choice(np.array(CONTENT_TYPES), n)
    platform = rng.choice(np.array(PLATFORMS), n)
    position = rng.integers(0, 10, n).astype(np.int32)
    followers = rng.normal(5.0, 1.5, n).astype(np.float32)
    hist_len = rng.integers(0, 26, n)
    hist_authors = [rng.integers(0, num_authors, k) for k in hist_len]
    hist_actions = [rng.integers(0, 5, k).astype(np.int32) for k in hist_len]
    hashtags = [rng.integers(0, 40, k).astype(np.int32) for k in rng.integers(1, 4, n)]
    in_history = np.array([a in h[-20:] for a, h in zip(author_id, hist_authors, strict=True)])
    z_followers = (followers - 5.0) / 1.5
    click_logit = (
        -1.0
        + 2.5 * (content_type == "video")
        - 2.0 * (content_type == "job")
        + 1.2 * z_followers
        - 0.2 * position
        + 2.0 * in_history
    )
    like_logit = -2.0 + 2.5 * np.array([h[0] < 10 for h in hashtags]) - 1.0 * (platform == "web")

    def draw(logit: np.ndarray) -> np.ndarray:
        return (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int8)

    dwell = rng.exponential(20.0, n).astype(np.float32)
    # history posts from their own stream, so the other columns (and golden numbers) are
    # those of the frames drawn before posts were carried
    post_rng = np.random.default_rng([seed, 1])
    hist_posts = [post_rng.integers(0, 2000, len(h)).astype(np.int64) for h in hist_authors]
    return pd.DataFrame(
        {
            "date": [dt.date(2026, 1, 1)] * n,
            "session_id": np.arange(n, dtype=np.int64) // 10,
            "split": np.where(rng.random(n) < 0.8, "train", "holdout"),
            "member_id": rng.integers(0, 400, n).astype(np.int64),
            "post_id": rng.integers(0, 2000, n).astype(np.int64),
            "position": position,
            "platform": platform,
            "hour": rng.integers(0, 24, n).astype(np.int32),
            "member_seniority": rng.integers(0, 8, n).astype(np.int32),
            "member_industry": rng.integers(0, 30, n).astype(np.int32),
            "member_country": rng.integers(0, 20, n).astype(np.int32),
            "member_log_connections": rng.normal(5.0, 1.0, n).astype(np.float32),
            "hist_post_ids": hist_posts,
            "hist_author_ids": [h.astype(np.int64) for h in hist_authors],
            "hist_actions": hist_actions,
            "author_id": author_id.astype(np.int64),
            "content_type": content_type,
            "hashtag_ids": hashtags,
            "length": rng.exponential(100.0, n).astype(np.float32),
            "post_age_hours": rng.uniform(0, 96, n).astype(np.float32),
            "author_log_followers": followers,
            "click": draw(click_logit),
            "like": draw(like_logit),
            "comment": draw(np.full(n, -3.0)),
            "share": draw(np.full(n, -3.5)),
            "vote": draw(np.full(n, -3.0)),
            "dwell_seconds": dwell,
            "long_dwell": (dwell > np.quantile(dwell, 0.9)).astype(np.int8),
        }
    )


@pytest.fixture(scope="session")
def make_examples():
    """Factory: make_examples(n, seed=0) -> synthetic TRAINING_EXAMPLE DataFrame."""
    return synthetic_examples


def deterministic_weights(model, seed: int = 0, scale: float = 0.2) -> None:
    """Set every weight of `model` from a numpy RNG (in weight order), independent of Keras's own
    initializers and RNG, so golden numbers hold on any backend and Keras version. Batch-norm
    moving variances get 1 + |x| to stay positive."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.normal(scale=scale, size=tuple(weight.shape))
        if weight.path.endswith("moving_variance"):
            values = 1.0 + np.abs(values)
        weight.assign(values.astype(weight.dtype))


@pytest.fixture(scope="session")
def fixed_weights():
    """Factory: fixed_weights(model, seed=0) sets `deterministic_weights`."""
    return deterministic_weights
