"""The Ads CTR model's examples: a day's sponsored impressions joined with the ads and members.

`ads_examples` turns the Ads raw tables of the log contract (`spark.schemas`: AD_IMPRESSIONS,
AD_CATALOG, MEMBERS) into one model-ready row per impressed sponsored slot, after checking every
value the model and the pricing rely on. Each row carries:

- keys: date, session_id, split ("train" | "holdout"), member_id, ad_id, campaign_id,
  advertiser_id, chargeability_group, group_index, ranker_pctr;
- labels: one per chargeability group g (`CHARGEABILITY_GROUPS`), named after it:

      y_g = max(a_0, …, a_g),   a = the impression's actions in `AD_ACTIONS` order

  (website visit only; visit or social action; any engagement, video views included), and
  `chargeable_click` = y_{g(ad)}, the ad's own group's label (what the advertiser pays for);
- the dense features `ADS_DENSE_FEATURES`, in the paper's five groups (§1: "context, ad, member,
  advertiser, ad×member"), `ADS_FEATURE_GROUPS`:

      context     one-hot platform (web, ios, android), sin/cos(2π·hour/24), slot
      ad          one-hot creative (image, video, text, carousel), one-hot chargeability group,
                  log(bid)
      member      seniority, log_connections
      advertiser  log(1 + live ads of the advertiser in the day's catalog)
      ad×member   [member industry == advertiser industry]

The split hashes the session id (SplitMix64 mod 1000 < holdout_share·1000), so a session is
never split and the same session always lands on the same side.

NOT CONFIRMED by the paper (our decisions): the feature list inside each group (the paper names
the groups only); an unseen platform or creative type gets an all-zero one-hot instead of an
error (a user's logs may hold other values); the advertiser's industry is not a dense input (a
raw integer code would impose an order; the industry-match bit and the advertiser id carry it);
the advertiser group's live-ads count; the holdout hash (the feed's examples hash with Spark's
xxhash64 mod 10; this is a pure-numpy hash at a finer grain).

Example:

    frame = ads_examples(impressions, catalog, members)      # pandas frames of the contract
    train = frame[frame["split"] == "train"]
    source = KeyedArrayExamples(ads_inputs(train), ads_labels(train, CHARGEABILITY_GROUPS))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from spark.schemas import AD_ACTIONS, AD_CATALOG, AD_IMPRESSIONS, CHARGEABILITY_GROUPS

ADS_ID_FEATURES: tuple[str, ...] = ("member_id", "advertiser_id", "campaign_id", "ad_id")
"""The ID inputs of the Ads model, each hashed into its own embedding table (`models.ads`)."""
SINGLE_HEAD: tuple[str, ...] = ("chargeable_click",)
"""The heads of the no-MTL variant: one head on every ad's own chargeable click."""
PLATFORM_VALUES: tuple[str, ...] = ("web", "ios", "android")
CREATIVE_TYPES: tuple[str, ...] = ("image", "video", "text", "carousel")

ADS_FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "context": (
        *(f"platform_{p}" for p in PLATFORM_VALUES),
        "hour_sin",
        "hour_cos",
        "slot",
    ),
    "ad": (
        *(f"creative_{c}" for c in CREATIVE_TYPES),
        *(f"group_{g}" for g in CHARGEABILITY_GROUPS),
        "log_bid",
    ),
    "member": ("seniority", "log_connections"),
    "advertiser": ("advertiser_log_live_ads",),
    "ad_x_member": ("industry_match",),
}
"""The paper's five dense feature groups (§1) → their columns, in `ADS_DENSE_FEATURES` order."""
ADS_DENSE_FEATURES: tuple[str, ...] = tuple(c for cols in ADS_FEATURE_GROUPS.values() for c in cols)

KEY_COLUMNS: tuple[str, ...] = (
    "date", "session_id", "split", "member_id", "ad_id", "campaign_id", "advertiser_id",
    "chargeability_group", "group_index", "ranker_pctr",
)  # fmt: skip
ADS_EXAMPLE_COLUMNS: tuple[str, ...] = (
    *KEY_COLUMNS,
    *CHARGEABILITY_GROUPS,
    "chargeable_click",
    *ADS_DENSE_FEATURES,
)
"""The columns of `ads_examples`, in order."""

