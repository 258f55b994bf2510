"""The daily posterior update (paper §7): after each day's training, the last-layer posterior of
the promoted model takes in that day's training rows, and the explore/exploit figures of the day.

    Λ_t = f·Λ_{t−1} + Z_tᵀZ_t,   Zᵀy_t likewise       (`LastLayerPosterior.update`)

with Z_t = [h_L(x), 1] of the day's training rows at their logged positions (`features`) and y_t
their contribution labels. The previous day's posterior is carried over only when its Z has the
same width and the model warm-started from the model it was built for (the same network,
trained further); after a cold start, or a model whose representation changed shape, the update
starts from the prior.

Exploration's reach is measured on the day's held-out sessions, ranked at position 0 as serving
ranks: the share of exploring sessions whose top slot a Thompson draw changes, against the greedy
ranking by the posterior mean. Serving explores in a share `explore_share` of the sessions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from models.explore.features import last_layer_features
from models.explore.posterior import LastLayerPosterior
from models.explore.thompson import greedy_scores, thompson_scores
from models.registry import MANIFEST_FILE, load_model, model_id_of
from spark.schemas import CONTRIBUTION_ACTIONS

LINEAGE_FILE = "lineage.json"


@dataclasses.dataclass(frozen=True)
class PosteriorUpdate:
    """What the day's update did: the posterior, where it came from, and the figures."""

    posterior: LastLayerPosterior
    model_id: str
    carried_over: bool
    rows: int
    top_slot_changed: float
    sessions: int


def update_posterior(
    model_dir: Path,
    examples: pd.DataFrame,
    previous_dir: Path | None,
    out_dir: Path,
    *,
    prior_scale: float = 1.0,
    forgetting: float = 1.0,
    explore_share: float = 1.0,
    seed: int = 0,
) -> PosteriorUpdate:
    """Update yesterday's posterior (or the prior) with the day's training rows; save it.

    Args:
        model_dir: the model promoted as of the day.
        examples: the day's `training_examples` (train rows update, holdout rows measure).
        previous_dir: the previous day's posterior directory, if any.
        out_dir: where to write this day's posterior.
        prior_scale, forgetting: see `LastLayerPosterior`.
        explore_share: share of sessions that serving ranks by a Thompson draw (recorded with
            the posterior for `thompson_scores`).
        seed: seeds the Thompson draws of the measurement.
    """
    model, _ = load_model(model_dir)
    model_id = model_id_of(model_dir)
    train = examples[examples["split"] == "train"]
    if train.empty:
        raise ValueError("the day has no training rows to update the posterior with")
    z = last_layer_features(model, train, rank_at_top=False)
    y = train[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy(dtype=np.float64)
    previous, carried = _carried_over(previous_dir, model_dir, z.shape[1])
    start = previous or LastLayerPosterior.prior(z.shape[1], prior_scale)
    posterior = start.update(z, y, forgetting=forgetting if previous else 1.0)
    changed, sessions = _top_slot_changed(
        model, posterior, examples[examples["split"] == "holdout"], seed
    )
    posterior.save(out_dir)
    lineage = {"model_id": model_id, "explore_share": explore_share, "carried_over": carried}
    (Path(out_dir) / LINEAGE_FILE).write_text(json.dumps(lineage))
    return PosteriorUpdate(posterior, model_id, carried, len(train), changed, sessions)


def _carried_over(
    previous_dir: Path | None, model_dir: Path, dim: int
) -> tuple[LastLayerPosterior | None, bool]:
    """Yesterday's posterior when it fits this model (same width, the model warm-started from
    the model it was built for, or is that model)."""
    if previous_dir is None or not (Path(previous_dir) / "posterior.npz").exists():
        return None, False
    previous = LastLayerPosterior.load(previous_dir)
    built_for = json.loads((Path(previous_dir) / LINEAGE_FILE).read_text())["model_id"]
    manifest = json.loads((Path(model_dir) / MANIFEST_FILE).read_text())
    base = manifest.get("metadata", {}).get("training_result", {}).get("base_model_id")
    same_network = built_for in (model_id_of(model_dir), base)
    if previous.dim != dim or not same_network:
        return None, False
    return previous, True


def _top_slot_changed(
    model, posterior: LastLayerPosterior, rows: pd.DataFrame, seed: int
) -> tuple[float, int]:
    """Share of exploring sessions whose #1 differs between a Thompson draw and the greedy
    ranking (every session explores here: the reach per exploring session)."""
    if rows.empty:
        return float("nan"), 0
    z = last_layer_features(model, rows, rank_at_top=True)
    session = rows["session_id"].to_numpy()
    frame = pd.DataFrame(
        {
            "session_id": session,
            "greedy": greedy_scores(z, posterior),
            "sampled": thompson_scores(z, session, posterior, 1.0, np.random.default_rng(seed)),
            "row": np.arange(len(rows)),
        }
    )
    top = {
        col: frame.sort_values(["session_id", col], ascending=[True, False])
        .drop_duplicates("session_id")
        .set_index("session_id")["row"]
        for col in ("greedy", "sampled")
    }
    return float((top["greedy"] != top["sampled"]).mean()), int(len(top["greedy"]))
