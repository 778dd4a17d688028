"""Coordinate ascent over per-class logit biases in O(rows) per class tried, not O(rows x
classes) (sft.tasks.sequence.decisions.tune_class_bias; numpy only).

Rescoring argmax(z + bias) from scratch for every (class, grid value) costs rows x classes
each time, so one round over k classes and G grid values cost G * rows * k^2: ~34 min at 1000
classes and 10k rows. Here each row keeps its best and second-best class under the current
biases. Moving class c's bias only changes which of c and the row's best *other* class wins,
at a bias the row can compute; so each grid value's decisions differ from the current ones
by a set of row moves (other -> c, or c -> other), and the change of macro F1 (or accuracy)
follows from the counts of the classes those rows touch. Rows sorted by (class, grid step)
give every grid value's score in O(rows log rows), whatever k. Accepting a bias updates the
top two of the rows it touches (all k classes only for rows whose top two held c and lost
ground). The decisions, ties included (argmax takes the first maximum), are the ones the
plain rescoring makes; scores are the same sums taken in another order (~1e-16 apart, well
inside the 1e-12 an improvement must clear).
"""

from __future__ import annotations

import numpy as np

__all__ = ["coordinate_ascent"]


def _f1(tp, pred, support):
    return 2 * tp / np.maximum(support + pred, 1)


