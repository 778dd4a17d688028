"""The offline demo data of speaker verification: sft.data.spoken_digits' synthetic speech
(espeak-ng voice variants saying digit words), written once under `paths.cache_dir`, then
read by speaker (data=spoken_speakers). Its test voices are held out of training; the
validation voices are carved out of the train voices (data.val_fraction), so both evaluation
splits score voices the model never trained on."""

from __future__ import annotations

from pathlib import Path

from sft.tasks.speaker_verification.data import SpeakerDataModule


class SpokenSpeakersDataModule(SpeakerDataModule):
    """The spoken-digits corpus as clips and speakers. `n_train`, `n_test`, `voices`,
    `test_voices`, `words`, `corpus_seed`: sft.data.spoken_digits.write_corpus' settings
    (the same settings reuse the corpus written before; its validation split, spoken by the
    train voices, is not used)."""

    def __init__(
        self,
        name: str,
        root: str,
        n_train: int = 1200,
        n_test: int = 240,
        voices: int = 30,
        test_voices: int = 8,
        words: tuple[int, int] = (2, 4),
        corpus_seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = root
        self.corpus = {
            "n_train": int(n_train),
            "n_val": 1,  # the corpus always writes one; voices are carved from train instead
            "n_test": int(n_test),
            "voices": int(voices),
            "test_voices": int(test_voices),
            "words": tuple(words),
            "seed": int(corpus_seed),
        }

    def load(self, family=None, loss_task: str | None = None):
        """Write the corpus (once), point train and test at it, then read them by speaker."""
        from sft.data.spoken_digits import write_corpus  # lazy: espeak-ng only for the demo

        folder = Path(write_corpus(self.root, **self.corpus))
        self.paths = {"train": str(folder / "train"), "val": None, "test": str(folder / "test")}
        return super().load(family, loss_task)
