"""The speech-to-text family's offline demo data: spoken digits synthesized by espeak-ng
(sft.data.spoken_digits), written once under the cache and read as an audio-folder root."""

from __future__ import annotations

from pathlib import Path

from sft.errors import SFTConfigError
from sft.tasks.speech_to_text.data import TranscriptDataModule


class SpokenDigitsDataModule(TranscriptDataModule):
    """Spoken-digit clips (sft.data.spoken_digits.write_corpus with these settings) read as
    the root of train/ validation/ test/ audio folders; every other key is
    TranscriptDataModule's. The corpus is written under `root` in a folder named by its
    settings (so other settings never overwrite it) and reused while they recur.
    `corpus_seed` draws the voices, words and noise (the run's `seed` does not change the
    clips). `voices` speak train and validation; `test_voices` others speak test. A split of
    0 clips is absent (validation: carved from train by `val_fraction`)."""

    def __init__(
        self,
        name: str,
        root: str,
        n_train: int = 800,
        n_val: int = 100,
        n_test: int = 200,
        voices: int = 20,
        test_voices: int = 5,
        words: list[int] | None = None,
        corpus_seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("train_path", "")
        super().__init__(name, **kwargs)
        self.root = root
        self.corpus = {
            "n_train": int(n_train),
            "n_val": int(n_val),
            "n_test": int(n_test),
            "seed": int(corpus_seed),
            "voices": int(voices),
            "test_voices": int(test_voices),
            "words": tuple(int(n) for n in (words or (2, 4))),
        }

    def load(self, family=None, loss_task: str | None = None):
        """Write the corpus (once per settings), point train_path at it, read it."""
        from sft.data.spoken_digits import write_corpus  # lazy: only this demo synthesizes

        c = self.corpus
        name = (
            f"clips-{c['n_train']}-{c['n_val']}-{c['n_test']}-voices-{c['voices']}-"
            f"{c['test_voices']}-words-{c['words'][0]}-{c['words'][1]}-seed-{c['seed']}"
        )
        try:
            folder = write_corpus(Path(self.root).expanduser() / name, **c)
        except SFTConfigError as err:  # it names its argument: say which config has it
            raise SFTConfigError(f"data={self.name}: {err}") from None
        self.paths = {"train": str(folder), "val": None, "test": None}
        return super().load(family, loss_task)
