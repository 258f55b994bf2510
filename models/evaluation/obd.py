"""Open Bandit Dataset (ZOZOTOWN, Saito et al. 2021): real logged feedback for the off-policy
estimators of `models.evaluation.off_policy`, and three policies to evaluate on it.

Each row of `random/<campaign>/<campaign>.csv` is one round: a user (4 hashed categorical
features), one of 3 slots (`position` 1..3, here 0-based), the item a uniform-random logging
policy showed there (μ = 1/K for K items: `propensity_score`), and the click. The data is read by
path, never copied: `obd_dir()` resolves it.

Policies are learned on the earliest `TRAIN_FRACTION` of the rounds by timestamp and evaluated
on the rest:

* greedy: argmax over items of the smoothed CTR (ĉ_i = (clicks_i + m c̄) / (n_i + m), c̄ the
  training CTR, m = `PRIOR_IMPRESSIONS`), the same item in every slot and for every user. Clicks
  are rare (about 0.4%: ~30 in a campaign's training part, ~0.1 per (item, slot), and the
  user-item affinities are non-zero on ≤ 0.2% of rounds), so neither a per-slot CTR nor a model of
  the user features has anything to learn from; pooling the slots triples each item's data, and
  the slot's factor would not change the argmax anyway.
* thompson: Thompson sampling from the frozen posterior Beta(m c̄ + clicks_i,
  m (1 − c̄) + n_i − clicks_i) per item; π(a) = P(a is the argmax of one posterior draw),
  estimated from `THOMPSON_DRAWS` Monte Carlo draws (as Open Bandit Pipeline's batch action
  distribution of BernoulliTS). It needs no context: one distribution serves every round.
* random: the logging policy itself (π = μ): its on-policy value is the mean click rate, with a
  Wilson interval; its IPS equals that mean.

Each is valued with replay (Li et al. 2011: the click rate on the rounds where an action drawn
from π equals the logged one, Wilson interval), IPS and SNIPS (percentile bootstrap), and the
IPS difference from the logging policy (paired bootstrap).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.intervals import wilson_interval
from models.evaluation.off_policy import (
    DEFAULT_BOOTSTRAP,
    Estimate,
    ips,
    ips_difference,
    snips,
)

OBD_DIR_ENV = "LIRANK_OBD_DIR"
CAMPAIGN_ITEMS: dict[str, int] = {"all": 80, "men": 34, "women": 46}
N_POSITIONS = 3
REQUIRED_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "item_id",
    "position",
    "click",
    "propensity_score",
)
USER_FEATURE_COLUMNS: tuple[str, ...] = tuple(f"user_feature_{i}" for i in range(4))
TRAIN_FRACTION = 0.7
PRIOR_IMPRESSIONS = 200.0
THOMPSON_DRAWS = 20_000
POLICIES: tuple[str, ...] = ("greedy", "thompson", "random")


def obd_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The Open Bandit Dataset folder: `path`, else $LIRANK_OBD_DIR, else ../shared/datasets/obd
    beside the repository root (this file is <root>/models/evaluation/obd.py)."""
    if path is not None:
        return Path(path).expanduser().resolve()
    if os.environ.get(OBD_DIR_ENV):
        return Path(os.environ[OBD_DIR_ENV]).expanduser().resolve()
    root = Path(__file__).resolve().parents[2]
    return (root.parent / "shared" / "datasets" / "obd").resolve()


@dataclass(frozen=True)
class LoggedFeedback:
    """One campaign's rounds, in timestamp order.

    Attributes:
        campaign: "all", "men" or "women" (or the file's stem).
        n_items: K, the campaign's number of items (actions).
        timestamp: (n,) datetime64[ns] in UTC.
        item: (n,) int, the logged action in 0..K−1.
        position: (n,) int, the slot in 0..2 (the file's 1..3 minus one).
        click: (n,) int8 reward, 0/1.
        propensity: (n,) μ(item | context, position), in (0, 1].
        users: (n, 4) the hashed user features.
    """

    campaign: str
    n_items: int
    timestamp: np.ndarray
    item: np.ndarray
    position: np.ndarray
    click: np.ndarray
    propensity: np.ndarray
    users: pd.DataFrame

    def __len__(self) -> int:
        return len(self.item)

    def rows(self, index: np.ndarray | slice) -> LoggedFeedback:
        """The rounds at `index` (same campaign and items)."""
        return LoggedFeedback(
            campaign=self.campaign,
            n_items=self.n_items,
            timestamp=self.timestamp[index],
            item=self.item[index],
            position=self.position[index],
            click=self.click[index],
            propensity=self.propensity[index],
            users=self.users.iloc[index].reset_index(drop=True),
        )


def _fail(path: Path, column: str, rule: str, bad: np.ndarray, values: np.ndarray) -> None:
    if bad.any():
        raise ValueError(
            f"{path}: column {column!r} must be {rule}; {int(bad.sum())} of {len(bad)} rows are "
            f"not (first {values[bad][0]!r} at row {int(np.flatnonzero(bad)[0])}). Check that "
            "this is an Open Bandit Dataset CSV of the random policy and that `n_items` is the "
            "campaign's item count."
        )


