"""A tiny offline chat tokenizer for the causal-LM tests: the builder of the shipped asset
sft/assets/llama_chat (its make.py: byte-level BPE with ChatML special tokens and a ChatML
template like SmolLM2-Instruct's, eos = pad = `<|im_end|>`), loaded from that file so the
tests and the asset build it one way.

Three kinds, as real tokenizers come: `chat_tokenizer()` adds BOS `<s>` itself and its
template does not write it (the asset's); `chat_tokenizer(bos_in_template=True)` adds BOS too
but its template starts with `{{ bos_token }}` (Llama 3's way), where tokenizing the rendered
text with the defaults would give two; `chat_tokenizer(smollm2=True)` is SmolLM2's kind.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import sft

MAKE = Path(sft.__file__).resolve().parent / "assets" / "llama_chat" / "make.py"
ASSET = "pkg://sft/assets/llama_chat"


def _make_module():
    spec = importlib.util.spec_from_file_location("llama_chat_make", MAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MAKE = _make_module()
BOS, START, END, CHATML = _MAKE.BOS, _MAKE.START, _MAKE.END, _MAKE.CHATML
chat_tokenizer = _MAKE.chat_tokenizer
write_asset = _MAKE.main


def write_rows(path: Path, rows: list[dict]) -> Path:
    """`rows` as a JSONL file at `path`."""
    import json

    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def hello_rows(n: int, seed: int = 0) -> list[dict]:
    """A toy task a tiny model learns in a few steps: any greeting request -> "Hello!"."""
    import random

    words = ["apple", "river", "stone", "cloud", "green", "music", "table", "light"]
    pick = random.Random(seed)
    return [
        {"prompt": f"Say hello to {pick.choice(words)}.", "completion": "Hello!"} for _ in range(n)
    ]


def chat_overrides(train: Path, val: Path, out: Path, *extra: str) -> list[str]:
    """sft-train overrides: model=llama_chat, data=chat on these files, outputs under `out`,
    quiet and fast (no summary, no progress bar)."""
    return [
        "model=llama_chat",
        "data=chat",
        f"data.train_path={train}",
        f"data.val_path={val}",
        "optimizer.weight_decay=0.0",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar.refresh_rate=0",
        f"paths.outputs={out}",
        f"paths.run_dir={out}/run",
        *extra,
    ]


def compose_train(overrides: list[str]):
    """The real train config composed with `overrides`."""
    from hydra import compose, initialize_config_dir

    from sft.cli import CONF_DIR

    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="train", overrides=overrides)
