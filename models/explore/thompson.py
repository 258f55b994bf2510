"""Exploration policies over a session's candidates: greedy, ε-greedy and Thompson sampling
on the last-layer posterior (paper §7).

All three take the candidates' last-layer inputs Z (n, d) and each row's session, and return one
ranking score per row; the world serves each session's top-N by it.

- greedy: the posterior mean, μ_nᵀz.
- ε-greedy: in a share ε of the sessions (chosen per session), uniform random scores; else greedy.
- Thompson sampling: in a share `explore_share` of the sessions, one draw w̃ ~ posterior per
  session and scores w̃ᵀz (so a session's whole ranking is consistent with one plausible model);
  the other sessions greedy. `explore_share = 1` is pure Thompson sampling.
"""

from __future__ import annotations

import numpy as np

from models.explore.posterior import LastLayerPosterior


def _sessions(session: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    session = np.asarray(session).ravel()
    if len(session) != n:
        raise ValueError(f"need one session per row: {n} rows, {len(session)} sessions")
    return np.unique(session, return_inverse=True)


def _check_share(name: str, share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1]. Received: {name}={share}")


def greedy_scores(z: np.ndarray, posterior: LastLayerPosterior) -> np.ndarray:
    """μ_nᵀz per row."""
    return np.asarray(z, dtype=np.float64) @ posterior.mean


def epsilon_greedy_scores(
    z: np.ndarray,
    session: np.ndarray,
    posterior: LastLayerPosterior,
    epsilon: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Greedy, except uniform random scores in a share `epsilon` of the sessions."""
    _check_share("epsilon", epsilon)
    z = np.asarray(z, dtype=np.float64)
    ids, index = _sessions(session, len(z))
    explore = rng.random(len(ids)) < epsilon
    return np.where(explore[index], rng.random(len(z)), greedy_scores(z, posterior))


def thompson_scores(
    z: np.ndarray,
    session: np.ndarray,
    posterior: LastLayerPosterior,
    explore_share: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """w̃_sᵀz per row, one posterior draw w̃_s per exploring session; greedy elsewhere."""
    _check_share("explore_share", explore_share)
    z = np.asarray(z, dtype=np.float64)
    ids, index = _sessions(session, len(z))
    explore = rng.random(len(ids)) < explore_share
    scores = greedy_scores(z, posterior)
    if explore.any():
        draws = posterior.sample(int(explore.sum()), rng)  # one per exploring session
        slot = np.cumsum(explore) - 1
        rows = explore[index]
        scores[rows] = np.einsum("nd,nd->n", z[rows], draws[slot[index[rows]]])
    return scores
