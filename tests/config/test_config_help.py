"""Every config key says what it means, beside its default, and `sft-train --help` shows it.

Experiments (conf/experiment -> experiments/) are not required to comment their keys: they set
values of keys whose home, and help, is a group's YAML or train.yaml (a second comment would be
a second home). test_every_choice_and_experiment_composes_to_keys_with_help still checks that
composing any of them yields no key without help.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import run_train_in_process
from sft.cli import CONF_DIR
from sft.config.key_help import MACHINERY, choice_help, key_table, read_help

CONF = Path(CONF_DIR)
EXEMPT_GROUPS = {"experiment"}
GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir() and p.name not in EXEMPT_GROUPS)
FILES = [(group, path.stem) for group in GROUPS for path in sorted((CONF / group).glob("*.yaml"))]


def missing_help(keys: dict[str, str]) -> list[str]:
    return [
        key for key, text in keys.items() if not text and key.rsplit(".", 1)[-1] not in MACHINERY
    ]


@pytest.mark.parametrize("group,choice", FILES, ids=[f"{g}={c}" for g, c in FILES])
def test_every_key_of_every_choice_has_help(group, choice):
    keys = choice_help(CONF / group, choice)
    lacking = missing_help(keys)
    assert not lacking, (
        f"conf/{group}/{choice}.yaml: no help for {', '.join(lacking)} (write a "
        f"comment directly above the key)"
    )


def test_every_key_of_the_primary_config_has_help():
    keys = read_help(str(CONF / "train.yaml")).keys
    assert {"seed", "cv.folds", "monitor.metric", "paths.outputs"} <= set(keys)
    assert "hydra.run.dir" not in keys and "defaults" not in keys  # Hydra's, not the run's
    lacking = missing_help(keys)
    assert not lacking, f"conf/train.yaml: no help for {', '.join(lacking)}"


def test_the_help_of_a_key_is_the_comment_beside_it(tmp_path):
    group = tmp_path / "data"
    group.mkdir()
    (group / "base.yaml").write_text(
        "# The file's description, not the first key's help.\n"
        "first: 1\n"
        "# Two lines\n"
        "#   of help.\n"
        "second: [1, 2]\n"
        "third: x  # after the value\n"
        "# a comment, then a blank line: nobody's help\n"
        "\n"
        "fourth: null\n"
        "nested:\n"
        "  # inner help\n"
        "  inner: '#not a comment'\n"
    )
    (group / "child.yaml").write_text(
        "# A choice extending base.\n"
        "defaults:\n  - base\n  - _self_\n\n"
        "third: y\n"
        "# the child's own help\n"
        "fourth: 4\n"
    )
    base = read_help(str(group / "base.yaml"))
    assert base.description == "The file's description, not the first key's help."
    assert base.keys == {
        "first": "",
        "second": "Two lines\n  of help.",
        "third": "after the value",
        "fourth": "",
        "nested": "",
        "nested.inner": "inner help",
    }
    child = choice_help(group, "child")
    assert read_help(str(group / "child.yaml")).bases == ("base",)
    assert child["third"] == "after the value"  # inherited: the child has no comment on it
    assert child["fourth"] == "the child's own help"
    assert missing_help(child) == ["first", "nested"]


def compose_with_hydra(*overrides: str):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=list(overrides), return_hydra_config=True)


CHOICES = [
    f"{g}={c}"
    for g in sorted(p.name for p in CONF.iterdir() if p.is_dir())
    for c in sorted(path.stem for path in (CONF / g).glob("*.yaml"))
]


def test_every_choice_and_experiment_composes_to_keys_with_help():
    """What --help lists for any one choice (experiments included): no key without help."""
    for choice in CHOICES:
        cfg = compose_with_hydra(choice)
        table = key_table(cfg, OmegaConf.to_container(cfg.hydra.runtime.choices))
        lines = table.splitlines()
        lacking = [lines[i - 1].strip() for i, line in enumerate(lines) if "(no help)" in line]
        assert not lacking, f"sft-train {choice} --help: no help for {lacking}"


def help_text(capsys, *args: str) -> str:
    code, stderr = run_train_in_process(*args, "--help")
    assert code == 0, stderr
    return capsys.readouterr().out


def test_help_lists_each_key_with_its_value_and_help(capsys):
    out = help_text(capsys)
    assert "model=minilm  (sft.model.backbone.Backbone)" in out
    assert "  optimizer.lr = 0.0001\n      Base learning rate" in out
    assert "  data.delimiter = auto\n      CSV/TSV: auto" in out  # inherited from text_csv
    assert "  cv.folds = null\n      null: no cross-validation" in out
    # Hydra's string.Template leaves an interpolation as written.
    assert "  callbacks.model_checkpoint.dirpath = ${paths.run_dir}/checkpoints\n" in out
    assert "_target_ =" not in out and "_partial_" not in out and "hydra." not in out
    assert "(no help)" not in out


def test_help_follows_the_overrides_given_with_it(capsys):
    out = help_text(capsys, "optimizer=sgd", "optimizer.lr=3e-5", "data=hf_dataset")
    assert "optimizer=sgd  (torch.optim.SGD)" in out
    assert "  optimizer.lr = 3e-05\n" in out
    assert "  optimizer.momentum = 0.9\n      Momentum factor" in out
    assert "  data.splits.validation = null\n      The dataset's validation split" in out
    assert "optimizer.betas" not in out  # AdamW's key, not SGD's