def read_logged_feedback(path: str | os.PathLike[str], n_items: int) -> LoggedFeedback:
    """Read and validate one campaign CSV in the Open Bandit Dataset format.

    Rules (each violation raises `ValueError` naming the file, column, rule and count): the
    `REQUIRED_COLUMNS` and `USER_FEATURE_COLUMNS` exist; item_id ∈ 0..n_items−1; position ∈ 1..3;
    click ∈ {0, 1}; propensity_score finite and in (0, 1]; timestamps parse. Rows are returned in
    timestamp order (stable).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No Open Bandit Dataset file at {path}; pass the dataset folder or set ${OBD_DIR_ENV}."
        )
    if n_items < 1:
        raise ValueError(f"`n_items` must be positive. Received: n_items={n_items}")
    frame = pd.read_csv(path, index_col=0)
    missing = [c for c in (*REQUIRED_COLUMNS, *USER_FEATURE_COLUMNS) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; an Open Bandit Dataset CSV has "
            f"{list(REQUIRED_COLUMNS)} and {list(USER_FEATURE_COLUMNS)}."
        )
    if frame.empty:
        raise ValueError(f"{path}: no rows; an evaluation needs logged rounds.")
    numeric = {
        c: pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=np.float64)
        for c in ("item_id", "position", "click", "propensity_score")
    }
    item, position = numeric["item_id"], numeric["position"]
    click, propensity = numeric["click"], numeric["propensity_score"]
    _fail(
        path, "item_id", f"an integer in 0..{n_items - 1}", ~np.isin(item, np.arange(n_items)), item
    )
    _fail(
        path,
        "position",
        f"an integer in 1..{N_POSITIONS}",
        ~np.isin(position, np.arange(1, N_POSITIONS + 1)),
        position,
    )
    _fail(path, "click", "0 or 1", ~np.isin(click, (0, 1)), click)
    _fail(
        path,
        "propensity_score",
        "finite and in (0, 1]",
        ~(np.isfinite(propensity) & (propensity > 0) & (propensity <= 1)),
        propensity,
    )
    timestamp = pd.to_datetime(frame["timestamp"], utc=True, errors="coerce")
    _fail(
        path,
        "timestamp",
        "a parseable date-time",
        timestamp.isna().to_numpy(),
        frame["timestamp"].to_numpy(),
    )
    utc = timestamp.dt.tz_convert(None).to_numpy()
    order = np.argsort(utc, kind="stable")
    return LoggedFeedback(
        campaign=path.stem,
        n_items=int(n_items),
        timestamp=utc[order],
        item=item[order].astype(np.int64),
        position=position[order].astype(np.int64) - 1,
        click=click[order].astype(np.int8),
        propensity=propensity[order],
        users=frame[list(USER_FEATURE_COLUMNS)].iloc[order].reset_index(drop=True),
    )


def load_campaign(campaign: str, data_dir: str | os.PathLike[str] | None = None) -> LoggedFeedback:
    """`random/<campaign>/<campaign>.csv` of the dataset folder (`obd_dir(data_dir)`); the item
    count is the rows of the campaign's item_context.csv, else `CAMPAIGN_ITEMS`."""
    if campaign not in CAMPAIGN_ITEMS:
        raise ValueError(
            f"Unknown campaign {campaign!r}; the Open Bandit Dataset has {list(CAMPAIGN_ITEMS)}."
        )
    folder = obd_dir(data_dir) / "random" / campaign
    context = folder / "item_context.csv"
    n_items = len(pd.read_csv(context)) if context.is_file() else CAMPAIGN_ITEMS[campaign]
    return read_logged_feedback(folder / f"{campaign}.csv", n_items)


def time_split(
    logs: LoggedFeedback, train_fraction: float = TRAIN_FRACTION
) -> tuple[LoggedFeedback, LoggedFeedback]:
    """(earliest `train_fraction` of the rounds, the rest): rows are in timestamp order."""
    if not 0 < train_fraction < 1:
        raise ValueError(
            f"`train_fraction` must be in (0, 1). Received: train_fraction={train_fraction}"
        )
    cut = int(round(len(logs) * train_fraction))
    if not 0 < cut < len(logs):
        raise ValueError(
            f"{len(logs)} rounds cannot be split at train_fraction={train_fraction}: "
            "both parts need rounds."
        )
    return logs.rows(slice(0, cut)), logs.rows(slice(cut, len(logs)))


# ------------------------------------------------------------------------------- policies


