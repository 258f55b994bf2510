"""A tiny evaluated day on disk: a saved feed model, its random effects, examples, candidates."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark.schemas import CONTRIBUTION_ACTIONS

DAY = dt.date(2026, 1, 3)


@dataclasses.dataclass(frozen=True)
class Day:
    date: dt.date
    model_dir: Path
    effects_dir: Path
    examples_dir: Path
    candidates_dir: Path
    candidates: pd.DataFrame


def _partition(frame: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True)
    frame.to_parquet(directory / "part-0.parquet")
    return directory


@pytest.fixture(scope="module")
def day(make_examples, tmp_path_factory) -> Day:
    # Imported here so the pure-numpy tests beside this file never load Keras.
    from models.feed import TINY_FEED_MODEL, FeedModel, config_for, feed_inputs
    from models.registry import save_model

    root = tmp_path_factory.mktemp("day")
    examples = make_examples(400, seed=5)
    # 20 random-bucket sessions of 10 served posts, positions 0..9 in served order
    candidates = make_examples(200, seed=6)
    candidates["position"] = (np.arange(len(candidates)) % 10).astype(np.int32)
    candidates["contribution"] = candidates[list(CONTRIBUTION_ACTIONS)].max(axis=1)
    candidates["ranker_score"] = np.random.default_rng(1).random(len(candidates))
    model = FeedModel(config_for(examples, TINY_FEED_MODEL))
    model(feed_inputs(examples.head(4), model.config))
    model_dir = save_model(model, root / "model" / f"date={DAY.isoformat()}", {})
    # one window ending at the day's start (so it scores every hour): a post effect per head
    effects = pd.DataFrame(
        {
            "head": ["click", "like"],
            "window_end": [0.0, 0.0],
            "cadence_hours": [24.0, 24.0],
            "level": ["post", "post"],
            "id": np.array([examples["post_id"].iloc[0]] * 2, dtype=np.int64),
            "effect": [2.0, -1.0],
            "count": [3, 3],
        }
    )
    return Day(
        date=DAY,
        model_dir=model_dir,
        effects_dir=_partition(effects, root / "effects"),
        examples_dir=_partition(examples, root / "examples"),
        candidates_dir=_partition(candidates, root / "candidates"),
        candidates=candidates,
    )
