"""The lock-retry rule of the warehouse: only DuckDB's lock conflict is retried, with growing
jittered waits, and the final error names the file, the holder and what to do."""

from __future__ import annotations

import random

import duckdb
import pytest

from lirank_assets.warehouse_lock import (
    LockConflict,
    LockPolicy,
    WarehouseLockedError,
    call_with_lock_retry,
    lock_conflict,
)

LOCKED = (
    'IO Error: Could not set lock on file "/data/warehouse.duckdb": Conflicting lock is held in '
    "/usr/bin/python3.11 (PID 4242). See also https://duckdb.org/docs/current/connect/concurrency"
)


class FakeClock:
    """A clock that `sleep` advances: the retry loop runs instantly and deterministically."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, error: Exception):
    calls = {"n": 0}

    def action() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise error
        return "done"

    return action, calls


def test_lock_conflict_parses_file_pid_and_program():
    assert lock_conflict(duckdb.IOException(LOCKED)) == LockConflict(
        "/data/warehouse.duckdb", 4242, "/usr/bin/python3.11"
    )
    without_pid = duckdb.IOException('IO Error: Could not set lock on file "/d/w.duckdb": busy')
    assert lock_conflict(without_pid) == LockConflict("/d/w.duckdb")


@pytest.mark.parametrize(
    "error",
    [
        duckdb.IOException('IO Error: Cannot open file "/nope/w.duckdb": No such file'),
        duckdb.CatalogException("Catalog Error: Table with name models does not exist!"),
        RuntimeError(LOCKED),  # right words, wrong type
    ],
)
def test_other_errors_are_not_conflicts_and_raise_at_once(error):
    assert lock_conflict(error) is None
    clock = FakeClock()
    action, calls = failing(1, error)
    with pytest.raises(type(error)) as raised:
        call_with_lock_retry(action, LockPolicy(), sleep=clock.sleep, clock=clock)
    assert raised.value is error
    assert calls["n"] == 1 and clock.sleeps == []


def test_a_conflict_is_retried_until_the_lock_is_released():
    clock = FakeClock()
    action, calls = failing(5, duckdb.IOException(LOCKED))
    result = call_with_lock_retry(
        action, LockPolicy(timeout_s=60), sleep=clock.sleep, clock=clock, rng=random.Random(0)
    )
    assert result == "done" and calls["n"] == 6
    # Equal jitter: wait n lies in [cap/2, cap] with cap = 0.05 * 2**n.
    for n, slept in enumerate(clock.sleeps):
        cap = 0.05 * 2**n
        assert cap / 2 <= slept <= cap


def test_waits_grow_to_the_cap_and_jitter_differs_between_writers():
    policy = LockPolicy(first_delay_s=0.05, max_delay_s=2.0)
    rng = random.Random(1)
    delays = [policy.delay(n, rng) for n in range(12)]
    assert all(1.0 <= d <= 2.0 for d in delays[6:])  # 0.05 * 2**6 = 3.2 > cap 2.0
    other = [policy.delay(n, random.Random(2)) for n in range(12)]
    assert delays != other


def test_after_the_timeout_the_error_names_file_pid_and_what_to_do():
    clock = FakeClock()
    action, calls = failing(10**6, duckdb.IOException(LOCKED))
    with pytest.raises(WarehouseLockedError) as raised:
        call_with_lock_retry(
            action,
            LockPolicy(timeout_s=5),
            read_instead="the review snapshot /data/review/review.duckdb",
            sleep=clock.sleep,
            clock=clock,
        )
    message = str(raised.value)
    assert "/data/warehouse.duckdb" in message
    assert "process 4242 (/usr/bin/python3.11)" in message
    assert "kill 4242" in message and "nothing was written" in message
    assert "the review snapshot /data/review/review.duckdb" in message
    assert raised.value.conflict.pid == 4242
    # No wait runs past the timeout; the attempt at the timeout is the last.
    assert clock.now == pytest.approx(5.0)
    assert raised.value.attempts == calls["n"]


@pytest.mark.parametrize(
    ("kwargs", "bad"),
    [({"timeout_s": -1}, "timeout_s=-1"), ({"first_delay_s": 3.0}, "first_delay_s=3.0")],
)
def test_policy_rejects_bad_values(kwargs, bad):
    with pytest.raises(ValueError, match=bad):
        LockPolicy(**kwargs)