SPLITS: tuple[str, ...] = ("train", "holdout")
HOLDOUT_BUCKETS = 1000
_MEMBER_COLUMNS = ("member_id", "seniority", "industry", "country", "log_connections")
_ACTION_COLUMNS = (*AD_ACTIONS, "chargeable_click")
_SAMPLES = 5


def ads_examples(
    impressions: pd.DataFrame,
    catalog: pd.DataFrame,
    members: pd.DataFrame,
    holdout_share: float = 0.1,
) -> pd.DataFrame:
    """The day's model-ready rows (module docstring): impressed slots × ad × member.

    Args:
        impressions: AD_IMPRESSIONS rows (every served slot; only impressed ones are kept).
        catalog: the day's AD_CATALOG rows; with several dates, an impression joins the
            snapshot of its own date.
        members: MEMBERS rows (extra columns ignored): one row per member_id, or one per
            (date, member_id) with a `date` column, joined on the impression's date.
        holdout_share: share of sessions in the "holdout" split, in [0, 1].

    Returns:
        DataFrame with `ADS_EXAMPLE_COLUMNS`, in the impressions' order.

    Raises:
        ValueError: a missing column, or a value breaking a rule of the contract: ad_id not in
            the catalog, duplicated (session_id, slot) or (date, ad_id), chargeability_group
            outside `CHARGEABILITY_GROUPS`, ranker_pctr outside (0, 1) or non-finite, bid <= 0 or
            non-finite, an action not in {0, 1}, an action on a slot not impressed,
            chargeable_click not the group rule, member_id missing from members, hour outside
            0..23, a negative slot, non-finite member features. The message names the table,
            column, rule, count, sample values and what to do.
    """
    if not 0.0 <= holdout_share <= 1.0:
        raise ValueError(
            f"`holdout_share` must be in [0, 1]. Received: holdout_share={holdout_share}"
        )
    _require(impressions, "ad_impressions", AD_IMPRESSIONS.names)
    _require(catalog, "ad_catalog", AD_CATALOG.names)
    _require(members, "members", _MEMBER_COLUMNS)
    impressions = impressions.reset_index(drop=True)
    catalog = _checked_catalog(catalog)
    _check_impressions(impressions)

    ads = impressions.assign(date=_dates(impressions["date"])).merge(
        catalog, on=["date", "ad_id"], how="left", validate="many_to_one", indicator=True
    )
    unknown = (ads["_merge"] != "both").to_numpy()
    _fail_if(
        unknown, "ad_impressions", "ad_id", "an ad of the same day's ad_catalog",
        lambda: ads[["date", "ad_id"]].astype(str).agg(" ".join, axis=1),
        "pass the ad_catalog snapshot of the impressions' date (or drop the unknown ads)",
    )  # fmt: skip
    group_index = ads["chargeability_group"].map({g: i for i, g in enumerate(CHARGEABILITY_GROUPS)})
    group_index = group_index.to_numpy(dtype=np.int64)
    actions = ads[list(AD_ACTIONS)].to_numpy(dtype=np.int64)
    labels = np.maximum.accumulate(actions, axis=1)  # y_g = max(a_0..a_g)
    own = labels[np.arange(len(ads)), group_index]
    _fail_if(
        own != ads["chargeable_click"].to_numpy(dtype=np.int64), "ad_impressions",
        "chargeable_click", "chargeable_click = any of AD_ACTIONS[:g+1] for the ad's group g",
        lambda: ads["chargeable_click"].astype(str) + " (group " + ads["chargeability_group"]
        + ", actions " + pd.Series(map(str, actions.tolist())) + ")",
        "recompute chargeable_click from the actions with the chargeability group's rule",
    )  # fmt: skip

    member_rows = _joined_members(ads, members)
    keep = ads["impressed"].to_numpy(dtype=bool)
    ads, member_rows = ads[keep].reset_index(drop=True), member_rows[keep].reset_index(drop=True)
    labels, group_index = labels[keep], group_index[keep]

    out = pd.DataFrame(
        {
            "date": ads["date"],
            "session_id": ads["session_id"].astype(np.int64),
            "split": holdout_split(ads["session_id"].to_numpy(np.int64), holdout_share),
            "member_id": ads["member_id"].astype(np.int64),
            "ad_id": ads["ad_id"].astype(np.int64),
            "campaign_id": ads["campaign_id"].astype(np.int64),
            "advertiser_id": ads["advertiser_id"].astype(np.int64),
            "chargeability_group": ads["chargeability_group"].astype(str),
            "group_index": group_index,
            "ranker_pctr": ads["ranker_pctr"].astype(np.float64),
        }
    )
    for g, group in enumerate(CHARGEABILITY_GROUPS):
        out[group] = labels[:, g].astype(np.int8)
    out["chargeable_click"] = labels[np.arange(len(out)), group_index].astype(np.int8)
    dense = _dense_features(ads, member_rows, catalog)
    for name in ADS_DENSE_FEATURES:
        out[name] = dense[name].astype(np.float32)
    return out[list(ADS_EXAMPLE_COLUMNS)]


