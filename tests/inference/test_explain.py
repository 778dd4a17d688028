"""`sft.load(...).explain`: integrated gradients on the input embeddings, merged to words.

What must hold whatever the weights: completeness (word scores sum to f(x) - f(baseline),
delta near 0), the explained output is the target's logit, spans cut the text at its words,
and a model or input that cannot be explained gets one line.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import sft
from helpers.saved_models import TASKS, build
from sft.errors import SFTConfigError, SFTDataError
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model
from sft.tasks import REGISTRY, get_task
from sft.tasks.sequence import SEQUENCE

TEXTS = ["the drug was good and great", "bad pill , my week was awful", "okay"]


@pytest.fixture(scope="module")
def saved(tiny_model_dir, tmp_path_factory):
    """task -> a saved tiny model folder (random weights: the algebra holds for any)."""
    out = tmp_path_factory.mktemp("explain-models")
    folders = {}
    for task in ("multiclass", "binary", "regression"):
        module = build(tiny_model_dir, task)
        tokenizer = load_tokenizer(str(tiny_model_dir))
        folders[task] = save_model(module, tokenizer, module.head_config, 64, out / task)
    return folders


@pytest.mark.parametrize("task", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("baseline", ["pad", "mask", "zero"])
def test_word_scores_sum_to_the_logit_difference(saved, task, baseline):
    predictor = sft.load(saved[task])
    logits = predictor.logits(TEXTS)
    for text, row, found in zip(
        TEXTS, logits, predictor.explain(TEXTS, baseline=baseline, n_steps=64)
    ):
        total = sum(w["score"] for w in found["words"])
        assert total == pytest.approx(found["logit"] - found["baseline_logit"], abs=2e-3)
        assert abs(found["delta"]) < 2e-3
        assert [w["word"] for w in found["words"]] == text.split()
        assert all(text[w["start"] : w["end"]] == w["word"] for w in found["words"])
        if task == "multiclass":
            assert found["target"] == TASKS[task][int(row.argmax())] == found["predicted"]
            # the centred logit: softmax ignores a shift shared by all logits
            assert found["logit"] == pytest.approx(float(row.max() - row.mean()), abs=1e-5)
        if task == "regression":
            assert found["target"] is None and found["probability"] is None


def test_a_named_target_is_explained_and_binary_negates_the_positive_logit(saved):
    multiclass = sft.load(saved["multiclass"])
    raw = multiclass.logits(TEXTS[:1])[0]
    found = multiclass.explain(TEXTS[:1], target="neutral")[0]
    assert found["target"] == "neutral"
    assert found["logit"] == pytest.approx(float(raw[1] - raw.mean()), abs=1e-5)
    binary = sft.load(saved["binary"])
    yes, no = binary.explain(TEXTS[:1], target="yes")[0], binary.explain(TEXTS[:1], target="no")[0]
    assert no["logit"] == pytest.approx(-yes["logit"], abs=1e-6)
    for a, b in zip(yes["words"], no["words"]):
        assert a["score"] == pytest.approx(-b["score"], abs=1e-6)
    assert yes["probability"] + no["probability"] == pytest.approx(1.0)


def test_the_zero_baseline_starts_from_zero_vectors_at_the_words(saved):
    """Where the pad embedding is not zero (any pretrained BERT), `zero` and `pad` differ, and
    f(baseline) is the network on zero vectors at the word positions."""
    predictor = sft.load(saved["multiclass"])
    embeddings = predictor.runner.net.encoder.get_input_embeddings()
    with torch.no_grad():
        pad_row = embeddings.weight[predictor.tokenizer.pad_token_id]
        pad_row.copy_(torch.randn_like(pad_row))
    pad = predictor.explain(TEXTS[:1], baseline="pad")[0]
    zero = predictor.explain(TEXTS[:1], baseline="zero")[0]
    assert zero["baseline_logit"] != pytest.approx(pad["baseline_logit"], abs=1e-4)
    ids = torch.tensor([predictor.tokenizer(TEXTS[0])["input_ids"]])
    vectors = embeddings(ids).detach()
    vectors[0, 1:-1] = 0.0  # [CLS] and [SEP] kept
    net = predictor.runner.net
    with torch.no_grad():
        states = net.encoder(inputs_embeds=vectors, attention_mask=torch.ones_like(ids))
        logits = net.head(states.last_hidden_state.mean(dim=1))[0]
        expected = logits[TASKS["multiclass"].index(zero["target"])] - logits.mean()
    assert zero["baseline_logit"] == pytest.approx(float(expected), abs=1e-5)


def test_internal_batching_does_not_change_the_scores(saved):
    predictor = sft.load(saved["multiclass"])
    whole = predictor.explain(TEXTS[:1], n_steps=20)[0]
    parts = predictor.explain(TEXTS[:1], n_steps=20, internal_batch_size=3)[0]
    for a, b in zip(whole["words"], parts["words"]):
        assert a["score"] == pytest.approx(b["score"], abs=1e-6)


def test_bad_requests_get_one_line(saved, tmp_path):
    predictor = sft.load(saved["multiclass"])
    cases = [
        ({"inputs": ["good", "  "]}, SFTDataError, "input 1: empty text"),
        ({"inputs": "good"}, SFTDataError, "a single string"),
        (
            {"inputs": ["good"], "target": "joyful"},
            SFTConfigError,
            r"target: 'joyful' is not a label of this model \(labels: negative, neutral, "
            r"positive\)",
        ),
        ({"inputs": ["good"], "baseline": "blank"}, SFTConfigError, "unknown baseline 'blank'"),
        ({"inputs": ["good"], "n_steps": 0}, SFTConfigError, "n_steps: must be >= 1"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            predictor.explain(**kwargs)
    with pytest.raises(SFTConfigError, match="a regression model has no labels"):
        sft.load(saved["regression"]).explain(["good"], target="positive")
    tokenizer, predictor.tokenizer = predictor.tokenizer, SimpleNamespace(is_fast=False)
    with pytest.raises(SFTConfigError, match="explanations need a fast tokenizer"):
        predictor.explain(["good"])  # a slow tokenizer gives no word ids or offsets
    predictor.tokenizer = tokenizer
    predictor.runner = object()  # what an ONNX-only folder runs: no network to differentiate
    with pytest.raises(SFTConfigError, match="explanations need the model's gradients"):
        predictor.explain(["good"])


def test_only_tasks_that_answer_explanation_target_are_explained(saved):
    """The sequence family explains; the others are refused in one line naming the task."""
    for name in REGISTRY:
        task = get_task(name)
        assert hasattr(task, "explanation_target") == (task.family is SEQUENCE), name
    predictor = sft.load(saved["multiclass"])
    predictor.kind, predictor.task = get_task("detection"), "detection"
    with pytest.raises(SFTConfigError) as err:
        predictor.explain(["good"])
    assert str(err.value) == "explanations are not available for task 'detection'"
