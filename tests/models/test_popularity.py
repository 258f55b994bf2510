"""Tests for models.popularity: the windowed random effects that score a day, on planted data
(no Keras: the global model is a fixed table of offsets)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from models.popularity import (
    EFFECT_COLUMNS,
    LIFT_COLUMNS,
    apply_day_effects,
    fit_day_effects,
    lift_summary,
    windows_from_table,
)
from models.random_effects import logits_from
from models.windowed_effects import WindowedEffectsConfig

N_POSTS, N_AUTHORS = 300, 40


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _day(rng, n: int, post_effect, author_of, offset: float = -2.0) -> pd.DataFrame:
    post = rng.integers(0, N_POSTS, n)
    author = author_of[post]
    truth = offset + post_effect[post]
    return pd.DataFrame(
        {
            "split": rng.choice(["train", "holdout", "random_bucket"], n, p=[0.7, 0.2, 0.1]),
            "hour": rng.integers(0, 24, n).astype(np.int32),
            "post_id": post.astype(np.int64) + 1000,
            "author_id": author.astype(np.int64),
            "post_age_hours": rng.uniform(0, 72, n).astype(np.float32),
            "offset": np.full(n, offset),
            "click": (rng.random(n) < _sigmoid(truth)).astype(np.int8),
            "like": (rng.random(n) < _sigmoid(truth - 1.0)).astype(np.int8),
        }
    )


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(7)
    author_of = rng.integers(0, N_AUTHORS, N_POSTS)
    author_effect = rng.normal(0, 0.6, N_AUTHORS)
    post_effect = author_effect[author_of] + rng.normal(0, 0.6, N_POSTS)
    return (
        _day(rng, 30_000, post_effect, author_of),
        _day(rng, 30_000, post_effect, author_of),
        post_effect,
    )


def offsets(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """A 'global model' that knows only the base rate of each head."""
    base = _sigmoid(rows["offset"].to_numpy())
    return {"click": base, "like": _sigmoid(rows["offset"].to_numpy() - 1.0)}


def test_planted_post_effects_are_recovered_and_help_on_later_traffic(world):
    previous, today, post_effect = world
    fitted = fit_day_effects(offsets, previous, today)
    assert list(fitted.effects.columns) == list(EFFECT_COLUMNS)
    assert sorted(fitted.effects["window_end"].unique()) == [0.0, 8.0, 16.0]
    # the window ending at the day's start (fit on the day before): post + author effect per post
    first = windows_from_table(fitted.effects, "click")[0].effects
    total = first.posts.set_index("post_id")["effect"] + first.posts.set_index("post_id").index.map(
        dict(zip(previous["post_id"], previous["author_id"], strict=False))
    ).map(first.authors.set_index("author_id")["effect"])
    rho = spearmanr(total.to_numpy(), post_effect[total.index.to_numpy() - 1000]).statistic
    assert rho > 0.85, rho
    assert list(fitted.lift.columns) == list(LIFT_COLUMNS)
    summary = lift_summary(fitted.lift)
    assert summary["auc_lift"] > 0.05 and summary["log_loss_lift"] > 0
    day = fitted.lift[fitted.lift["scored_hours"] == "all"].set_index("head")
    for head in ("click", "like"):
        assert day.loc[head, "auc_lift_ci_low"] > 0  # significant on 27,000 rows
        assert day.loc[head, "auc_lift_ci_low"] <= day.loc[head, "auc_lift"]
        assert day.loc[head, "auc_lift"] <= day.loc[head, "auc_lift_ci_high"]
        assert day.loc[head, "scored_rows"] == (today["split"] != "random_bucket").sum()


def test_a_row_is_scored_only_by_effects_fit_before_its_hour(world):
    """Labels from hour 8 on change nothing that scores hours 0-15 (windows end at 0 and 8),
    and do change hours 16-23 (the window ending at 16 saw them)."""
    previous, today, _ = world
    later = today.copy()
    flip = (later["hour"] >= 8).to_numpy()
    later.loc[flip, "click"] = 1 - later.loc[flip, "click"]
    before = fit_day_effects(offsets, previous, today).effects
    after = fit_day_effects(offsets, previous, later).effects
    early = (today["hour"] < 16).to_numpy()
    scored_before = apply_day_effects(before, today, offsets(today))["click"]
    scored_after = apply_day_effects(after, today, offsets(today))["click"]
    np.testing.assert_array_equal(scored_before[early], scored_after[early])
    assert np.abs(scored_before[~early] - scored_after[~early]).max() > 0.01


def test_the_stored_table_scores_as_the_fit_did(world):
    """apply_day_effects on the stored table reproduces the lift computed at fit time."""
    previous, today, _ = world
    fitted = fit_day_effects(offsets, previous, today)
    rows = today[today["split"] != "random_bucket"].reset_index(drop=True)
    scored = apply_day_effects(fitted.effects, rows, offsets(rows))
    from models.evaluation.metrics import auc

    day = fitted.lift[fitted.lift["scored_hours"] == "all"].set_index("head")
    for head in ("click", "like"):
        assert auc(rows[head].to_numpy(), scored[head]) == pytest.approx(
            day.loc[head, "auc_effects"], abs=1e-12
        )
    # heads without effects pass through; unknown posts and authors keep the global logit
    unknown = rows.assign(post_id=-1, author_id=-1)
    out = apply_day_effects(fitted.effects, unknown, offsets(unknown))
    np.testing.assert_allclose(
        logits_from(out["click"]), logits_from(offsets(unknown)["click"]), atol=1e-5
    )


def test_without_a_previous_day_the_first_window_is_empty(world):
    _, today, _ = world
    fitted = fit_day_effects(offsets, None, today)
    first = fitted.lift[fitted.lift["scored_hours"] == "00-08"]
    assert (first["fit_rows"] == 0).all()
    assert (first["auc_lift"].abs() < 1e-12).all()  # hours 0-7 keep the global model


def test_a_window_without_traffic_leaves_the_others_their_own_hours(world):
    """8-hour windows and no traffic in the day's first 8 hours: the window ending at 08:00 is
    empty and stores no rows. The stored table still scores as the fit did (hours 8-15 keep the
    global model; the window ending at 00:00 scores only hours 0-7), since the cadence is stored,
    not inferred from the windows present."""
    previous, today, _ = world
    config = WindowedEffectsConfig(window_hours=8.0)
    quiet = today[today["hour"] >= 8].reset_index(drop=True)
    fitted = fit_day_effects(offsets, previous, quiet, config)
    assert sorted(fitted.effects["window_end"].unique()) == [0.0, 16.0]
    rows = quiet[quiet["split"] != "random_bucket"].reset_index(drop=True)
    scored = apply_day_effects(fitted.effects, rows, offsets(rows))
    middle = (rows["hour"] < 16).to_numpy()
    np.testing.assert_allclose(
        logits_from(scored["click"][middle]), logits_from(offsets(rows)["click"][middle]), atol=1e-5
    )
    from models.evaluation.metrics import auc

    day = fitted.lift[fitted.lift["scored_hours"] == "all"].set_index("head")
    for head in ("click", "like"):
        assert auc(rows[head].to_numpy(), scored[head]) == pytest.approx(
            day.loc[head, "auc_effects"], abs=1e-12
        )


def test_a_cadence_that_does_not_divide_the_day_is_rejected(world):
    previous, today, _ = world
    with pytest.raises(ValueError, match="cadence_hours.*divide 24.*cadence_hours=7"):
        fit_day_effects(offsets, previous, today, WindowedEffectsConfig(cadence_hours=7.0))
