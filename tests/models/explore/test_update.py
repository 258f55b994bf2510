"""The daily posterior update on a saved feed model: Z(x) is the heads' last-layer input, and the
day-by-day update equals the batch posterior of the same rows."""

from __future__ import annotations

import json

import numpy as np
import pytest
from keras import ops

from models.explore.features import last_layer_features, score_heads
from models.explore.posterior import LastLayerPosterior
from models.explore.update import update_posterior
from models.feed import TINY_FEED_MODEL, FeedModel, config_for, feed_inputs
from models.registry import MANIFEST_FILE, save_model
from spark.schemas import CONTRIBUTION_ACTIONS


@pytest.fixture(scope="module")
def saved(make_examples, fixed_weights, tmp_path_factory):
    examples = make_examples(600, seed=3)
    examples["split"] = np.where(np.arange(600) % 5 == 0, "holdout", "train")
    model = FeedModel(config_for(examples, TINY_FEED_MODEL))
    model(feed_inputs(examples.head(4), model.config))
    fixed_weights(model, seed=2)
    root = tmp_path_factory.mktemp("explore")
    model_dir = save_model(model, root / "model" / "date=2026-01-03", {})
    return model, model_dir, examples, root


def test_z_is_the_input_of_the_contribution_heads_last_layer(saved) -> None:
    model, _, examples, _ = saved
    z = last_layer_features(model, examples.head(50), rank_at_top=False)
    assert np.all(z[:, -1] == 1.0)
    heads = score_heads(model)
    assert set(heads) == set(CONTRIBUTION_ACTIONS)
    tower = next(t for t in model.towers if set(t.heads) & set(heads))
    logits = ops.convert_to_numpy(tower.logits.kernel)
    bias = ops.convert_to_numpy(tower.logits.bias)
    want = ops.convert_to_numpy(tower(ops.convert_to_tensor(_tower_input(model, examples)))["like"])
    got = z[:, :-1] @ logits[:, tower.heads.index("like")] + bias[tower.heads.index("like")]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def _tower_input(model, examples):
    inputs = feed_inputs(examples.head(50), model.config)
    _, tower_inputs = model._tower_inputs(inputs)
    index = next(i for i, t in enumerate(model.towers) if "like" in t.heads)
    return ops.convert_to_numpy(tower_inputs[index])


def test_daily_updates_equal_the_batch_posterior(saved, tmp_path) -> None:
    model, model_dir, examples, _ = saved
    day1, day2 = examples.iloc[:300], examples.iloc[300:]
    first = update_posterior(model_dir, day1, None, tmp_path / "d1", prior_scale=2.0)
    assert not first.carried_over and first.rows == int((day1["split"] == "train").sum())
    second = update_posterior(model_dir, day2, tmp_path / "d1", tmp_path / "d2", prior_scale=2.0)
    assert second.carried_over
    train = examples[examples["split"] == "train"]
    z = last_layer_features(model, train, rank_at_top=False)
    y = train[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy(dtype=float)
    batch = LastLayerPosterior.prior(z.shape[1], prior_scale=2.0).update(z, y)
    loaded = LastLayerPosterior.load(tmp_path / "d2")
    np.testing.assert_allclose(loaded.precision, batch.precision, rtol=1e-9)
    np.testing.assert_allclose(loaded.mean, batch.mean, rtol=1e-6, atol=1e-9)
    assert 0.0 <= second.top_slot_changed <= 1.0 and second.sessions > 0
    summary = json.loads((tmp_path / "d2" / "posterior.json").read_text())
    assert summary["rows"] == len(train)


def test_a_model_of_another_lineage_starts_from_the_prior(saved, tmp_path) -> None:
    model, model_dir, examples, root = saved
    update_posterior(model_dir, examples, None, tmp_path / "d1")
    other = save_model(model, root / "other" / "date=2026-01-04", {})
    manifest = json.loads((other / MANIFEST_FILE).read_text())
    assert manifest["metadata"] == {}  # no base model recorded: a cold start
    update = update_posterior(other, examples, tmp_path / "d1", tmp_path / "d2")
    assert not update.carried_over
    assert update.posterior.rows == int((examples["split"] == "train").sum())
