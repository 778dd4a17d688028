"""The LightningDataModule of speech-to-text: read clips and transcripts, normalize and check
them, apply `max_seconds`, build the character vocabulary from the train split, then compute
each clip's features once (cached) and batch them with their label ids."""

from __future__ import annotations

import logging
from functools import partial

import numpy as np

from sft.data.hf_sources import USUAL_NAMES, is_saved_dataset
from sft.data.media_cache import media_bases
from sft.data.module import SPLITS, TextDataModule
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.speech_to_text.batches import SpeechProcessor, UtteranceDataset
from sft.tasks.speech_to_text.features import (
    LONG_CLIPS,
    SpeechFeaturizer,
    collate,
    durations,
)
from sft.tasks.speech_to_text.readers import (
    Normalizer,
    Utterances,
    read_saved_split,
    read_table_split,
    split_folder,
)
from sft.tasks.speech_to_text.seq2seq import is_seq2seq, prepare
from sft.tasks.speech_to_text.task import NAME
from sft.tasks.speech_to_text.vocab import (
    build_vocabulary,
    encode_transcripts,
    make_tokenizer,
    warn_unknown,
)

log = logging.getLogger(__name__)

FORMATS = ("auto", "table", "hf_dataset")
# A saved dataset's split names for each of sft's splits.
SAVED_SPLITS = {"train": ("train",), "val": USUAL_NAMES["validation"], "test": USUAL_NAMES["test"]}


