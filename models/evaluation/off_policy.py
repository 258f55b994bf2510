"""Off-policy estimators (IPS, SNIPS) of a policy's value from logged bandit feedback, with
cluster-bootstrap intervals, and their adapter to the Feed random bucket (paper §5.2, notes §15).

Logged bandit feedback is a set of rounds i = 1..n: a context x_i, the action a_i the logging
policy μ took, its reward r_i ∈ [0, 1], and the weight w_i = π(a_i | x_i) / μ(a_i | x_i) of the
target policy π. With known propensities μ > 0 wherever π > 0 (Horvitz & Thompson 1952; Precup
et al. 2000; Dudík et al. 2011, "Doubly robust policy evaluation and learning"):

    IPS:    V̂ = (1/n) Σ_i w_i r_i                  unbiased: E_μ[w r] = E_π[r]
    SNIPS:  V̂ = Σ_i w_i r_i / Σ_i w_i              consistent, lower variance, never above max r
                                                   (Swaminathan & Joachims 2015)

Intervals are percentile bootstrap intervals (Efron & Tibshirani 1993, ch. 13) that resample
whole clusters (rounds that share a session, a user, a page view are not independent): B
multinomial draws of the C clusters, each a vector of counts m_b (Σ_c m_bc = C); replicate b's
estimate is the same formula on the clusters' sums weighted by m_b. The counts come from
`np.bincount` on uniform cluster indices, in chunks of replicates, so 2,000 replicates of
100,000 clusters cost a few matrix products and no Python loop over rounds.

The Feed adapter (`feed_top1_estimates`) values a ranker's #1 pick on the random bucket, whose
top-N posts are shuffled uniformly before serving (propensity 1/N per position), with the replay
metric of notes §15, IPS/SNIPS at position 0 and their multi-position versions (see its
docstring for the position-bias correction and its assumption).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from models.evaluation.intervals import CONFIDENCE
from models.evaluation.replay import replay_contribution_rate, top1_choices

DEFAULT_BOOTSTRAP = 2000
# Replicates × clusters of the count matrix drawn at once (int64: 32 MB).
_CHUNK_CELLS = 4_000_000
# A position enters the default multi-position estimate only with at least this many
# contributions in the random bucket: its position-bias ratio θ̂₀/θ̂_k is then known to within
# about 1/sqrt(30) ≈ 18% relative error per replicate, and the bootstrap carries that error.
MIN_POSITION_CONTRIBUTIONS = 30
FEED_CANDIDATE_COLUMNS: tuple[str, ...] = ("session_id", "post_id", "position", "contribution")


@dataclass(frozen=True)
class Estimate:
    """One off-policy estimate of a policy's value with its bootstrap interval.

    Attributes:
        estimator: which estimator, e.g. "ips", "snips", "replay@1", "ips@K=4".
        value: the point estimate on the full data (NaN when undefined, e.g. SNIPS with Σw = 0).
        ci_low, ci_high: the `CONFIDENCE` (95%) interval: percentile cluster bootstrap for
            IPS/SNIPS, Wilson score interval for replay (NaN when undefined).
        rounds: logged decisions that entered the estimate (rows; sessions × positions for the
            multi-position Feed estimators).
        effective_matches: Kish's effective sample size of the weights, (Σ w)² / Σ w²: the number
            of equally weighted rounds that would carry as much information. For a deterministic
            policy under uniform logging, it is the number of rounds where π's action was logged
            (replay's matched count).
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    rounds: int
    effective_matches: float


# ----------------------------------------------------------------------------- validation


def _array(name: str, values: object, dtype: type = np.float64) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D. Received shape {array.shape}.")
    if array.size == 0:
        raise ValueError(f"`{name}` is empty: an estimate needs at least one logged round.")
    if dtype is np.float64:
        bad = ~np.isfinite(array)
        if bad.any():
            raise ValueError(
                f"`{name}` has {int(bad.sum())} non-finite value(s), first {array[bad][0]!r} at "
                f"index {int(np.flatnonzero(bad)[0])}; drop or fix those rounds."
            )
    return array


def _check_range(name: str, array: np.ndarray, low: float, high: float, what: str) -> None:
    bad = (array < low) | (array > high)
    if bad.any():
        raise ValueError(
            f"`{name}` must be {what}: {int(bad.sum())} value(s) are not, first {array[bad][0]!r} "
            f"at index {int(np.flatnonzero(bad)[0])}. Rescale rewards to [0, 1] or fix the "
            "weights (π/μ is never negative)."
        )


def _cluster_codes(cluster: object | None, n: int) -> np.ndarray:
    if cluster is None:
        return np.arange(n)
    values = pd.Series(np.asarray(cluster))
    if values.ndim != 1 or len(values) != n:
        raise ValueError(
            f"`cluster` must have one id per round: {n} rounds, received shape {values.shape}."
        )
    if values.isna().any():
        raise ValueError(
            f"`cluster` has {int(values.isna().sum())} missing id(s); give every round a cluster."
        )
    codes, _ = pd.factorize(values, sort=False)
    return codes


def _feedback(
    reward: object, weight: object, cluster: object | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = _array("reward", reward)
    w = _array("weight", weight)
    if len(r) != len(w):
        raise ValueError(
            f"`reward` and `weight` must have equal lengths. Received {len(r)} and {len(w)}."
        )
    _check_range("reward", r, 0.0, 1.0, "in [0, 1]")
    _check_range("weight", w, 0.0, np.inf, "non-negative")
    return r, w, _cluster_codes(cluster, len(r))


def _check_bootstrap(bootstrap: int) -> None:
    if int(bootstrap) < 2:
        raise ValueError(
            f"`bootstrap` must be at least 2 replicates (2000 is the default). Received: "
            f"bootstrap={bootstrap}"
        )


# ------------------------------------------------------------------------------ bootstrap


def bootstrap_counts(n_clusters: int, bootstrap: int, seed: int) -> Iterator[np.ndarray]:
    """Multinomial(C; 1/C, …, 1/C) resampling counts of C clusters, in chunks of replicates.

    Yields int arrays (b, C) whose rows sum to C, `bootstrap` rows in all; the same
    (n_clusters, bootstrap, seed) always yields the same counts.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, _CHUNK_CELLS // max(n_clusters, 1))
    done = 0
    while done < bootstrap:
        b = min(per_chunk, bootstrap - done)
        draws = rng.integers(0, n_clusters, size=(b, n_clusters))
        draws += (np.arange(b) * n_clusters)[:, None]
        yield np.bincount(draws.ravel(), minlength=b * n_clusters).reshape(b, n_clusters)
        done += b


def bootstrap_sums(per_cluster: np.ndarray, bootstrap: int, seed: int) -> np.ndarray:
    """Each replicate's column sums of `per_cluster` (C, m): Σ_c m_bc · X_c, shape (B, m)."""
    x = np.asarray(per_cluster, dtype=np.float64)
    chunks = [counts @ x for counts in bootstrap_counts(x.shape[0], bootstrap, seed)]
    return np.concatenate(chunks, axis=0)


def _cluster_sums(codes: np.ndarray, columns: list[np.ndarray]) -> np.ndarray:
    n_clusters = int(codes.max()) + 1
    return np.stack([np.bincount(codes, weights=c, minlength=n_clusters) for c in columns], axis=1)


def percentile_interval(
    replicates: np.ndarray, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """(α/2, 1 − α/2) quantiles of the finite replicates, α = 1 − confidence; NaN if none."""
    finite = np.asarray(replicates, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    low, high = np.quantile(finite, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def effective_sample_size(weight: np.ndarray) -> float:
    """Kish's effective sample size (Σ w)² / Σ w² (0 when every weight is 0)."""
    w = np.asarray(weight, dtype=np.float64)
    square = float((w * w).sum())
    return float(w.sum() ** 2 / square) if square > 0 else 0.0


def _ratio_estimate(
    name: str,
    numerator: np.ndarray,
    denominator: np.ndarray,
    codes: np.ndarray,
    weight: np.ndarray,
    bootstrap: int,
    seed: int,
) -> Estimate:
    _check_bootstrap(bootstrap)
    sums = _cluster_sums(codes, [numerator, denominator])
    total = sums.sum(axis=0)
    replicates = bootstrap_sums(sums, bootstrap, seed)
    low, high = percentile_interval(_ratio(replicates[:, 0], replicates[:, 1]))
    return Estimate(
        estimator=name,
        value=float(_ratio(total[0:1], total[1:2])[0]),
        ci_low=low,
        ci_high=high,
        rounds=int(len(numerator)),
        effective_matches=effective_sample_size(weight),
    )


# ----------------------------------------------------------------------------- estimators


def ips(
    reward: object,
    weight: object,
    cluster: object | None = None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Estimate:
    """Inverse propensity scoring: V̂ = (1/n) Σ_i w_i r_i, w_i = π(a_i|x_i) / μ(a_i|x_i).

    Args:
        reward: r_i ∈ [0, 1] per round (e.g. click 0/1).
        weight: w_i ≥ 0 per round.
        cluster: optional id per round; the bootstrap resamples whole clusters (sessions, users),
            so rounds of one cluster move together. Default: every round its own cluster.
        bootstrap: replicates of the percentile interval.
        seed: the bootstrap's seed (same inputs and seed → same interval).

    Returns:
        An `Estimate`; the replicates divide by each resample's own round count.

    Example:
        >>> ips([1, 0, 1, 0], [2.0, 2.0, 0.0, 0.0]).value
        0.5
    """
    r, w, codes = _feedback(reward, weight, cluster)
    return _ratio_estimate("ips", w * r, np.ones_like(r), codes, w, bootstrap, seed)


def snips(
    reward: object,
    weight: object,
    cluster: object | None = None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Estimate:
    """Self-normalized IPS: V̂ = Σ_i w_i r_i / Σ_i w_i (NaN when Σ w = 0). Arguments as `ips`.

    With 0/1 weights (a deterministic policy, uniform logging) this is the mean reward of the
    rounds where π's action was logged: the replay estimate of Li et al. 2011.
    """
    r, w, codes = _feedback(reward, weight, cluster)
    return _ratio_estimate("snips", w * r, w, codes, w, bootstrap, seed)


def ips_difference(
    reward: object,
    weight: object,
    reference_weight: object,
    cluster: object | None = None,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> Estimate:
    """V̂(π) − V̂(π_ref) = (1/n) Σ_i (w_i − w_ref,i) r_i, both IPS on the same rounds, with a
    paired bootstrap (one resample serves both, so their shared noise cancels).

    `effective_matches` is that of `weight`. Arguments as `ips`; `reference_weight` is
    π_ref(a_i|x_i) / μ(a_i|x_i) (all ones for the logging policy itself).
    """
    r, w, codes = _feedback(reward, weight, cluster)
    _, w_ref, _ = _feedback(reward, reference_weight, None)
    return _ratio_estimate("ips-diff", (w - w_ref) * r, np.ones_like(r), codes, w, bootstrap, seed)


# ------------------------------------------------------------------ Feed random-bucket adapter


@dataclass(frozen=True)
class _FeedLayout:
    """Random-bucket sessions as (S, K_max) arrays, K_max = the fewest positions of a session."""

    served: np.ndarray  # (S,) N_s, posts served in session s
    contribution: np.ndarray  # (S, K_max) y_sk
    matched: np.ndarray  # (S, K_max) 1[post at position k = π's #1]


def _feed_layout(candidates: pd.DataFrame, score_col: str) -> _FeedLayout:
    missing = [c for c in (*FEED_CANDIDATE_COLUMNS, score_col) if c not in candidates.columns]
    if missing:
        raise ValueError(
            f"Feed candidates are missing column(s) {missing}. Received columns: "
            f"{list(candidates.columns)}"
        )
    if candidates.empty:
        raise ValueError("Feed candidates are empty: need random-bucket sessions to evaluate.")
    contribution = candidates["contribution"].to_numpy()
    bad = ~np.isin(contribution, (0, 1))
    if bad.any():
        raise ValueError(
            f"Column 'contribution' must be 0/1: {int(bad.sum())} value(s) are not, first "
            f"{contribution[bad][0]!r}."
        )
    codes, _ = pd.factorize(candidates["session_id"], sort=True)
    position = candidates["position"].to_numpy().astype(np.int64)
    served = np.bincount(codes)
    if (
        (position < 0).any()
        or (position >= served[codes]).any()
        or candidates.duplicated(["session_id", "position"]).any()
    ):
        raise ValueError(
            "Column 'position' must hold each of 0..N−1 exactly once per session (N = the "
            "session's served posts, shuffled uniformly); found positions outside that range or "
            "repeated. Pass every served post of each random-bucket session, impressed or not."
        )
    top = top1_choices(candidates, score_col)
    top_post = top.set_index("session_id")["post_id"].reindex(candidates["session_id"].to_numpy())
    is_top = candidates["post_id"].to_numpy() == top_post.to_numpy()
    k_max = int(served.min())
    keep = position < k_max
    y = np.zeros((len(served), k_max))
    m = np.zeros((len(served), k_max))
    y[codes[keep], position[keep]] = contribution[keep]
    m[codes[keep], position[keep]] = is_top[keep]
    return _FeedLayout(served=served, contribution=y, matched=m)


def qualified_positions(contribution: np.ndarray) -> int:
    """The largest K such that every position k < K has at least `MIN_POSITION_CONTRIBUTIONS`
    contributions in the random bucket (so θ̂_k is estimable); at least 1."""
    counts = np.asarray(contribution).sum(axis=0)
    qualified = 0
    while qualified < len(counts) and counts[qualified] >= MIN_POSITION_CONTRIBUTIONS:
        qualified += 1
    return max(qualified, 1)


def default_positions(contribution: np.ndarray) -> int:
    """K for the equal-weight multi-position estimates: the qualified K (`qualified_positions`)
    that minimizes their variance proxy Σ_{k<K} ρ̂_k / K², ρ̂_k = θ̂₀/θ̂_k.

    At most one position per session holds π's #1, so the per-session terms of V̂_IPS@K are
    (nearly) uncorrelated and Var(V̂_IPS@K) ∝ (1/K²) Σ_{k<K} E[(N 1[·] ρ_k y_k)²]
    = (1/K²) Σ_{k<K} N ρ_k θ₀ E[p(π#1)]: deep positions add rounds but with ever larger weights.
    Depends only on position-level totals, so it is the same K for every ranker on the same data.
    """
    counts = np.asarray(contribution).sum(axis=0)
    qualified = qualified_positions(contribution)
    if qualified == 1:
        return 1
    rho = counts[0] / counts[:qualified]
    proxy = np.cumsum(rho) / np.arange(1, qualified + 1) ** 2
    return int(np.argmin(proxy)) + 1


def _multi_position_values(sums: np.ndarray, width: int, k: int) -> dict[str, np.ndarray]:
    """IPS@K, SNIPS@K and pooled@K from (B, 3·width + 1) sums of the per-session columns
    [y_k, N 1_k y_k, N 1_k for k < width; 1], using positions k < K ≤ width."""
    y, my = sums[:, :k], sums[:, width : width + k]
    m, n = sums[:, 2 * width : 2 * width + k], sums[:, 3 * width]
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.where(y > 0, y[:, :1] / np.where(y > 0, y, 1), np.nan)
        return {
            "ips": (rho * my).sum(axis=1) / (n * k),
            "snips": (rho * _ratio(my, m)).mean(axis=1),
            "pooled": y[:, 0] / n * _ratio(my.sum(axis=1), y.sum(axis=1)),
        }


def feed_top1_estimates(
    candidates: pd.DataFrame,
    score_col: str,
    *,
    positions: int | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Off-policy value of a ranker's #1 pick at position 0, on random-bucket sessions.

    Target: V(π) = E_s[P(contribution | π's #1 shown at position 0)]. In the random bucket the
    production top-N is shuffled uniformly, so the post at position k is uniform over the session's
    N_s served posts: μ(shown_k = p) = 1/N_s, independently of everything π sees.

    Estimators (keys of the result; 1_sk = 1[shown_k = π#1], ρ̂_k = θ̂₀/θ̂_k, θ̂_k = ȳ_k):
        "replay@1":  notes §15 (`replay.replay_contribution_rate`), with its Wilson interval.
        "ips@1":     (1/S) Σ_s N_s 1_s0 y_s0.
        "snips@1":   Σ_s N_s 1_s0 y_s0 / Σ_s N_s 1_s0; equals replay@1 when every N_s is equal.
        "ips@K":     (1/S) Σ_s (1/K) Σ_{k<K} N_s 1_sk y_sk ρ̂_k.
        "snips@K":   (1/K) Σ_{k<K} ρ̂_k Σ_s N_s 1_sk y_sk / Σ_s N_s 1_sk: the replay rate at each
                     position rescaled to position 0, averaged (each position normalized by its
                     own weights, whose expectation is S).
        "pooled@K":  Σ_{k<K} α_k ρ̂_k (1/S) Σ_s N_s 1_sk y_sk with α_k = θ̂_k / Σ_{j<K} θ̂_j
                     = ȳ₀ · Σ_{k<K} Σ_s N_s 1_sk y_sk / Σ_{k<K} Σ_s y_sk: the same per-position
                     unbiased terms, weighted by their inverse variance (∝ 1/ρ_k, see
                     `default_positions`) instead of equally, so deep positions cost nothing:
                     Var ∝ θ₀ / Σ_{k<K} θ_k against θ₀ for ips@1.
    Their `estimator` names carry the K used, e.g. "ips@K=4".

    Position bias (Wang et al. 2016, "Learning to rank with selection bias in personal search";
    Joachims et al. 2017, "Unbiased learning-to-rank with biased feedback"): assume position
    affects only whether a post is examined, multiplicatively, P(y_k = 1 | post p at k) =
    θ_k · p_contribution(s, p). The simulated world satisfies this exactly (`spark/world/kernel.py`:
    impression 0.8^k × examination 0.95 (1 + k)^−0.5, actions given examination independent of
    position; `spark/world/truth.py`). Under the uniform shuffle E[y_k] = θ_k E_s[p̄_s] (p̄_s the
    mean over served posts), so the mean contribution rate at position k estimates θ_k up to a
    common constant, and

        E[N_s 1_sk y_sk ρ_k | s] = N_s · (1/N_s) · θ_k p(s, π#1) · θ₀/θ_k
                                 = θ₀ p(s, π#1) = V_s(π)   for every k,

    so each position is an unbiased replay of position 0 (ρ̂ is a ratio estimate: consistent, with
    O(1/count) bias). ρ̂ is re-estimated in every bootstrap replicate, so the interval carries its
    error. If position also changed the action probabilities given examination, the @K estimates
    would be biased while @1 would not.

    Args:
        candidates: every served post of the random-bucket sessions: session_id, post_id,
            position (0-based, each of 0..N_s−1 once per session), contribution (0/1; 0 when not
            impressed) and `score_col`. Other columns (e.g. `impressed`) are ignored.
        score_col: the ranker's score (higher = earlier; ties go to the smallest post_id).
        positions: K for every multi-position estimate. Default: `default_positions` (the
            variance-minimizing K) for ips@K and snips@K, and `qualified_positions` (every
            position with ≥ `MIN_POSITION_CONTRIBUTIONS` contributions) for pooled@K.
        bootstrap, seed: the sessions' cluster bootstrap.

    Returns:
        {"replay@1", "ips@1", "snips@1", "ips@K", "snips@K", "pooled@K"} → `Estimate`.
    """
    _check_bootstrap(bootstrap)
    layout = _feed_layout(candidates, score_col)
    y, matched, n_served = layout.contribution, layout.matched, layout.served
    k_max = y.shape[1]
    if positions is None:
        k_equal, k_pooled = default_positions(y), qualified_positions(y)
    elif not 1 <= int(positions) <= k_max:
        raise ValueError(
            f"`positions` must be in 1..{k_max} (the fewest posts served in a session). "
            f"Received: positions={positions}"
        )
    else:
        k_equal = k_pooled = int(positions)
    width = max(k_equal, k_pooled)
    counts = y[:, :width].sum(axis=0)
    if width > 1 and (counts == 0).any():
        raise ValueError(
            f"Position(s) {[int(i) for i in np.flatnonzero(counts == 0)]} have no contribution, "
            f"so θ₀/θ_k is undefined; pass a smaller `positions` (received positions={width})."
        )
    replay = replay_contribution_rate(candidates, score_col)
    weight = n_served[:, None] * matched
    sessions = np.arange(len(n_served))
    out = {
        "replay@1": Estimate(
            estimator="replay@1",
            value=replay.rate,
            ci_low=replay.ci_low,
            ci_high=replay.ci_high,
            rounds=replay.sessions,
            effective_matches=float(replay.matched),
        ),
        "ips@1": replace(
            ips(y[:, 0], weight[:, 0], sessions, bootstrap=bootstrap, seed=seed),
            estimator="ips@1",
        ),
        "snips@1": replace(
            snips(y[:, 0], weight[:, 0], sessions, bootstrap=bootstrap, seed=seed),
            estimator="snips@1",
        ),
    }

    per_session = np.concatenate(
        [y[:, :width], weight[:, :width] * y[:, :width], weight[:, :width], np.ones((len(y), 1))],
        axis=1,
    )
    replicates = bootstrap_sums(per_session, bootstrap, seed)
    full = per_session.sum(axis=0, keepdims=True)
    rho = counts[0] / np.where(counts > 0, counts, 1)
    for name, k in (("ips", k_equal), ("snips", k_equal), ("pooled", k_pooled)):
        low, high = percentile_interval(_multi_position_values(replicates, width, k)[name])
        row_weight = weight[:, :k] * (rho[None, :k] if name != "pooled" else 1.0)
        out[f"{name}@K"] = Estimate(
            estimator=f"{name}@K={k}",
            value=float(_multi_position_values(full, width, k)[name][0]),
            ci_low=low,
            ci_high=high,
            rounds=int(len(y) * k),
            effective_matches=effective_sample_size(row_weight.ravel()),
        )
    return out
