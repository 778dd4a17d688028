"""MLflow metric keys: the per-class namespace, label keys, which metrics are minimized
(light: no torch, used at config time). Which metrics a task logs is the task's
(sft.tasks: each task's `metrics`; sft.tasks.monitors checks monitored names against them).

Two namespaces that never meet: the summaries are `<stage>/<name>` (`val/f1_macro`), and the
per-class values are `<stage>/per_class/f1/<label key>` (`val/per_class/f1/positive`), so a
label named like a summary (`macro`, `loss`, `f1_macro`) can never overwrite one. A label's
key is the label itself when MLflow accepts it as part of a key; otherwise its characters
outside A-Z a-z 0-9 _ - . and space become `_` and a short hash of the label is appended
(`c++` -> `c_-<6 hex>`), so labels that read alike (`c++`, `c#`) get distinct keys that
depend on the label alone (the same in every run and data set).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

PER_CLASS = "per_class/f1"
# Metrics where lower is better; every other one is maximized.
MINIMIZED = ("loss", "mse", "mae", "hamming", "wer", "cer", "eer", "min_dcf")  # speech error rates
# MLflow keys hold 250 characters; "test/per_class/f1/" takes 18 and a hash suffix 7.
_KEY_CHARS = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\- ]+")
_SHOWN_KEYS = 20  # per-class keys listed in an error; the rest are counted
# Above this many classes no per-class metric goes to MLflow (one warning says so; the
# per-class report artifact holds every class): each key costs the tracking store a row per
# epoch, and MLflow's log_model reads every key's history back (10,000 classes: 20,000 keys,
# ~10 ms each), while a UI with 20,000 metric names helps nobody.
PER_CLASS_LOGGED_MAX = 1000


def logs_per_class(classes: int) -> bool:
    """Whether a run with `classes` classes logs `<stage>/per_class/f1/<key>` metrics."""
    return classes <= PER_CLASS_LOGGED_MAX


def monitor_mode(metric: str) -> str:
    """min for losses and errors, max for scores (every per-class F1 is a score, whatever
    its label is called: `val/per_class/f1/loss` is maximized)."""
    return "min" if metric.split("/", 1)[-1] in MINIMIZED else "max"


def per_class_metric(stage: str, key: str) -> str:
    """The MLflow key of one label's F1 in `stage` (val, test): `val/per_class/f1/<key>`."""
    return f"{stage}/{PER_CLASS}/{key}"


def metric_key(name, digits: int = 6) -> str:
    """A label name made safe for an MLflow metric key (see the module's docstring).

    The label itself when it is made of A-Z a-z 0-9 _ - . and spaces (not leading or
    trailing, not only dots: MLflow refuses keys that resolve like paths) and at most 200
    characters; else the safe characters with a `-` and the first `digits` hex digits of
    the label's SHA-256 appended.
    """
    text = str(name)
    key = _UNSAFE.sub("_", text)[:_KEY_CHARS].strip()
    if not key.strip("."):
        key = "_"
    if key == text:
        return key
    return f"{key}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:digits]}"


def label_keys(names) -> dict[str, str]:
    """label -> its per-class key, distinct for every label set: `metric_key` of each label;
    in the (astronomically rare) case that a hashed key equals another label's key, the
    hashed labels in the clash get longer hashes (16, then 64 hex digits). Raises ValueError
    when two labels are the same string."""
    names = [str(n) for n in names]
    if len(set(names)) != len(names):
        raise ValueError(
            f"duplicate label names: {sorted(n for n, c in Counter(names).items() if c > 1)}"
        )
    keys = {n: metric_key(n) for n in names}
    for digits in (16, 64):
        clash = {k for k, count in Counter(keys.values()).items() if count > 1}
        if not clash:
            break
        keys = {n: metric_key(n, digits) if k in clash and k != n else k for n, k in keys.items()}
    return keys
