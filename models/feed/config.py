"""Configuration of the feed model: one frozen dataclass, validated, round-tripping through JSON.

Every architecture choice names one block of a registry (`INTERACTIONS`, `HISTORY_POOLINGS`, ...);
`FeedModel` composes the blocks from the config. The categorical vocabularies (`content_types`,
`platforms`) are learned from the training data and frozen here, so the model, its input pipeline
(`input_spec()`) and the served model agree on the index of every value.

Example:

    config = FeedModelConfig(embedding_dim=8, tower_units=(16, 16), interaction="cross")
    config = config.with_vocabularies(("video", "text"), ("ios", "web"))
    FeedModelConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config   # True
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

from models.feed.calibration import CALIBRATIONS
from models.feed.dense import AFFINITY_ARCHS, DENSE_NORMALIZATIONS
from models.feed.history import (
    HISTORY_ITEMS,
    HISTORY_POOLINGS,
    TRANSFORMER_HEADS,
    TRANSFORMER_LAST_STEPS,
)
from models.feed.interactions import INTERACTIONS
from models.feed.multitask import MULTITASKS
from models.feed.score import CONTRIBUTION_SCORE_WEIGHTS, FeedScore
from models.feed.sparse import ID_EMBEDDINGS
from models.feed.towers import TOWERS
from models.inputs.spec import DENSE_FEATURES, ID_HASHES, InputSpec
from spark.schemas import ACTIONS, LABELS

CLICK_TOWER_HEADS: tuple[str, ...] = ("click", "long_dwell")
CONTRIBUTION_TOWER_HEADS: tuple[str, ...] = ("like", "comment", "share", "vote")
# task_grouping -> ((tower name, its heads), ...); every head in exactly one tower (paper §9)
TASK_GROUPINGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    # production (paper §1): click tower vs contribution tower
    "click_contribution": (
        ("click", CLICK_TOWER_HEADS),
        ("contribution", CONTRIBUTION_TOWER_HEADS),
    ),
    # paper §9 grouping strategy, by positive rate: the frequent contributions (like, vote) share
    # a tower, the rare ones (comment, share) get their own
    "by_rate": (
        ("click", CLICK_TOWER_HEADS),
        ("like_vote", ("like", "vote")),
        ("comment_share", ("comment", "share")),
    ),
    # hard parameter sharing (the paper's Table 1 baseline): one tower for every head
    "shared": (("shared", tuple(LABELS)),),
}
_POSITIVE_INTS = frozenset(
    {
        "embedding_dim",
        "cross_layers",
        "cross_projection_dim",
        "calibration_buckets",
        "qr_collisions",
        "unlimited_collisions",
        "unlimited_quotient_rows",
        "history_max_length",
        "experts",
        "task_experts",
        "expert_units",
    }
)
_VOCABULARIES = ("content_types", "platforms")
# fields a training run learns from the data (not architecture: never chosen by a user)
LEARNED_FROM_DATA: tuple[str, ...] = (*_VOCABULARIES, "dense_mean", "dense_variance")
# fields of configs saved before the vocabularies were learned from the data
_REPLACED_FIELDS = {"content_type_buckets": "content_types", "platform_buckets": "platforms"}


@dataclasses.dataclass(frozen=True)
class FeedModelConfig:
    """Architecture of the feed model; every field round-trips through `to_dict`/`from_dict`.

    Args:
        embedding_dim: width of every ID embedding (paper §1: 30).
        tower_units: hidden units of each tower's MLP (paper §1 base: 4 layers × 100).
        member_buckets: hash buckets of the viewer (member_id) table.
        actor_buckets: hash buckets of the actor table shared by author_id and hist_author_ids.
        hashtag_buckets: hash buckets of the hashtag table.
        post_buckets: hash buckets of the post table shared by post_id and hist_post_ids (only
            built when `history_items` uses posts).
        content_types, platforms: the vocabularies of the `content_type` and `platform` columns,
            learned from the training data (`with_vocabularies`). Their tables have
            len(vocabulary) + 1 rows: row 0 is the out-of-vocabulary bucket, value i of the
            vocabulary is row i + 1 (what the input pipeline of `input_spec()` produces).
        seniority_buckets, industry_buckets, country_buckets, position_buckets, hour_buckets:
            table sizes of the small categorical features (values are taken mod the size).
        action_buckets: table size of the history actions (the log contract's `ACTIONS`).
        dense_mean, dense_variance: per-column normalization constants of `DENSE_FEATURES`,
            from `dense_moments` over the full training examples.
        history_pooling: extra history vectors, a key of `HISTORY_POOLINGS`.
        history_items: what one history step's item is, a key of `HISTORY_ITEMS` ("authors",
            "posts" or "posts_and_authors"); other than "authors" only with
            history_pooling="transformer" (TransAct early fusion, paper §6).
        affinity: candidate-in-history dense features, a key of `AFFINITY_ARCHS`.
        dense_normalization: "frozen" (default: z-normalization with the frozen `dense_mean` /
            `dense_variance`) or "batch_norm" (the frozen z-normalization, then batch
            normalization with learned scale and shift, paper §16 after TransAct; see
            `models.feed.dense.DenseArch`).
        interaction: block between the features and the towers, a key of `INTERACTIONS`.
        cross_layers, cross_projection_dim: layers and rank r of the "cross" and
            "residual_dcn" interactions (paper §2: 2 layers).
        calibration: per-head logit calibration, a key of `CALIBRATIONS` (paper §3).
        calibration_buckets, calibration_step: isotonic buckets and their width; the
            calibrated range is [-8, -8 + buckets · step] (NOT CONFIRMED by the paper).
        tower: tower MLP, a key of `TOWERS` ("gated": Dense Gating on every hidden layer,
            paper §4). For the paper's large MLP use `tower_units=LARGE_TOWER_UNITS`.
        id_embedding: member/actor tables, a key of `ID_EMBEDDINGS` ("qr": quotient-remainder
            tables, paper §11; "unlimited": the unlimited vocabulary of paper A.7, needs
            id_hash="murmur": each ID's whole 64-bit Murmur hash, as two 32-bit halves, through
            two sets of QR tables with no modulo before them; the *_buckets of the member,
            actor and post tables are then unused).
        qr_collisions: m, rows of the QR remainder tables (≤ member and actor buckets).
        unlimited_collisions: m of "unlimited": rows of each half's remainder table (a power of
            two in [4, 2^30]).
        unlimited_quotient_rows: Q of "unlimited": rows of each half's quotient table (a power
            of two, Q · m ≤ 2^32). A table has 2(Q + m) rows; two IDs share all of them only
            when both halves agree mod Q · m (probability 1/(Q·m)² per pair; Q · m = 2^32: only
            equal 64-bit hashes). The defaults, 2^12 each: 16,384 rows a table, a 48-bit
            fingerprint.
        history_max_length: longest history the "transformer" pooling accepts (≥ 5, the last
            steps it outputs).
        task_grouping: how the heads are split into towers, a key of `TASK_GROUPINGS`.
        multitask: what the towers read, a key of `MULTITASKS` (paper §9, Table 1): "shared"
            (hard sharing: the interaction's output), "mmoe" (one softmax gate per tower over
            `experts` shared experts) or "ple" (`experts` shared + `task_experts` per-tower
            experts, one extraction layer).
        experts: shared experts of "mmoe" and "ple" (NOT CONFIRMED by the paper).
        task_experts: experts owned by each tower with "ple".
        expert_units: width of every expert, and of each tower's input with "mmoe" / "ple".
        score_weights: (head, weight) pairs of the final score Σ_h w_h · P(h) (`FeedScore`).
        id_hash: how raw member/author IDs become model IDs, one of `ID_HASHES` ("murmur":
            MurmurHash of "member:1234"-style strings; the served model then takes string IDs).
    """

    embedding_dim: int = 30
    tower_units: tuple[int, ...] = (100, 100, 100, 100)
    member_buckets: int = 50_000
    actor_buckets: int = 20_000
    hashtag_buckets: int = 5_000
    post_buckets: int = 20_000
    content_types: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()
    seniority_buckets: int = 16
    industry_buckets: int = 64
    country_buckets: int = 64
    position_buckets: int = 64
    hour_buckets: int = 24
    action_buckets: int = len(ACTIONS)
    dense_mean: tuple[float, ...] = (0.0,) * len(DENSE_FEATURES)
    dense_variance: tuple[float, ...] = (1.0,) * len(DENSE_FEATURES)
    history_pooling: str = "target_attention"
    history_items: str = "authors"
    affinity: str = "log_counts"
    dense_normalization: str = "frozen"
    interaction: str = "dot"
    cross_layers: int = 2
    cross_projection_dim: int = 32
    calibration: str = "none"
    calibration_buckets: int = 160
    calibration_step: float = 0.1
    tower: str = "mlp"
    id_embedding: str = "hashed"
    qr_collisions: int = 1000
    unlimited_collisions: int = 2**12
    unlimited_quotient_rows: int = 2**12
    history_max_length: int = 100
    task_grouping: str = "click_contribution"
    multitask: str = "shared"
    experts: int = 4
    task_experts: int = 2
    expert_units: int = 64
    score_weights: tuple[tuple[str, float], ...] = CONTRIBUTION_SCORE_WEIGHTS
    id_hash: str = "none"

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "score_weights", tuple((str(h), float(w)) for h, w in self.score_weights)
        )
        FeedScore(self.score_weights)  # validates the weights
        object.__setattr__(self, "tower_units", tuple(int(u) for u in self.tower_units))
        object.__setattr__(self, "dense_mean", tuple(float(m) for m in self.dense_mean))
        object.__setattr__(self, "dense_variance", tuple(float(v) for v in self.dense_variance))
        object.__setattr__(self, "calibration_step", float(self.calibration_step))
        for name in _VOCABULARIES:
            object.__setattr__(self, name, tuple(getattr(self, name)))
            _check_vocabulary(name, getattr(self, name))
        for field in dataclasses.fields(self):
            if field.name.endswith("_buckets") or field.name in _POSITIVE_INTS:
                value = getattr(self, field.name)
                if not isinstance(value, int) or value <= 0:
                    raise ValueError(
                        f"`{field.name}` must be a positive integer. "
                        f"Received: {field.name}={value!r}"
                    )
        if not self.tower_units or any(u <= 0 for u in self.tower_units):
            raise ValueError(
                "`tower_units` must be a non-empty tuple of positive integers. "
                f"Received: tower_units={self.tower_units}"
            )
        for name, choices in (
            ("history_pooling", HISTORY_POOLINGS),
            ("history_items", HISTORY_ITEMS),
            ("affinity", AFFINITY_ARCHS),
            ("dense_normalization", DENSE_NORMALIZATIONS),
            ("interaction", INTERACTIONS),
            ("calibration", CALIBRATIONS),
            ("tower", TOWERS),
            ("id_embedding", ID_EMBEDDINGS),
            ("task_grouping", TASK_GROUPINGS),
            ("multitask", MULTITASKS),
            ("id_hash", ID_HASHES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(
                    f"`{name}` must be one of {sorted(choices)}. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        for name in ("dense_mean", "dense_variance"):
            value = getattr(self, name)
            if len(value) != len(DENSE_FEATURES):
                raise ValueError(
                    f"`{name}` needs one value per dense feature {DENSE_FEATURES}. "
                    f"Received: {name}={value}"
                )
            if not all(math.isfinite(v) for v in value):
                raise ValueError(f"`{name}` must be finite. Received: {name}={value}")
        if any(v < 0 for v in self.dense_variance):
            raise ValueError(
                f"`dense_variance` must be non-negative. Received: dense_variance="
                f"{self.dense_variance}"
            )
        if not (math.isfinite(self.calibration_step) and self.calibration_step > 0):
            raise ValueError(
                "`calibration_step` must be positive and finite. "
                f"Received: calibration_step={self.calibration_step}"
            )
        if self.history_items != "authors" and self.history_pooling != "transformer":
            raise ValueError(
                f'`history_items` other than "authors" needs history_pooling="transformer" (the '
                f"other poolings attend over author embeddings). Received: history_items="
                f"{self.history_items!r}, history_pooling={self.history_pooling!r}"
            )
        id_tables = {"member_buckets": self.member_buckets, "actor_buckets": self.actor_buckets}
        if self.uses_post_ids:
            id_tables["post_buckets"] = self.post_buckets
        if self.id_embedding == "qr" and self.qr_collisions > min(id_tables.values()):
            raise ValueError(
                f"`qr_collisions` must not exceed {' or '.join(f'`{k}`' for k in id_tables)} "
                f'with id_embedding="qr". Received: qr_collisions={self.qr_collisions}, '
                + ", ".join(f"{k}={v}" for k, v in id_tables.items())
            )
        if self.id_embedding == "unlimited":
            self._check_unlimited()
        if self.history_pooling == "transformer":
            if self.history_max_length < TRANSFORMER_LAST_STEPS:
                raise ValueError(
                    f"`history_max_length` must be at least {TRANSFORMER_LAST_STEPS} with "
                    f'history_pooling="transformer" (it outputs the last {TRANSFORMER_LAST_STEPS}'
                    f" steps). Received: history_max_length={self.history_max_length}"
                )
            if self.embedding_dim % TRANSFORMER_HEADS:
                raise ValueError(
                    f"`embedding_dim` must be divisible by {TRANSFORMER_HEADS} with "
                    f'history_pooling="transformer". Received: embedding_dim={self.embedding_dim}'
                )

    def _check_unlimited(self) -> None:
        """Raise ValueError naming what makes id_embedding="unlimited" impossible."""
        if self.id_hash != "murmur":
            raise ValueError(
                'id_embedding="unlimited" embeds the 64-bit Murmur hash of string IDs; set '
                f'id_hash="murmur". Received: id_hash={self.id_hash!r}'
            )
        m, q = self.unlimited_collisions, self.unlimited_quotient_rows
        if m & (m - 1) or not 4 <= m <= 2**30:
            raise ValueError(
                "`unlimited_collisions` must be a power of two in [4, 2**30]. "
                f"Received: unlimited_collisions={m}"
            )
        if q & (q - 1) or q * m > 2**32:
            raise ValueError(
                "`unlimited_quotient_rows` must be a power of two with unlimited_quotient_rows · "
                f"unlimited_collisions ≤ 2**32. Received: unlimited_quotient_rows={q}, "
                f"unlimited_collisions={m}"
            )

    @property
    def unlimited_half_buckets(self) -> int:
        """H = Q · m: the range each 32-bit hash half is embedded in with "unlimited"."""
        return self.unlimited_quotient_rows * self.unlimited_collisions

    @property
    def uses_post_ids(self) -> bool:
        """Whether the model embeds post IDs (the history items include posts)."""
        return any(c == "post_id" for c, _ in HISTORY_ITEMS[self.history_items])

    @property
    def final_score(self) -> FeedScore:
        """The final post score Σ_h w_h · P(h) with this config's `score_weights`."""
        return FeedScore(self.score_weights)

    def input_spec(self) -> InputSpec:
        """What the input pipeline needs from this model: its ID hashing (the full 64-bit hash
        as two halves with id_embedding="unlimited") and vocabularies."""
        return InputSpec(
            id_hash=self.id_hash,
            content_types=self.content_types,
            platforms=self.platforms,
            id_halves=self.id_embedding == "unlimited",
        )

    def with_vocabularies(
        self, content_types: Iterable[str], platforms: Iterable[str]
    ) -> FeedModelConfig:
        """This config with the given (learned) `content_types` and `platforms` vocabularies."""
        return dataclasses.replace(
            self, content_types=tuple(content_types), platforms=tuple(platforms)
        )

    def to_dict(self) -> dict:
        """JSON-ready dict of every field."""
        out = dataclasses.asdict(self)
        for name in ("tower_units", "dense_mean", "dense_variance", *_VOCABULARIES):
            out[name] = list(out[name])
        out["score_weights"] = [[head, weight] for head, weight in self.score_weights]
        return out

    @classmethod
    def from_dict(cls, values: Mapping) -> FeedModelConfig:
        """Inverse of `to_dict`; missing fields take their defaults, unknown ones raise ValueError
        naming them."""
        replaced = sorted(set(values) & set(_REPLACED_FIELDS))
        if replaced:
            raise ValueError(
                f"the FeedModelConfig fields {replaced} were replaced by the learned vocabularies "
                f"{[_REPLACED_FIELDS[name] for name in replaced]}; a model saved with them indexes "
                "its categorical tables differently: train it again (cold start)"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown FeedModelConfig fields {unknown}; known: {sorted(known)}")
        return cls(**values)


def _check_vocabulary(name: str, vocabulary: tuple) -> None:
    """Raise ValueError naming the first entry of `vocabulary` that is not a unique, non-empty
    string."""
    seen = set()
    for value in vocabulary:
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"`{name}` must hold non-empty strings. Received: {value!r} in {name}={vocabulary}"
            )
        if value in seen:
            raise ValueError(
                f"`{name}` must hold unique values. Received: {value!r} twice in "
                f"{name}={vocabulary}"
            )
        seen.add(value)
