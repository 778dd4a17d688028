"""Prompts, generation and scores of the causal-LM family on the tiny chat Llama
(sft/assets/llama_chat, pad == eos): a prompt is the row rendered up to its answer with the
generation prompt, left padding does not change what is generated, a model with pad == eos
learns to stop after a few steps, and exact match and ROUGE-L need no nltk."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from helpers.chat import ASSET, END, hello_rows
from sft.errors import SFTDataError
from sft.tasks.causal_lm.generate import generate, prompt_ids, reference

Q = {"role": "user", "content": "What is the capital of France?"}
A = {"role": "assistant", "content": "Paris."}


@pytest.fixture(scope="module")
def tokenizer():
    from sft.model.backbone import load_tokenizer

    return load_tokenizer(ASSET)


def model(seed: int = 0):
    from sft.model.task_model import load_task_model

    torch.manual_seed(seed)
    return load_task_model("AutoModelForCausalLM", ASSET, [], init="random").encoder


def test_a_prompt_is_the_row_up_to_its_answer_with_the_generation_prompt(tokenizer):
    chat = {"messages": [Q, A, {"role": "user", "content": "And Spain?"}, A]}
    text = tokenizer.decode(prompt_ids(chat, tokenizer))
    assert text.startswith("<s><|im_start|>user\nWhat is")  # BOS once
    assert text.count("<s>") == 1 and text.count("Paris.") == 1  # the last answer left out
    assert text.endswith("And Spain?<|im_end|>\n<|im_start|>assistant\n")
    pair = tokenizer.decode(prompt_ids({"prompt": "Hi", "completion": "Hello!"}, tokenizer))
    assert pair == "<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert tokenizer.decode(prompt_ids({"text": "Once upon"}, tokenizer)) == "<s>Once upon"
    assert reference(chat, "x") == "Paris." and reference({"prompt": "Hi"}, "x") is None
    with pytest.raises(SFTDataError, match=r"^in\.jsonl row 3: no 'prompt', 'messages'"):
        prompt_ids({"question": "Hi"}, tokenizer, file="in.jsonl", number=3)


def test_left_padding_generates_what_each_prompt_generates_alone(tokenizer):
    net = model()
    prompts = [prompt_ids({"prompt": p}, tokenizer) for p in ("Hi", "What is the review about?")]
    assert len(prompts[0]) != len(prompts[1])
    together = generate(net, tokenizer, prompts, max_new_tokens=6, batch_size=2)
    alone = [generate(net, tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone and all(together)
    assert net.training  # its mode is given back


def test_a_model_whose_pad_is_eos_learns_to_stop(tokenizer):
    from sft.tasks.causal_lm.batches import pad_batch
    from sft.tasks.causal_lm.metrics import token_sums
    from sft.tasks.causal_lm.render import render_row

    assert tokenizer.pad_token_id == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids(END)
    rows = hello_rows(16)
    encoded = [render_row(r, tokenizer, "toy", i) for i, r in enumerate(rows, 1)]
    items = [(np.array(e.input_ids), np.array(e.labels), None) for e in encoded]
    batch = pad_batch(items, tokenizer.pad_token_id)
    net = model(seed=1)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(40):
        logits = net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        nll, _, count = token_sums(logits, batch["labels"])
        optimizer.zero_grad()
        (nll / count).backward()
        optimizer.step()
    net.eval()
    ids = prompt_ids({"prompt": "Say hello to river."}, tokenizer)
    with torch.no_grad():
        out = net.generate(
            input_ids=torch.tensor([ids]), max_new_tokens=12, do_sample=False, pad_token_id=2
        )[0, len(ids) :].tolist()
    # it wrote the answer, then EOS, and stopped long before max_new_tokens
    assert out[-1] == tokenizer.eos_token_id and len(out) < 12, out
    assert tokenizer.decode(out, skip_special_tokens=True) == "Hello!"
    assert generate(net, tokenizer, [ids], max_new_tokens=12) == ["Hello!"]


def test_exact_match_and_rouge_l_normalize_like_squad_without_nltk():
    from sft.tasks.causal_lm.metrics import CausalLMMetrics, exact_match, normalize_answer, rouge_l

    assert normalize_answer("  The  Birth-Control!  ") == "birthcontrol"
    assert exact_match("Paris.", "paris") and not exact_match("Paris, France", "Paris")
    # "rating is nine" vs "rating nine": LCS 2, precision 2/3, recall 1
    assert rouge_l("the rating is nine", "rating nine") == pytest.approx(0.8)
    assert "nltk" not in sys.modules
    metrics = CausalLMMetrics()
    metrics.update(torch.tensor(2.0), torch.tensor(1), torch.tensor(4))
    assert metrics.update_generations(["Paris.", "Rome"], ["paris", "Madrid"]) == [True, False]
    values = metrics.compute()
    assert values["perplexity"].item() == pytest.approx(np.exp(0.5))
    assert values["token_accuracy"].item() == 0.25 and values["exact_match"].item() == 0.5
    assert values["rougeL"].item() == pytest.approx(0.5)


def test_token_sums_shift_and_skip_minus_100():
    from sft.tasks.causal_lm.metrics import token_sums

    logits = torch.full((1, 3, 4), -10.0)
    logits[0, 0, 1] = 10.0  # position 0 predicts token 1 (right)
    logits[0, 1, 3] = 10.0  # position 1 predicts token 3 (wrong: the label is 2)
    nll, correct, count = token_sums(logits, torch.tensor([[-100, 1, 2]]))
    assert int(count) == 2 and int(correct) == 1 and float(nll) > 19