def holdout_split(session_ids: np.ndarray, holdout_share: float) -> np.ndarray:
    """The split of each row: "holdout" where SplitMix64(session_id) mod 1000 <
    round(holdout_share · 1000), else "train"; a session always falls on the same side."""
    buckets = splitmix64(np.asarray(session_ids, dtype=np.int64)) % np.uint64(HOLDOUT_BUCKETS)
    holdout = buckets < np.uint64(round(holdout_share * HOLDOUT_BUCKETS))
    return np.where(holdout, SPLITS[1], SPLITS[0])


def splitmix64(values: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer of int64 values (Steele et al. 2014) as uint64: a stable,
    well-mixed hash of consecutive ids (no Python `hash`, which is salted per process)."""
    z = np.asarray(values).astype(np.int64).view(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def ads_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The `AdsModel` inputs of `ads_examples` rows: the ids (int64 [n]) and "dense" (float32
    [n, len(ADS_DENSE_FEATURES)]).

    Raises:
        ValueError: a column is missing or a dense value is non-finite.
    """
    _require(frame, "ads_examples", (*ADS_ID_FEATURES, *ADS_DENSE_FEATURES))
    inputs = {name: frame[name].to_numpy(dtype=np.int64) for name in ADS_ID_FEATURES}
    dense = frame[list(ADS_DENSE_FEATURES)].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(dense)
    if bad.any():
        columns = [ADS_DENSE_FEATURES[j] for j in np.flatnonzero(bad.any(axis=0))]
        raise ValueError(
            f"ads_examples: {int(bad.any(axis=1).sum())} rows have non-finite dense features "
            f"(columns {columns}); rebuild the rows with ads_examples, which checks its inputs"
        )
    inputs["dense"] = dense
    return inputs


def ads_labels(frame: pd.DataFrame, heads: Sequence[str]) -> dict[str, np.ndarray]:
    """{head: float32 0/1 labels}: a chargeability group's head reads that group's label on every
    row; the single head "chargeable_click" reads each ad's own group's label.

    Raises:
        ValueError: an unknown head or a missing label column.
    """
    known = (*CHARGEABILITY_GROUPS, *SINGLE_HEAD)
    unknown = [h for h in heads if h not in known]
    if unknown or not heads:
        raise ValueError(
            f"Ads heads must be chargeability groups {CHARGEABILITY_GROUPS} or {SINGLE_HEAD}. "
            f"Received: heads={tuple(heads)}"
        )
    _require(frame, "ads_examples", tuple(heads))
    return {head: frame[head].to_numpy(dtype=np.float32) for head in heads}


def served_probability(probs: Mapping[str, np.ndarray], frame: pd.DataFrame) -> np.ndarray:
    """The pCTR that prices each row's ad: the probability of the head of the ad's own
    chargeability group (a single-head model: its only head), float64 [n].

    Raises:
        ValueError: a multi-head model lacks a group's head, or the lengths differ.
    """
    if len(probs) == 1:
        served = np.asarray(next(iter(probs.values())), dtype=np.float64).reshape(-1)
    else:
        missing = [g for g in CHARGEABILITY_GROUPS if g not in probs]
        if missing:
            raise ValueError(
                f"a multi-head Ads model must have a head per chargeability group; missing "
                f"{missing}. Received heads: {sorted(probs)}"
            )
        _require(frame, "ads_examples", ("group_index",))
        stacked = np.stack(
            [np.asarray(probs[g], dtype=np.float64).reshape(-1) for g in CHARGEABILITY_GROUPS],
            axis=1,
        )
        if len(stacked) != len(frame):
            raise ValueError(f"{len(stacked)} probabilities for {len(frame)} rows; need one a row")
        index = frame["group_index"].to_numpy(dtype=np.int64)
        served = stacked[np.arange(len(frame)), index]
    if len(served) != len(frame):
        raise ValueError(f"{len(served)} probabilities for {len(frame)} rows; need one a row")
    return served


# ------------------------------------------------------------------ checks and joins


def _require(frame: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} is missing columns {missing} (has {list(frame.columns)}); build it with "
            "the log contract's schema (spark.schemas)"
        )


