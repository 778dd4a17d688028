"""Fine-tuning strategies do what their names say, on a tiny BERT trained by a real Trainer."""

from __future__ import annotations

import json
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader

from sft.errors import SFTConfigError
from sft.model.backbone import Backbone
from sft.model.finetune import (
    FreezeBottom,
    FullFineTune,
    GradualUnfreeze,
    LayerwiseLRDecay,
    LinearProbe,
    ReinitTop,
)
from sft.model.heads import LinearHead
from sft.model.hf_native import load_native
from sft.model.layers import layer_map
from sft.model.lora import LoRA
from sft.model.losses import CrossEntropyLoss
from sft.model.module import SFTModule
from sft.tasks import get_task


def make_module(model_dir, strategy, lr=1e-2, weight_decay=0.1, optimizer=torch.optim.AdamW):
    torch.manual_seed(0)
    backbone = Backbone(str(model_dir), pooling="mean", max_length=32)
    return SFTModule(
        backbone,
        LinearHead(backbone.hidden_size, 3, dropout=0.0),
        CrossEntropyLoss(),
        get_task("multiclass"),
        ["a", "b", "c"],
        optimizer=partial(optimizer, lr=lr, weight_decay=weight_decay),
        scheduler=None,
        finetune=strategy,
    )


def batches(n=3, size=8, length=10, seed=0):
    """Random token ids (the vocab of the tiny model has 35 tokens) with padded tails."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        ids = torch.randint(5, 35, (size, length), generator=gen)
        mask = torch.ones_like(ids)
        mask[: size // 2, length - 3 :] = 0
        ids[mask == 0] = 0
        out.append(
            {
                "input_ids": ids,
                "attention_mask": mask,
                "labels": torch.randint(0, 3, (size,), generator=gen),
            }
        )
    return out


class Recorder(pl.Callback):
    """Per epoch: the trainable parameter names, the weights at its start, the modes seen."""

    def __init__(self):
        self.trainable, self.weights, self.backbone_training = {}, {}, []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.backbone_training.append(module.backbone.training)
        if batch_idx == 0:
            epoch = trainer.current_epoch
            self.trainable[epoch] = {n for n, p in module.named_parameters() if p.requires_grad}
            self.weights[epoch] = snapshot(module)


def snapshot(module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def fit(module, epochs=2, n_batches=3):
    recorder = Recorder()
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[*module.finetune.callbacks(), recorder],
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches(n_batches), batch_size=None))
    return recorder


def backbone_depths(module):
    depths = layer_map(module.backbone.encoder, "test").depths
    return {f"backbone.encoder.{n}": d for n, d in depths.items()}


def test_llrd_groups_have_decayed_learning_rates_with_any_optimizer(tiny_model_dir):
    for optimizer in (torch.optim.AdamW, torch.optim.Adam, torch.optim.SGD):
        module = make_module(
            tiny_model_dir,
            LayerwiseLRDecay(decay=0.5, head_lr_mult=3.0),
            lr=1.0,
            weight_decay=0.01,
            optimizer=optimizer,
        )
        opt = module.configure_optimizers()
        assert isinstance(opt, optimizer)
        lrs = {g["name"]: g["lr"] for g in opt.param_groups}
        assert lrs == {
            "backbone.embeddings": 0.25,
            "backbone.embeddings_no_decay": 0.25,
            "backbone.layer_0": 0.5,
            "backbone.layer_0_no_decay": 0.5,
            "backbone.layer_1": 1.0,
            "backbone.layer_1_no_decay": 1.0,
            "head": 3.0,
            "head_no_decay": 3.0,
        }
        names = {id(p): n for n, p in module.named_parameters()}
        seen = [names[id(p)] for g in opt.param_groups for p in g["params"]]
        assert len(seen) == len(set(seen))  # each parameter once
        # Every parameter except the unused pooler (mean pooling) is optimized.
        assert set(seen) == {n for n in names.values() if ".pooler." not in n}
        for group in opt.param_groups:
            is_norm_or_bias = {
                names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)]
                for p in group["params"]
            }
            assert is_norm_or_bias == {group["name"].endswith("no_decay")}
            assert group["weight_decay"] == (0.0 if group["name"].endswith("no_decay") else 0.01)


@pytest.mark.parametrize(
    "strategy,frozen",
    [
        (LinearProbe(), lambda name, depth: name.startswith("backbone.")),
        (FreezeBottom(k=1), lambda name, depth: depth is not None and depth <= 1),
        (
            LoRA(r=2, alpha=4, dropout=0.0),
            lambda name, depth: name.startswith("backbone.") and "lora_" not in name,
        ),
    ],
    ids=["linear_probe", "freeze_bottom", "lora"],
)
def test_frozen_parameters_are_bit_identical_after_optimizer_steps(
    tiny_model_dir, strategy, frozen
):
    module = make_module(tiny_model_dir, strategy)  # AdamW with weight decay 0.1
    depths = backbone_depths(module)
    before = snapshot(module)
    fit(module, epochs=2)
    after = snapshot(module)
    frozen_names = {n for n in before if frozen(n, depths.get(n))}
    assert frozen_names and frozen_names != set(before)
    for name in before:
        if name in frozen_names:
            assert torch.equal(before[name], after[name]), name
    trained = [n for n in before if n not in frozen_names and ".pooler." not in n]
    assert all(not torch.equal(before[n], after[n]) for n in trained)
    assert {n for n, p in module.named_parameters() if p.requires_grad} == set(trained)


def test_linear_probe_keeps_the_backbone_in_eval_mode(tiny_model_dir):
    module = make_module(tiny_model_dir, LinearProbe())
    recorder = fit(module, epochs=2)
    assert recorder.backbone_training == [False] * 6  # dropout off in every step
    assert module.head.training


def test_gradual_unfreezing_with_llrd_thaws_one_layer_per_epoch_from_the_top(tiny_model_dir):
    strategy = GradualUnfreeze(every_n_epochs=1, decay=0.5)
    module = make_module(tiny_model_dir, strategy, lr=1e-2)
    recorder = fit(module, epochs=4)
    depths = backbone_depths(module)

    def thawed(epoch):
        return {depths[n] for n in recorder.trainable[epoch] if n.startswith("backbone.")}

    head = {n for n, _ in module.named_parameters() if n.startswith("head.")}
    assert recorder.trainable[0] == head
    assert [thawed(e) for e in range(4)] == [set(), {2}, {1, 2}, {0, 1, 2}]
    # A layer is bit-identical until the epoch it thaws, and changes from then on.
    layer_0 = "backbone.encoder.encoder.layer.0.attention.self.query.weight"
    embeddings = "backbone.encoder.embeddings.word_embeddings.weight"
    w = recorder.weights
    assert torch.equal(w[0][layer_0], w[2][layer_0])
    assert not torch.equal(w[2][layer_0], w[3][layer_0])
    assert torch.equal(w[0][embeddings], w[3][embeddings])
    # The groups were built once, with the LLRD rates, and none was added while thawing.
    groups = {g["name"]: g["lr"] for g in module.trainer.optimizers[0].param_groups}
    assert groups == {
        "backbone.embeddings": 2.5e-3,
        "backbone.embeddings_no_decay": 2.5e-3,
        "backbone.layer_0": 5e-3,
        "backbone.layer_0_no_decay": 5e-3,
        "backbone.layer_1": 1e-2,
        "backbone.layer_1_no_decay": 1e-2,
        "head": 1e-2,
        "head_no_decay": 1e-2,
    }


def test_gradual_unfreezing_schedule_every_n_epochs(tiny_model_dir):
    strategy = GradualUnfreeze(every_n_epochs=2)
    make_module(tiny_model_dir, strategy)  # 2 layers: depths 0 (embeddings) .. 3 (pooler)
    assert [strategy.lowest_trained_depth(e) for e in range(8)] == [4, 4, 2, 2, 1, 1, 0, 0]


def test_lora_trains_a_small_fraction_and_the_merged_model_gives_the_same_logits(
    tiny_model_dir, tmp_path
):
    from transformers import AutoModel, AutoTokenizer

    from sft.model.backbone import pool
    from sft.model.saving import save_model

    module = make_module(tiny_model_dir, LoRA(r=2, alpha=4, dropout=0.0))
    trainable = {n: p.numel() for n, p in module.backbone.named_parameters() if p.requires_grad}
    # r * (in + out) per adapted matrix: query and value in each of the 2 layers.
    assert sum(trainable.values()) == 2 * 2 * 2 * (32 + 32)
    assert all("lora_" in n for n in trainable)
    total = sum(p.numel() for p in module.backbone.parameters())
    assert sum(trainable.values()) / total < 0.05
    assert all(p.requires_grad for p in module.head.parameters())
    fit(module, epochs=2)  # lora_B starts at zero: training makes the adapters matter

    batch = batches(1, seed=5)[0]
    module.eval()
    with torch.no_grad():
        adapted = module(batch["input_ids"], batch["attention_mask"])
    folder = save_model(
        module, AutoTokenizer.from_pretrained(tiny_model_dir), {}, 32, tmp_path / "model"
    )
    assert hasattr(module.backbone.encoder, "merge_and_unload")  # the module keeps its adapters
    spec = json.loads((folder / "sft_model.json").read_text())
    assert spec["lora"] == {
        "r": 2,
        "alpha": 4.0,
        "target_modules": ["query", "value"],
        "merged": True,
    }
    # backbone + head in one transformers-native model.safetensors (sft.model.hf_native)
    encoder, head, _ = load_native(folder, lambda width, out: LinearHead(width, out, dropout=0.0))
    encoder, head = encoder.eval(), head.eval()
    assert not any("lora" in n for n, _ in encoder.named_parameters())
    with torch.no_grad():
        states = encoder(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        merged = head(pool(states, batch["attention_mask"], "mean"))
    assert torch.allclose(adapted, merged, atol=1e-5)
    base = AutoModel.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        unadapted = head(
            pool(
                base(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state,
                batch["attention_mask"],
                "mean",
            )
        )
    assert not torch.allclose(adapted, unadapted, atol=1e-4)  # the adapters changed something


def test_lora_with_unknown_target_modules_is_refused(tiny_model_dir):
    with pytest.raises(SFTConfigError, match=r"finetune\.target_modules=\['nope'\]: cannot place"):
        make_module(tiny_model_dir, LoRA(target_modules=["nope"]))


def test_reinit_top_reinitializes_the_top_layers_only(tiny_model_dir, tmp_path):
    from transformers import AutoModel, AutoTokenizer

    # "Pretrained" weights unlike any initializer's (the tiny model is freshly initialized).
    model = AutoModel.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param))
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path)
    pretrained = snapshot(make_module(tmp_path, FullFineTune()))
    module = make_module(tmp_path, ReinitTop(k=1))
    now = snapshot(module)
    depths = backbone_depths(module)
    for name, depth in depths.items():
        assert torch.equal(now[name], pretrained[name]) == (depth < 2), name  # 3: pooler
    top = "backbone.encoder.encoder.layer.1."
    assert torch.all(now[top + "attention.output.LayerNorm.weight"] == 1)
    assert torch.all(now[top + "attention.output.LayerNorm.bias"] == 0)
    assert torch.all(now[top + "intermediate.dense.bias"] == 0)
    std = now[top + "intermediate.dense.weight"].std().item()
    assert 0.015 < std < 0.025  # BertConfig's initializer_range is 0.02


@pytest.mark.parametrize("strategy", [FreezeBottom(k=3), ReinitTop(k=5)])
def test_more_layers_than_the_model_has_are_refused(tiny_model_dir, strategy):
    with pytest.raises(SFTConfigError, match=r"finetune\.k=\d: the model has 2 layers"):
        make_module(tiny_model_dir, strategy)


def test_layer_depths_and_lora_defaults_of_bert_and_gpt2(tiny_model_dir):
    from transformers import AutoModel, GPT2Config, GPT2Model

    bert = layer_map(AutoModel.from_pretrained(tiny_model_dir), "test")
    assert bert.num_layers == 2
    assert bert.depths["embeddings.word_embeddings.weight"] == 0
    assert bert.depths["encoder.layer.0.output.dense.weight"] == 1
    assert bert.depths["encoder.layer.1.output.LayerNorm.bias"] == 2
    assert bert.depths["pooler.dense.weight"] == 3
    gpt2 = layer_map(
        GPT2Model(GPT2Config(n_embd=16, n_layer=3, n_head=2, vocab_size=50, n_positions=32)), "test"
    )
    assert gpt2.num_layers == 3
    assert {n: d for n, d in gpt2.depths.items() if not n.startswith("h.")} == {
        "wte.weight": 0,
        "wpe.weight": 0,
        "ln_f.weight": 4,
        "ln_f.bias": 4,
    }
    assert gpt2.depths["h.2.mlp.c_proj.weight"] == 3
    holder = nn.Module()
    holder.backbone = nn.Module()
    holder.backbone.encoder = GPT2Model(
        GPT2Config(n_embd=16, n_layer=2, n_head=2, vocab_size=50, n_positions=32)
    )
    lora = LoRA(r=2)
    lora.prepare(holder)  # peft's default for GPT-2 applies
    assert lora.resolved_targets == ["c_attn"] and lora.layers.num_layers == 2
    with pytest.raises(SFTConfigError, match="cannot find the stack of transformer layers"):
        layer_map(nn.Sequential(nn.Linear(2, 2)), "finetune")
