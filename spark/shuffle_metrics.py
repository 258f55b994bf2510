"""Shuffle write bytes of one Spark action, read from Spark's monitoring REST API (paper §14).

The paper's join rewrite is judged by shuffle write (−60%) and its compression tuning by a further
−25% (paper-notes §14). `measure_shuffle` runs one action (a write to Spark's `noop` sink, so the
whole plan executes and nothing is stored) under a fresh job group, then sums `shuffleWriteBytes`
over the completed stages of that group's jobs, as the Spark UI's `/api/v1` reports them.

For a fair comparison of plans, the caller pins `spark.sql.autoBroadcastJoinThreshold=-1` (every
join shuffles both sides) and `spark.sql.adaptive.enabled=false` (no runtime re-planning). The
Spark UI must be enabled (`spark.ui.enabled=true`, the default): the REST API is served by it.
"""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request
import uuid

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

_POLL_SECONDS = 0.1
_SETTLE_TIMEOUT_SECONDS = 120.0
_REQUEST_TIMEOUT_SECONDS = 30.0
_FINISHED_JOB = "SUCCEEDED"
_FINISHED_STAGE = "COMPLETE"
_RUNNING_STAGE = frozenset({"ACTIVE", "PENDING"})  # SKIPPED stages reused earlier shuffle files


@dataclasses.dataclass(frozen=True)
class ShuffleMeasurement:
    """What one measured action cost.

    Args:
        label: the caller's name for the measured plan.
        shuffle_write_bytes: bytes written by all shuffle map stages of the action (compressed,
            as written to disk; summed over completed stage attempts).
        seconds: wall time of the action.
        rows: rows of `df` written to the noop sink.
    """

    label: str
    shuffle_write_bytes: int
    seconds: float
    rows: int


def measure_shuffle(spark: SparkSession, df: DataFrame, label: str) -> ShuffleMeasurement:
    """Write `df` to the noop sink and return the shuffle write bytes, wall time and row count.

    Raises:
        RuntimeError: the Spark UI is disabled (no REST API to read), or the action's jobs did
            not appear as finished in the REST API within 120 s.
    """
    sc = spark.sparkContext
    ui_url = sc.uiWebUrl
    if not ui_url:
        raise RuntimeError(
            "the Spark UI is disabled, so its REST API cannot report shuffle bytes; start the "
            "session with spark.ui.enabled=true (spark.ui.port=0 picks a free port)"
        )
    group = f"measure-shuffle-{uuid.uuid4().hex}"
    observation = Observation(f"rows_{uuid.uuid4().hex[:8]}")
    observed = df.observe(observation, F.count(F.lit(1)).alias("rows"))
    sc.setJobGroup(group, f"measure_shuffle: {label}", interruptOnCancel=False)
    try:
        start = time.perf_counter()
        observed.write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - start
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    rows = int(observation.get["rows"])
    api = f"{ui_url.rstrip('/')}/api/v1/applications/{sc.applicationId}"
    return ShuffleMeasurement(
        label=label,
        shuffle_write_bytes=shuffle_write_bytes_of_group(api, group),
        seconds=seconds,
        rows=rows,
    )


def shuffle_write_bytes_of_group(
    api: str, group: str, timeout_seconds: float = _SETTLE_TIMEOUT_SECONDS
) -> int:
    """Sum of `shuffleWriteBytes` over the completed stages of job group `group`'s jobs.

    The REST API is fed asynchronously by Spark's listener bus, so this polls until every job of
    the group is SUCCEEDED and every stage it ran is COMPLETE (skipped stages wrote nothing).

    Args:
        api: `<ui url>/api/v1/applications/<app id>`.
        group: the job group the action ran under.
        timeout_seconds: how long to wait for the listener bus to catch up.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        jobs: list[dict] = []
        try:
            jobs = [job for job in _get_json(f"{api}/jobs") if job.get("jobGroup") == group]
            if jobs and all(job["status"] == _FINISHED_JOB for job in jobs):
                total = _completed_stage_bytes(api, jobs)
                if total is not None:
                    return total
        except (TimeoutError, urllib.error.URLError) as error:
            # A busy driver answers late: ask again until the deadline; other errors surface.
            timed_out = isinstance(error, TimeoutError) or isinstance(error.reason, TimeoutError)
            if isinstance(error, urllib.error.HTTPError) or not timed_out:
                raise
        if time.monotonic() > deadline:
            states = {job["jobId"]: job["status"] for job in jobs}
            raise RuntimeError(
                f"jobs of group {group!r} did not finish in the Spark REST API within "
                f"{timeout_seconds:.0f} s (jobs seen: {states}); is the action still running?"
            )
        time.sleep(_POLL_SECONDS)


def _completed_stage_bytes(api: str, jobs: list[dict]) -> int | None:
    """Shuffle write bytes of the jobs' stages, or None while one of them is still running."""
    total = 0
    for stage_id in sorted({stage for job in jobs for stage in job["stageIds"]}):
        try:
            attempts = _get_json(f"{api}/stages/{stage_id}")
        except urllib.error.HTTPError as error:
            if error.code == 404:  # not yet in the status store
                return None
            raise
        if any(attempt["status"] in _RUNNING_STAGE for attempt in attempts):
            return None
        total += sum(
            int(attempt.get("shuffleWriteBytes", 0))
            for attempt in attempts
            if attempt["status"] == _FINISHED_STAGE
        )
    return total


def _get_json(url: str) -> list[dict]:
    with urllib.request.urlopen(url, timeout=_REQUEST_TIMEOUT_SECONDS) as response:
        return json.loads(response.read().decode("utf-8"))
