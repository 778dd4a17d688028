"""What one child run of a CV or seed-repeat run hands its parent (sft.training.cv): the
validation metrics of its best checkpoint, its test metrics, and its validation predictions
(the out-of-fold predictions of a fold).

Built from the evaluation passes the run made anyway (sft.training.run.RunResult.evaluated:
the validation pass that saw the best checkpoint's weights, the test pass): a fold runs the
model over its validation fold once per validation and over test once. Only a pass that was
not kept (DDP, a limit_*_batches cut, a best checkpoint saved outside a validation) is run
again, once, through the split's length-sorted evaluation loader (a plain sequential loader
padded 3.8x the tokens at 100k rows)."""

from __future__ import annotations

import numpy as np
import torch

from sft.training.calibrate import collect


def evaluation_order(datamodule, split: str) -> np.ndarray:
    """The row of `split` at each position of its evaluation loader (int64 [n]): the loader
    sorts by length, the OOF table and targets keep the split's own order."""
    sampler = getattr(datamodule, f"{split}_dataloader")().batch_sampler
    batches = [np.asarray(b, dtype=np.int64) for b in sampler]
    return np.concatenate(batches) if batches else np.zeros(0, dtype=np.int64)


def split_outputs(module, datamodule, split: str, kept=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """The model's probabilities (classification: [n, classes], binary [n, 1]; multilabel
    [n, labels]) or values (regression [n, 1]) for every example of `split`, its raw outputs
    (logits, same shape), both in the split's own order, and the metrics of that pass ({}
    when it was run here). `kept`: the run's evaluation pass of `split`
    (sft.model.module.Evaluation), used when it holds every row; otherwise one pass here."""
    order = evaluation_order(datamodule, split)
    if kept is not None and len(kept.logits) == len(order):
        logits, summary = kept.logits, dict(kept.summary)
    else:
        logits, summary = collect(module, getattr(datamodule, f"{split}_dataloader")())[0], {}
    if len(order) == 0:
        return np.zeros((0, 1)), np.zeros((0, 1)), summary
    raw = np.empty_like(logits)
    raw[order] = logits  # back to the split's own order
    outputs = module.predict_outputs(torch.from_numpy(raw)).float().cpu().numpy()
    return outputs.reshape(len(raw), -1), raw.reshape(len(raw), -1), summary


def fold_outcome(trainer, module, datamodule, test_metrics: dict, evaluated=None) -> dict:
    """The best checkpoint's (already restored in `module`) validation metrics (logged once
    more, last, in the child run), its test metrics, and the validation examples with their
    predictions, and the raw outputs (logits) on validation and test, which a fold ensemble
    calibrates and tunes its decisions from (sft.training.oof_decisions). `evaluated`: the
    run's kept passes (split -> sft.model.module.Evaluation) that saw these weights."""
    evaluated = evaluated or {}
    val_outputs, val_logits, val = split_outputs(module, datamodule, "val", evaluated.get("val"))
    if not val:  # no kept pass: Lightning's validate gives (and logs) the metrics
        trainer.validate(module, datamodule=datamodule, verbose=False)
        val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    elif trainer.logger is not None:
        trainer.logger.log_metrics(val, step=trainer.global_step)
    examples = datamodule.examples["val"]
    has_test = "test" in datamodule.examples
    test_logits = (
        split_outputs(module, datamodule, "test", evaluated.get("test"))[1]
        if has_test
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
        "test_texts": list(datamodule.examples["test"].texts) if has_test else [],
        "test_targets": np.asarray(datamodule.targets.get("test", np.zeros(0))),
    }
