"""Causal-LM training through the real config tree on the tiny chat Llama (model=llama_chat):
the loss is the same with and without gradient accumulation (one optimizer step, the same
weights and logged loss), the accumulation windows count every rank's batches, LoRA trains
the adapters only, gradient checkpointing runs on the CPU, and packing stays off (one log
line) unless the attention kernel keeps packed rows apart."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from helpers.chat import chat_overrides, compose_train, write_rows
from sft.tasks.causal_lm.batches import WindowBatchSampler, pack_batch

# Completions of 1, 2, 4 and 9 words: any two pairs of them hold different token counts, so
# averaging each micro-batch on its own would give another gradient than the window's.
ANSWERS = ["Yes.", "Paris it is.", "The rating is nine.", " ".join(["hello"] * 9)]


def run(tmp_path, name: str, *extra: str):
    from sft.training.run import train

    train_rows = [{"prompt": f"Question {i}?", "completion": a} for i, a in enumerate(ANSWERS)]
    files = tmp_path / "data"
    files.mkdir(exist_ok=True)
    train_file = write_rows(files / "train.jsonl", train_rows)
    val_file = write_rows(files / "val.jsonl", train_rows[:2])
    overrides = chat_overrides(
        train_file,
        val_file,
        tmp_path / name,
        "logger=none",
        "optimizer=sgd",
        "optimizer.lr=0.5",
        "optimizer.momentum=0.0",
        "scheduler=constant",
        "trainer.gradient_clip_val=null",
        "trainer.max_epochs=1",
        "callbacks.early_stopping=null",
        "data.generation.rows=0",
        *extra,
    )
    return train(compose_train(overrides))


def weights(result) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in result.module.backbone.encoder.state_dict().items()}


def test_gradient_accumulation_leaves_the_step_and_the_loss_unchanged(tmp_path):
    start = weights(run(tmp_path, "none", "trainer.max_epochs=0"))
    whole = run(tmp_path, "whole", "data.batch_size=4", "trainer.accumulate_grad_batches=1")
    split = run(tmp_path, "split", "data.batch_size=2", "trainer.accumulate_grad_batches=2")
    assert whole.trainer.global_step == split.trainer.global_step == 1
    one, two = weights(whole), weights(split)
    moved = max((one[k] - start[k]).abs().max().item() for k in one)
    assert moved > 1e-3  # the step did something
    for key in one:
        assert torch.allclose(one[key], two[key], atol=1e-6), key
    logged = [r.trainer.callback_metrics["train/loss_epoch"].item() for r in (whole, split)]
    assert logged[0] == pytest.approx(logged[1], rel=1e-6)


def test_each_batch_gets_its_windows_trained_tokens_over_every_rank():
    targets = np.arange(1, 13)  # row i trains i + 1 tokens
    lengths = np.full(12, 5)
    shards = [
        WindowBatchSampler(lengths, targets, 2, accumulate=2, num_replicas=2, rank=r, seed=3)
        for r in (0, 1)
    ]
    drawn = [list(s) for s in shards]
    assert [len(d) for d in drawn] == [3, 3]  # 6 batches, 3 per rank
    for number in range(3):
        first = number - number % 2
        window = [i for d in drawn for b in d[first : first + 2] for i, _ in b]
        for d in drawn:
            assert {t for _, t in d[number]} == {int(targets[window].sum())}
    assert sorted(i for d in drawn for b in d for i, _ in b) == list(range(12))
    # a limited epoch (trainer.limit_train_batches=1) steps after its one batch
    alone = WindowBatchSampler(lengths, targets, 2, accumulate=2, seed=3, limit=1)
    batch = next(iter(alone))
    assert {t for _, t in batch} == {int(targets[[i for i, _ in batch]].sum())}


def test_lora_trains_the_adapters_and_leaves_the_base_weights(tmp_path):
    start = weights(run(tmp_path, "base", "trainer.max_epochs=0"))
    lora = run(tmp_path, "lora", "finetune=lora", "trainer.max_epochs=2", "data.batch_size=2")
    encoder = lora.module.backbone.encoder
    assert sorted(lora.module.finetune.resolved_targets) == ["q_proj", "v_proj"]
    adapters = {k: v for k, v in encoder.state_dict().items() if "lora_B" in k}
    assert adapters and all(v.abs().max() > 0 for v in adapters.values())  # B starts at 0
    base = encoder.get_base_model().state_dict()
    for key, value in base.items():
        if "lora_" in key:
            continue
        original = key.replace("base_layer.", "")
        assert torch.equal(value, start[original]), key


def test_gradient_checkpointing_trains_on_the_cpu(tmp_path):
    result = run(tmp_path, "ckpt", "model.gradient_checkpointing=true", "data.batch_size=2")
    encoder = result.module.backbone.encoder
    assert encoder.is_activation_checkpointing and result.trainer.global_step == 2


def test_packing_is_off_with_a_line_unless_the_kernel_keeps_rows_apart(caplog):
    from sft.tasks.causal_lm.data import CausalLMDataModule

    data = CausalLMDataModule("chat", "unused.jsonl", packing=True)
    with caplog.at_level(logging.WARNING):
        data.set_packing("sdpa")
    assert not data.packing
    lines = [r.getMessage() for r in caplog.records if "packing" in r.getMessage()]
    assert len(lines) == 1 and "attend to each other" in lines[0] and "(sdpa)" in lines[0]
    data.set_packing("flash_attention_2")
    assert data.packing
    items = [
        (np.array([5, 6, 7]), np.array([-100, 6, 7]), 4),
        (np.array([8, 9]), np.array([-100, 9]), 4),
    ]
    packed = pack_batch(items)
    assert packed["input_ids"].tolist() == [[5, 6, 7, 8, 9]]
    assert packed["position_ids"].tolist() == [[0, 1, 2, 0, 1]]
    # the second row's first token is predicted by no one across the boundary
    assert packed["labels"].tolist() == [[-100, 6, 7, -100, 9]]
    assert int(packed["window_tokens"]) == 4 and "attention_mask" not in packed


def test_an_attention_kernel_whose_package_is_missing_is_one_line():
    import importlib.util

    from sft.errors import SFTConfigError
    from sft.model.task_model import load_task_model

    if importlib.util.find_spec("flash_attn") is not None:
        pytest.skip("flash-attn is installed here")
    with pytest.raises(SFTConfigError, match=r"^model\.attn_implementation=flash_attention_2: "):
        load_task_model(
            "AutoModelForCausalLM",
            "pkg://sft/assets/llama_chat",
            [],
            init="random",
            attn_implementation="flash_attention_2",
        )