def _fail_if(
    bad: np.ndarray,
    table: str,
    column: str,
    rule: str,
    values: pd.Series | Callable[[], pd.Series],
    todo: str,
) -> None:
    """Raise naming the table, column, rule, count and a few offending values when any `bad`
    (`values`: one per row, or a function building them, called only on failure)."""
    bad = np.asarray(bad, dtype=bool)
    if not bad.any():
        return
    values = values() if callable(values) else values
    samples = list(pd.Series(values).reset_index(drop=True)[bad].astype(str).unique()[:_SAMPLES])
    raise ValueError(
        f"{table}.{column}: {int(bad.sum())} rows break the rule '{rule}' (e.g. {samples}); {todo}"
    )


def _dates(values: pd.Series) -> pd.Series:
    """Dates as `datetime.date` objects, whether they came as dates, timestamps or strings."""
    return pd.to_datetime(values).dt.date


def _checked_catalog(catalog: pd.DataFrame) -> pd.DataFrame:
    catalog = catalog.reset_index(drop=True)
    _fail_if(
        ~catalog["chargeability_group"].isin(CHARGEABILITY_GROUPS).to_numpy(), "ad_catalog",
        "chargeability_group", f"one of {CHARGEABILITY_GROUPS}", catalog["chargeability_group"],
        "map the ad's chargeable-click definition onto one of the three groups",
    )  # fmt: skip
    bid = pd.to_numeric(catalog["bid"], errors="coerce").to_numpy(dtype=np.float64)
    _fail_if(
        ~(np.isfinite(bid) & (bid > 0)), "ad_catalog", "bid", "finite and > 0", catalog["bid"],
        "drop the ads without a positive bid or fix the bids",
    )  # fmt: skip
    catalog = catalog.assign(date=_dates(catalog["date"]))
    duplicated = catalog.duplicated(["date", "ad_id"], keep=False).to_numpy()
    _fail_if(
        duplicated, "ad_catalog", "ad_id", "one row per (date, ad_id)",
        lambda: catalog[["date", "ad_id"]].astype(str).agg(" ".join, axis=1),
        "keep one snapshot row per ad and day",
    )  # fmt: skip
    live = catalog.groupby(["date", "advertiser_id"])["ad_id"].transform("size")
    return catalog[
        ["date", "ad_id", "campaign_id", "advertiser_id", "advertiser_industry",
         "chargeability_group", "creative_type", "bid"]
    ].assign(advertiser_live_ads=live.to_numpy())  # fmt: skip


def _check_impressions(impressions: pd.DataFrame) -> None:
    _fail_if(
        impressions.duplicated(["session_id", "slot"], keep=False).to_numpy(), "ad_impressions",
        "(session_id, slot)", "one row per served slot",
        lambda: impressions[["session_id", "slot"]].astype(str).agg(" ".join, axis=1),
        "deduplicate the served slots",
    )  # fmt: skip
    pctr = pd.to_numeric(impressions["ranker_pctr"], errors="coerce").to_numpy(dtype=np.float64)
    _fail_if(
        ~(np.isfinite(pctr) & (pctr > 0) & (pctr < 1)), "ad_impressions", "ranker_pctr",
        "a probability in the open interval (0, 1)", impressions["ranker_pctr"],
        "log the production ranker's calibrated pCTR, clipped into (0, 1)",
    )  # fmt: skip
    for column in _ACTION_COLUMNS:
        _fail_if(
            ~impressions[column].isin([0, 1]).to_numpy(), "ad_impressions", column,
            "0 or 1", impressions[column], "log each action as a 0/1 flag",
        )  # fmt: skip
    impressed = impressions["impressed"].isin([True, 1]).to_numpy()
    _fail_if(
        ~impressions["impressed"].isin([True, False, 0, 1]).to_numpy(), "ad_impressions",
        "impressed", "a boolean", impressions["impressed"], "log impressed as true/false",
    )  # fmt: skip
    acted = impressions[list(_ACTION_COLUMNS)].to_numpy(dtype=np.int64).any(axis=1)
    _fail_if(
        acted & ~impressed, "ad_impressions", "impressed",
        "actions are 0 where the slot was not impressed", impressions["session_id"],
        "zero the actions of slots the member never scrolled to, or mark them impressed",
    )  # fmt: skip
    hour = pd.to_numeric(impressions["hour"], errors="coerce").to_numpy(dtype=np.float64)
    _fail_if(
        ~np.isin(hour, np.arange(24)), "ad_impressions", "hour", "an hour in 0..23",
        impressions["hour"], "log the local hour of the session",
    )  # fmt: skip
    slot = pd.to_numeric(impressions["slot"], errors="coerce").to_numpy(dtype=np.float64)
    _fail_if(
        ~(np.isfinite(slot) & (slot >= 0)), "ad_impressions", "slot", "a 0-based slot >= 0",
        impressions["slot"], "log slots from 0",
    )  # fmt: skip


