"""Verification trials: pairs of clips of one split (same speaker or not), scored by the cosine
of their embeddings, and the rates that summarize them: the equal error rate (torchmetrics'
BinaryEER), the threshold where it is reached, and the minimum detection cost.

Trial pairs are drawn from the split's own clips, so its speakers may be voices the model
never trained on (the usual test of a voiceprint: held-out speakers). Same-speaker and
different-speaker trials are drawn in equal numbers, uniformly among the possible pairs of
each kind, without repeats, deterministically for a seed.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.classification import BinaryEER, BinaryROC

# Minimum detection cost: the NIST speaker recognition evaluations' cost of a miss and of a
# false alarm, and the prior of a target (same-speaker) trial (the SRE 2008-2010 setting
# C_miss = C_fa = 1, P_target = 0.01, used by VoxCeleb's evaluation too).
DCF_P_TARGET = 0.01
DCF_C_MISS = 1.0
DCF_C_FA = 1.0


def trial_pairs(speakers: np.ndarray, trials: int, seed: int) -> tuple[np.ndarray, ...]:
    """Balanced trials among the clips of one split.

    `speakers` (n,) int: each clip's speaker code. Returns (first, second, same): clip
    indices (k,) int64 with first < second, and same (k,) bool, whose first half are
    same-speaker pairs and second half different-speaker pairs, k/2 each: `trials` // 2, or
    fewer when the split has fewer pairs of either kind. Deterministic for `seed`."""
    speakers = np.asarray(speakers, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = np.argsort(speakers, kind="stable")  # the clips of each speaker, together
    _, starts, counts = np.unique(speakers[order], return_index=True, return_counts=True)
    per_speaker = counts * (counts - 1) // 2
    n = len(speakers)
    total_same = int(per_speaker.sum())
    total_different = n * (n - 1) // 2 - total_same
    k = max(0, min(int(trials) // 2, total_same, total_different))
    # Same-speaker pairs: the pairs of speaker s are numbered after those of speakers < s.
    drawn = np.sort(rng.choice(total_same, size=k, replace=False)) if k else np.zeros(0, int)
    offsets = np.concatenate([[0], np.cumsum(per_speaker)])
    owner = np.searchsorted(offsets, drawn, side="right") - 1
    a, b = unrank_pairs(drawn - offsets[owner], counts[owner])
    same_first, same_second = order[starts[owner] + a], order[starts[owner] + b]
    # Different-speaker pairs: draw among all pairs (most of which differ), keep those that
    # differ, draw more when too few did.
    pool = n * (n - 1) // 2
    size = min(pool, 2 * k + 64)
    while True:
        picked = rng.choice(pool, size=size, replace=False) if k else np.zeros(0, int)
        i, j = unrank_pairs(picked, np.full(len(picked), n))
        keep = speakers[i] != speakers[j]
        if keep.sum() >= k or size == pool:
            break
        size = min(pool, 2 * size)
    diff_first, diff_second = i[keep][:k], j[keep][:k]
    first = np.concatenate([np.minimum(same_first, same_second), diff_first])
    second = np.concatenate([np.maximum(same_first, same_second), diff_second])
    same = np.concatenate([np.ones(k, dtype=bool), np.zeros(k, dtype=bool)])
    return first.astype(np.int64), second.astype(np.int64), same


def unrank_pairs(index: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pair (i, j), i < j < n, numbered `index` in the order (0,1), (0,2) .. (0,n-1),
    (1,2) ..: the inverse of index = i*n - i*(i+1)/2 + j - i - 1 (float64 square root,
    exact while n*n < 2**52), corrected by one step where rounding lands next to it."""
    index = np.asarray(index, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    first = n - 2 - np.floor(np.sqrt(-8.0 * index + 4.0 * n * (n - 1) - 7) / 2.0 - 0.5)
    i = first.astype(np.int64)

    def start(row):  # the number of the first pair of row `row`
        return row * n - row * (row + 1) // 2

    i = np.where(start(i) > index, i - 1, i)
    i = np.where(start(i + 1) <= index, i + 1, i)
    j = index - start(i) + i + 1
    return i, j


def cosine_scores(embeddings: torch.Tensor, first, second) -> torch.Tensor:
    """The cosine similarity (k,) float32 of each pair's two embeddings (rows of [n, d])."""
    unit = torch.nn.functional.normalize(embeddings.float(), dim=-1)
    first, second = torch.as_tensor(first), torch.as_tensor(second)
    return (unit[first] * unit[second]).sum(dim=-1)


def verification_rates(scores: torch.Tensor, same: torch.Tensor) -> dict[str, torch.Tensor]:
    """{eer, threshold, min_dcf} of trial `scores` (k,) (cosines, in [-1, 1]) and their truth
    `same` (k,) bool. `eer`: torchmetrics BinaryEER, the mean of the false-acceptance and
    false-rejection rates at the ROC point where they are closest; `threshold`: the cosine of
    that point (a pair is the same speaker when its score >= threshold); `min_dcf`: the
    normalized detection cost (NIST SRE) at its best threshold,
    min_t (C_miss P_miss(t) P_tar + C_fa P_fa(t) (1 - P_tar)) / min(C_miss P_tar, C_fa (1 - P_tar)).
    Scores are mapped to (s + 1) / 2 first: in [0, 1], BinaryEER takes them as they are
    (it would pass other values through a sigmoid)."""
    probs = ((scores.float() + 1.0) / 2.0).clamp(0.0, 1.0)
    target = same.long()
    eer = BinaryEER(thresholds=None)(probs, target)
    fpr, tpr, thresholds = BinaryROC(thresholds=None)(probs, target)
    fnr = 1.0 - tpr
    at = torch.argmin(torch.abs(fpr - fnr))  # BinaryEER's own rule for its point
    cost = DCF_C_MISS * fnr * DCF_P_TARGET + DCF_C_FA * fpr * (1.0 - DCF_P_TARGET)
    norm = min(DCF_C_MISS * DCF_P_TARGET, DCF_C_FA * (1.0 - DCF_P_TARGET))
    return {
        "eer": eer,
        "threshold": (2.0 * thresholds[at] - 1.0).clamp(-1.0, 1.0),
        "min_dcf": cost.min() / norm,
    }


class TrialMetrics(Metric):
    """Embeddings and speaker codes of one split, gathered over its batches (and devices);
    `compute()` draws the trials (trial_pairs) and returns verification_rates of their
    cosine scores: {eer, threshold, min_dcf, trials}. `update(embeddings [b, d],
    speakers [b] int64)`."""

    full_state_update = False

    def __init__(self, trials: int = 10000, seed: int = 0):
        super().__init__()
        self.trials = int(trials)
        self.seed = int(seed)
        self.add_state("embeddings", default=[], dist_reduce_fx="cat")
        self.add_state("speakers", default=[], dist_reduce_fx="cat")

    def update(self, embeddings: torch.Tensor, speakers: torch.Tensor) -> None:
        self.embeddings.append(embeddings.detach().float())
        self.speakers.append(speakers.detach().long())

    def compute(self) -> dict[str, torch.Tensor]:
        embeddings = _cat(self.embeddings)
        speakers = _cat(self.speakers).cpu().numpy()
        first, second, same = trial_pairs(speakers, self.trials, self.seed)
        if not len(same):  # a sanity-check batch of one speaker, say: no trial of each kind
            nan = torch.tensor(float("nan"))
            return {"eer": nan, "threshold": nan, "min_dcf": nan, "trials": torch.tensor(0.0)}
        scores = cosine_scores(embeddings.cpu(), first, second)
        rates = verification_rates(scores, torch.from_numpy(same))
        return {**rates, "trials": torch.tensor(float(len(same)))}


def _cat(states) -> torch.Tensor:
    """A list state as one tensor (after a DDP sync it is one tensor already)."""
    return torch.cat(states) if isinstance(states, list) else states
