"""K-fold splits of the train split, for cross-validation (`cv.folds`, sft.training.cv).

Every fold run reads the same files and computes the same assignment (same rows, same seed),
then keeps its own held-out fold as the validation split; the test split is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sft.errors import SFTConfigError, SFTDataError


@dataclass
class FoldPool:
    """The train split a CV fold was cut from (`examples`: sft.data.labels.Examples) and the
    rows of it each of the fold's splits took (`rows`: "train", "val" -> int64 indices). The
    fold's splits are encoded as rows of the pool's one tokenization, which every fold of
    the run shares (sft.data.module.TextDataModule.tokenize): tokenized once, held once."""

    examples: object
    rows: dict[str, np.ndarray]


def fold_assignment(
    n: int,
    folds: int,
    seed: int,
    labels: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The fold (0..folds-1) of each of `n` train rows: int64 array [n].

    `labels` (one per row, single-label tasks): folds keep the label proportions
    (scikit-learn's StratifiedKFold; with `groups`, StratifiedGroupKFold). `groups`: every
    row of a group lands in one fold (GroupKFold when not stratified). Shuffled by `seed`
    (GroupKFold does not shuffle: it balances fold sizes deterministically).
    Raises SFTConfigError when a label has fewer rows, or there are fewer groups, than folds.
    """
    # lazy: ~0.5 s, only for CV runs
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if folds > n:
        raise SFTConfigError(f"cv.folds={folds}: the train split has only {n} rows")
    if labels is not None:
        values, counts = np.unique(labels, return_counts=True)
        if counts.min() < folds:
            raise SFTConfigError(
                f"cv.folds={folds}: label '{values[counts.argmin()]}' has only "
                f"{counts.min()} rows in the train split; every fold needs one "
                f"(use fewer folds or cv.stratified=false)"
            )
    if groups is not None and len(np.unique(groups)) < folds:
        raise SFTConfigError(
            f"cv.folds={folds}: the train split has only "
            f"{len(np.unique(groups))} groups in cv.group_column"
        )
    index = np.zeros((n, 1))
    if groups is not None and labels is not None:
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    elif groups is not None:
        splitter = GroupKFold(folds)
    elif labels is not None:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    else:
        splitter = KFold(folds, shuffle=True, random_state=seed)
    assignment = np.full(n, -1, dtype=np.int64)
    for fold, (_, held) in enumerate(splitter.split(index, labels, groups)):
        assignment[held] = fold
    return assignment


def train_groups(datamodule, column: str) -> np.ndarray:
    """The value of `column` for each train row (its file read again: the examples keep only
    texts and labels). SFTConfigError when the column is missing or the data is not a table,
    SFTDataError naming the rows whose cell is empty (NaN, blank)."""
    import pandas as pd  # lazy: as below

    from sft.data.sources import locate, read_table  # lazy: only with cv.group_column

    path = getattr(datamodule, "paths", {}).get("train")
    if path is None:
        raise SFTConfigError(
            "cv.group_column: only table data (CSV, TSV, JSONL, Parquet) has columns to group by"
        )
    frame = read_table(
        locate(str(path), "data.train_path"),
        "data.train_path",
        getattr(datamodule, "delimiter", "auto"),
    )
    if column not in frame.columns:
        raise SFTConfigError(
            f"cv.group_column={column}: no such column in {path} (columns: "
            f"{', '.join(map(str, frame.columns))})"
        )
    rows = datamodule.examples["train"].rows  # count from 1, as the data errors' rows do
    values = frame[column].to_numpy()[rows - 1]
    empty = np.array([v is None or pd.isna(v) or not str(v).strip() for v in values], dtype=bool)
    if empty.any():
        # pandas 3 keeps NaN through astype(str): scikit-learn then failed comparing a float
        # with a string; which group an empty cell means is the user's to say, not a guess
        named = ", ".join(str(r) for r in rows[empty][:5])
        more = f" and {int(empty.sum()) - 5} more" if empty.sum() > 5 else ""
        raise SFTDataError(
            f"cv.group_column={column}: empty in {int(empty.sum())} rows of {path} (rows "
            f"{named}{more}); give every row a group (a value of its own where a row shares "
            f"none) or drop those rows"
        )
    return np.array([str(v) for v in values], dtype=object)


def check_fold_labels(assignment: np.ndarray, targets, names: list[str], folds: int) -> None:
    """Refuse folds whose training part (the other folds) holds no row of a label: that
    fold's model could never predict it, as a test label unseen in train is refused for
    files. `targets`: class ids (n,), binary 0/1 (n,) or multi-hot (n, labels); regression
    (no `names`) is not checked. Every fold is checked at once, so the up-front load of
    fold 0 (sft.training.cv) finds any fold's gap before a run opens. SFTDataError names
    the first fold and label."""
    if not names:
        return
    values = np.asarray(targets)
    onehot = (
        values.astype(bool)
        if values.ndim == 2
        else np.eye(len(names), dtype=bool)[values.astype(np.int64)]
    )
    for fold in range(folds):
        present = onehot[assignment != fold].any(axis=0)
        for index in np.flatnonzero(~present & onehot.any(axis=0)):
            rows = int(onehot[:, index].sum())
            where = sorted({int(f) for f in assignment[onehot[:, index]]})
            raise SFTDataError(
                f"cv.folds={folds}: fold {fold} trains on the other folds, which hold no row of "
                f"label '{names[index]}' (all {rows} are in fold "
                f"{', '.join(map(str, where))}): its model could never predict it; use "
                f"cv.stratified=true, fewer folds, or groups that spread that label"
            )


def apply_fold(
    datamodule,
    folds: int,
    fold: int,
    seed: int,
    group_column: str | None = None,
    stratified: bool = True,
) -> np.ndarray:
    """Split the loaded train split of `datamodule` (after `load()`, before tokenizing) into
    train (the other folds) and val (fold `fold`); return the fold of each original train
    row (int64 [n]), for out-of-fold bookkeeping. The datamodule must not have a val split
    of its own (sft.training.cv sets data.val_fraction=0 and refuses data.val_path)."""
    if not 0 <= fold < folds:
        raise SFTConfigError(f"cv.fold={fold}: must be in 0..{folds - 1}")
    train = datamodule.examples["train"]
    labels = datamodule.labels.kind.stratify(train) if stratified else None
    groups = train_groups(datamodule, group_column) if group_column else None
    assignment = fold_assignment(len(train), folds, seed, labels, groups)
    targets = datamodule.targets["train"]
    check_fold_labels(assignment, targets, list(datamodule.labels.names or []), folds)
    keep, held = np.flatnonzero(assignment != fold), np.flatnonzero(assignment == fold)
    if len(keep) == 0 or len(held) == 0:
        raise SFTDataError(f"cv.fold={fold}: the fold split leaves an empty split")
    datamodule.examples["val"] = train.subset(held)
    datamodule.examples["val"].source = f"{train.source} (cv fold {fold} of {folds})"
    datamodule.examples["train"] = train.subset(keep)
    datamodule.targets["val"], datamodule.targets["train"] = targets[held], targets[keep]
    datamodule.fold_pool = FoldPool(train, {"train": keep, "val": held})
    return assignment
