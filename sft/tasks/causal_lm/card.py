"""The causal-LM family's sections of the model card (sft.training.model_card asks the task
for them): what the model was tuned on (data, rows and their shapes, the trained tokens,
max_length, the chat template), how it was evaluated (loss and perplexity, token accuracy,
generation on N held-out rows scored by exact match and ROUGE-L, the generation settings),
and how to use it with sft, over HTTP, and with transformers alone.
"""

from __future__ import annotations

from collections import Counter

TRAIN_ON = {
    "completion": "the answer of each row (a completion, or a conversation's last assistant "
    "turn) with its end-of-turn token",
    "assistant": "every assistant turn with its end-of-turn token",
    "all": "every token of each row",
}
SAMPLE = [{"role": "user", "content": "Which drug is this review about?"}]


def card_lines(cfg, datamodule, module, test_metrics: dict) -> list[str]:
    """'## Tuning' and '## Evaluation' (Markdown lines) from the run's own records."""
    data = cfg.data
    shapes = Counter(datamodule.examples["train"].labels)
    generation = dict(getattr(datamodule, "generation", None) or data.get("generation") or {})
    template = _template_words(datamodule)
    truncated = getattr(datamodule, "truncated", {}) or {}
    lines = [
        "## Tuning",
        "",
        f"- Data: `{data.name}` (train: `{data.get('train_path')}`); rows per split: "
        + ", ".join(f"{s} {len(e)}" for s, e in datamodule.examples.items())
        + "; train rows by shape: "
        + ", ".join(f"{shape} {count}" for shape, count in shapes.most_common())
        + ".",
        f"- Trained on (data.train_on={datamodule.train_on}): {TRAIN_ON[datamodule.train_on]}; "
        "the loss is the sum of token cross-entropies over those tokens divided by their "
        "count in the whole accumulated batch.",
        f"- Rows of at most {datamodule.max_length} tokens (data.max_length); longer ones "
        f"lost tokens from the left of their prompt (data.truncation={datamodule.truncation})"
        + (
            ": " + ", ".join(f"{s} {n}" for s, n in truncated.items() if n) + " rows."
            if any(truncated.values())
            else ": none was."
        ),
        f"- Prompt format: {template}.",
    ]
    metric_names = sorted(k for k in test_metrics if k.startswith("test/"))
    rows = {s: len(r) for s, r in (getattr(datamodule, "held_out", None) or {}).items()}
    beams = int(generation.get("num_beams", 1))
    decoding = "greedy decoding" if beams == 1 else f"beam search ({beams} beams)"
    lines += [
        "",
        "## Evaluation",
        "",
        "- Each epoch on the validation split, and once on the test split with the kept "
        "checkpoint: loss (per trained token), perplexity (exp of the loss), mean token "
        "accuracy (next-token argmax on the trained tokens).",
        f"- Generation on the first rows with an answer ({_counts(rows)}): {decoding}, at "
        f"most {generation.get('max_new_tokens', '?')} new tokens, stopping at EOS; "
        "scored by exact match (SQuAD's normalization: lower case, no punctuation or "
        "articles, single spaces) and ROUGE-L F-measure (torchmetrics, rougeL, on the "
        "same normalized texts) against the reference answer. The test's "
        "prompts, references and generations are the MLflow table "
        "`tables/test_generations.json`.",
    ]
    if metric_names:
        lines.append(
            "- Test: " + ", ".join(f"{k} {float(test_metrics[k]):.4f}" for k in metric_names) + "."
        )
    return lines


def _counts(rows: dict) -> str:
    return ", ".join(f"{split} {n}" for split, n in rows.items()) or "no held-out split"


def _template_words(datamodule) -> str:
    if getattr(datamodule, "chat_template", None):
        return "the chat template named in data.chat_template (saved with the tokenizer)"
    tokenizer = getattr(datamodule, "tokenizer", None)
    if getattr(tokenizer, "chat_template", None):
        return "the tokenizer's chat template (saved with it)"
    return "no chat template: a prompt and its completion are plain text, then EOS"


def usage_lines(uri: str, datamodule) -> list[str]:
    """'## Intended use and limitations' and '## How to use': sft, sft-predict, sft-serve
    with a chat request, and transformers alone (prompted exactly as training did:
    `add_special_tokens` follows whether the template writes BOS itself; the saved
    generation settings)."""
    tokenizer = datamodule.tokenizer
    generation = dict(getattr(datamodule, "generation", None) or {})
    steps = int(generation.get("max_new_tokens", 32))
    beams = int(generation.get("num_beams", 1))
    templated = bool(getattr(tokenizer, "chat_template", None))
    if templated:
        text = tokenizer.apply_chat_template(SAMPLE, add_generation_prompt=True, tokenize=False)
        bos = getattr(tokenizer, "bos_token", None)
        add_special = not (bos and text.startswith(bos))
        prompt_lines = [
            'messages = [{"role": "user", "content": "Which drug is this review about? ..."}]',
            "text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
            "tokenize=False)",
            f'inputs = tokenizer(text, return_tensors="pt", add_special_tokens={add_special})',
        ]
    else:
        prompt_lines = [
            'inputs = tokenizer("Which drug is this review about? ...", return_tensors="pt")'
        ]
    request = (
        '{"messages": [{"role": "user", "content": "Which drug is this review about? ..."}], '
        f'"max_tokens": {steps}}}'
    )
    return [
        "## Intended use and limitations",
        "",
        "Made to answer prompts like those of its training data, in their format. It writes "
        "text: answers can be wrong, and outside that data (other questions, domains, "
        "languages or lengths) expect them to be worse. The test figures are one split and "
        "one seed on a few generated rows; they are not a guarantee. Not for decisions about "
        "people without human review.",
        "",
        "## How to use",
        "",
        "```bash",
        "python -c \"import sft; print(sft.load('<this folder>').generate(['Which drug is "
        "this review about? ...']))\"",
        f"sft-predict model_uri={uri} input=prompts.jsonl output=answers.jsonl  "
        '# rows: {"prompt": ...} or {"messages": [...]}',
        f"sft-serve model_uri={uri} port=5000",
        f"curl -s localhost:5000/invocations -H 'Content-Type: application/json' -d '{request}'",
        "```",
        "",
        "With transformers alone (a LoRA adapter folder loads the same way where peft is "
        "installed):",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
        'model = AutoModelForCausalLM.from_pretrained("<this folder>")',
        *prompt_lines,
        f"out = model.generate(**inputs, max_new_tokens={steps}, num_beams={beams}, "
        "do_sample=False)",
        'print(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
    ]
