"""Waiting out another process's lock on the DuckDB warehouse: which errors are lock conflicts,
the backoff between attempts, and the error when the lock is never released.

DuckDB lets one process open a database file read-write, or any number of processes open it
read-only (https://duckdb.org/docs/current/connect/concurrency). A notebook that keeps the
warehouse open therefore makes the pipeline's `duckdb.connect` fail with

    IO Error: Could not set lock on file "<path>": Conflicting lock is held in <exe> (PID <pid>)

The lock is taken when the connection opens, before any statement runs, so such a failure has
written nothing and the whole call can simply be tried again. `call_with_lock_retry` does that
with exponential backoff and jitter (so two waiting writers do not retry in lockstep) until
`LockPolicy.timeout_s` has passed, then raises `WarehouseLockedError`, which names the file, the
holder's PID and what to do. Any other error (a bad query, a full disk, a corrupt file) is raised
at once: only the exact lock-conflict error of DuckDB is retried.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

import duckdb

T = TypeVar("T")

log = logging.getLogger(__name__)

_LOCK_CONFLICT = re.compile(r'Could not set lock on file "(?P<file>[^"]*)"')
_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.*?) \(PID (?P<pid>\d+)\)")


@dataclasses.dataclass(frozen=True)
class LockConflict:
    """What DuckDB said about a lock it could not take.

    Args:
        file: the database file DuckDB could not lock.
        pid: the process holding the lock, when DuckDB names it (it does on Linux and macOS).
        program: that process's executable, when DuckDB names it.
    """

    file: str
    pid: int | None = None
    program: str | None = None


def lock_conflict(error: BaseException) -> LockConflict | None:
    """The lock conflict `error` reports, or None if `error` is anything else.

    Only a `duckdb.IOException` whose message says "Could not set lock on file" is a conflict;
    other IO errors (a missing directory, a full disk) share the type but not the message.
    """
    if not isinstance(error, duckdb.IOException):
        return None
    message = str(error)
    match = _LOCK_CONFLICT.search(message)
    if match is None:
        return None
    holder = _HOLDER.search(message)
    return LockConflict(
        file=match["file"],
        pid=int(holder["pid"]) if holder else None,
        program=holder["program"] if holder else None,
    )


@dataclasses.dataclass(frozen=True)
class LockPolicy:
    """How long, and how often, to retry a call that found the warehouse locked.

    Attempt `n` (0-based) that fails waits a random time in [cap/2, cap] with
    cap = min(`max_delay_s`, `first_delay_s` * 2**n) ("equal jitter": the wait grows
    exponentially, never collapses to zero, and two waiting writers drift apart). No wait runs
    past `timeout_s` after the first attempt; the attempt at `timeout_s` is the last.

    Args:
        timeout_s: give up (raise `WarehouseLockedError`) once this many seconds have passed.
        first_delay_s: cap of the first wait.
        max_delay_s: largest cap (reached after a few attempts: 0.05 s doubles to 2 s in 6).
    """

    timeout_s: float = 120.0
    first_delay_s: float = 0.05
    max_delay_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("timeout_s", "first_delay_s", "max_delay_s"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"`{name}` must be >= 0. Received: {name}={value}")
        if self.first_delay_s > self.max_delay_s:
            raise ValueError(
                "`first_delay_s` must be <= `max_delay_s`. Received: "
                f"first_delay_s={self.first_delay_s}, max_delay_s={self.max_delay_s}"
            )

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt `attempt` (0-based), jittered by `rng`."""
        cap = min(self.max_delay_s, self.first_delay_s * 2.0 ** min(attempt, 60))
        return cap / 2 + rng.uniform(0.0, cap / 2)


class WarehouseLockedError(RuntimeError):
    """Another process held the warehouse's lock for longer than the policy's timeout."""

    def __init__(
        self, conflict: LockConflict, *, waited_s: float, attempts: int, read_instead: str = ""
    ) -> None:
        holder = (
            f"process {conflict.pid} ({conflict.program})"
            if conflict.pid is not None
            else "another process (DuckDB did not name it)"
        )
        close = f"`kill {conflict.pid}` or " if conflict.pid is not None else ""
        super().__init__(
            f"the warehouse {conflict.file} is locked by {holder}: still locked after "
            f"{waited_s:.1f} s and {attempts} attempts, so nothing was written. DuckDB lets one "
            "process open a database read-write, or several open it read-only; a notebook or "
            "shell that keeps it open blocks the pipeline. Close that connection "
            f"(`conn.close()`, or end the process: {close}quit the notebook kernel) and re-run "
            "the step. To look at the data while the pipeline runs, read a copy instead"
            f"{': ' + read_instead if read_instead else ''}."
        )
        self.conflict = conflict
        self.waited_s = waited_s
        self.attempts = attempts


def call_with_lock_retry(
    action: Callable[[], T],
    policy: LockPolicy,
    *,
    read_instead: str = "",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> T:
    """Return `action()`, calling it again while it fails on a DuckDB lock conflict.

    `action` must open its own connection (the lock is taken there) and be safe to repeat: a
    conflict means it wrote nothing. Between attempts it waits `policy.delay`; once
    `policy.timeout_s` has passed it raises `WarehouseLockedError` (its message ends with
    `read_instead`, where to read the data safely). Errors other than a lock conflict propagate
    unchanged at once. `sleep`, `clock` and `rng` are injectable for tests.
    """
    rng = rng or random.Random()
    start = clock()
    attempt = 0
    while True:
        try:
            return action()
        except duckdb.IOException as error:
            conflict = lock_conflict(error)
            if conflict is None:
                raise
            attempt += 1
            waited = clock() - start
            if waited >= policy.timeout_s:
                raise WarehouseLockedError(
                    conflict, waited_s=waited, attempts=attempt, read_instead=read_instead
                ) from error
            if attempt == 1:
                log.warning(
                    "warehouse %s is locked by PID %s (%s); retrying for up to %.0f s",
                    conflict.file,
                    conflict.pid,
                    conflict.program,
                    policy.timeout_s,
                )
            sleep(min(policy.delay(attempt - 1, rng), policy.timeout_s - waited))
