"""Validation before anything heavy is imported: structured configs (schemas), the task and
metric table, the default tracking URI, and Hydra instantiation with one-line errors.

Nothing here imports torch, Lightning, transformers or MLflow.
"""
