"""Ads CTR: what isotonic calibration does to ECE, and what 8-bit ID tables cost in AUC and save
in bytes (paper §3, §3.13, Table 8).

Run: `.venv/bin/python bench/ads.py` (about a minute on 2 cores; `--seeds N` trains each model N
times, `--world` picks a preset of `lirank_assets.settings.WORLD_PRESETS`).

1. The world's Ads examples (`lirank_assets.product_days.product_days`: the simulator's
   sponsored slots through the graph's `ads_examples`) of the cold-start window train, the next
   day is judged (next-day protocol); each slot is priced by the head of its ad's chargeability
   group (`served_probability`).
2. Two Ads models trained alike with the graph's recipe (`TrainingResource
   .product_training_config`), the graph's default architecture (IDs, DCNv2 heads), without and
   with the isotonic calibration layer on each head (Eq. 1).
3. `ece_without_isotonic`, `ece_with_isotonic`: the expected calibration error (10 equal-width
   bins) on the next day; `ece_delta` = with − without and its 95% bootstrap interval over
   sessions (200 resamples; target: below 0, beyond the interval). Then the isotonic model's ID
   tables are quantized to 8 bits after training (`quantize_ads_model`, row-wise middle-max):
   `auc_delta_8bit` = AUC(8-bit) − AUC(float) with its paired DeLong 95% interval (target
   |Δ| ≤ 0.001) and `bytes_ratio` = ID-table bytes 8-bit / float32.

4. Two ceilings from the simulator's truth on the judged day (`truth_ceilings`): the truth's own
   AUC, and that of the truth without the terms only a member id could reveal (the member ×
   advertiser interest cross, the member's ad propensity) and with yesterday's campaign effects:
   what a model of these logs could reach without member-specific knowledge.

With several seeds the ECE figures are means over seeds and the ECE interval is that of the
seed-averaged difference (sessions resampled once for all seeds).

The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import norm  # noqa: E402

from lirank_assets.product_days import product_days  # noqa: E402
from lirank_assets.resources import TrainingResource  # noqa: E402
from lirank_assets.settings import WORLD_PRESETS, Settings  # noqa: E402
from models.ads import AdsModel, AdsModelConfig  # noqa: E402
from models.ads_examples import ads_inputs, ads_labels, served_probability  # noqa: E402
from models.compression.ads import quantize_ads_model  # noqa: E402
from models.evaluation.ads import bootstrap_ece_difference  # noqa: E402
from models.evaluation.gate import expected_calibration_error, paired_auc_difference  # noqa: E402
from models.evaluation.metrics import auc  # noqa: E402
from models.inputs.stream import KeyedArrayExamples  # noqa: E402
from models.training.loop import train_feed_model  # noqa: E402
from models.training.product import predict_heads  # noqa: E402


def trained(config: AdsModelConfig, train: pd.DataFrame, training, seed: int) -> AdsModel:
    keras.utils.set_random_seed(seed)
    model = AdsModel(config)
    source = KeyedArrayExamples(ads_inputs(train), ads_labels(train, model.tasks.heads))
    train_feed_model(
        model, source, None, dataclasses.replace(training, seed=seed), tasks=model.tasks
    )
    return model


def truth_ceilings(config, day: int) -> dict[str, float]:
    """AUC on `day`'s impressed slots (label: the chargeable click) of the truth itself, and of
    the truth without what only the member id could reveal (the member × advertiser interest
    cross and the member's ad propensity) and with yesterday's campaign effects: the best any
    model of these logs could do without member-specific knowledge."""
    from spark.world import ads as world_ads
    from spark.world.ad_entities import ad_world
    from spark.world.context import world_context
    from spark.world.sessions import open_sessions
    from spark.world.state import num_blocks

    context, world = world_context(config), ad_world(config)
    parts: dict[str, list] = {"y": [], "truth": [], "without_member": []}
    for block in range(num_blocks(config)):
        members = context.members(block)
        interest = context.interest_on(members, block, day)
        sessions = open_sessions(config, day, block, members)
        slots = world_ads.simulate_ads_block(context, day, block, members, interest, sessions)
        member = sessions.member[slots.session]
        group = world.campaign_group[world.ad_campaign[slots.served]][..., None]
        common = (members.industry[member], members.seniority[member], members.conn_std[member])
        platform = sessions.platform[slots.session]
        propensity = world_ads.member_propensity(config, block, len(members.interest0))
        known = world_ads.action_probabilities(
            world, day, interest[member], *common, propensity[member], platform, slots.served
        )
        blind = world_ads.action_probabilities(
            world, day - 1, 0 * interest[member], *common, 0 * propensity[member], platform,
            slots.served,
        )  # fmt: skip
        impressed = slots.impressed
        for name, p_actions in (("truth", known), ("without_member", blind)):
            own = np.take_along_axis(world_ads.group_probabilities(p_actions), group, -1)[..., 0]
            parts[name].append((slots.p_examine[None, :] * own)[impressed])
        parts["y"].append(slots.chargeable[impressed])
    y = np.concatenate(parts["y"])
    return {
        "auc_truth": round(auc(y, np.concatenate(parts["truth"])), 4),
        "auc_truth_without_member_terms": round(auc(y, np.concatenate(parts["without_member"])), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", default="demo", choices=sorted(WORLD_PRESETS))
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = WORLD_PRESETS[args.world]
    cold_days = Settings().cold_start_days
    days = product_days(config, range(cold_days + 1))
    train = pd.concat([days[d].ads for d in range(cold_days)], ignore_index=True)
    evaluate = days[cold_days].ads
    labels = evaluate["chargeable_click"].to_numpy(dtype=np.float64)
    sessions = evaluate["session_id"].to_numpy()
    training = TrainingResource().product_training_config(incremental=False)
    inputs = ads_inputs(evaluate)
    probs = {False: [], True: []}
    quantized = []
    for seed in range(args.seeds):
        for isotonic in (False, True):
            model = trained(AdsModelConfig(isotonic=isotonic), train, training, seed)
            probs[isotonic].append(served_probability(predict_heads(model, inputs), evaluate))
            if isotonic:
                eight_bit, sizes = quantize_ads_model(model)
                quantized.append(served_probability(predict_heads(eight_bit, inputs), evaluate))
    without, with_iso = np.mean(probs[False], axis=0), np.mean(probs[True], axis=0)
    ece = {
        iso: float(np.mean([expected_calibration_error(labels, p) for p in probs[iso]]))
        for iso in (False, True)
    }
    # the seed-averaged ECE difference, its interval from one bootstrap of the sessions
    low, high = np.mean(
        [
            bootstrap_ece_difference(labels, a, b, sessions)
            for a, b in zip(probs[True], probs[False], strict=True)
        ],
        axis=0,
    )
    deltas, ses = zip(
        *(paired_auc_difference(labels, q, p) for q, p in zip(quantized, probs[True], strict=True)),
        strict=True,
    )
    z = norm.ppf(0.975)
    auc_delta, auc_se = float(np.mean(deltas)), float(np.mean(ses))
    result = {
        "world": args.world,
        "train_days": cold_days,
        "train_rows": len(train),
        "evaluated_rows": len(evaluate),
        "seeds": args.seeds,
        "ece_without_isotonic": round(ece[False], 5),
        "ece_with_isotonic": round(ece[True], 5),
        "ece_delta": round(ece[True] - ece[False], 5),
        "ece_delta_ci": [round(float(low), 5), round(float(high), 5)],
        "ece_target_met": bool(high < 0),
        "auc_without_isotonic": round(float(np.mean([auc(labels, p) for p in probs[False]])), 5),
        "auc_with_isotonic": round(float(np.mean([auc(labels, p) for p in probs[True]])), 5),
        "auc_production": round(auc(labels, evaluate["ranker_pctr"].to_numpy()), 5),
        "observed_expected_without": round(float(labels.sum() / without.sum()), 4),
        "observed_expected_with": round(float(labels.sum() / with_iso.sum()), 4),
        "auc_delta_8bit": round(auc_delta, 6),
        "auc_delta_8bit_ci": [round(auc_delta - z * auc_se, 6), round(auc_delta + z * auc_se, 6)],
        "auc_delta_8bit_target_met": bool(abs(auc_delta) <= 0.001),
        "bytes_ratio": round(float(sizes["bytes_ratio"]), 4),
        **truth_ceilings(config, cold_days),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
