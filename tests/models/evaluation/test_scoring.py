"""Tests for models.evaluation.scoring: the random effects shift the global logits exactly."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation.scoring import model_probabilities, read_partition
from models.feed import feed_inputs, predict_probabilities
from models.inputs.spec import with_position
from models.random_effects import logits_from
from models.registry import load_model


def test_effects_add_to_the_logits_of_their_post_and_head(day):
    model, _ = load_model(day.model_dir)
    rows = read_partition(day.examples_dir)
    effects = read_partition(day.effects_dir)
    post = effects["id"].iloc[0]
    scored = model_probabilities(model, day.effects_dir, rows, rank_at_top=False)
    plain = predict_probabilities(model, feed_inputs(rows, model.config))
    mine = (rows["post_id"] == post).to_numpy()
    shift = {h: logits_from(scored[h]) - logits_from(plain[h]) for h in ("click", "like")}
    np.testing.assert_allclose(shift["click"][mine], 2.0, atol=1e-3)
    np.testing.assert_allclose(shift["like"][mine], -1.0, atol=1e-3)
    for head, values in shift.items():
        np.testing.assert_allclose(values[~mine], 0.0, atol=1e-3, err_msg=head)
    np.testing.assert_array_equal(scored["comment"], plain["comment"])


def test_rank_at_top_scores_every_row_at_position_0(day):
    model, _ = load_model(day.model_dir)
    rows = read_partition(day.candidates_dir)
    scored = model_probabilities(model, day.effects_dir, rows, rank_at_top=True)
    at_top = predict_probabilities(model, with_position(feed_inputs(rows, model.config), 0))
    np.testing.assert_array_equal(scored["share"], at_top["share"])


def test_a_missing_partition_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*materialize it first"):
        read_partition(tmp_path / "nowhere")
