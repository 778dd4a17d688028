"""Everything before the batch: sources, validation, labels, tokenization, batching.

`TextDataModule` is imported lazily so that the light modules here (sources, labels) do not
pull in Lightning.
"""


def __getattr__(name):
    if name == "TextDataModule":
        from sft.data.module import TextDataModule

        return TextDataModule
    raise AttributeError(name)


__all__ = ["TextDataModule"]
