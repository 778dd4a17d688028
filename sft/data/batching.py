"""Batches that waste little compute on padding: length-grouped sampling and dynamic padding."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class TokenizedDataset(Dataset):
    """Token ids and targets of one split, held in memory."""

    def __init__(self, input_ids: list[np.ndarray], targets: np.ndarray):
        self.input_ids = input_ids
        self.targets = targets
        self.lengths = np.fromiter(
            (len(x) for x in input_ids), dtype=np.int64, count=len(input_ids)
        )

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, index: int):
        return self.input_ids[index], self.targets[index]

    def __getitems__(self, indices: list[int]):
        return [(self.input_ids[i], self.targets[i]) for i in indices]


class PadCollator:
    """Pad a batch of (ids, target) to its longest sequence, on the right; build the mask.

    Returns input_ids and attention_mask [batch, longest] int64 and labels [batch, ...] in
    the targets' own dtype (int64 classes, float32 multilabel/regression).

    Kept instead of transformers' DataCollatorWithPadding, which gives the same tensors and
    dtypes for right-padding tokenizers but (1) is 6-8x slower: benchmarks/batching.py, the
    drug-review train batches, 175 vs 1008 and 175 vs 1360 us per batch in two runs (each row
    becomes a dict and goes through `tokenizer.pad`), and (2) pads on the tokenizer's
    `padding_side`: decoders often save "left", and `last_token` / `cls` pooling read
    right-padded rows (tests/model/test_decoders.py).
    """

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

    Under DDP (`num_replicas` > 1) every rank draws the same batches and keeps its share, and
    all ranks get the same number of batches (a rank that ran out would wait for the others
    forever). Training drops the epoch's last `len % num_replicas` batches (random ones: the
    order is shuffled each epoch). Evaluation keeps every example exactly once, since a
    repeated one would count twice in the metrics: it cuts the examples into a multiple of
    `num_replicas` batches, each at most `batch_size`.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        group_batches: int = 50,
        group_by_length: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.group_batches = group_batches
        self.group_by_length = group_by_length
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self.skip: tuple[int, int] | None = None  # (epoch, batches): where a resumed run starts

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        batches = (len(self.lengths) + self.batch_size - 1) // self.batch_size
        if self.shuffle:
            return batches // self.num_replicas
        return -(-batches // self.num_replicas)

    def __iter__(self):
        skip = 0
        if self.skip is not None and self.skip[0] == self.epoch:
            skip = self.skip[1]
        self.skip = None  # once: the next epochs start at their first batch
        for number, batch in enumerate(self._shard()):
            if number >= skip:
                yield batch

    def shard_batches(self) -> int:
        """Evaluation under DDP: how many batches all ranks together get."""
        return len(self) * self.num_replicas

    def _shard(self):
        if self.num_replicas == 1:
            yield from self._batches()
            return
        batches = list(self._batches())
        if self.shuffle:
            batches = batches[: len(self) * self.num_replicas]
        yield from batches[self.rank :: self.num_replicas]

    def _batches(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n = len(self.lengths)
        if not self.shuffle:
            order = (
                np.argsort(-self.lengths, kind="stable") if self.group_by_length else np.arange(n)
            )
            if self.num_replicas == 1:
                yield from (
                    order[i : i + self.batch_size].tolist() for i in range(0, n, self.batch_size)
                )
            else:
                yield from (c.tolist() for c in np.array_split(order, self.shard_batches()))
            return
        order = rng.permutation(n)
        if self.group_by_length:
            span = self.batch_size * self.group_batches
            order = np.concatenate(
                [
                    chunk[np.argsort(-self.lengths[chunk], kind="stable")]
                    for chunk in np.array_split(order, max(1, -(-n // span)))
                ]
            )
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b].tolist()


class ResumableLoader(DataLoader):
    """A DataLoader over a LengthGroupedBatchSampler whose place in the epoch is saved in
    Lightning's checkpoints, so a run resumed mid-epoch gets the rest of that epoch's batches,
    in the same order, and none twice.

    Lightning resumes mid-epoch correctly only with such a "stateful" loader (one with
    `state_dict` / `load_state_dict`); it saves the state when it saves a checkpoint.

    Kept instead of torchdata's StatefulDataLoader (0.11): as a drop-in, the kill -9 resume
    test (tests/training/test_resume.py) fails: the resumed run logs 23 steps of
    lr-AdamW/backbone, the uninterrupted one 24. It applies a loaded state to the next
    iterator it creates, but
    Lightning creates the resumed epoch's iterator (FitLoop.setup_data) before
    sft.checkpointing loads the state at `on_train_start`, so the state lands on another
    iterator; ours reads the skip lazily, at the epoch's first batch. Speed is no reason either
    way: an epoch of drug-review batches (benchmarks/batching.py) took 240 vs 277 and 223 vs 220
    us per batch (ours vs torchdata).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._delivered = 0  # batches of the current epoch handed out (skipped ones included)

    def __iter__(self):
        sampler = self.batch_sampler
        self._delivered = (
            sampler.skip[1] if sampler.skip and sampler.skip[0] == sampler.epoch else 0
        )
        for batch in super().__iter__():
            self._delivered += 1
            yield batch

    def state_dict(self) -> dict:
        return {"epoch": int(self.batch_sampler.epoch), "batches": int(self._delivered)}

    def load_state_dict(self, state: dict) -> None:
        self.batch_sampler.skip = (int(state["epoch"]), int(state["batches"]))
