"""Causal-LM rows -> input_ids + labels: the trained tokens are exactly the assistant's and
its end-of-turn token, BOS appears once, EOS stays trained when pad == eos, left truncation
keeps the answer, and every bad row or option is refused in one line naming file and row."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.chat import BOS, CHATML, END, chat_tokenizer
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.causal_lm.render import IGNORE, render_row
from sft.tasks.causal_lm.rows import MESSAGES, PROMPT_COMPLETION, TEXT, row_shape

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
Q1 = {"role": "user", "content": "What is the capital of France?"}
A1 = {"role": "assistant", "content": "The capital of France is Paris."}
Q2 = {"role": "user", "content": "Which drug is this review about?"}
A2 = {"role": "assistant", "content": "The review is about aspirin."}
CHAT = {"messages": [SYSTEM, Q1, A1, Q2, A2]}
# Draws user and system turns only, and no generation prompt.
SILENT_ASSISTANT = (
    "{% for message in messages %}{% if message['role'] != 'assistant' %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}{% endfor %}"
)
PAIR = {"prompt": "Rate the review from 1 to 10.", "completion": "The rating is 9."}


@pytest.fixture(scope="module", params=[False, True], ids=["bos_by_tokenizer", "bos_in_template"])
def tok(request):
    return chat_tokenizer(bos_in_template=request.param)


def trained_runs(tokenizer, rendered) -> list[str]:
    """The decoded text of each run of consecutive trained tokens."""
    runs, current = [], []
    for token, label in zip(rendered.input_ids, rendered.labels):
        if label != IGNORE:
            assert label == token  # labels are the ids themselves, unshifted
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return [tokenizer.decode(run) for run in runs]


def refusal(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message
    return message


def test_each_shape_is_told():
    assert row_shape({"text": "hello"}, "a.jsonl", 1) == TEXT
    assert row_shape(dict(PAIR, id=3), "a.jsonl", 1) == PROMPT_COMPLETION
    assert row_shape(CHAT, "a.jsonl", 1) == MESSAGES
    # A null column is absent (a CSV mixing shapes); a lone prompt beside messages is ignored.
    assert row_shape({"text": None, "prompt": "hi", "messages": [Q1, A1]}, "a.jsonl", 1) == MESSAGES
    # A Parquet list column arrives as a numpy array.
    assert row_shape({"messages": np.array([Q1, A1], dtype=object)}, "a.parquet", 1) == MESSAGES


@pytest.mark.parametrize(
    ("row", "says"),
    [
        ({"question": "hi", "answer": "yo"}, "no 'text', 'prompt' + 'completion' or 'messages'"),
        ({"prompt": "hi"}, "has 'prompt' but no 'completion'"),
        ({"prompt": "hi", "completion": "  "}, "'completion' is empty"),
        ({"prompt": "hi", "completion": 3}, "'completion' must be a string, got int"),
        ({"text": "hi", "messages": [Q1, A1]}, "has both 'messages' and 'text'"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "message 0 has unknown role 'bot'"),
        ({"messages": [Q1, {"role": "assistant"}]}, "message 1 must have 'role' and 'content'"),
        ({"messages": [Q1, {"role": "assistant", "content": ""}]}, "1 (assistant) is empty"),
    ],
)
def test_a_bad_row_is_one_line_naming_file_and_row(row, says):
    with pytest.raises(SFTDataError) as error:
        row_shape(row, "chat.jsonl", 7)
    assert refusal(error).startswith("chat.jsonl row 7: ")
    assert says in str(error.value)


def test_the_mask_covers_every_assistant_turn_and_its_end_of_turn_token(tok):
    rendered = render_row(CHAT, tok, "chat.jsonl", 1, train_on="assistant")
    assert trained_runs(tok, rendered) == [A1["content"] + END, A2["content"] + END]


def test_completion_trains_on_the_last_assistant_turn_only(tok):
    rendered = render_row(CHAT, tok, "chat.jsonl", 1, train_on="completion")
    assert trained_runs(tok, rendered) == [A2["content"] + END]


def test_a_prompt_completion_row_trains_on_the_completion_and_eos_when_pad_is_eos(tok):
    assert tok.pad_token_id == tok.eos_token_id
    rendered = render_row(PAIR, tok, "pairs.csv", 2)
    assert trained_runs(tok, rendered) == [PAIR["completion"] + END]
    # The template's last "\n" follows the final <|im_end|>, which is trained.
    assert rendered.input_ids[-2] == tok.eos_token_id == rendered.labels[-2]
    assert rendered.labels[-1] == IGNORE
    assert tok.decode(rendered.input_ids).endswith(
        f"user\n{PAIR['prompt']}{END}\n<|im_start|>assistant\n{PAIR['completion']}{END}\n"
    )


def test_without_a_template_the_completion_follows_the_prompt_with_eos():
    tok = chat_tokenizer()
    tok.chat_template = None
    rendered = render_row(PAIR, tok, "pairs.csv", 2)
    assert trained_runs(tok, rendered) == [PAIR["completion"] + END]
    assert tok.decode(rendered.input_ids) == BOS + PAIR["prompt"] + PAIR["completion"] + END
    with pytest.raises(SFTDataError) as error:
        render_row(CHAT, tok, "chat.jsonl", 4)
    assert refusal(error).startswith("chat.jsonl row 4: a 'messages' row needs a chat template")


def test_all_trains_every_token_and_text_rows_need_it(tok):
    rendered = render_row(CHAT, tok, "chat.jsonl", 1, train_on="all")
    assert rendered.labels == rendered.input_ids
    text = render_row({"text": "hello there"}, tok, "t.jsonl", 5, train_on="all")
    assert tok.decode(text.input_ids) == BOS + "hello there" + END
    assert text.labels == text.input_ids
    with pytest.raises(SFTDataError) as error:
        render_row({"text": "hello"}, tok, "t.jsonl", 5, train_on="completion")
    assert refusal(error).startswith("t.jsonl row 5: a 'text' row has no completion")


def test_bos_appears_once_with_either_kind_of_tokenizer(tok):
    bos = tok.bos_token_id
    for row in (CHAT, PAIR):
        ids = render_row(row, tok, "chat.jsonl", 1).input_ids
        assert ids[0] == bos and ids.count(bos) == 1
    # The hazard is real: the rendered text tokenized with the defaults doubles BOS when the
    # template writes it (Llama 3's way).
    naive = tok(tok.apply_chat_template(CHAT["messages"], tokenize=False))["input_ids"]
    assert naive.count(bos) == (2 if tok.chat_template.startswith("{{ bos_token }}") else 1)


def test_a_smollm2_like_tokenizer_whose_bos_is_im_start_gets_no_extra_token():
    tok = chat_tokenizer(smollm2=True)
    assert tok.bos_token == "<|im_start|>" and tok.pad_token_id == tok.eos_token_id
    rendered = render_row(CHAT, tok, "chat.jsonl", 1, train_on="assistant")
    # One <|im_start|> a turn, none added in front.
    rendered_text = tok.apply_chat_template(CHAT["messages"], tokenize=False)
    assert tok.decode(rendered.input_ids) == rendered_text
    assert trained_runs(tok, rendered) == [A1["content"] + END, A2["content"] + END]
    text = render_row({"text": "hello"}, tok, "t.jsonl", 2, train_on="all")
    assert tok.decode(text.input_ids) == "hello" + END


def test_a_parquet_messages_row_renders_like_a_list(tok):
    row = {"messages": np.array(CHAT["messages"], dtype=object)}
    assert render_row(row, tok, "chat.parquet", 1) == render_row(CHAT, tok, "chat.jsonl", 1)


def test_a_conversation_without_an_assistant_turn_is_refused(tok):
    row = {"messages": [SYSTEM, Q1]}
    with pytest.raises(SFTDataError) as error:
        render_row(row, tok, "chat.jsonl", 9, train_on="assistant")
    assert refusal(error) == "chat.jsonl row 9: no assistant turn to train on (train_on=assistant)"
    assert render_row(row, tok, "chat.jsonl", 9, train_on="all").labels  # all: every token


@pytest.mark.parametrize(
    ("template", "says"),
    [
        # The turn count at the top: a prefix renders differently from the whole.
        ("{{ messages | length }}" + CHATML, "renders turns up to message 1 differently"),
        # Assistant turns drawn as nothing: no characters to train on.
        (SILENT_ASSISTANT, "renders message 1 as nothing"),
        ("{{ raise_exception('only user turns') }}", "the chat template failed: only user turns"),
    ],
)
def test_a_template_whose_turns_cannot_be_located_is_refused(template, says):
    tok = chat_tokenizer()
    with pytest.raises(SFTDataError) as error:
        render_row({"messages": [Q1, A1]}, tok, "chat.jsonl", 3, chat_template=template)
    assert refusal(error).startswith("chat.jsonl row 3: ")
    assert says in str(error.value)


def test_left_truncation_drops_prompt_tokens_and_keeps_bos_and_the_answer(tok):
    long = {"prompt": "What is the capital of France? " * 20, "completion": "Paris."}
    whole = render_row(long, tok, "pairs.csv", 6)
    cut = render_row(long, tok, "pairs.csv", 6, max_length=20)
    assert len(cut.input_ids) == 20 and cut.truncated == len(whole.input_ids) - 20
    assert cut.input_ids[0] == tok.bos_token_id
    assert cut.input_ids[1:] == whole.input_ids[-19:]
    assert trained_runs(tok, cut) == ["Paris." + END]
    assert render_row(long, tok, "pairs.csv", 6, max_length=len(whole.input_ids)).truncated == 0
    with pytest.raises(SFTDataError) as error:
        render_row(long, tok, "pairs.csv", 6, max_length=20, truncation="refuse")
    assert refusal(error) == (
        f"pairs.csv row 6: {len(whole.input_ids)} tokens, longer than max_length 20 "
        "(truncation=refuse)"
    )


def test_an_answer_that_alone_does_not_fit_is_refused(tok):
    row = {"prompt": "hi", "completion": "The capital of France is Paris. " * 5}
    with pytest.raises(SFTDataError) as error:
        render_row(row, tok, "pairs.csv", 8, max_length=10)
    assert refusal(error).startswith("pairs.csv row 8: the answer (")
    assert "does not fit max_length 10" in str(error.value)


def test_bad_options_and_slow_tokenizers_are_config_errors(tok):
    with pytest.raises(SFTConfigError, match=r"^train_on='prompt': expected one of"):
        render_row(PAIR, tok, "pairs.csv", 1, train_on="prompt")
    with pytest.raises(SFTConfigError, match=r"^truncation='right': expected one of"):
        render_row(PAIR, tok, "pairs.csv", 1, truncation="right")

    class Slow:
        is_fast = False

    with pytest.raises(SFTConfigError, match="is not a fast tokenizer"):
        render_row(PAIR, Slow(), "pairs.csv", 1)
