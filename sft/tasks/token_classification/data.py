"""The LightningDataModule of token classification: read tagged sentences, validate their
tags, carve splits, tokenize with labels on first subwords (cached), batch."""

from __future__ import annotations

import logging

import numpy as np

from sft.data.batching import TokenizedDataset
from sft.data.hf_sources import USUAL_NAMES
from sft.data.module import SPLITS, TextDataModule
from sft.data.tokenize import tokenizer_fingerprint
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.token_classification.align import encode_words
from sft.tasks.token_classification.collate import TagPadCollator
from sft.tasks.token_classification.entities import WORD_PATTERN
from sft.tasks.token_classification.readers import Sentences, read_sentences, resolve_format
from sft.tasks.token_classification.tags import check_tags, scheme_name
from sft.tasks.token_classification.task import NAME

log = logging.getLogger(__name__)

# A validation or test split looked for in a saved dataset given as train_path.
SPLIT_NAMES = {"train": ("train",), "val": USUAL_NAMES["validation"], "test": USUAL_NAMES["test"]}


class TokenDataModule(TextDataModule):
    """Tagged sentences (one tag per word) from CoNLL-style column files, JSONL or a 🤗
    dataset saved with `save_to_disk` (`format`: conll, jsonl, hf_dataset, or auto from
    the path). Call `load()` (read, validate tags, carve splits, the tag list), then
    `encode()`; Lightning then asks for the dataloaders (from sft.data.module.TextDataModule:
    length-grouped, DDP-sharded, resumable).

    `token_column` / `tag_column`: CoNLL column numbers (default 0 and -1: first and last),
    JSONL keys (default tokens, tags) or dataset columns (default tokens and the only
    Sequence(ClassLabel) column, else tags). `scheme`: auto, bio/iob2 or bioes/iobes.
    `task` is token_classification (the key names the family, sft.tasks.family_of).
    """

    modality = "text"

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        format: str = "auto",
        token_column=None,
        tag_column=None,
        scheme: str = "auto",
        task: str = NAME,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        group_by_length: bool = True,
        num_workers: int = 0,
        seed: int = 0,
    ):
        super().__init__(
            name,
            train_path,
            val_path,
            test_path,
            val_fraction,
            test_fraction,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            group_by_length=group_by_length,
            num_workers=num_workers,
            seed=seed,
        )
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads a tag per word; its task is {NAME}"
            )
        self.format = format
        self.token_column = token_column
        self.tag_column = tag_column
        self.requested_scheme = scheme
        self.scheme: str | None = None  # iob2 or bioes, once load() has read the train tags
        self.examples: dict[str, Sentences] = {}
        self.targets: dict[str, list[np.ndarray]] = {}  # tag ids per word, per sentence
        self.truncated: dict[str, int] = {}  # words past max_length, per split

    # -- files -> validated splits ------------------------------------------------------

    def load(self, family=None, loss_task: str | None = None):
        """Read every split, settle the scheme and the tag list (`family.label_space`: train's
        tags, O first), validate every sentence's tags against both, carve missing splits,
        map tags to ids; return the label space. Raises SFTDataError (one line: file,
        sentence, token) for a broken sequence or a tag that the train split lacks.
        `family`: sft.tasks.family_of(data.task), the token family (its default);
        `loss_task` is unused (one task)."""
        if family is None:
            from sft.tasks.token_classification import TOKEN_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read tagged "
                f"sentences; set data.task={NAME}"
            )
        kind = resolve_format(str(self.paths["train"]), self.format)
        for split in SPLITS:
            path, implicit = self.paths[split], False
            if path is None and kind == "hf_dataset" and split != "train":
                path, implicit = self.paths["train"], True
            if path is None:
                continue
            # format=auto reads each split by its own path: a CoNLL train and a JSONL test
            found, digest = read_sentences(
                str(path),
                f"data.{split}_path",
                "hf_dataset" if implicit else self.format,
                self.token_column,
                self.tag_column,
                SPLIT_NAMES[split],
                implicit,
            )
            if found is not None:
                self.examples[split] = found
                self.fingerprints[split] = digest
        train = self.examples["train"]
        self.scheme = scheme_name(self.requested_scheme, (t for s in train.tags for t in s))
        for i in range(len(train)):  # the train split first: its tags become the tag list
            check_tags(train.tags[i], train.words[i], self.scheme, train.where(i))
        self.labels = family.label_space(train)
        names = self.labels.names
        for sentences in self.examples.values():
            for i in range(len(sentences)):
                check_tags(
                    sentences.tags[i],
                    sentences.words[i],
                    self.scheme,
                    sentences.where(i),
                    known=names,
                )
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        index = {name: i for i, name in enumerate(names)}
        for split, sentences in self.examples.items():
            self.targets[split] = [
                np.array([index[t] for t in tags], dtype=np.int64) for tags in sentences.tags
            ]
        return self.labels

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train sentences as `split` when it has no source
        (random by seed, not stratified: a sentence has many tags). Held-out sentences keep
        their file and sentence numbers, so error lines still point at them."""
        if split in self.examples or fraction <= 0:
            return
        train = self.examples["train"]
        held = int(np.ceil(fraction * len(train)))
        if held >= len(train):
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: the {split} split of the "
                f"{len(train)} sentences of {train.source} would leave none to "
                f"train on; lower data.{split}_fraction or give "
                f"data.{split}_path"
            )
        order = np.random.default_rng(self.seed).permutation(len(train))
        self.examples[split] = train.subset(np.sort(order[:held]))
        self.examples["train"] = train.subset(np.sort(order[held:]))

    def spec_fields(self) -> dict:
        """What prediction needs beyond the tokenizer and the tag list (sft_model.json's
        `labels`): the scheme and the pattern that splits raw text into words."""
        return {"scheme": self.scheme, "word_pattern": WORD_PATTERN}

    # -- tokenization -------------------------------------------------------------------

    def tokenize(self, tokenizer, max_length: int, cache_dir: str | None) -> None:
        """Tokenize every split's words with labels on first subwords (cached); warn once per
        split about words cut off by max_length (they are neither trained on nor scored)."""
        if tokenizer.pad_token_id is None:
            raise SFTDataError("the tokenizer has no pad token; set one in the model folder")
        self.pad_token_id = tokenizer.pad_token_id
        self.tokenizer = tokenizer
        tok_id = tokenizer_fingerprint(tokenizer)
        for split, sentences in self.examples.items():
            encoded = encode_words(
                sentences.words,
                tokenizer,
                max_length,
                self.targets[split],
                cache_dir,
                tokenizer_id=tok_id,
            )
            self.datasets[split] = TokenizedDataset(encoded.input_ids, encoded.labels)
            self.truncated[split] = int(sum(encoded.truncated))
            if self.truncated[split]:
                cut = sum(1 for n in encoded.truncated if n)
                log.warning(
                    "%s: %d words in %d of %d %s sentences are past max_length=%d "
                    "tokens: they are not trained on or scored (raise model.max_length)",
                    sentences.source,
                    self.truncated[split],
                    cut,
                    len(sentences),
                    split,
                    max_length,
                )

    def _collate(self):
        """Items -> a batch: ids padded with the pad token, labels with -100."""
        return TagPadCollator(self.pad_token_id)
