"""Rows, rendered rows and their batches for causal-LM SFT: the split's rows (`Conversations`,
what the data report and the splits read), the rendered dataset, accumulation windows that
tell each batch the trained tokens of its whole accumulated batch, and collation.

The loss is the sum of token cross-entropies over the trained tokens divided by the trained
tokens of the whole accumulated batch (sft issue 25), the same with or without gradient
accumulation. Lightning's automatic optimization divides every micro-batch loss by
`accumulate_grad_batches` (also in an epoch's last, partial window) and sums the gradients of
a window, with windows counted from the epoch's first batch. So `WindowBatchSampler` draws
the epoch's batches as the length-grouped sampler does, counts the trained tokens of each
window of `accumulate` batches (of every DDP rank: all ranks draw the same batches), and
hands every item its window's count; the module then scales each micro-batch's token sum by
accumulate * world_size / window tokens, and the gradient summed (and averaged by DDP) is
exactly sum / window tokens. No all-reduce is needed: every rank knows every rank's batches.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from sft.data.batching import LengthGroupedBatchSampler
from sft.tasks.causal_lm.render import IGNORE


class Conversations:
    """One split's rows: `records` (the row mappings), `rows` (their 1-based row numbers in
    `source`), `labels` (each row's shape: text, prompt_completion or messages; the data
    report counts them) and `texts` (each row's text content, for the data report's lengths
    and duplicate checks)."""

    def __init__(self, source: str, records: list[dict], rows, shapes: list[str]):
        self.source = source
        self.records = list(records)
        self.rows = np.asarray(rows, dtype=np.int64)
        self.labels = list(shapes)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def texts(self) -> list[str]:
        return [content(record) for record in self.records]

    def subset(self, index) -> Conversations:
        index = [int(i) for i in index]
        return Conversations(
            self.source,
            [self.records[i] for i in index],
            self.rows[index],
            [self.labels[i] for i in index],
        )


def content(record: dict) -> str:
    """The text a row holds, its parts on lines: the text, prompt and completion, or the
    turns' contents."""
    if record.get("messages") is not None:
        return "\n".join(str(turn["content"]) for turn in list(record["messages"]))
    if record.get("prompt") is not None:
        return f"{record['prompt']}\n{record.get('completion') or ''}"
    return str(record.get("text") or "")


class RenderedDataset(Dataset):
    """The rendered rows of one split: `input_ids` and `labels` (int64 arrays, -100 where not
    trained), `lengths` (tokens per row) and `targets` (trained tokens per row that a
    causal LM predicts: the labels after the first position, which nothing predicts).

    An item is (input_ids, labels, window tokens): the key is a row index, or (index, the
    trained tokens of its accumulation window) as WindowBatchSampler draws them (None
    otherwise)."""

    def __init__(self, input_ids: list[np.ndarray], labels: list[np.ndarray]):
        self.input_ids = input_ids
        self.labels = labels
        self.lengths = np.fromiter((len(x) for x in input_ids), np.int64, len(input_ids))
        self.targets = np.fromiter(
            (int((row[1:] != IGNORE).sum()) for row in labels), np.int64, len(labels)
        )

    def __len__(self) -> int:
        return len(self.input_ids)

    def __getitem__(self, key):
        index, window = key if isinstance(key, tuple) else (key, None)
        return self.input_ids[index], self.labels[index], window

    def __getitems__(self, keys):
        return [self[key] for key in keys]


class WindowBatchSampler(LengthGroupedBatchSampler):
    """The training batches of LengthGroupedBatchSampler (same order, DDP shards, resume),
    each key paired with the trained tokens of its accumulation window: the `accumulate`
    consecutive batches of each rank that one optimizer step sums, counted over all
    `num_replicas` ranks. `targets`: trained tokens per row; `limit`: the batches per epoch
    Lightning runs (trainer.limit_train_batches; None: all), since a window that the limit cuts
    short is stepped with what it ran."""

    def __init__(self, lengths, targets, batch_size, accumulate: int = 1, limit=None, **kwargs):
        super().__init__(lengths, batch_size, shuffle=True, **kwargs)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.accumulate = max(1, int(accumulate))
        self.limit = limit

    def _shard(self):
        batches = list(self._batches())[: len(self) * self.num_replicas]
        ranks = [batches[r :: self.num_replicas] for r in range(self.num_replicas)]
        ran = len(ranks[self.rank]) if self.limit is None else min(self.limit, len(self))
        step = self.accumulate
        for number, batch in enumerate(ranks[self.rank]):
            first = number - number % step
            window = [b for shard in ranks for b in shard[first : min(first + step, ran)]]
            tokens = int(sum(int(self.targets[b].sum()) for b in window))
            yield [(int(i), tokens) for i in batch]


def pad_batch(items, pad_token_id: int) -> dict:
    """Items (input_ids, labels, window tokens) -> a right-padded batch: input_ids (padded
    with `pad_token_id`) and attention_mask [b, longest] int64, labels [b, longest] padded
    with -100 (padding is masked by position, never by comparing ids with the pad id: with
    pad == eos the trained EOS stays), and `window_tokens` (a 0-d int64 tensor) when the
    items carry one."""
    width = max(len(ids) for ids, _, _ in items)
    input_ids = torch.full((len(items), width), int(pad_token_id), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    for row, (ids, target, _) in enumerate(items):
        input_ids[row, : len(ids)] = torch.from_numpy(ids)
        labels[row, : len(ids)] = torch.from_numpy(target)
        mask[row, : len(ids)] = 1
    batch = {"input_ids": input_ids, "attention_mask": mask, "labels": labels}
    return _with_window(batch, items)


def pack_batch(items) -> dict:
    """Items -> one packed row (transformers' DataCollatorWithFlattening): input_ids and
    labels [1, total tokens], position_ids restarting at 0 for every row, each row's first
    label -100 (nothing predicts it across the boundary). Only attention kernels that read
    position_ids as row boundaries (flash_attention_2) keep the rows apart."""
    from transformers import DataCollatorWithFlattening  # lazy: only data.packing=true

    features = [{"input_ids": ids.tolist(), "labels": target.tolist()} for ids, target, _ in items]
    packed = DataCollatorWithFlattening(return_tensors="pt")(features)
    batch = {k: packed[k].long() for k in ("input_ids", "labels", "position_ids")}
    return _with_window(batch, items)


def _with_window(batch: dict, items) -> dict:
    window = items[0][2]
    if window is not None:
        batch["window_tokens"] = torch.tensor(int(window), dtype=torch.long)
    return batch


class Collator:
    """Picklable collate function (loader workers): padded batches, or packed ones."""

    def __init__(self, pad_token_id: int, packing: bool = False):
        self.pad_token_id = int(pad_token_id)
        self.packing = bool(packing)

    def __call__(self, items) -> dict:
        return pack_batch(items) if self.packing else pad_batch(items, self.pad_token_id)
