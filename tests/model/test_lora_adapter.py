"""finetune.save=adapter: a LoRA model saved as peft's adapter folder (no merged weights) that
names its base, and read back by sft.load with the same outputs as the trained module and as
the merged save; refused in one line where the base weights are in no folder."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from omegaconf import OmegaConf
from transformers import AutoTokenizer

import sft
from helpers.saved_models import TEXTS
from sft.errors import SFTConfigError
from sft.model.backbone import Backbone
from sft.model.heads import LinearHead
from sft.model.lora import LoRA
from sft.model.losses import CrossEntropyLoss
from sft.model.module import SFTModule
from sft.model.saving import save_model
from sft.tasks import get_task
from sft.tasks.checks import check_features

HEAD = {"_target_": "sft.model.heads.LinearHead", "dropout": 0.0}


def lora_module(model_dir, save: str) -> SFTModule:
    """A tiny BERT classifier with LoRA adapters whose B matrices are random (peft starts
    them at zero, which would make every save look right)."""
    torch.manual_seed(0)
    backbone = Backbone(str(model_dir), pooling="mean", max_length=32)
    module = SFTModule(
        backbone,
        LinearHead(backbone.hidden_size, 3, dropout=0.0),
        CrossEntropyLoss(),
        get_task("multiclass"),
        ["a", "b", "c"],
        optimizer=partial(torch.optim.AdamW, lr=1e-3),
        scheduler=None,
        finetune=LoRA(r=2, alpha=4, dropout=0.0, save=save),
    )
    with torch.no_grad():
        for name, param in module.backbone.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    return module.eval()


def test_an_adapter_folder_names_its_base_and_predicts_as_the_module_and_the_merged_save(
    tiny_model_dir, tmp_path
):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    kept = lora_module(tiny_model_dir, "adapter")
    folder = save_model(kept, tokenizer, HEAD, 32, tmp_path / "adapter")
    names = {p.name for p in folder.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "head.safetensors"} <= names
    assert "model.safetensors" not in names  # the base stays in its own folder
    spec = json.loads((folder / "sft_model.json").read_text())
    assert spec["lora"]["merged"] is False
    assert spec["lora"]["base"] == str(tiny_model_dir.resolve())
    adapter = json.loads((folder / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_model_dir.resolve())

    merged = save_model(lora_module(tiny_model_dir, "merged"), tokenizer, HEAD, 32, tmp_path / "m")
    assert json.loads((merged / "sft_model.json").read_text())["lora"]["merged"] is True
    from_adapter = sft.load(folder).logits(TEXTS)
    from_merged = sft.load(merged).logits(TEXTS)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        trained = kept(encoded["input_ids"], encoded["attention_mask"]).numpy()
    assert from_adapter == pytest.approx(trained, abs=1e-5)
    assert from_adapter == pytest.approx(from_merged, abs=1e-5)
    plain = Backbone(str(tiny_model_dir), pooling="mean", max_length=32).eval()
    with torch.no_grad():  # the adapters change the outputs: the comparison above can fail
        untuned = kept.head(plain(encoded["input_ids"], encoded["attention_mask"])).numpy()
    assert not from_adapter == pytest.approx(untuned, abs=1e-3)


def test_an_adapter_folder_whose_base_is_gone_is_refused_in_one_line(tiny_model_dir, tmp_path):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_model_dir, base)
    module = lora_module(base, "adapter")
    folder = save_model(module, AutoTokenizer.from_pretrained(base), HEAD, 32, tmp_path / "a")
    shutil.rmtree(base)
    with pytest.raises(SFTConfigError, match=r"cannot load the LoRA base '.*base'") as err:
        sft.load(folder)
    assert "\n" not in str(err.value)


def test_an_unknown_save_is_refused():
    with pytest.raises(SFTConfigError, match=r"finetune\.save=both: must be one of merged"):
        LoRA(save="both")


@pytest.mark.parametrize(
    ("task", "init", "message"),
    [
        ("multiclass", "random", r"finetune\.save=adapter: model\.init=random starts from"),
        ("detection", "pretrained", r"finetune\.save=adapter: task 'detection' does not support"),
    ],
)
def test_an_adapter_save_is_refused_without_a_base_folder_or_for_a_task_without_it(
    task, init, message
):
    cfg = OmegaConf.create({"finetune": {"save": "adapter"}, "model": {"init": init}})
    with pytest.raises(SFTConfigError, match=message):
        check_features(cfg, get_task(task))
