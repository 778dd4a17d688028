"""Entity metrics equal seqeval's strict mode (micro and per type) on random and hand-made
tag sequences, broken ones included; token accuracy; states that sum across ranks."""

from __future__ import annotations

import random
import warnings

import pytest
import torch

from sft.tasks.token_classification.metrics import EntityMetrics
from sft.tasks.token_classification.tags import tag_order

seqeval = pytest.importorskip("seqeval", reason="the dev extra installs seqeval")

TAGS = {
    "iob2": tag_order(["B-DRUG", "I-DRUG", "B-COND", "I-COND", "B-PER", "I-PER"]),
    "bioes": tag_order([f"{p}-{t}" for p in "BIES" for t in ("DRUG", "COND")]),
}


def batch(names: list[str], sentences: list[list[str]]) -> torch.Tensor:
    """Tag names per sentence -> ids [sentences, longest + 2]: -100 at a [CLS]-like first
    position, at padding, and on every second position after a word (a subword)."""
    width = 1 + 2 * max(map(len, sentences)) + 1
    out = torch.full((len(sentences), width), -100, dtype=torch.long)
    for row, tags in enumerate(sentences):
        for i, tag in enumerate(tags):
            out[row, 1 + 2 * i] = names.index(tag)
    return out


def reference(true, pred, scheme: str) -> dict:
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
    from seqeval.scheme import IOB2, IOBES

    cls = IOB2 if scheme == "iob2" else IOBES
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on 0/0, which it scores 0 as we do
        out = {
            name: fn(true, pred, mode="strict", scheme=cls)
            for name, fn in (
                ("precision", precision_score),
                ("recall", recall_score),
                ("f1", f1_score),
            )
        }
        report = classification_report(
            true, pred, mode="strict", scheme=cls, output_dict=True, zero_division=0
        )
    for kind in ("DRUG", "COND", "PER"):
        if kind in report:
            for name in ("precision", "recall", "f1"):
                out[f"{name}_{kind}"] = report[kind][name if name != "f1" else "f1-score"]
            out[f"support_{kind}"] = report[kind]["support"]
    return out


def measured(true, pred, scheme: str, split: int = 1) -> dict:
    """Our metric over `split` metric objects (as ranks), merged like DDP's sum."""
    names = TAGS[scheme]
    parts = [EntityMetrics(names, scheme) for _ in range(split)]
    for i, metric in enumerate(parts):
        t, p = true[i::split], pred[i::split]
        if t:
            target = batch(names, t)
            preds = batch(names, p).clamp(min=0)  # predictions exist at every position
            metric.update(preds, target)
    for other in parts[1:]:
        for name in ("tp", "fp", "fn", "correct", "total"):
            setattr(parts[0], name, getattr(parts[0], name) + getattr(other, name))
    return {k: v.item() for k, v in parts[0].compute().items()}


def check(true, pred, scheme, split=1):
    got, want = measured(true, pred, scheme, split), reference(true, pred, scheme)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, abs=1e-6), (key, true, pred)


@pytest.mark.parametrize("scheme", ["iob2", "bioes"])
def test_equals_seqeval_on_random_sequences(scheme):
    names = TAGS[scheme]
    for trial in range(200):
        rng = random.Random(trial)
        # Half the trials draw from a few tags, so that spans match often.
        pool = names if trial % 2 else names[:3]
        true, pred = [], []
        for _ in range(rng.randint(1, 6)):
            n = rng.randint(1, 10)
            true.append([rng.choice(pool) for _ in range(n)])
            pred.append([t if rng.random() < 0.6 else rng.choice(pool) for t in true[-1]])
        check(true, pred, scheme, split=1 + trial % 3)


@pytest.mark.parametrize(
    "true,pred",
    [
        ([["B-DRUG", "I-DRUG", "O"]], [["B-DRUG", "I-DRUG", "O"]]),  # exact match
        ([["B-DRUG", "I-DRUG", "O"]], [["B-DRUG", "O", "O"]]),  # span too short
        ([["B-DRUG", "I-DRUG", "O"]], [["B-COND", "I-COND", "O"]]),  # wrong type
        ([["O", "I-DRUG", "I-DRUG"]], [["B-DRUG", "I-DRUG", "O"]]),  # broken gold: no entity
        ([["B-DRUG", "I-DRUG"]], [["O", "I-DRUG"]]),  # broken prediction
        ([["B-PER", "I-PER", "B-PER"]], [["B-PER", "I-PER", "I-PER"]]),  # two vs one
        ([["O", "O"]], [["O", "O"]]),  # nothing at all
    ],
)
def test_equals_seqeval_on_hand_made_iob2_cases(true, pred):
    check(true, pred, "iob2")


def test_token_accuracy_counts_labelled_positions_only():
    names = TAGS["iob2"]
    got = measured([["B-DRUG", "O", "O", "O"]], [["B-DRUG", "O", "B-COND", "O"]], "iob2")
    assert got["token_accuracy"] == pytest.approx(0.75)
    # one true DRUG found, one COND guessed where there is none
    assert (got["precision"], got["recall"]) == (0.5, 1.0)
    assert got["f1"] == pytest.approx(2 / 3)
    assert got["f1_DRUG"] == 1.0 and got["support_DRUG"] == 1 and got["f1_COND"] == 0.0
    metric = EntityMetrics(names, "iob2")
    target = batch(names, [["B-DRUG", "O"]])
    logits = torch.nn.functional.one_hot(target.clamp(min=0), len(names)).float()
    metric.update(logits, target)  # logits are argmaxed
    assert metric.compute()["f1"].item() == 1.0


def test_states_reduce_by_sum_across_ranks():
    metric = EntityMetrics(TAGS["iob2"], "iob2")
    assert {
        metric._reductions[name].__name__ for name in ("tp", "fp", "fn", "correct", "total")
    } == {"dim_zero_sum"}