class _State:
    """The current decisions of argmax(z + bias): per row its best class a1 (first maximum)
    and the best of the rest a2, with their scores; per class tp and predicted counts; the
    sum of present classes' F1 and the count of right decisions."""

    def __init__(self, z: np.ndarray, y: np.ndarray, bias: np.ndarray):
        self.z, self.y, self.k = z, y, z.shape[1]
        self.s = z + bias
        self.rows = np.arange(len(z))
        self.a1, self.m1, self.a2, self.m2 = self._top_two(self.s)
        self.support = np.bincount(y, minlength=self.k).astype(float)
        self.present = self.support > 0
        self.tp = np.bincount(y[self.a1 == y], minlength=self.k).astype(float)
        self.pred = np.bincount(self.a1, minlength=self.k).astype(float)
        self.fsum = float(_f1(self.tp, self.pred, self.support)[self.present].sum())
        self.correct = float((self.a1 == y).sum())

    @staticmethod
    def _top_two(s: np.ndarray):
        rows = np.arange(len(s))
        a1 = s.argmax(axis=1)
        m1 = s[rows, a1]
        rest = s.copy()
        rest[rows, a1] = -np.inf
        a2 = rest.argmax(axis=1)
        return a1, m1, a2, rest[rows, a2]

    def score(self, metric: str, dsum: np.ndarray, dcorrect: np.ndarray) -> np.ndarray:
        if metric == "acc":
            return (self.correct + dcorrect) / len(self.y)
        return (self.fsum + dsum) / max(int(self.present.sum()), 1)

    def trial(self, c: int, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Changes (len(grid),) of the F1 sum and of the right-decision count when class c's
        bias takes each value of the ascending `grid` instead of its current one."""
        owner = self.a1 == c
        other = np.where(owner, self.a2, self.a1)
        best_other = np.where(owner, self.m2, self.m1)
        zc = self.z[:, c]
        first = _first_win(zc, best_other, other, c, grid)
        steps = len(grid)
        # Owners sit at c now; at grid steps below `first` they sit at `other`.
        out = owner & (first > 0)
        into = first < steps
        back = out & into
        join = ~owner & into
        rows = np.concatenate([self.rows[out], self.rows[back], self.rows[join]])
        stage = np.concatenate([np.zeros(out.sum(), int), first[back], first[join]])
        sign = np.concatenate([np.ones(out.sum()), -np.ones(back.sum() + join.sum())])
        # A move of `sign` rows from c to `other` (negative: from other to c)
        y, o = self.y[rows], other[rows]
        events_c = (stage, -sign, -sign * (y == c))
        events_o = (o, stage, sign, sign * (y == o))
        dsum = self._class_c_delta(c, events_c, steps) + self._others_delta(events_o, steps)
        dright = np.bincount(stage, sign * ((y == o).astype(float) - (y == c)), steps)
        return dsum, np.cumsum(dright)

    def _class_c_delta(self, c, events, steps) -> np.ndarray:
        stage, dpred, dtp = events
        if not self.present[c]:
            return np.zeros(steps)
        pred = self.pred[c] + np.cumsum(np.bincount(stage, dpred, steps))
        tp = self.tp[c] + np.cumsum(np.bincount(stage, dtp, steps))
        return _f1(tp, pred, self.support[c]) - _f1(self.tp[c], self.pred[c], self.support[c])

    def _others_delta(self, events, steps) -> np.ndarray:
        cls, stage, dpred, dtp = events
        if len(cls) == 0:
            return np.zeros(steps)
        order = np.argsort(cls * (steps + 1) + stage, kind="stable")
        cls, stage, dpred, dtp = cls[order], stage[order], dpred[order], dtp[order]
        cum_pred, cum_tp = np.cumsum(dpred), np.cumsum(dtp)
        starts = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
        group = np.cumsum(np.r_[False, cls[1:] != cls[:-1]])
        before_pred = np.r_[0.0, cum_pred][starts][group]  # cumulative before each group
        before_tp = np.r_[0.0, cum_tp][starts][group]
        pred = self.pred[cls] + cum_pred - before_pred
        tp = self.tp[cls] + cum_tp - before_tp
        after = _f1(tp, pred, self.support[cls])
        previous = np.r_[0.0, after[:-1]]
        first_in_group = np.zeros(len(cls), bool)
        first_in_group[starts] = True
        base = _f1(self.tp[cls], self.pred[cls], self.support[cls])
        previous = np.where(first_in_group, base, previous)
        delta = np.where(self.present[cls], after - previous, 0.0)
        return np.cumsum(np.bincount(stage, delta, steps))

    def accept(self, c: int, value: float) -> None:
        """Set class c's bias to `value`: update the rows' top two and the counts."""
        old_c = self.s[:, c].copy()
        self.s[:, c] = self.z[:, c] + value
        new_c = self.s[:, c]
        a1_before = self.a1.copy()
        held = (self.a1 == c) | (self.a2 == c)
        lost = held & (new_c < old_c)
        if lost.any():  # the third best is unknown: look at every class of those rows
            idx = self.rows[lost]
            a1, m1, a2, m2 = self._top_two(self.s[idx])
            self.a1[idx], self.m1[idx], self.a2[idx], self.m2[idx] = a1, m1, a2, m2
        gained = ~lost
        top = gained & (self.a1 == c)
        self.m1[top] = new_c[top]
        second = gained & (self.a2 == c)
        passes = second & _beats(new_c, c, self.m1, self.a1)
        self._swap(passes, new_c, c)
        stays = second & ~passes
        self.m2[stays] = new_c[stays]
        outside = gained & ~held
        first = outside & _beats(new_c, c, self.m1, self.a1)
        self.a2[first], self.m2[first] = self.a1[first], self.m1[first]
        self.a1[first], self.m1[first] = c, new_c[first]
        runner = outside & ~first & _beats(new_c, c, self.m2, self.a2)
        self.a2[runner], self.m2[runner] = c, new_c[runner]
        self._recount(a1_before)

    def _swap(self, rows, new_c, c) -> None:
        self.a2[rows], self.m2[rows] = self.a1[rows], self.m1[rows]
        self.a1[rows], self.m1[rows] = c, new_c[rows]

    def _recount(self, a1_before: np.ndarray) -> None:
        moved = self.rows[a1_before != self.a1]
        if len(moved) == 0:
            return
        old, new, y = a1_before[moved], self.a1[moved], self.y[moved]
        touched = np.unique(np.concatenate([old, new]))
        f1_before = _f1(self.tp[touched], self.pred[touched], self.support[touched])
        np.subtract.at(self.pred, old, 1.0)
        np.add.at(self.pred, new, 1.0)
        np.subtract.at(self.tp, old[old == y], 1.0)
        np.add.at(self.tp, new[new == y], 1.0)
        f1_after = _f1(self.tp[touched], self.pred[touched], self.support[touched])
        self.fsum += float((f1_after - f1_before)[self.present[touched]].sum())
        self.correct += float((new == y).sum() - (old == y).sum())


def _beats(value, c, best, best_class):
    """Whether class c with `value` is argmax's pick over `best` (class `best_class`): more,
    or as much with a lower index (argmax takes the first maximum)."""
    return (value > best) | ((value == best) & (c < best_class))


def _first_win(zc, best_other, other, c, grid) -> np.ndarray:
    """Per row, the first index of the ascending `grid` at which zc + grid[i] beats the row's
    best other class (len(grid): never). fl(zc + g) rises with g, so it is a threshold;
    searchsorted finds it up to rounding, the exact test fixes the last step."""
    steps = len(grid)
    first = np.searchsorted(grid, best_other - zc, side="right")
    while True:
        below = np.maximum(first - 1, 0)
        down = (first > 0) & _beats(zc + grid[below], c, best_other, other)
        at = np.minimum(first, steps - 1)
        up = (first < steps) & ~_beats(zc + grid[at], c, best_other, other)
        if not (down.any() or up.any()):
            return first
        first = first - down + up


def coordinate_ascent(
    z: np.ndarray, targets: np.ndarray, grid: np.ndarray, metric: str, rounds: int
) -> np.ndarray:
    """Biases (k,) maximizing `metric` (acc or f1_macro) of argmax(z + bias): for `rounds`
    sweeps or until nothing improves, each class in turn takes the value of `grid`
    (ascending) that scores best, trying values nearest zero first and moving only for a
    gain above 1e-12 (sft.tasks.sequence.decisions.tune_class_bias)."""
    n, k = z.shape
    bias = np.zeros(k)
    if n == 0:
        return bias
    state = _State(z, targets, bias)
    best = float(state.score(metric, np.zeros(1), np.zeros(1))[0])
    order = np.argsort(np.abs(grid), kind="stable")  # nearest zero first
    for _ in range(rounds):
        improved = False
        for c in range(k):
            scores = state.score(metric, *state.trial(c, grid))
            chosen = None
            for i in order:
                if scores[i] > best + 1e-12:
                    best, chosen = float(scores[i]), i
            if chosen is not None:
                bias[c] = grid[chosen]
                state.accept(c, grid[chosen])
                improved = True
        if not improved:
            break
    return bias
