"""Training: typed plan, the loop, Horovod ranks, the job run by the asset and the CLI."""
