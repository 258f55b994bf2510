"""The behavioural constants of the simulated world and its position curve.

Every number of the behavioural model in `spark.world.kernel`'s docstring that is not a
`WorldConfig` field lives here: entity sizes, per-content-type tables (indexed like
`CONTENT_TYPES`), categorical crosses, per-action logit terms, and the position effects.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from spark.world.config import CONTENT_TYPES, WorldConfig

# ------------------------------------------------------------------------------ entities

NUM_SENIORITY = 5
NUM_INDUSTRIES = 12
NUM_COUNTRIES = 8
NUM_TOPICS = 12
NUM_HASHTAGS = 60
MAX_HASHTAGS = 3
MIN_FOLLOWS, MAX_FOLLOWS = 20, 40
LOG_CONNECTIONS_MEAN, LOG_CONNECTIONS_SD = 5.0, 1.1
INTEREST_DRIFT = 0.08

# ----------------------------------------------------------------------- sessions, actions

SCROLL_CONTINUE = 0.8
EXAMINE_TOP = 0.95
EXAMINE_DECAY = 0.5
RANKER_NOISE_SD = 1.0
HIST_TOPIC_CENTER = 0.3


def by_type(values: dict[str, float]) -> np.ndarray:
    """A per-content-type table as an array indexed like `CONTENT_TYPES`."""
    return np.array([values[c] for c in CONTENT_TYPES], dtype=np.float64)


TYPE_MIX = by_type(
    {"text": 0.30, "image": 0.25, "video": 0.14, "article": 0.12, "poll": 0.08, "job": 0.11}
)
LENGTH_MEDIAN = by_type(
    {"text": 60, "image": 25, "video": 45, "article": 900, "poll": 20, "job": 150}
)
LENGTH_SIGMA = by_type(
    {"text": 0.7, "image": 0.6, "video": 0.8, "article": 0.5, "poll": 0.4, "job": 0.5}
)
HALF_LIFE_HOURS = by_type(
    {"text": 18, "image": 18, "video": 30, "article": 48, "poll": 12, "job": 60}
)
RISE_HOURS = 3.0
DWELL_MEDIAN_S = by_type({"text": 6, "image": 5, "video": 14, "article": 10, "poll": 5, "job": 8})
DWELL_LENGTH_ELASTICITY = by_type(
    {"text": 0.3, "image": 0.1, "video": 0.6, "article": 0.5, "poll": 0.1, "job": 0.3}
)
DWELL_CLICK_BOOST = by_type(
    {"text": 0.4, "image": 0.5, "video": 0.9, "article": 1.6, "poll": 0.3, "job": 1.0}
)
PLATFORM_DWELL = np.array([0.15, 0.0, -0.1])  # web, ios, android
HOUR_PROFILE = np.array(
    [
        1,
        0.5,
        0.3,
        0.3,
        0.5,
        1.5,
        3,
        5,
        7,
        6,
        5,
        5,
        6.5,
        5.5,
        4.5,
        4.5,
        5,
        5.5,
        6,
        6.5,
        6.5,
        5,
        3,
        1.5,
    ]
)
HOUR_PROFILE = HOUR_PROFILE / HOUR_PROFILE.sum()

# seniority (rows, junior -> executive) x content type: juniors read jobs, seniors read articles
SENIORITY_X_TYPE = np.array(
    [
        [0.1, 0.2, 0.2, -0.4, 0.1, 0.8],
        [0.1, 0.1, 0.1, -0.1, 0.1, 0.4],
        [0.0, 0.0, 0.0, 0.2, 0.0, 0.0],
        [-0.1, -0.1, -0.2, 0.4, 0.1, -0.3],
        [-0.2, -0.2, -0.4, 0.6, 0.2, -0.6],
    ]
)
# platform (web, ios, android) x content type: articles on the desktop, video on phones
PLATFORM_X_TYPE = np.array(
    [
        [0.1, -0.1, -0.3, 0.5, 0.0, 0.2],
        [-0.1, 0.3, 0.5, -0.4, 0.1, -0.2],
        [0.0, 0.2, 0.3, -0.3, 0.2, 0.0],
    ]
)
ACTION_BASE = {"click": -5.0, "like": -5.5, "comment": -7.1, "share": -7.5, "vote": -2.3}
ACTION_WEIGHT = {"click": 1.0, "like": 1.0, "comment": 0.9, "share": 0.8, "vote": 0.7}
ACTION_TYPE_OFFSET = {
    "click": {"text": -0.8, "image": -0.3, "video": 0.3, "article": 0.9, "poll": -0.5, "job": 0.3},
    "like": {"text": 0.0, "image": 0.3, "video": 0.1, "article": -0.8, "poll": -0.5, "job": -0.4},
    "comment": {
        "text": 0.3,
        "image": 0.0,
        "video": -0.1,
        "article": 0.2,
        "poll": -0.3,
        "job": -0.3,
    },
    "share": {"text": -0.2, "image": 0.0, "video": 0.2, "article": 0.3, "poll": -0.5, "job": 0.8},
    "vote": {"text": 0.0, "image": 0.0, "video": 0.0, "article": 0.0, "poll": 0.0, "job": 0.0},
}
CLICK_LIFT = {
    "like": {"text": 0.7, "image": 0.7, "video": 0.7, "article": 2.5, "poll": 0.5, "job": 0.7},
    "comment": {"text": 0.5, "image": 0.5, "video": 0.5, "article": 1.5, "poll": 0.3, "job": 0.5},
    "share": {"text": 0.5, "image": 0.5, "video": 0.5, "article": 1.5, "poll": 0.3, "job": 1.0},
    "vote": {"text": 0.0, "image": 0.0, "video": 0.0, "article": 0.0, "poll": 0.0, "job": 0.0},
}
CONNECTION_ACTIONS = ("comment", "share")
"""The actions whose logit grows with the member's (standardized) log connections."""

# ------------------------------------------------------------------------------ positions


@dataclasses.dataclass(frozen=True, eq=False)
class PositionCurve:
    """Position effects of the world, identical for every session.

    Args:
        p_impressed: `p_impressed[i]` = P(scroll depth > i) = P(position i is impressed).
        p_examine: `p_examine[i]` = P(examined | impressed at position i).
    """

    p_impressed: np.ndarray
    p_examine: np.ndarray

    @property
    def p_seen(self) -> np.ndarray:
        """P(examined | served at position i) = p_impressed * p_examine."""
        return self.p_impressed * self.p_examine


def position_curve(config: WorldConfig) -> PositionCurve:
    """P(impressed) and P(examined | impressed) for positions 0..served_per_session-1."""
    pos = np.arange(config.served_per_session, dtype=np.float64)
    return PositionCurve(
        p_impressed=SCROLL_CONTINUE**pos,
        p_examine=EXAMINE_TOP * (1.0 + pos) ** -EXAMINE_DECAY,
    )
