"""The command line: help and config printing answer at once, without torch."""

from __future__ import annotations

import os
import subprocess
import sys

from conftest import PROJECT_ROOT
from sft.cli import CONF_DIR

PROBE = """
import sys
sys.argv = ["sft-train", *sys.argv[1:]]
from sft.train import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(m for m in ("torch", "transformers", "pytorch_lightning", "mlflow")
               if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def probe(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_cfg_job_prints_the_composed_config_without_heavy_imports():
    out = probe("--cfg", "job", "optimizer=sgd", "optimizer.lr=3e-5", "data.batch_size=32")
    assert "_target_: torch.optim.SGD" in out
    assert "lr: 3.0e-05" in out and "batch_size: 32" in out
    assert out.strip().endswith("HEAVY:")


def test_help_lists_every_group_and_choice_without_heavy_imports():
    out = probe("--help")
    assert "optimizer: adam, adamw, sgd" in out
    assert "loss: bce, cross_entropy, focal, huber, mse" in out
    assert (
        "finetune: freeze_bottom, freeze_feature_encoder, full, gradual_unfreeze, "
        "linear_probe, llrd, lora, reinit_top"
    ) in out
    assert "regularizer: elastic, l1, l2, l2sp, none" in out
    assert (
        "data: audio_folder, chat, coco, digit_boxes, digit_masks, digits, drug_entities, "
        "drug_questions, drug_reviews, hf_dataset, image_folder, masks, speakers, "
        "spoken_digits, spoken_speakers, text_csv, token_conll, transcripts"
    ) in out
    assert (
        "model: ast, conditional_detr, convnext, gpt2, hf, hubert, llama_chat, minilm, "
        "parakeet_ctc, resnet, segformer, smollm2, upernet, vit, wav2vec2, wav2vec2_ctc, "
        "wav2vec2_xvector, whisper"
    ) in out
    assert out.strip().endswith("HEAVY:")


def test_overrides_from_the_issue_compose(make_cfg):
    from sft.config.schema import validate

    cfg = make_cfg(
        "optimizer=sgd",
        "optimizer.lr=3e-5",
        "data.batch_size=32",
        "trainer.max_epochs=3",
        "head=mlp",
        "loss=cross_entropy",
        "loss.class_weights=balanced",
        "regularizer=l2",
        "regularizer.weight=1e-4",
    )
    validate(cfg)
    assert cfg.optimizer._target_ == "torch.optim.SGD" and cfg.optimizer.lr == 3e-5
    assert cfg.head._target_ == "sft.model.heads.MLPHead"
    assert cfg.regularizer.weight == 1e-4 and cfg.loss.class_weights == "balanced"
    assert CONF_DIR.endswith("conf")


def test_the_quoting_an_override_error_advises_works_as_printed(make_cfg):
    """The advice in the one-line error, taken as a shell would, composes to the value meant."""
    import re
    import shlex

    import pytest
    from hydra.errors import OverrideParseException

    from conftest import run_train_in_process

    for value in ("in/a=b.csv", "in/a,b.csv"):
        code, stderr = run_train_in_process(f"data.train_path={value}")
        assert code == 2 and len(stderr.strip().splitlines()) == 1, stderr
        advised = re.search(r'quote (?:the value|it): ("[^"]+")', stderr).group(1)
        [override] = shlex.split(advised)  # what the shell hands to sft-train
        assert make_cfg(override).data.train_path == value
    with pytest.raises(OverrideParseException):  # unquoted, as the shell passes it without
        make_cfg("data.train_path=in/a=b.csv")
