"""Trust the explanations, not only their shapes: on texts whose class is given away by a
planted keyword (two keywords of the class among filler words, as conftest.toy_frame writes
them) a tiny BERT trained until it is right explains its predictions by the keywords, and
deleting the words it ranks highest lowers the predicted probability more than deleting
random words (ERASER comprehensiveness).

The data has a fourth class, `none`, of filler words only. Without it the model learns one
keyword class as the default (what it says of a text with no keyword), and integrated
gradients rightly give that class's keywords nothing: the blank baseline already gets the
class, so no word makes the difference (measured: the centred logit of such texts was within
0.11 of the blank text's).
"""

from __future__ import annotations

import random

import pandas as pd
import pytest
import torch

import sft
from conftest import FILLER, WORDS, toy_frame
from helpers.saved_models import build
from sft.inference.explain_checks import comprehensiveness, without_words
from sft.model.backbone import load_tokenizer
from sft.model.heads import LinearHead
from sft.model.saving import save_model

LABELS = ["negative", "neutral", "none", "positive"]


def keyword_frame(n: int, seed: int) -> pd.DataFrame:
    """toy_frame's keyword texts, and a quarter of filler-only texts labelled `none`."""
    rng = random.Random(seed)
    frame = toy_frame(n - n // 4, seed)
    blank = [" ".join(rng.choices(FILLER, k=rng.randint(3, 12))) for _ in range(n // 4)]
    return pd.concat([frame, pd.DataFrame({"text": blank, "label": "none"})], ignore_index=True)


@pytest.fixture(scope="module")
def keyword_model(tiny_model_dir, tmp_path_factory):
    """The tiny BERT + linear head trained on 400 keyword texts (Adam, 120 steps of 16)."""
    module = build(tiny_model_dir, "multiclass", seed=0)
    module.head = LinearHead(32, len(LABELS))  # four classes (build's head has three)
    module.label_names = LABELS
    tokenizer = load_tokenizer(str(tiny_model_dir))
    train = keyword_frame(400, seed=11)
    targets = torch.tensor([LABELS.index(label) for label in train["label"]])
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    module.train()
    for _ in range(120):
        rows = torch.randint(len(train), (16,), generator=generator)
        batch = tokenizer([train["text"][int(i)] for i in rows], padding=True, return_tensors="pt")
        loss = torch.nn.functional.cross_entropy(
            module(batch["input_ids"], batch["attention_mask"]), targets[rows]
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    folder = save_model(
        module, tokenizer, module.head_config, 64, tmp_path_factory.mktemp("keyword") / "model"
    )
    return sft.load(folder)


@pytest.fixture(scope="module")
def explained(keyword_model):
    test = keyword_frame(40, seed=12)
    texts, labels = list(test["text"]), list(test["label"])
    records = keyword_model.predict(texts)
    accuracy = sum(r["label"] == y for r, y in zip(records, labels)) / len(labels)
    assert accuracy >= 0.95, f"the keyword model is not right yet: accuracy {accuracy:.2f}"
    return texts, labels, keyword_model.explain(texts, n_steps=32)


def test_the_top_word_is_the_planted_keyword(explained):
    texts, labels, explanations = explained
    for text, label, found in zip(texts, labels, explanations):
        assert found["target"] == label
        top = max(found["words"], key=lambda w: w["score"])
        if label != "none":  # filler only: the blank baseline already is `none`
            assert top["word"] in WORDS[label], (text, found["words"])
        # completeness: the scores add up to the logit's change, up to the integral's error
        gap = abs(found["logit"] - found["baseline_logit"])
        assert abs(found["delta"]) <= 0.05 * max(gap, 1.0), (text, found["delta"], gap)


def test_deleting_the_top_words_lowers_the_probability_more_than_random_words(
    keyword_model, explained
):
    _, _, explanations = explained
    # k >= 2: each text holds two keywords of its class, and either alone keeps it certain
    for k in (2, 3):
        found = comprehensiveness(keyword_model, explanations, k=k, draws=5, seed=0)
        assert found["texts"] >= 0.9 * len(explanations)  # texts of k words or fewer: left out
        assert found["top"] > found["random"] + 0.2, (k, found["top"], found["random"])


def test_a_deleted_word_leaves_the_rest_of_the_text():
    words = [{"start": 0, "end": 3}, {"start": 4, "end": 8}, {"start": 10, "end": 14}]
    assert without_words("bad pill, good", words, {1}) == "bad , good"
    assert without_words("bad pill, good", words, {0, 2}) == " pill, "