def _joined_members(ads: pd.DataFrame, members: pd.DataFrame) -> pd.DataFrame:
    """The member row of each ads row (same order), by member_id, or by (date, member_id) when
    `members` holds several snapshots of a member."""
    members = members.reset_index(drop=True)
    keys = ["member_id"]
    if members["member_id"].duplicated().any() and "date" in members.columns:
        keys = ["date", "member_id"]
        members = members.assign(date=_dates(members["date"]))
    _fail_if(
        members.duplicated(keys, keep=False).to_numpy(), "members", "member_id",
        f"one row per {tuple(keys)}", members["member_id"],
        "pass one MEMBERS snapshot (e.g. the impressions' date)",
    )  # fmt: skip
    joined = ads[keys].merge(
        members[[*keys, *_MEMBER_COLUMNS[1:]]], on=keys, how="left", indicator=True
    )
    _fail_if(
        (joined["_merge"] != "both").to_numpy(), "ad_impressions", "member_id",
        f"a member of the members table (joined on {tuple(keys)})", ads["member_id"],
        "pass the MEMBERS snapshot that covers every member who saw an ad",
    )  # fmt: skip
    for column in ("seniority", "industry", "log_connections"):
        value = pd.to_numeric(joined[column], errors="coerce").to_numpy(dtype=np.float64)
        _fail_if(
            ~np.isfinite(value), "members", column, "finite and not null", joined[column],
            "fill the member's profile field",
        )  # fmt: skip
    return joined


def _dense_features(
    ads: pd.DataFrame, member_rows: pd.DataFrame, catalog: pd.DataFrame
) -> dict[str, np.ndarray]:
    """`ADS_DENSE_FEATURES` of the joined impressed rows (module docstring: the formulas)."""
    out: dict[str, np.ndarray] = {}
    platform = ads["platform"].astype(str).to_numpy()
    for value in PLATFORM_VALUES:
        out[f"platform_{value}"] = (platform == value).astype(np.float64)
    angle = 2.0 * np.pi * ads["hour"].to_numpy(dtype=np.float64) / 24.0
    out["hour_sin"], out["hour_cos"] = np.sin(angle), np.cos(angle)
    out["slot"] = ads["slot"].to_numpy(dtype=np.float64)
    creative = ads["creative_type"].astype(str).to_numpy()
    for value in CREATIVE_TYPES:
        out[f"creative_{value}"] = (creative == value).astype(np.float64)
    group = ads["chargeability_group"].astype(str).to_numpy()
    for value in CHARGEABILITY_GROUPS:
        out[f"group_{value}"] = (group == value).astype(np.float64)
    out["log_bid"] = np.log(ads["bid"].to_numpy(dtype=np.float64))
    out["seniority"] = member_rows["seniority"].to_numpy(dtype=np.float64)
    out["log_connections"] = member_rows["log_connections"].to_numpy(dtype=np.float64)
    out["advertiser_log_live_ads"] = np.log1p(ads["advertiser_live_ads"].to_numpy(np.float64))
    out["industry_match"] = (
        member_rows["industry"].to_numpy(dtype=np.int64)
        == ads["advertiser_industry"].to_numpy(dtype=np.int64)
    ).astype(np.float64)
    return out
