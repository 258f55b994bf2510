"""The simulated world's member state: its table, its on-disk cache, and how it splits into blocks.

The only thing the world carries from one day to the next is each member's interaction history
(the last `history_length` click and contribution actions, oldest first). The member state table
`WORLD_STATE` holds it, one row per member, together with the member's follow list: the follow
graph never changes, but drawing it costs O(members x authors), so it is drawn once (with the
state of day 0) and travels with the history instead of being redrawn every day.

Blocks. Members are grouped in blocks of `WorldConfig.members_per_block` consecutive ids (block b
holds members b*B .. (b+1)*B - 1, the last block possibly fewer). A block is the simulator's unit
of randomness: all of a block's per-member draws come from streams keyed by the block. A shard of
the state (what one process or one Spark task simulates) is any set of whole blocks, handed over
in member order; `split_blocks` checks that and cuts it into blocks.

Cache layout. The state at the start of day d is a Parquet dataset at
`<cache>/feed-world-<config key>/member_state/date=<date of day d>/`, where the config key is a
hash of the `WorldConfig` and `MODEL_VERSION`. `FeedWorld` writes it as one file, the Spark
generator as one file per shard; either reads the other's. Writes are atomic directory swaps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark.storage import partition_dir
from spark.world.config import WorldConfig

MODEL_VERSION = 2
"""Bump when the behavioural model or its random-stream layout changes: it keys the state cache."""

STATE_DATASET = "member_state"

WORLD_STATE = pa.schema(
    [
        ("member_id", pa.int64()),
        ("follow_author_ids", pa.list_(pa.int64())),  # static: drawn with the state of day 0
        ("hist_post_ids", pa.list_(pa.int64())),  # oldest first, at most history_length long
        ("hist_author_ids", pa.list_(pa.int64())),
        ("hist_actions", pa.list_(pa.int32())),  # index into spark.schemas.ACTIONS
    ]
)


@dataclasses.dataclass(frozen=True)
class History:
    """Members' interaction history, left-aligned oldest first, padded with -1."""

    post_id: np.ndarray  # (n, L) int64
    author_id: np.ndarray  # (n, L) int64
    action: np.ndarray  # (n, L) int8
    length: np.ndarray  # (n,) int32

    @classmethod
    def empty(cls, num_members: int, history_length: int) -> History:
        pad = np.full((num_members, history_length), -1, dtype=np.int64)
        return cls(
            pad,
            pad.copy(),
            np.full((num_members, history_length), -1, dtype=np.int8),
            np.zeros(num_members, dtype=np.int32),
        )

    def appended(
        self, member: np.ndarray, post_id: np.ndarray, author_id: np.ndarray, action: np.ndarray
    ) -> History:
        """The history after new entries (in order; `member` indexes the rows) were appended,
        keeping each member's last `history_length` entries."""
        num_members, length = self.post_id.shape
        old_m, old_j = np.nonzero(np.arange(length)[None, :] < self.length[:, None])
        all_m = np.concatenate([old_m, member])
        is_new = np.concatenate([np.zeros(len(old_m), np.int64), np.ones(len(member), np.int64)])
        seq = np.concatenate([old_j, np.arange(len(member))])
        order = np.lexsort((seq, is_new, all_m))
        post = np.concatenate([self.post_id[old_m, old_j], post_id])[order]
        author = np.concatenate([self.author_id[old_m, old_j], author_id])[order]
        act = np.concatenate([self.action[old_m, old_j], action])[order]
        m_sorted = all_m[order]
        counts = np.bincount(all_m, minlength=num_members)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(len(m_sorted)) - start[m_sorted]
        drop = np.maximum(counts - length, 0)
        keep = rank >= drop[m_sorted]
        slot = (rank - drop[m_sorted])[keep]
        out = History.empty(num_members, length)
        out.post_id[m_sorted[keep], slot] = post[keep]
        out.author_id[m_sorted[keep], slot] = author[keep]
        out.action[m_sorted[keep], slot] = act[keep]
        return dataclasses.replace(out, length=np.minimum(counts, length).astype(np.int32))


