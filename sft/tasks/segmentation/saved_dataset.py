"""Image + mask pairs from a 🤗 dataset saved with `save_to_disk`: an image column and a mask
column, both datasets Image features; checked like a folder's pairs (readers.check_pair),
errors naming the split and the row."""

from __future__ import annotations

from sft.errors import SFTDataError
from sft.tasks.segmentation.readers import MaskedImages, collect


def read_saved_dataset(
    path: str,
    key: str,
    split_names: tuple[str, ...],
    image_column: str,
    mask_column: str,
    names: list[str],
    reduce_labels: bool,
    media_dir: str | None,
    implicit: bool = False,
) -> MaskedImages | None:
    """The pairs of a dataset saved with `save_to_disk`: its first split in `split_names`,
    else (unless `implicit`) its only one; None when an implicit split is absent. Both
    columns are datasets Image features; embedded bytes are written once to `media_dir`
    (sft.data.hf_media), so every pair is two files. Errors name the split and row."""
    # lazy: datasets (~1 s) only for this source
    from sft.data.hf_media import media_files
    from sft.data.hf_sources import open_dataset

    dataset = open_dataset(path, None, key=key)
    available = list(dataset.keys())
    split = next((n for n in split_names if n in available), None)
    if split is None and implicit:
        return None
    if split is None and len(available) == 1:
        split = available[0]
    if split is None:
        raise SFTDataError(f"{key}: {path} has no split '{split_names[0]}' (splits: {available})")
    part = dataset[split]
    source = f"{path} (split '{split}')"
    for column, setting in ((image_column, "image_column"), (mask_column, "mask_column")):
        if column not in part.features:
            raise SFTDataError(
                f"{key}: {source} has no column '{column}' (columns: "
                f"{', '.join(part.features)}); set data.{setting}"
            )
    images = media_files(part, image_column, "image", media_dir, source, key)
    masks = media_files(part, mask_column, "image", media_dir, source, key)
    pairs = [
        (image, mask, tuple(f"{source} row {row} ({c})" for c in (image_column, mask_column)))
        for row, (image, mask) in enumerate(zip(images, masks), start=1)
    ]
    return collect(MaskedImages(source, names), pairs, reduce_labels)
