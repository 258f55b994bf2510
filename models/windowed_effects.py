"""Per-post and per-author random effects refit on a trailing window of log time every 8 hours (§8).

Paper §8 (notes §8): the RO ("Root Object") random-effect model is retrained **every 8 hours** on
the latest data, learns the residual between the global model's prediction and the labels, and is
combined as y_final = σ(logit(y_global) + logit(y_random)). This module is the pure part of that
model at the paper's cadence; `models.random_effects` keeps the once-a-day per-post fit.

Model [interp]. For a row i of post p(i) by author a(i), with the global model's logit as a fixed
offset o_i = logit(y_global,i):

    P(y_i = 1) = σ(η_i),   η_i = o_i + b_post[p(i)] + b_author[a(i)]
    b_post ~ N(0, 1/λ_post),   b_author ~ N(0, 1/λ_author)

and the effects of one window W maximize the penalized Bernoulli log-likelihood

    L(b) = Σ_{i ∈ W} [y_i log σ(η_i) + (1 − y_i) log(1 − σ(η_i))]
           − (λ_post/2) Σ_p b_post[p]² − (λ_author/2) Σ_a b_author[a]²

Fit: Newton's method on the joint problem, vectorized (no Python loop over entities). L is
strictly concave for λ > 0. Posts are nested in authors (a post has one author). With row weights
w_i = σ(η_i)(1 − σ(η_i)) and sums per post and per author

    h_p = Σ_{i ∈ p} w_i,   g_p = Σ_{i ∈ p} (y_i − σ(η_i)) − λ_post b_p,   H_p = h_p + λ_post
    h_a = Σ_{p ∈ a} h_p,   g_a = Σ_{i ∈ a} (y_i − σ(η_i)) − λ_author b_a

the Hessian is −∇²L = [[diag(H_p), C], [Cᵀ, diag(h_a + λ_author)]] with C[p, a] = h_p when
a(p) = a. Eliminating the posts leaves a *diagonal* Schur complement over authors, so the exact
joint Newton step is two passes of `np.bincount`:

    Δb_a = (g_a − Σ_{p ∈ a} h_p g_p / H_p) / (h_a + λ_author − Σ_{p ∈ a} h_p² / H_p)
    Δb_p = (g_p − h_p Δb_{a(p)}) / H_p

It stops when every step is below `tol` (about 5 steps). Alternating post and author blocks
(backfitting) reaches the same optimum but very slowly on nested IDs: an author's step is almost
undone by its posts' steps. A post seen with two authors is rejected (`ValueError`).

Decisions:
- **Cadence 8 h** (the paper's): window ends lie on multiples of `cadence_hours` of log time
  (for a day: hours 8, 16, 24).
- **Window 24 h** trailing (default): the window ending at e is fit on rows with log time t in
  [e − window_hours, e), i.e. the hour buckets [t, t + 1) inside (e − window_hours, e]; it reaches
  into the previous day's rows when they are given. On the demo world an 8-hour window holds a
  third of the rows, too few per post, and loses to 24 hours (`bench/popularity.py`).
- **Strictly out of window**: the effects of the window ending at e score only rows with
  e ≤ t < e + cadence_hours (the next window's traffic). A row is never scored with effects fit on
  a window that contains it; rows with no preceding window keep the global model (b = 0).
- **Post and author**: the data identify the sum b_post + b_author per post, the priors the split:
  an author's effect pools all its posts (the shared part), a post's effect is its own residual
  beyond its author. A new post from a known author gets the author's effect, which is what helps
  posts younger than a window.
- **Prior** λ_post = λ_author = 10 (prior sd ≈ 0.3 on the logit scale): with positive rates near
  0.1 a row adds only σ(1 − σ) ≈ 0.09 to the curvature, so λ = 1 (the daily per-post model's `l2`)
  lets a post with ten rows move by its noise; on the demo world λ = 1 hurts both AUC and log loss
  and λ = 10 helps. The bench picks λ on a selection day and reports later days.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

POST_EFFECT_COLUMNS: tuple[str, ...] = ("post_id", "effect", "count")
AUTHOR_EFFECT_COLUMNS: tuple[str, ...] = ("author_id", "effect", "count")
_MAX_STEP = 4.0  # Newton steps are clipped so a far-off start cannot overshoot; still converges.


@dataclasses.dataclass(frozen=True)
class WindowedEffectsConfig:
    """How often, on how much log time, and how strongly the windowed effects are fit.

    Args:
        cadence_hours: hours between refits; window ends are multiples of it (paper: 8).
        window_hours: length of the trailing window each fit sees.
        l2_post: λ_post > 0, the prior precision of the per-post effects.
        l2_author: λ_author > 0, the prior precision of the per-author effects.
        iterations: maximum joint Newton steps.
        tol: stop when every step is below this.
    """

    cadence_hours: float = 8.0
    window_hours: float = 24.0
    l2_post: float = 10.0
    l2_author: float = 10.0
    iterations: int = 30
    tol: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("cadence_hours", "window_hours", "l2_post", "l2_author", "tol"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"`{name}` must be positive. Received: {name}={value}")
        if self.iterations < 1:
            raise ValueError(
                f"`iterations` must be at least 1. Received: iterations={self.iterations}"
            )


@dataclasses.dataclass(frozen=True)
class PostAuthorEffects:
    """One fit: `posts` (post_id, effect, count) and `authors` (author_id, effect, count)."""

    posts: pd.DataFrame
    authors: pd.DataFrame
    iterations: int


@dataclasses.dataclass(frozen=True)
class WindowEffects:
    """The effects fit on log time [end − window_hours, end); they score [end, end + cadence)."""

    end: float
    rows: int
    effects: PostAuthorEffects


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _as_rows(**arrays: np.ndarray) -> dict[str, np.ndarray]:
    flat = {name: np.asarray(a).ravel() for name, a in arrays.items()}
    shapes = {name: a.shape for name, a in flat.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name}.shape={shape}" for name, shape in shapes.items())
        raise ValueError(f"all inputs must have the same length. Received: {listed}")
    return flat


def fit_post_author_effects(
    post_ids: np.ndarray,
    author_ids: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    l2_post: float = 10.0,
    l2_author: float = 10.0,
    iterations: int = 30,
    tol: float = 1e-6,
) -> PostAuthorEffects:
    """Per-post and per-author effects on top of fixed offsets (module docstring's L(b)).

    Args:
        post_ids, author_ids: shape (n,), the row's post and its author (any hashable values);
            each post must have one author.
        offsets: shape (n,), the global model's logit for each row.
        labels: shape (n,), 0/1 labels.
        l2_post, l2_author: the prior precisions λ_post, λ_author (> 0).
        iterations: maximum joint Newton steps; tol: stop when every step is below it.

    Returns:
        PostAuthorEffects; each table has one row per distinct ID in order of first appearance.

    Raises:
        ValueError: a bad argument, mismatched lengths, or a post seen with two authors (named).
    """
    for name, value in (("l2_post", l2_post), ("l2_author", l2_author)):
        if not value > 0:
            raise ValueError(f"`{name}` must be positive. Received: {name}={value}")
    if iterations < 1:
        raise ValueError(f"`iterations` must be at least 1. Received: iterations={iterations}")
    rows = _as_rows(post_ids=post_ids, author_ids=author_ids, offsets=offsets, labels=labels)
    o = rows["offsets"].astype(np.float64)
    y = rows["labels"].astype(np.float64)
    if not np.all(np.isfinite(o)):
        raise ValueError(f"offsets has {int((~np.isfinite(o)).sum())} non-finite values")
    post_codes, posts = pd.factorize(rows["post_ids"], sort=False)
    author_codes, authors = pd.factorize(rows["author_ids"], sort=False)
    n_p, n_a = len(posts), len(authors)
    author_of_post = np.zeros(n_p, dtype=np.int64)
    author_of_post[post_codes] = author_codes
    shared = author_of_post[post_codes] != author_codes
    if shared.any():
        post = rows["post_ids"][np.argmax(shared)]
        raise ValueError(
            f"post_id {post!r} appears with more than one author_id; posts must be nested in "
            "authors (one author per post)"
        )
    if not len(o):  # an empty window (no traffic yet): no effects
        return PostAuthorEffects(
            posts=pd.DataFrame({"post_id": posts, "effect": [], "count": np.zeros(0, np.int64)}),
            authors=pd.DataFrame(
                {"author_id": authors, "effect": [], "count": np.zeros(0, np.int64)}
            ),
            iterations=0,
        )
    y_post = np.bincount(post_codes, weights=y, minlength=n_p)
    b_post, b_author = np.zeros(n_p), np.zeros(n_a)
    done = 0
    while done < iterations:
        done += 1
        p = _sigmoid(o + b_post[post_codes] + b_author[author_codes])
        residual_post = y_post - np.bincount(post_codes, weights=p, minlength=n_p)
        h_post = np.bincount(post_codes, weights=p * (1.0 - p), minlength=n_p)
        g_post = residual_post - l2_post * b_post
        g_author = np.bincount(author_of_post, weights=residual_post, minlength=n_a)
        g_author -= l2_author * b_author
        big_h = h_post + l2_post
        ratio = h_post / big_h
        schur = (
            np.bincount(author_of_post, weights=h_post * (1.0 - ratio), minlength=n_a) + l2_author
        )
        rhs = g_author - np.bincount(author_of_post, weights=ratio * g_post, minlength=n_a)
        step_author = np.clip(rhs / schur, -_MAX_STEP, _MAX_STEP)
        step_post = np.clip(
            (g_post - h_post * step_author[author_of_post]) / big_h, -_MAX_STEP, _MAX_STEP
        )
        b_author += step_author
        b_post += step_post
        largest = max(
            np.max(np.abs(step_author), initial=0.0), np.max(np.abs(step_post), initial=0.0)
        )
        if largest < tol:
            break
    return PostAuthorEffects(
        posts=pd.DataFrame(
            {
                "post_id": posts,
                "effect": b_post,
                "count": np.bincount(post_codes, minlength=n_p).astype(np.int64),
            }
        ),
        authors=pd.DataFrame(
            {
                "author_id": authors,
                "effect": b_author,
                "count": np.bincount(author_codes, minlength=n_a).astype(np.int64),
            }
        ),
        iterations=done,
    )


def _lookup(ids: np.ndarray, table: pd.DataFrame, id_column: str) -> np.ndarray:
    """Each row's effect from `table` (0 for IDs it does not hold)."""
    index = pd.Index(table[id_column])
    position = index.get_indexer(ids)
    effects = table["effect"].to_numpy(dtype=np.float64)
    return np.where(position >= 0, effects[np.maximum(position, 0)] if effects.size else 0.0, 0.0)


def apply_post_author_effects(
    post_ids: np.ndarray, author_ids: np.ndarray, logits: np.ndarray, effects: PostAuthorEffects
) -> np.ndarray:
    """logit + b_post + b_author per row (0 for a post or author the fit never saw)."""
    rows = _as_rows(post_ids=post_ids, author_ids=author_ids, logits=logits)
    return (
        rows["logits"].astype(np.float64)
        + _lookup(rows["post_ids"], effects.posts, "post_id")
        + _lookup(rows["author_ids"], effects.authors, "author_id")
    )


def window_ends(log_hours: np.ndarray, cadence_hours: float) -> np.ndarray:
    """Every multiple of `cadence_hours` after the first row's log time, up to the first one
    after the last row's: the ends whose windows score some of these rows."""
    t = np.asarray(log_hours, dtype=np.float64)
    if t.size == 0:
        return np.zeros(0)
    first = math.floor(float(t.min()) / cadence_hours) + 1
    last = math.floor(float(t.max()) / cadence_hours) + 1
    return cadence_hours * np.arange(first, last + 1, dtype=np.float64)


def fit_windowed_effects(
    log_hours: np.ndarray,
    post_ids: np.ndarray,
    author_ids: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    config: WindowedEffectsConfig = WindowedEffectsConfig(),
    ends: Sequence[float] | None = None,
) -> list[WindowEffects]:
    """One fit per window end, each on the rows with log time in [end − window_hours, end).

    Args:
        log_hours: shape (n,), the row's log time in hours (e.g. 24 · day index + `hour`).
        post_ids, author_ids, offsets, labels: as in `fit_post_author_effects`.
        config: cadence, window length and priors.
        ends: the window ends to fit; by default `window_ends(log_hours, config.cadence_hours)`.

    Returns:
        The windows in order of their end (a window with no rows has empty tables).
    """
    rows = _as_rows(
        log_hours=log_hours, post_ids=post_ids, author_ids=author_ids, offsets=offsets,
        labels=labels,
    )  # fmt: skip
    t = rows["log_hours"].astype(np.float64)
    ends = window_ends(t, config.cadence_hours) if ends is None else np.sort(np.asarray(ends))
    windows = []
    for end in ends:
        inside = (t >= end - config.window_hours) & (t < end)
        effects = fit_post_author_effects(
            rows["post_ids"][inside],
            rows["author_ids"][inside],
            rows["offsets"][inside],
            rows["labels"][inside],
            l2_post=config.l2_post,
            l2_author=config.l2_author,
            iterations=config.iterations,
            tol=config.tol,
        )
        windows.append(WindowEffects(end=float(end), rows=int(inside.sum()), effects=effects))
    return windows


def scoring_window(
    log_hours: np.ndarray, windows: Sequence[WindowEffects], cadence_hours: float
) -> np.ndarray:
    """Per row, the index into `windows` whose effects score it: the window with the latest end e
    such that e ≤ t < e + cadence_hours; −1 where none (the row keeps the global logit)."""
    t = np.asarray(log_hours, dtype=np.float64).ravel()
    ends = np.array([w.end for w in windows], dtype=np.float64)
    if np.any(np.diff(ends) <= 0):
        raise ValueError(f"windows must be in increasing order of end. Received ends={ends}")
    index = np.searchsorted(ends, t, side="right") - 1
    valid = index >= 0
    valid[valid] = t[valid] < ends[index[valid]] + cadence_hours
    return np.where(valid, index, -1)


def apply_windowed_effects(
    log_hours: np.ndarray,
    post_ids: np.ndarray,
    author_ids: np.ndarray,
    logits: np.ndarray,
    windows: Sequence[WindowEffects],
    config: WindowedEffectsConfig = WindowedEffectsConfig(),
) -> np.ndarray:
    """Each row's global logit plus the post and author effects of the window before it
    (`scoring_window`); apply σ for y_final = σ(logit(y_global) + b_post + b_author)."""
    rows = _as_rows(log_hours=log_hours, post_ids=post_ids, author_ids=author_ids, logits=logits)
    out = rows["logits"].astype(np.float64).copy()
    which = scoring_window(rows["log_hours"], windows, config.cadence_hours)
    for index, window in enumerate(windows):
        scored = which == index
        if scored.any():
            out[scored] = apply_post_author_effects(
                rows["post_ids"][scored], rows["author_ids"][scored], out[scored], window.effects
            )
    return out
