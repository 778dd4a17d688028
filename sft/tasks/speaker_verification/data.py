"""The LightningDataModule of speaker verification: audio clips with a speaker each, from an
audio folder whose metadata.csv/jsonl has `file_name` and a speaker column (the 🤗
audiofolder layout, one folder per split), a table of paths and speakers, or a folder per
speaker. Reading, decoding (once, cached) and featurizing are the audio classifier's
(sft.data.media_module); what differs: missing evaluation splits are carved by speaker (their
voices are then unseen in training, as verification is tested), and every evaluation split
must allow trials of both kinds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sft.data.labels import Examples
from sft.data.media import AudioFeaturizer
from sft.data.media_module import AudioFolderDataModule, stack_batch
from sft.errors import SFTConfigError, SFTDataError
from sft.tasks.sequence.labels import label_name
from sft.tasks.speaker_verification.task import NAME

EVALUATION_SPLITS = {"val": "validation", "test": "test"}


class RowAudioFeaturizer(AudioFeaturizer):
    """The audio featurizer whose decoding errors also name the table and row of the file
    (`rows`: path -> "<table> row <n>"), so a bad clip is found in the metadata."""

    def __init__(self, extractor, max_seconds: float, rows: dict[str, str]):
        super().__init__(extractor, max_seconds)
        self.rows = rows

    def base(self, paths: list[str]) -> list[np.ndarray]:
        clips = []
        for path in paths:
            try:
                clips.extend(super().base([path]))
            except SFTDataError as err:
                where = self.rows.get(path)
                if where is None:
                    raise
                raise SFTDataError(f"{where}: {err}") from None
        return clips


def collate(items) -> dict:
    """A batch: input_values [b, samples] float32 (and attention_mask [b, samples] int64),
    labels [b] int64 (train speaker ids; UNSEEN for other voices) and speakers [b] int64
    (each clip's speaker code in its split)."""
    batch = stack_batch(items)
    targets = batch.pop("labels")
    batch["labels"], batch["speakers"] = targets[:, 0], targets[:, 1]
    return batch


class SpeakerDataModule(AudioFolderDataModule):
    """Clips and speakers. Call `load()` (read, carve the missing val/test splits by speaker,
    settle the train speakers, check the evaluation splits), then `encode(extractor, ...)`.
    `trials`: how many cosine trials each evaluation split is scored on (half same-speaker,
    half different-speaker; sft.tasks.speaker_verification.trials), drawn by `seed`."""

    def __init__(
        self,
        name: str,
        train_path: str,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.2,
        test_fraction: float = 0.0,
        path_column: str = "path",
        speaker_column: str = "speaker",
        max_seconds: float = 4.0,
        trials: int = 10000,
        task: str = NAME,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ):
        if task != NAME:
            raise SFTConfigError(
                f"data.task={task}: this data module reads speakers; its task is {NAME}"
            )
        if int(trials) < 2:
            raise SFTConfigError(f"data.trials={trials}: must be at least 2 (one of each kind)")
        super().__init__(
            name,
            train_path,
            max_seconds=max_seconds,
            val_path=val_path,
            test_path=test_path,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            path_column=path_column,
            label_column=speaker_column,
            task=task,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            seed=seed,
        )
        self.trials = int(trials)
        self.processor = None  # the model's feature extractor, once encode() has it

    def load(self, family=None, loss_task: str | None = None):
        """Read every split, carve the missing evaluation splits by speaker, settle the train
        speakers, check the evaluation splits (check_trials) and encode the targets; return
        the label space. SFTDataError (one line naming the file and row) for bad data."""
        if family is None:
            from sft.tasks.speaker_verification import SPEAKER_FAMILY as family  # the registry's
        if family.name != NAME:
            raise SFTConfigError(
                f"data.task: the {family.name} family cannot read speakers; set data.task={NAME}"
            )
        self._read_splits()
        self._carve_speakers("test", self.test_fraction)
        self._carve_speakers("val", self.val_fraction)
        self.labels = family.label_space(self.examples["train"], self.label_column)
        for split, name in EVALUATION_SPLITS.items():
            if split in self.examples:
                check_trials(self.examples[split], name, self.label_column)
        for split, examples in self.examples.items():
            self.targets[split] = self.labels.encode(examples, self.label_column)
        return self.labels

    def _carve_speakers(self, split: str, fraction: float) -> None:
        """Hold out `fraction` of the train speakers (at least 2, all their clips) as `split`
        when it has no source (by seed): voices the model does not train on."""
        if split in self.examples or fraction <= 0:
            return
        train = self.examples["train"]
        speakers = sorted({label_name(v) for v in train.labels})
        held = max(2, int(np.ceil(fraction * len(speakers))))
        if len(speakers) - held < 2:
            raise SFTDataError(
                f"data.{split}_fraction={fraction}: holding out {held} of the {len(speakers)} "
                f"speakers of {train.source} as the {split} split leaves fewer than 2 to train "
                f"on; give data.{split}_path"
            )
        order = np.random.default_rng(self.seed).permutation(len(speakers))
        chosen = {speakers[i] for i in order[:held]}
        inside = np.array([label_name(v) in chosen for v in train.labels])
        self.examples[split] = train.subset(np.flatnonzero(inside))
        self.examples["train"] = train.subset(np.flatnonzero(~inside))
        self.examples[split].source = train.source

    def make_featurizer(self, processor) -> RowAudioFeaturizer:
        return RowAudioFeaturizer(processor, self.max_seconds, self._rows())

    def _rows(self) -> dict[str, str]:
        """path -> where it is listed ("<table> row <n>"), for tables (not speaker folders)."""
        rows = {}
        for examples in self.examples.values():
            if not Path(examples.source).is_dir():
                listed = zip(examples.texts, examples.rows)
                rows.update({path: f"{examples.source} row {row}" for path, row in listed})
        return rows

    def encode(self, processor, max_length: int, cache_dir: str | None) -> None:
        """Decode every clip once (cached), keep the extractor for the module and the model
        folder (sft.data.media_module)."""
        super().encode(processor, max_length, cache_dir)
        self.processor = processor

    def _collate(self):
        return collate


def check_trials(examples: Examples, split: str, column: str) -> None:
    """Refuse an evaluation split that cannot make trials of both kinds: fewer than two
    speakers, or a speaker with one clip (no same-speaker pair). One line naming the file
    (a table and its row; in a folder per speaker, the clip)."""
    names = [label_name(v) for v in examples.labels]
    unique, first, counts = np.unique(names, return_index=True, return_counts=True)
    if len(unique) < 2:
        raise SFTDataError(
            f"{examples.source}: the {split} split has {len(unique)} speaker in column "
            f"'{column}'; verification trials need at least 2"
        )
    alone = np.flatnonzero(counts == 1)
    if alone.size:
        i = int(first[alone[0]])
        where = (
            examples.texts[i]
            if Path(examples.source).is_dir()
            else f"{examples.source} row {examples.rows[i]}"
        )
        raise SFTDataError(
            f"{where}: speaker '{unique[alone[0]]}' has only this clip in the {split} split "
            f"({alone.size} speaker(s) have one); a same-speaker trial needs 2 clips"
        )
