"""Training launched through Dagster Pipes: the `feed_ranking_model` asset's trainer.

`PipesTraining(client, context)` is a `train(plan) -> TrainingResult` for
`models.training.promotion.train_and_gate`: it runs the plan's command
(`models.training.launch.launch_training`: one process, or horovodrun with one rank per slot)
through the run's `PipesSubprocessClient`, so rank 0's progress logs stream into the run as it
trains, and it keeps the metadata rank 0 reported with its materialization (per-epoch metrics,
steps, ranks, throughput, the TensorBoard directory), which the asset merges into its own.

Rank 0 writes Pipes messages to a file on the machine that runs Dagster (the client's default
temp-file channel), so with several Horovod hosts the first host of `horovod_hosts` (where
horovodrun places rank 0) must be this machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from dagster import AssetExecutionContext, PipesSubprocessClient, PreviewWarning

from models.training.config import TrainingPlan, TrainingResult
from models.training.launch import launch_training


class PipesTraining:
    """Trains plans through `client` in `context`'s run; `metadata` is what rank 0 reported."""

    def __init__(self, client: PipesSubprocessClient, context: AssetExecutionContext) -> None:
        self.client = client
        self.context = context
        self.metadata: dict = {}

    def __call__(self, plan: TrainingPlan) -> TrainingResult:
        return launch_training(plan, self._run)

    def _run(self, command: list[str]) -> Sequence[Mapping]:
        """The custom messages of the finished process (the launcher reads from the process's
        outcome whether it failed, and raises the right error)."""
        with warnings.catch_warnings():
            # Dagster's own Pipes reader calls a preview API of Dagster: expected, not news
            warnings.simplefilter("ignore", PreviewWarning)
            invocation = self.client.run(context=self.context, command=command)
        for reported in invocation.get_results():
            self.metadata.update(reported.metadata or {})
        return invocation.get_custom_messages()