@dataclasses.dataclass(frozen=True)
class BlockState:
    """The state of one block of members as arrays: follow lists (CSR) and histories."""

    member_id: np.ndarray  # (n,) int64, consecutive
    follow_offsets: np.ndarray  # (n + 1,) int64 into follow_authors
    follow_authors: np.ndarray  # int64
    history: History

    def to_arrow(self) -> pa.Table:
        """The block's rows of `WORLD_STATE`."""
        hist = self.history
        return pa.Table.from_arrays(
            [
                pa.array(self.member_id),
                pa.ListArray.from_arrays(
                    pa.array(self.follow_offsets.astype(np.int32)), pa.array(self.follow_authors)
                ),
                *history_lists(hist, np.arange(len(self.member_id))),
            ],
            schema=WORLD_STATE,
        )

    @classmethod
    def from_arrow(cls, table: pa.Table, history_length: int) -> BlockState:
        """Arrays of `WORLD_STATE` rows; histories longer than `history_length` are rejected."""
        n = table.num_rows
        follows = table.column("follow_author_ids").combine_chunks()
        follow_len = pc.list_value_length(follows).to_numpy(zero_copy_only=False)
        lengths = pc.list_value_length(table.column("hist_post_ids").combine_chunks())
        lengths = lengths.to_numpy(zero_copy_only=False).astype(np.int32)
        if n and int(lengths.max()) > history_length:
            at = int(np.argmax(lengths))
            raise ValueError(
                f"member state of member_id={table.column('member_id')[at].as_py()} holds "
                f"{int(lengths[at])} history entries, more than history_length={history_length}; "
                "the state belongs to another world config"
            )
        mask = np.arange(history_length)[None, :] < lengths[:, None]

        def padded(name: str, dtype: type) -> np.ndarray:
            values = pc.list_flatten(table.column(name).combine_chunks()).to_numpy()
            out = np.full((n, history_length), -1, dtype=dtype)
            out[mask] = values
            return out

        return cls(
            member_id=table.column("member_id").to_numpy(),
            follow_offsets=np.concatenate([[0], np.cumsum(follow_len)]).astype(np.int64),
            follow_authors=pc.list_flatten(follows).to_numpy().astype(np.int64),
            history=History(
                post_id=padded("hist_post_ids", np.int64),
                author_id=padded("hist_author_ids", np.int64),
                action=padded("hist_actions", np.int8),
                length=lengths,
            ),
        )


def history_lists(hist: History, member: np.ndarray) -> list[pa.Array]:
    """`hist_post_ids`, `hist_author_ids`, `hist_actions` list columns for rows `member`."""
    lengths = hist.length[member]
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    mask = np.arange(hist.post_id.shape[1])[None, :] < lengths[:, None]
    return [
        pa.ListArray.from_arrays(offsets, pa.array(hist.post_id[member][mask])),
        pa.ListArray.from_arrays(offsets, pa.array(hist.author_id[member][mask])),
        pa.ListArray.from_arrays(offsets, pa.array(hist.action[member][mask].astype(np.int32))),
    ]


# ------------------------------------------------------------------------------------- blocks


