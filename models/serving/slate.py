"""A request of sessions with candidate lists → one example row per candidate: the serving twin of
the Spark session explosion.

A ranking request is a batch of `FEED_SESSIONS` rows whose `served` list holds the posts to rank
(the candidates, before ranking). The training pipeline explodes logged sessions into
`TRAINING_EXAMPLE` rows with Spark (`spark.explode`, `spark.replay_candidates`); serving does the
same explosion in Arrow, without Spark or labels, so the model sees exactly the columns it was
trained on:

    row(s, c) = session features of s  ∪  post features of candidate c of s

The columns are derived from the contracts, not listed here: every `TRAINING_EXAMPLE` column that
`FEED_SESSIONS` holds comes from the session, every one a `SERVED_POST` field holds from the
candidate, the labels are 0 (unknown at serving time) and `split` is "serving". `ranker_score`
(the logged production score, not a model feature) rides along, as in the replay candidates.
`tests/models/serving/test_slate.py` holds this equal to the Spark explosion of the same sessions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from spark.schemas import FEED_SESSIONS, SERVED_POST, TRAINING_EXAMPLE

SERVING_SPLIT = "serving"
_POST_FIELDS = {SERVED_POST.field(i).name for i in range(SERVED_POST.num_fields)}


def slate_examples(sessions: pa.Table) -> pd.DataFrame:
    """One example row per listed post of each session, in session then list order.

    Args:
        sessions: `FEED_SESSIONS` rows; `served` lists the posts to score.

    Returns:
        The `TRAINING_EXAMPLE` columns except `long_dwell` (labels 0, split "serving"), then
        `ranker_score`.

    Raises:
        ValueError: `sessions` lacks a column of `FEED_SESSIONS` (named).
    """
    missing = [name for name in FEED_SESSIONS.names if name not in sessions.column_names]
    if missing:
        raise ValueError(
            f"a slate needs the FEED_SESSIONS columns; missing {missing}. "
            f"Received columns: {sessions.column_names}"
        )
    served = sessions.column("served").combine_chunks()
    parent = pc.list_parent_indices(served)
    posts = served.flatten()
    n = len(posts)
    columns: dict[str, object] = {}
    for field in TRAINING_EXAMPLE:
        name = field.name
        if name == "long_dwell":
            continue
        if name in _POST_FIELDS:
            columns[name] = posts.field(name)
        elif name in FEED_SESSIONS.names:
            columns[name] = sessions.column(name).take(parent)
        elif name == "split":
            columns[name] = pa.array([SERVING_SPLIT] * n, pa.string())
        else:  # a label: unknown at serving time
            columns[name] = pa.array(np.zeros(n, dtype=field.type.to_pandas_dtype()), field.type)
    columns["ranker_score"] = posts.field("ranker_score")
    return pa.table(columns).to_pandas()
