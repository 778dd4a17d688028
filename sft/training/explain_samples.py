"""`explain.samples=N`: after the test, explain N test examples with the saved model, the
most confident mistakes first (the task's `explanation_order`), and write sft-explain's page
and tables into the run folder's `explanations/` (logged with the run by the recorder).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from sft.inference import explain_media_report, explain_report
from sft.inference.predictor import load

log = logging.getLogger(__name__)
EXPLANATIONS_DIR = "explanations"


def explain_test_samples(cfg, model_dir: Path, datamodule, run_dir: Path) -> list[Path]:
    """The files written for `cfg.explain` (none when `samples` is 0 or there is no test
    split): the page, the word CSV and the per-class view of the chosen test examples,
    headed by their row, true label and prediction."""
    settings = cfg.get("explain") or {}
    count = int(settings.get("samples") or 0)
    if count == 0:
        return []
    if not datamodule.has_split("test"):
        print(f"explain.samples={count}: no test split, nothing explained.")
        return []
    started = time.perf_counter()
    examples = datamodule.examples["test"]
    texts = [str(t) for t in examples.texts]
    predictor = load(model_dir)
    raw = predictor.logits(texts)
    order = predictor.kind.explanation_order(raw, datamodule.targets["test"], predictor.spec)
    chosen = [int(i) for i in np.asarray(order)[:count]]
    explanations = predictor.explain(
        [texts[i] for i in chosen],
        n_steps=int(settings.get("n_steps", 50)),
        baseline=settings.get("baseline"),  # None: the modality's default
    )
    truths = list(examples.labels)
    headings = [
        f"test row {i}: true '{truths[i]}', predicted '{found['predicted']}'"
        for i, found in zip(chosen, explanations)
    ]
    # text: a page of highlighted words; images and audio: a PNG per example
    writer = explain_report.write if predictor.featurizer is None else explain_media_report.write
    paths = writer(
        explanations,
        run_dir / EXPLANATIONS_DIR,
        title=f"{len(chosen)} test examples, most confident mistakes first",
        ids=chosen,
        headings=headings,
    )
    seconds = time.perf_counter() - started
    log.info("Explained %d test examples in %.1fs -> %s", len(chosen), seconds, paths[0])
    return paths
