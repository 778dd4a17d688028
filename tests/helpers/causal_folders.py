"""Causal-LM model folders for the prediction and serving tests, fast: the tiny chat Llama
asset (model=llama_chat) with seeded random weights, saved as sft saves a causal model (the
transformers folder, its tokenizer with the chat template, sft_model.json as the task's
the data module's spec_fields fill it), without a training run."""

from __future__ import annotations

from pathlib import Path

PROMPTS = ["What is the capital of France?", "Which drug is this review about?"]


def causal_folder(out: Path, seed: int = 0, max_new_tokens: int = 6, **spec) -> Path:
    """An untrained causal-LM model folder at `out` (spec fields in `spec` override)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from helpers.chat import ASSET
    from sft.model.backbone import resolve_model_path
    from sft.model.saving import FORMAT, write_spec

    path = resolve_model_path(ASSET)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    model.generation_config.max_new_tokens = max_new_tokens
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(path).save_pretrained(out)
    fields = {
        "format": FORMAT,
        "task": "causal_lm",
        "labels": [],
        "pooling": "none",
        "max_length": 64,
        "head": {},
        "num_outputs": 0,
        "clean_text": False,
        "lora": None,
        "auto_class": "AutoModelForCausalLM",
        "modality": "text",
        "chat_template": None,
        "generation": {"max_new_tokens": max_new_tokens, "num_beams": 1},
        **spec,
    }
    write_spec(fields, out)
    return Path(out)
