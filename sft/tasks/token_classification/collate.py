"""Batches of tagged sentences: token ids and per-token labels padded to the batch's longest."""

from __future__ import annotations

import torch

from sft.data.batching import PadCollator
from sft.tasks.token_classification.align import IGNORE


class TagPadCollator(PadCollator):
    """Pad a batch of (ids [tokens], labels [tokens]) on the right: input_ids and
    attention_mask [batch, longest] int64 as sft.data.batching.PadCollator gives them (kept
    for its speed and its right padding), labels [batch, longest] int64 padded with -100."""

    def __call__(self, items):
        width = max(len(ids) for ids, _ in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
        for row, (ids, tags) in enumerate(items):
            input_ids[row, : len(ids)] = torch.from_numpy(ids)
            attention_mask[row, : len(ids)] = 1
            labels[row, : len(tags)] = torch.from_numpy(tags)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
