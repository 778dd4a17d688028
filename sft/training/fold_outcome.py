"""What one child run of a CV or seed-repeat run hands its parent (sft.training.cv): the
validation metrics of its best checkpoint, its test metrics, and its validation predictions
(the out-of-fold predictions of a fold)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader


def split_outputs(module, datamodule, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The model's probabilities (classification: [n, classes], binary [n, 1]; multilabel
    [n, labels]) or values (regression [n, 1]) for every example of `split`, and its raw
    outputs (logits, same shape), in the split's own order (a plain sequential loader: the
    training loaders group by length)."""
    dataset = datamodule.datasets[split]
    loader = DataLoader(
        dataset,
        batch_size=datamodule.eval_batch_size,
        shuffle=False,
        collate_fn=datamodule._collate(),
    )
    module.eval()
    device = next(module.parameters()).device
    rows, raw = [], []
    with torch.no_grad():
        for batch in loader:
            inputs = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            logits = module(**inputs)
            out = module.predict_outputs(logits).float().cpu().numpy()
            rows.append(out.reshape(len(out), -1))
            raw.append(logits.float().cpu().numpy().reshape(len(out), -1))
    if not rows:
        return np.zeros((0, 1)), np.zeros((0, 1))
    return np.concatenate(rows), np.concatenate(raw)


def fold_outcome(trainer, module, datamodule, test_metrics: dict) -> dict:
    """The best checkpoint's (already restored in `module`) validation metrics (Lightning's
    validate: they are logged once more, last, in the child run), its test metrics, and the
    validation examples with their predictions, and the raw outputs (logits) on validation
    and test, which a fold ensemble calibrates and tunes its decisions from
    (sft.training.oof_decisions)."""
    trainer.validate(module, datamodule=datamodule, verbose=False)
    val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    examples = datamodule.examples["val"]
    val_outputs, val_logits = split_outputs(module, datamodule, "val")
    test_logits = (
        split_outputs(module, datamodule, "test")[1]
        if "test" in datamodule.examples
        else np.zeros((0, 1))
    )
    return {
        "val": val,
        "test": dict(test_metrics),
        "val_outputs": val_outputs,
        "val_logits": val_logits,
        "test_logits": test_logits,
        "val_rows": np.asarray(examples.rows),
        "val_texts": list(examples.texts),
        "val_targets": np.asarray(datamodule.targets["val"]),
        "label_names": list(module.label_names),
        "task": module.task.name,
        # what an ensemble of the children is tested on (sft.training.ensemble_run)
        "test_texts": list(datamodule.examples["test"].texts)
        if "test" in datamodule.examples
        else [],
        "test_targets": np.asarray(datamodule.targets.get("test", np.zeros(0))),
    }
