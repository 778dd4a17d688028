"""Batches that waste little compute on padding: length-grouped sampling and dynamic padding."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


class TokenizedDataset(Dataset):
    """Token ids and targets of one split, held in memory."""

    def __init__(self, input_ids: list[np.ndarray], targets: np.ndarray):
        self.input_ids = input_ids
        self.targets = targets
        self.lengths = np.fromiter((len(x) for x in input_ids), dtype=np.int64,
                                   count=len(input_ids))

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int):
        return self.input_ids[index], self.targets[index]

    def __getitems__(self, indices: list[int]):
        return [(self.input_ids[i], self.targets[i]) for i in indices]


class PadCollator:
    """Pad a batch to its longest sequence; build the attention mask."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, items):
        width = max(len(ids) for ids, _ in items)
        input_ids = torch.full((len(items), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(items), width), dtype=torch.long)
        for row, (ids, _) in enumerate(items):
            input_ids[row, : len(ids)] = torch.from_numpy(ids)
            attention_mask[row, : len(ids)] = 1
        targets = torch.from_numpy(np.asarray([target for _, target in items]))
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": targets}


class LengthGroupedBatchSampler(Sampler[list[int]]):
    """Batches of similar length, in an order fixed by (seed, epoch).

    Training: shuffle, cut into groups of `group_batches` batches, sort each group by length,
    cut into batches, shuffle the batches. Evaluation (`shuffle=False`): sort everything by
    length, longest first. Lightning calls `set_epoch` each epoch, so a resumed run sees the
    same order as an uninterrupted one.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, shuffle: bool, seed: int = 0,
                 group_batches: int = 50, group_by_length: bool = True):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.group_batches = group_batches
        self.group_by_length = group_by_length
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return (len(self.lengths) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.lengths)
        if not self.shuffle:
            order = np.argsort(-self.lengths, kind="stable") if self.group_by_length else np.arange(n)
            yield from (order[i: i + self.batch_size].tolist() for i in range(0, n, self.batch_size))
            return
        order = rng.permutation(n)
        if self.group_by_length:
            span = self.batch_size * self.group_batches
            order = np.concatenate([
                chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                for chunk in np.array_split(order, max(1, -(-n // span)))
            ])
        batches = [order[i: i + self.batch_size] for i in range(0, n, self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b].tolist()