class TranscriptDataModule(TextDataModule):
    """Clips with transcripts: an audio folder with a `metadata.csv`/`.jsonl` (`file_name`,
    `text_column`), a root holding such folders as `train/`, `validation/`, `test/`, a
    CSV/TSV/JSONL/Parquet table (`path_column`, `text_column`), or a 🤗 dataset saved with
    `save_to_disk` (`audio_column`: an Audio feature; `text_column`). Call `load()` (read,
    normalize and check every transcript and clip, carve missing splits, build the
    vocabulary), then `encode(feature_extractor, ...)`.

    `lowercase`, `drop_chars`: transcript normalization (sft.tasks.speech_to_text.readers.
    Normalizer). `max_seconds` with `long_clips`: clips longer are dropped or cut (counted in
    the log). `worst_examples`: the test utterances with the highest CER kept as a table."""

    modality = "audio"

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.0,
        format: str = "auto",
        path_column: str = "path",
        text_column: str = "transcription",
        audio_column: str = "audio",
        lowercase: bool = True,
        drop_chars: str = "",
        max_seconds: float = 20.0,
        long_clips: str = "drop",
        worst_examples: int = 20,
        media_dir: str | None = None,
        task: str = NAME,
        batch_size: int = 16,
        eval_batch_size: int = 32,
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
            text_column=text_column,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            group_by_length=True,
            num_workers=num_workers,
            seed=seed,
        )
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads transcripts; its task is {NAME}"
            )
        if format not in FORMATS:
            raise SFTConfigError(f"data.format={format}: unknown format (use {', '.join(FORMATS)})")
        if long_clips not in LONG_CLIPS:
            raise SFTConfigError(f"data.long_clips={long_clips}: use {' or '.join(LONG_CLIPS)}")
        if not max_seconds > 0:
            raise SFTConfigError(f"data.max_seconds={max_seconds}: must be > 0")
        self.format = format
        self.path_column = str(path_column)
        self.audio_column = str(audio_column)
        self.normalizer = Normalizer(bool(lowercase), str(drop_chars or ""))
        self.max_seconds = float(max_seconds)
        self.long_clips = long_clips
        self.worst_examples = int(worst_examples)
        self.media_dir = media_dir
        self.seconds: dict[str, np.ndarray] = {}
        self.vocab: dict[str, int] = {}
        self.featurizer = None
        self.processor = None  # the SpeechProcessor, once encode() has the extractor
        self.seq2seq = False  # an encoder-decoder model's data (seq2seq.py), set by encode()
        self.unknown: dict[str, tuple] = {}  # per split: characters outside the vocabulary

    # -- files -> checked splits --------------------------------------------------------

    def load(self, family=None, loss_task: str | None = None):
        """Read every split, normalize and check the transcripts and clips, carve missing
        val/test splits, apply max_seconds, build the vocabulary and the label ids; return
        the label space (`family.label_space`: no labels, the targets are transcripts)."""
        if family is None:
            from sft.tasks.speech_to_text import SPEECH_TO_TEXT_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read transcripts; set data.task={NAME}"
            )
        log.info("Transcripts normalized: %s", self.normalizer.describe())
        train_path = str(self.paths["train"])
        saved = self._kind(train_path) == "hf_dataset"
        for split in SPLITS:
            path, implicit = self.paths[split], False
            if path is None and split != "train":
                implicit = True  # the split of a saved dataset, or a corpus root's folder
                path = train_path if saved else split_folder(train_path, split)
            elif split == "train" and not saved:
                path = split_folder(train_path, "train") or train_path
            if path is None:
                continue
            self._read(split, str(path), implicit)
        self.labels = family.label_space(self.examples["train"])
        self._carve("test", self.test_fraction)
        self._carve("val", self.val_fraction)
        for split, found in list(self.examples.items()):
            self._limit(split, found)
        self.vocab = build_vocabulary(self.examples["train"].transcripts)
        log.info("Vocabulary: %d tokens from the train transcripts", len(self.vocab))
        for split, found in self.examples.items():
            labels, unknown = encode_transcripts(found.transcripts, self.vocab)
            self.unknown[split] = (found.source, unknown)  # warned for a CTC model (encode)
            self.targets[split] = labels
        return self.labels

    def _kind(self, path: str) -> str:
        if self.format != "auto":
            return self.format
        return "hf_dataset" if is_saved_dataset(path) else "table"

    def _read(self, split: str, path: str, implicit: bool) -> None:
        key = f"data.{split}_path"
        if self._kind(path) == "hf_dataset":
            from sft.data.hf_sources import open_dataset  # lazy: datasets

            names = list(open_dataset(path, None, key=key).keys())
            name = next((n for n in SAVED_SPLITS[split] if n in names), None)
            if name is None and not implicit and len(names) == 1:
                name = names[0]
            if name is None:
                if implicit:
                    return
                raise SFTDataError(
                    f"{key}: {path} has no split '{SAVED_SPLITS[split][0]}' "
                    f"(splits: {', '.join(names)})"
                )
            found, digest = read_saved_split(
                path,
                name,
                key,
                self.audio_column,
                self.text_column,
                self.normalizer,
                self.media_dir,
            )
        else:
            found, digest = read_table_split(
                path, key, self.path_column, self.text_column, self.normalizer
            )
        self.examples[split] = found
        self.fingerprints[split] = digest

    def _carve(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train utterances as `split` when it has no source
        (random by seed)."""
        if split in self.examples or fraction <= 0:
            return
        train = self.examples["train"]
        held = int(np.ceil(fraction * len(train)))
        if held >= len(train):
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: the {split} split of the {len(train)} "
                f"utterances of {train.source} would leave none to train on"
            )
        order = np.random.default_rng(self.seed).permutation(len(train))
        self.examples[split] = train.subset(np.sort(order[:held]))
        self.examples[split].source = f"{train.source} (held-out {split} split)"
        self.examples["train"] = train.subset(np.sort(order[held:]))

    def _limit(self, split: str, found: Utterances) -> None:
        """Read every clip's duration (an unreadable file fails here, naming its row) and
        drop the clips over max_seconds, or keep them to be cut (data.long_clips)."""
        seconds = durations(found, f"data.{split}_path")
        long = seconds > self.max_seconds
        if long.any():
            log.warning(
                "%s split: %d of %d clips are longer than data.max_seconds=%g: %s "
                "(data.long_clips=%s)",
                split,
                int(long.sum()),
                len(found),
                self.max_seconds,
                "dropped" if self.long_clips == "drop" else "cut",
                self.long_clips,
            )
        if long.any() and self.long_clips == "drop":
            if long.all():
                raise SFTDataError(
                    f"{found.source}: every clip of the {split} split is longer than "
                    f"data.max_seconds={self.max_seconds:g}; raise it or set data.long_clips=cut"
                )
            keep = np.flatnonzero(~long)
            self.examples[split] = found.subset(keep)
            seconds = seconds[keep]
        self.seconds[split] = np.minimum(seconds, self.max_seconds)

    # -- model inputs -------------------------------------------------------------------

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Keep the model's feature extractor and the CTC tokenizer of the vocabulary (saved
        with the model; an encoder-decoder's processor with its own tokenizer instead,
        seq2seq.py), and compute each split's features once (cached under `cache_dir`).
        `max_length` does not apply."""
        cut = self.max_seconds if self.long_clips == "cut" else None
        # An encoder-decoder model (Whisper) comes with its own tokenizer (seq2seq.py).
        self.seq2seq = is_seq2seq(processor)
        if self.seq2seq:
            args = (self.normalizer, self.max_seconds, self.long_clips)
            self.featurizer, self.processor = prepare(processor, *args)
        else:
            self.featurizer = SpeechFeaturizer(processor, cut)
            self.processor = SpeechProcessor(processor, make_tokenizer(self.vocab))
            for split, (source, unknown) in self.unknown.items():
                warn_unknown(split, source, unknown)
        self.tokenizer = self.processor  # saved with the model, as a tokenizer is
        for split, found in self.examples.items():
            bases = media_bases(found.texts, self.featurizer, cache_dir)
            self.datasets[split] = UtteranceDataset(
                bases, self.targets[split], found, self.seconds[split]
            )

    def spec_fields(self) -> dict:
        """sft_model.json fields: the modality and how transcripts were normalized (what a
        reference must go through to be compared with a prediction)."""
        return {
            "modality": "audio",
            "max_seconds": self.max_seconds,
            "lowercase": self.normalizer.lowercase,
            "drop_chars": self.normalizer.drop_chars,
        }

    def _collate(self):
        if self.seq2seq:
            return self.processor.collate
        return partial(collate, key=self.featurizer.key)  # picklable for loader workers
