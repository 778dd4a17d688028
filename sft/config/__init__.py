"""Validation before anything heavy is imported: structured configs (schemas), the task and
metric table, the default tracking URI, and Hydra instantiation with one-line errors.

Nothing here imports torch, Lightning, transformers or MLflow.
"""

from pathlib import Path

# The checkout sft runs from (editable install): its git state is recorded with every run.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# sft-train's config tree: train.yaml and a folder per config group.
CONF_DIR = str(PROJECT_ROOT / "conf")
# The other apps' configs, one YAML each (predict, export, serve, leaderboard, reproduce), in a
# folder without groups: an app sees only its own keys (`sft-leaderboard experiment=...` is its
# key, not the training group), and its --help lists only them.
APPS_CONF_DIR = str(PROJECT_ROOT / "apps")
