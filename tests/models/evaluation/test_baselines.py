"""Tests for models.evaluation.baselines: the smoothed popularity scorer."""

from __future__ import annotations

import numpy as np
import pytest

from models.evaluation.baselines import popularity_scores


def test_smoothed_rate_hand_values():
    ids = np.array([1, 1, 1, 1, 2, 2])
    labels = np.array([1, 1, 1, 0, 0, 0])
    mean = 3 / 6
    scores = popularity_scores(ids, labels, np.array([1, 2, 3]), prior_strength=2.0)
    np.testing.assert_allclose(scores, [(3 + 2 * mean) / (4 + 2), (0 + 2 * mean) / (2 + 2), mean])


def test_zero_prior_is_raw_rate_and_validation():
    scores = popularity_scores(
        np.array(["a", "a", "b"]), np.array([1, 0, 1]), np.array(["a", "b"]), 0.0
    )
    np.testing.assert_allclose(scores, [0.5, 1.0])
    with pytest.raises(ValueError, match="prior_strength=-1"):
        popularity_scores(np.array([1]), np.array([1]), np.array([1]), prior_strength=-1)
