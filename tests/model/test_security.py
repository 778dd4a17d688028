"""What sft refuses to run or to log: remote code, pickled checkpoints, secrets in MLflow."""

from __future__ import annotations

import json

import pytest
from hydra import compose, initialize_config_dir

from sft.cli import CONF_DIR
from sft.errors import SFTConfigError
from sft.tracking.masking import MASK, mask_config, mask_overrides, mask_values


def test_no_shipped_model_config_trusts_remote_code():
    from pathlib import Path

    choices = sorted(p.stem for p in (Path(CONF_DIR) / "model").glob("*.yaml"))
    assert choices
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for choice in choices:
            cfg = compose(
                config_name="train", overrides=[f"model={choice}", "model.name_or_path=x"]
            )
            assert cfg.model.trust_remote_code is False, choice


def test_a_model_folder_with_custom_code_is_refused_and_its_code_never_runs(tmp_path):
    from sft.model.backbone import load_pretrained

    folder = tmp_path / "custom"
    folder.mkdir()
    marker = tmp_path / "code-ran"
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "sft-custom",
                "auto_map": {
                    "AutoConfig": "custom.CustomConfig",
                    "AutoModel": "custom.CustomModel",
                },
            }
        )
    )
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    with pytest.raises(SFTConfigError, match=r"model\.name_or_path: cannot load a model from"):
        load_pretrained(str(folder))
    assert not marker.exists()


def test_secret_looking_keys_are_masked_everywhere_they_are_logged():
    params = {
        "optimizer.lr": 1e-4,
        "logger.tags.api_key": "k",
        "model.hf_token": "t",
        "db.PASSWORD": "p",
        "secrets.x": "s",
        "model.tokenizer_path": "/x",
        "data.token_column": 0,
        "data.generation.max_new_tokens": 32,
    }
    masked = mask_values(params)
    assert masked["optimizer.lr"] == 1e-4
    assert masked["data.token_column"] == 0  # a data column's name or number, logged as it is
    assert masked["data.generation.max_new_tokens"] == 32  # a count, sweeps compare it
    assert {k for k, v in masked.items() if v == MASK} == {
        "logger.tags.api_key",
        "model.hf_token",
        "db.PASSWORD",
        "secrets.x",
        "model.tokenizer_path",
    }  # "token" is in the key: masked too, on the safe side
    assert mask_overrides(["optimizer.lr=1", "+logger.tags.api_key=abc", "seed=1"]) == [
        "optimizer.lr=1",
        f"+logger.tags.api_key={MASK}",
        "seed=1",
    ]
    config = {
        "logger": {"tags": {"api_key": "abc", "team": "nlp"}},
        "secrets": {"db": ["x"]},
        "seed": 1,
    }
    assert mask_config(config) == {
        "logger": {"tags": {"api_key": MASK, "team": "nlp"}},
        "secrets": {"db": [MASK]},
        "seed": 1,
    }
