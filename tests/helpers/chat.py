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
