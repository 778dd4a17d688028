"""Prediction with a causal-LM folder (seeded random weights, saved as sft saves one: fast):
`sft.load(...).generate` and `predict` take prompts, rows and conversations; the folder
loads with transformers alone and generates the same; sft-predict writes generations for a
JSONL or CSV of prompts and conversations; a task that does not generate says so in one
line; bad inputs are refused in one line naming the input or the file's row."""

from __future__ import annotations

import json

import pytest

import sft
from conftest import run_sft
from helpers.causal_folders import PROMPTS, causal_folder
from sft.errors import SFTConfigError, SFTDataError

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return causal_folder(tmp_path_factory.mktemp("causal") / "model", seed=3, max_new_tokens=5)


@pytest.fixture(scope="module")
def predictor(folder):
    return sft.load(folder)


def test_generate_takes_prompts_rows_and_conversations(predictor):
    alone = [predictor.generate([p])[0] for p in PROMPTS]
    assert predictor.generate(PROMPTS, batch_size=2) == alone  # left padding changes nothing
    assert predictor.generate(PROMPTS[0]) == alone[:1]  # one prompt alone: a list of one
    rows = [{"prompt": PROMPTS[0]}, {"messages": [{"role": "user", "content": PROMPTS[1]}]}]
    assert predictor.generate(rows) == alone  # a prompt is one user turn
    turns = [{"role": "user", "content": PROMPTS[1]}]
    assert predictor.generate(turns) == alone[1:]  # a conversation's turns are one input
    assert predictor.generate({"messages": turns}) == alone[1:]
    assert predictor.predict(PROMPTS) == [{"text": t} for t in alone]
    # a conversation is prompted through its last turn, and a text row is continued
    assert len(predictor.generate([CONVERSATION, {"text": "The capital"}])) == 2


def test_the_saved_and_the_given_generation_settings(predictor):
    tokenizer = predictor.tokenizer
    lengths = [len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in PROMPTS]
    assert predictor.spec["generation"]["max_new_tokens"] == 5
    longer = predictor.generate(PROMPTS, max_new_tokens=12)
    shorter = predictor.generate(PROMPTS, max_new_tokens=2)
    for long, short in zip(longer, shorter):
        assert long.startswith(short)
        assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) <= 2
    assert max(lengths) > 2
    beams = predictor.generate(PROMPTS, num_beams=2)
    assert len(beams) == 2 and all(isinstance(t, str) for t in beams)
    with pytest.raises(SFTConfigError, match=r"^max_new_tokens=0: must be an integer >= 1$"):
        predictor.generate(PROMPTS, max_new_tokens=0)


def test_transformers_alone_loads_the_folder_and_generates_the_same(folder, predictor):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert tokenizer.chat_template and tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id
    for messages in (CONVERSATION, [{"role": "user", "content": PROMPTS[0]}]):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        inputs = tokenizer(text, return_tensors="pt")  # the template writes no BOS: add it
        assert inputs["input_ids"][0].tolist().count(tokenizer.bos_token_id) == 1
        out = model.generate(**inputs, max_new_tokens=5, do_sample=False)
        new = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        assert new == predictor.generate([messages])[0]


def test_a_task_that_does_not_generate_says_so(tiny_model_dir, tmp_path):
    from helpers.saved_models import build
    from sft.model.backbone import load_tokenizer
    from sft.model.saving import save_model

    module = build(tiny_model_dir, "multiclass")
    saved = save_model(
        module, load_tokenizer(str(tiny_model_dir)), module.head_config, 32, tmp_path / "m"
    )
    with pytest.raises(SFTConfigError, match=r"task 'multiclass' does not generate$"):
        sft.load(saved).generate(["good drug"])
    with pytest.raises(SFTConfigError, match=r"^max_new_tokens: task 'multiclass' does not"):
        sft.load(saved).predict(["good drug"], max_new_tokens=4)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([{"question": "hi"}], r"^input row 1: no 'prompt', 'messages' or 'text' \(its keys"),
        ([[{"role": "bot", "content": "hi"}]], r"^input row 1: message 0 has unknown role 'bot'"),
        (["ok", 3], r"^input 1: expected a prompt, a row with 'prompt'"),
        ([], r"^no inputs"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(predictor, inputs, message):
    with pytest.raises(SFTDataError, match=message):
        predictor.generate(inputs)


def test_sft_predict_writes_generations_for_prompts_and_conversations(folder, predictor, tmp_path):
    rows = [
        {"prompt": PROMPTS[0], "id": 1},
        {"messages": CONVERSATION, "id": 2},
        {"text": "The capital", "id": 3},
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # CSV has no lists: a messages cell holds JSON text; empty cells are absent keys
    (tmp_path / "in.csv").write_text(
        "prompt,messages\n"
        f"{PROMPTS[1]},\n"
        f',"{json.dumps(CONVERSATION).replace(chr(34), chr(34) * 2)}"\n'
    )
    done = run_sft(
        "predict", f"model_uri={folder}", "input=in.jsonl", "output=out.jsonl",
        "max_new_tokens=3", "progress=false", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in out] == [1, 2, 3]
    assert [r["pred_text"] for r in out] == predictor.generate(rows, max_new_tokens=3)
    done = run_sft(
        "predict", f"model_uri={folder}", "input=in.jsonl", "max_new_tokens=3",
        "progress=false", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    def strict(constant):
        raise ValueError(f"not JSON: {constant}")  # Python reads NaN; JSON readers do not

    printed = [json.loads(line, parse_constant=strict) for line in done.stdout.splitlines()]
    assert printed[0]["messages"] is None and printed[1]["prompt"] is None  # null, not NaN
    assert [r["pred_text"] for r in printed] == [r["pred_text"] for r in out]
    done = run_sft(
        "predict", f"model_uri={folder}", "input=in.csv", "output=out.csv", cwd=tmp_path,
        stdin=None,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    import pandas as pd

    table = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    expected = predictor.generate([PROMPTS[1], CONVERSATION])
    assert list(table["pred_text"]) == expected
    done = run_sft(
        "predict", f"model_uri={folder}", "progress=false", cwd=tmp_path, stdin=f"{PROMPTS[0]}\n"
    )  # stdin lines are prompts
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["pred_text"] == predictor.generate(PROMPTS[:1])[0]


def test_sft_predict_names_the_file_and_row_without_a_prompt(folder, tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"prompt": "hi"}\n{"question": "where?"}\n')
    done = run_sft("predict", f"model_uri={folder}", "input=bad.jsonl", cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.jsonl row 2: no 'prompt', 'messages' or 'text'" in lines[0]