def _posterior(train: LoggedFeedback, prior_impressions: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta(α_i, β_i) per item: prior m·(c̄, 1 − c̄) plus the item's clicks and non-clicks."""
    shown = np.bincount(train.item, minlength=train.n_items).astype(np.float64)
    clicks = np.bincount(train.item, weights=train.click, minlength=train.n_items)
    mean_ctr = float(train.click.mean())
    alpha = prior_impressions * mean_ctr + clicks
    beta = prior_impressions * (1 - mean_ctr) + shown - clicks
    return alpha, beta


def greedy_policy(
    train: LoggedFeedback, prior_impressions: float = PRIOR_IMPRESSIONS
) -> np.ndarray:
    """π(a): one-hot on argmax_i (clicks_i + m c̄) / (n_i + m) (ties: the smallest item id)."""
    alpha, beta = _posterior(train, prior_impressions)
    probabilities = np.zeros(train.n_items)
    probabilities[int(np.argmax(alpha / (alpha + beta)))] = 1.0
    return probabilities


def thompson_policy(
    train: LoggedFeedback,
    prior_impressions: float = PRIOR_IMPRESSIONS,
    draws: int = THOMPSON_DRAWS,
    seed: int = 0,
) -> np.ndarray:
    """π(a) of Thompson sampling on the frozen Beta posterior: the share of `draws` posterior
    samples θ ~ Beta(α, β) whose argmax is a (Monte Carlo error ≤ 0.5/sqrt(draws))."""
    alpha, beta = _posterior(train, prior_impressions)
    rng = np.random.default_rng(seed)
    winners = rng.beta(alpha, beta, size=(draws, len(alpha))).argmax(axis=1)
    return np.bincount(winners, minlength=len(alpha)) / draws


def uniform_policy(train: LoggedFeedback) -> np.ndarray:
    """π(a) = 1/K: the logging policy of the random campaign."""
    return np.full(train.n_items, 1.0 / train.n_items)


def learn_policies(train: LoggedFeedback, seed: int = 0) -> dict[str, np.ndarray]:
    """`POLICIES` → π(a), each a (K,) distribution over items, the same for every round."""
    return {
        "greedy": greedy_policy(train),
        "thompson": thompson_policy(train, seed=seed),
        "random": uniform_policy(train),
    }


# ----------------------------------------------------------------------------- evaluation


def replay_estimate(logs: LoggedFeedback, probabilities: np.ndarray, seed: int = 0) -> Estimate:
    """Li et al. 2011: draw a_t ~ π per round; the click rate of the rounds where a_t equals the
    logged item, with its Wilson interval (unbiased under uniform logging)."""
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(probabilities)
    chosen = np.searchsorted(cumulative, rng.random(len(logs)) * cumulative[-1], side="right")
    matched = chosen == logs.item
    n, k = int(matched.sum()), int(logs.click[matched].sum())
    low, high = wilson_interval(k, n)
    return Estimate(
        estimator="replay",
        value=k / n if n else float("nan"),
        ci_low=low,
        ci_high=high,
        rounds=len(logs),
        effective_matches=float(n),
    )


def evaluate_policy(
    logs: LoggedFeedback,
    probabilities: np.ndarray,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Estimate]:
    """Replay, IPS, SNIPS and the IPS difference from the logging policy of π on `logs`.

    Weights: w_t = π(a_t) / μ_t with μ_t the logged `propensity_score`; the logging policy's own
    weight is 1, so "ips-diff" = (1/n) Σ_t (w_t − 1) r_t.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.shape != (logs.n_items,) or not np.isclose(probabilities.sum(), 1.0):
        raise ValueError(
            f"`probabilities` must be a distribution over the {logs.n_items} items. Received "
            f"shape {probabilities.shape}, sum {probabilities.sum():.4f}."
        )
    weight = probabilities[logs.item] / logs.propensity
    kwargs = {"bootstrap": bootstrap, "seed": seed}
    return {
        "replay": replay_estimate(logs, probabilities, seed=seed),
        "ips": ips(logs.click, weight, **kwargs),
        "snips": snips(logs.click, weight, **kwargs),
        "ips-diff": ips_difference(logs.click, weight, np.ones(len(logs)), **kwargs),
    }


def rewarded_matches(logs: LoggedFeedback, probabilities: np.ndarray) -> int:
    """Rounds with a click whose logged item π could choose (w > 0): the events behind π's IPS.

    With none, every bootstrap resample values π at exactly 0 and its IPS/SNIPS interval
    collapses to [0, 0] (and its "ips-diff" interval looks decisive): read replay's Wilson
    interval instead. A handful of events gives an interval about as unreliable.
    """
    return int(((np.asarray(probabilities)[logs.item] > 0) & (logs.click > 0)).sum())


def on_policy_estimate(logs: LoggedFeedback) -> Estimate:
    """The logging policy's value: its mean click rate, with the Wilson interval."""
    n, k = len(logs), int(logs.click.sum())
    low, high = wilson_interval(k, n)
    return Estimate(
        estimator="on-policy",
        value=k / n,
        ci_low=low,
        ci_high=high,
        rounds=n,
        effective_matches=float(n),
    )


def evaluate_campaign(
    logs: LoggedFeedback,
    *,
    train_fraction: float = TRAIN_FRACTION,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, dict[str, Estimate]]:
    """Learn `POLICIES` on the earliest rounds and value each on the rest:
    {policy: {estimator: Estimate}}; the random policy also gets "on-policy"."""
    train, test = time_split(logs, train_fraction)
    results = {
        name: evaluate_policy(test, probabilities, bootstrap=bootstrap, seed=seed)
        for name, probabilities in learn_policies(train, seed=seed).items()
    }
    results["random"]["on-policy"] = on_policy_estimate(test)
    return results
