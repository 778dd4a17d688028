"""The LightningDataModule for text: read, validate, split, tokenize (cached), batch."""

from __future__ import annotations

import logging

import numpy as np
import pytorch_lightning as pl
from torch.utils.data import DataLoader

from sft.cache import cached
from sft.data.batching import (
    LengthGroupedBatchSampler,
    PadCollator,
    ResumableLoader,
    TokenizedDataset,
)
from sft.data.labels import Examples, extract
from sft.data.sources import fingerprint, locate, read_table
from sft.data.tokenize import tokenize, tokenizer_fingerprint, untruncated_lengths
from sft.errors import SFTConfigError, SFTDataError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class TextDataModule(pl.LightningDataModule):
    """Text classification (single- or multilabel) or regression from CSV/TSV/JSONL/Parquet.

    Call `load(family)` (files -> validated splits; the task family (sft.tasks) settles the
    task and labels), then `tokenize()`; Lightning then asks for the dataloaders. The two
    steps are explicit because the model's head needs the labels and the tokenizer comes with
    the model. What differs between tasks (targets, stratification, counts) is asked of
    `labels.kind`, the task.
    """

    modality = "text"  # what the model's processor takes: a tokenizer

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        text_column: str = "text",
        label_column: str = "label",
        task: str = "auto",
        label_separator: str = ",",
        threshold: float = 0.5,
        standardize: bool = False,
        clean_text: bool = False,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        group_by_length: bool = True,
        num_workers: int = 0,
        seed: int = 0,
        delimiter: str = "auto",
        num_proc: int | str = "auto",
    ):
        super().__init__()
        self.name = name
        self.paths = {"train": train_path, "val": val_path, "test": test_path}
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.text_column = text_column
        self.label_column = label_column
        self.requested_task = task
        self.label_separator = label_separator
        self.threshold = threshold
        self.standardize = standardize
        self.clean_text = clean_text
        self.delimiter = delimiter  # CSV/TSV: `auto` finds it (sft.data.delimiters)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.group_by_length = group_by_length
        self.num_workers = num_workers
        self.num_proc = num_proc  # tokenizer processes (sft.data.tokenize.processes)
        self.seed = seed
        self.examples: dict[str, Examples] = {}
        self.targets: dict[str, np.ndarray] = {}
        self.datasets: dict[str, TokenizedDataset] = {}
        self.fingerprints: dict[str, str] = {}
        self.labels = None  # the family's label space (sft.tasks.sequence.labels.LabelSpace)
        self.pad_token_id = 0
        self.tokenizer = None  # the processor saved with the model (text: the tokenizer)
        self.fold_pool = None  # a CV fold's train pool (sft.data.folds.FoldPool)

    # -- files -> validated splits ------------------------------------------------------

    def load(self, family, loss_task: str | None = None):
        """Read and validate the files, carve missing splits, settle the task and labels
        with `family` (sft.tasks.family_of(data.task)); return the label space."""
        self._read_splits()
        self.labels = self._label_space(family, loss_task)
        self.labels.threshold = self.threshold
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        for split, examples in self.examples.items():
            self.targets[split] = self.labels.encode(examples, self.label_column)
        if self.standardize:
            self._standardize()
        return self.labels

    def _read_splits(self) -> None:
        """Fill `examples` with every split that has a source (sft.data.hf_module overrides)."""
        for split in SPLITS:
            path = self.paths[split]
            if path is not None:
                self.examples[split] = self._read_split(split, str(path))

    def _label_space(self, family, loss_task: str | None):
        """The task and label names from the train split (sft.data.hf_module overrides)."""
        return family.label_space(
            self.examples["train"],
            self.label_column,
            self.requested_task,
            loss_task,
            self.label_separator,
        )

    def _read_split(self, split: str, path: str) -> Examples:
        """The texts and labels of one split's file (and its fingerprint)."""
        key = f"data.{split}_path"
        source = locate(path, key)
        self.fingerprints[split] = fingerprint(source)
        # What the jobs of a sweep share is the split's texts and labels, not its table: a
        # cached table kept every text a second time beside its cleaned copy. Each caller
        # gets its own lists (the strings themselves are shared: texts are kept once).
        return cached(
            "table",
            (source.version, self.delimiter, self.text_column, self.label_column, self.clean_text),
            lambda: extract(
                read_table(source, key, self.delimiter, cache=False),
                source.display,
                self.text_column,
                self.label_column,
                self.clean_text,
            ),
            copy=lambda found: Examples(
                found.source, list(found.texts), found.labels.copy(), found.rows.copy()
            ),
        )

    def _standardize(self) -> None:
        """Record the train split's target mean and std; the model learns (y - mean) / std."""
        if not self.labels.kind.continuous_targets:
            raise SFTConfigError(
                f"data.standardize=true applies to regression targets; the "
                f"task is '{self.labels.task}'"
            )
        train = self.targets["train"].astype(np.float64)
        std = float(train.std())
        if not std > 0:
            raise SFTDataError(
                f"{self.examples['train'].source}: every regression target in "
                f"column '{self.label_column}' is {train[0]:g}; cannot "
                f"standardize (data.standardize=false)"
            )
        self.labels.target_mean, self.labels.target_std = float(train.mean()), std

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of train as `split` when no file was given (stratified, by seed)."""
        if split in self.examples or fraction <= 0:
            return
        from sklearn.model_selection import train_test_split  # lazy: ~0.5 s, only to carve a split

        train = self.examples["train"]
        index = np.arange(len(train))
        stratify = self.labels.kind.stratify(train)  # sklearn: one label per row, or None
        if stratify is not None and np.unique(stratify, return_counts=True)[1].min() < 2:
            log.warning(
                "a label occurs once in %s: the %s split is not stratified", train.source, split
            )
            stratify = None
        held_rows = int(np.ceil(fraction * len(train)))
        classes = 0 if stratify is None else len(np.unique(stratify))
        if held_rows < max(classes, 1):  # sklearn's own message would not say what to change
            wanted = f"at least {classes} rows (one per label)" if classes else "a row"
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: the {split} split of the "
                f"{len(train)} rows of {train.source} would hold {held_rows} "
                f"rows; it needs {wanted}: raise data.{split}_fraction or give "
                f"data.{split}_path"
            )
        try:
            keep, held = train_test_split(
                index, test_size=fraction, random_state=self.seed, stratify=stratify
            )
        except ValueError as err:
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: cannot split {len(train)} "
                f"rows of {train.source} ({err})"
            ) from None
        self.examples[split] = train.subset(np.sort(held))
        self.examples["train"] = train.subset(np.sort(keep))
        self.examples[split].source = f"{train.source} (held-out {split} split)"

    def class_counts(self) -> np.ndarray:
        """Examples per class (multilabel: positives per label) in the train split."""
        return self.labels.kind.class_counts(self.targets["train"], len(self.labels.names))

    def data_fingerprint(self) -> dict[str, str]:
        """sha256 of each data file, for the run's reproducibility record."""
        return dict(self.fingerprints)

    # -- tokenization -------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Turn every split into model inputs with the model's processor (text: tokenize)."""
        self.tokenize(processor, max_length, cache_dir)

    def spec_fields(self) -> dict:
        """What prediction needs beyond the tokenizer (sft_model.json): nothing for text."""
        return {}

    def untruncated_lengths(self) -> dict[str, np.ndarray]:
        """Token counts of each encoded split's texts before `max_length` cut them (special
        tokens included, as the model gets them): a text was cut when it has more than
        `max_length`; one of exactly that many fits whole (the encoded lengths cannot tell
        the two apart). A split whose inputs are not plain strings keeps its encoded lengths.
        Counted once per texts in this process (sft.data.tokenize.untruncated_lengths)."""
        counts = {}
        tok_id = tokenizer_fingerprint(self.tokenizer)
        for split, dataset in self.datasets.items():
            texts, rows = self._pooled(split)
            if texts and all(isinstance(t, str) for t in texts):
                counts[split] = untruncated_lengths(texts, self.tokenizer, tok_id)
                counts[split] = counts[split] if rows is None else counts[split][rows]
            else:
                counts[split] = np.asarray(dataset.lengths)
        return counts

    def _pooled(self, split: str) -> tuple[list, np.ndarray | None]:
        """The texts to encode for `split` and the rows of them it takes (None: all): a CV
        fold's train and val splits are rows of the train pool, encoded once for every fold."""
        pool = self.fold_pool
        if pool is not None and split in pool.rows:
            return pool.examples.texts, pool.rows[split]
        return self.examples[split].texts, None

    def tokenize(self, tokenizer, max_length: int, cache_dir: str | None) -> None:
        """Tokenize every split (cached; a CV fold's splits as rows of its train pool's one
        tokenization); set the pad token for batching."""
        if tokenizer.pad_token_id is None:
            raise SFTDataError("the tokenizer has no pad token; set one in the model folder")
        self.pad_token_id = tokenizer.pad_token_id
        self.tokenizer = tokenizer
        tok_id = tokenizer_fingerprint(tokenizer)
        for split in self.examples:
            texts, rows = self._pooled(split)
            ids = tokenize(texts, tokenizer, max_length, cache_dir, tok_id, self.num_proc)
            ids = ids if rows is None else [ids[i] for i in rows]
            self.datasets[split] = TokenizedDataset(ids, self.targets[split])

    # -- Lightning --------------------------------------------------------------------------

    def has_split(self, split: str) -> bool:
        return split in self.datasets

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        """The loader of `split` for every modality (the media modules use it too): batches
        from a LengthGroupedBatchSampler, sharded across DDP ranks, collated by `_collate`.
        Raises SFTDataError when the split is too small to give every rank a batch."""
        dataset = self.datasets[split]
        # Under DDP each rank takes its share of the batches (sft shards them itself:
        # Lightning injects a DistributedSampler only into plain samplers).
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer else (1, 0)
        sampler = LengthGroupedBatchSampler(
            dataset.lengths,
            batch_size,
            shuffle=shuffle,
            seed=self.seed,
            group_by_length=self.group_by_length,
            num_replicas=replicas,
            rank=rank,
        )
        if replicas > 1 and (
            len(sampler) == 0 or (not shuffle and sampler.shard_batches() > len(dataset))
        ):
            key = "data.batch_size" if shuffle else "data.eval_batch_size"
            raise SFTDataError(
                f"the {split} split has {len(dataset)} examples: too few for "
                f"{replicas} devices with {key}={batch_size} (every device "
                f"needs a batch); use fewer trainer.devices or more data"
            )
        # Training resumes mid-epoch: its loader remembers where in the epoch it is.
        loader = ResumableLoader if split == "train" else DataLoader
        return loader(
            dataset,
            batch_sampler=sampler,
            collate_fn=self._collate(),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def _collate(self):
        """Items -> a batch of tensors: token ids padded to the batch's longest."""
        return PadCollator(self.pad_token_id)
