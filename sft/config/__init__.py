"""Validation before anything heavy is imported: structured configs (schemas), the task and
metric table, the default tracking URI, and Hydra instantiation with one-line errors.

Nothing here imports torch, Lightning, transformers or MLflow.
"""

from pathlib import Path

# The checkout sft runs from (editable install): its conf/ tree is every app's config, and its
# git state is recorded with every run.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = str(PROJECT_ROOT / "conf")