def num_blocks(config: WorldConfig) -> int:
    """Number of member blocks of the world (the last one may be short)."""
    return -(-config.num_members // config.members_per_block)


def block_members(config: WorldConfig, block: int) -> tuple[int, int]:
    """Member ids [first, end) of `block`."""
    if not 0 <= block < num_blocks(config):
        raise ValueError(
            f"`block` must be in [0, {num_blocks(config)}) for this world. Received: block={block}"
        )
    first = block * config.members_per_block
    return first, min(first + config.members_per_block, config.num_members)


def shard_blocks(config: WorldConfig, num_shards: int) -> list[range]:
    """Split the blocks into at most `num_shards` contiguous runs of near-equal length."""
    if num_shards <= 0:
        raise ValueError(f"`num_shards` must be positive. Received: num_shards={num_shards}")
    total = num_blocks(config)
    shards = min(num_shards, total)
    edges = [total * i // shards for i in range(shards + 1)]
    return [range(lo, hi) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def split_blocks(
    config: WorldConfig, state: Iterable[pa.Table | pa.RecordBatch]
) -> Iterator[tuple[int, pa.Table]]:
    """Cut a stream of state rows (member order, whole blocks) into (block, rows) pairs.

    Blocks are yielded as soon as they are complete, so a Spark task streams through its shard
    holding about one block (plus one input batch) at a time.

    Raises:
        ValueError: the rows are not in increasing member order, or a block is incomplete (the
            message names the block and what was received).
    """
    size = config.members_per_block
    pending: pa.Table | None = None
    for part in state:
        table = part if isinstance(part, pa.Table) else pa.Table.from_batches([part])
        if table.num_rows == 0:
            continue
        pending = table if pending is None else pa.concat_tables([pending, table])
        ids = pending.column("member_id").to_numpy()
        _check_increasing(ids)
        ready = int(np.searchsorted(ids, (ids[-1] // size) * size, side="left"))
        if ready:
            yield from _whole_blocks(config, pending.slice(0, ready))
            pending = pending.slice(ready)
    if pending is not None and pending.num_rows:
        yield from _whole_blocks(config, pending)


def _check_increasing(ids: np.ndarray) -> None:
    bad = np.flatnonzero(np.diff(ids) <= 0)
    if len(bad):
        raise ValueError(
            "member state rows must come in increasing member_id order; received "
            f"member_id={int(ids[bad[0] + 1])} after member_id={int(ids[bad[0]])}"
        )


def _whole_blocks(config: WorldConfig, table: pa.Table) -> Iterator[tuple[int, pa.Table]]:
    ids = table.column("member_id").to_numpy()
    blocks = ids // config.members_per_block
    starts = np.concatenate([[0], np.flatnonzero(np.diff(blocks)) + 1])
    ends = np.concatenate([starts[1:], [len(ids)]])
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        block = int(blocks[start])
        first, last = block_members(config, block)
        got = ids[start:end]
        if len(got) != last - first or got[0] != first:
            raise ValueError(
                f"the member state of block {block} must hold members {first}..{last - 1}; "
                f"received {len(got)} rows, member_id {int(got[0])}..{int(got[-1])}. A shard "
                f"must consist of whole blocks (member_id // {config.members_per_block})"
            )
        yield block, table.slice(start, end - start)


def log_followers(config: WorldConfig, follow_author_ids: np.ndarray) -> np.ndarray:
    """log(1 + followers) of every author, from all members' follow lists (float32, A values)."""
    counts = np.bincount(follow_author_ids, minlength=config.num_authors)
    return log_followers_of_counts(config, counts)


def log_followers_of_counts(config: WorldConfig, counts: np.ndarray) -> np.ndarray:
    """log(1 + followers) from per-author follower counts (length `num_authors`)."""
    if len(counts) != config.num_authors:
        raise ValueError(
            f"expected follower counts of {config.num_authors} authors. Received: {len(counts)}"
        )
    return np.log1p(np.asarray(counts, dtype=np.float64)).astype(np.float32)


# -------------------------------------------------------------------------------- the cache


def config_key(config: WorldConfig) -> str:
    """A hash of the config and `MODEL_VERSION`: the name of the world's cache directory."""
    fields = {f.name: str(getattr(config, f.name)) for f in dataclasses.fields(config)}
    payload = json.dumps({"model": MODEL_VERSION, "config": fields}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def world_cache_dir(cache_dir: Path, config: WorldConfig) -> Path:
    """`<cache_dir>/feed-world-<config key>`: everything cached for this world."""
    return Path(cache_dir) / f"feed-world-{config_key(config)}"


def state_dir(cache_dir: Path, config: WorldConfig, day: int) -> Path:
    """Directory of the member state at the start of `day`."""
    return partition_dir(world_cache_dir(cache_dir, config), STATE_DATASET, config.date_of(day))


def read_state(path: Path, config: WorldConfig, members: tuple[int, int] | None = None) -> pa.Table:
    """The member state stored at `path` (all members, or ids in [first, end)), sorted by id.

    Raises:
        ValueError: the stored state does not hold exactly the expected members (it belongs to
            another world or was damaged); the message names the path.
    """
    first, end = members if members is not None else (0, config.num_members)
    filters = [("member_id", ">=", first), ("member_id", "<", end)]
    table = pq.read_table(path, filters=filters, schema=WORLD_STATE).sort_by("member_id")
    ids = table.column("member_id").to_numpy()
    if len(ids) != end - first or (len(ids) and (ids[0] != first or ids[-1] != end - 1)):
        raise ValueError(
            f"the member state at {path} should hold members {first}..{end - 1} but holds "
            f"{len(ids)} rows; delete the directory to recompute it"
        )
    return table
