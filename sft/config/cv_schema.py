"""Checks of the `cv` and `seeds` keys (conf/train.yaml): cross-validation and seed repeats.

Only what the config alone can tell; what needs the data (a label rarer than the folds, a
missing group column) is refused by sft.data.folds once the data is read.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from sft.errors import SFTConfigError

CV_KEYS = ("folds", "group_column", "stratified", "ensemble", "fold")


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_cv(cfg: DictConfig) -> None:
    """Raise SFTConfigError (one line, naming the key) for a bad `cv.*` or `seeds` value."""
    cv = cfg.get("cv")
    if cv is not None:
        if not OmegaConf.is_dict(cv):
            raise SFTConfigError(f"config key 'cv': expected a group of keys, got {cv!r}")
        unknown = sorted(set(map(str, cv.keys())) - set(CV_KEYS))
        if unknown:
            raise SFTConfigError(
                f"unknown config key 'cv.{unknown[0]}' (keys of cv: {', '.join(CV_KEYS)})"
            )
        folds = cv.get("folds")
        if folds is not None and (not _integer(folds) or folds < 2):
            raise SFTConfigError(
                f"config key 'cv.folds' must be an integer >= 2 (or null for "
                f"no cross-validation), got {folds!r}"
            )
        for key in ("stratified", "ensemble"):
            if not isinstance(cv.get(key, False), bool):
                raise SFTConfigError(
                    f"config key 'cv.{key}': expected true or false, got {cv.get(key)!r}"
                )
        group = cv.get("group_column")
        if group is not None and (not isinstance(group, str) or not group):
            raise SFTConfigError(
                f"config key 'cv.group_column': expected a column name, got {group!r}"
            )
        fold = cv.get("fold")
        if fold is not None and (folds is None or not _integer(fold) or not 0 <= fold < folds):
            raise SFTConfigError(
                f"config key 'cv.fold'={fold!r}: needs cv.folds and a value in 0..(cv.folds - 1)"
            )
        if folds is not None and cfg.data.get("val_path") is not None:
            raise SFTConfigError(
                "cv.folds: cross-validation takes each fold of the train split "
                "in turn as validation; set data.val_path=null"
            )
    seeds = cfg.get("seeds")
    if seeds is not None:
        if not OmegaConf.is_list(seeds) or not seeds or not all(_integer(s) for s in seeds):
            raise SFTConfigError(
                f"config key 'seeds': expected a list of integers like [1,2,3], got {seeds!r}"
            )
        if len(set(seeds)) != len(seeds):
            raise SFTConfigError(f"config key 'seeds': {list(seeds)} repeats a seed")
    several = (cv is not None and cv.get("folds") is not None and cv.get("fold") is None) or bool(
        seeds
    )
    if several and cfg.get("resume") is not None:
        raise SFTConfigError(
            "resume continues one run; a cv.folds / seeds run cannot be resumed: run it again"
        )
    ensemble = cv is not None and cv.get("ensemble", False)
    if ensemble and cv.get("folds") is None and not seeds:
        raise SFTConfigError(
            "cv.ensemble=true needs models to average: set cv.folds=K or seeds=[...]"
        )
    if (
        ensemble
        and seeds
        and cfg.data.get("test_path") is None
        and (cfg.data.get("test_fraction") or 0) > 0
    ):
        raise SFTConfigError(
            "cv.ensemble=true with seeds: each seed carves its own test split "
            "(data.test_fraction); give data.test_path"
        )
