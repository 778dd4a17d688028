"""Where runs are recorded: the Tracker protocol and its MLflow and null implementations,
the store checks, sweeps (parent and child runs), leaderboards, provenance and secret masking.

Never imports sft.training: a training run uses a tracker, not the other way round.
"""
