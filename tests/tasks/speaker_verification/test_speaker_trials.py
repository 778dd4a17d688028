"""Trials of speaker verification: pairs drawn right (balanced, same/different true, no
repeats, deterministic), the equal error rate, its threshold and the minimum detection cost
equal hand-computed values and a brute-force threshold sweep."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from sft.tasks.speaker_verification.trials import (
    TrialMetrics,
    cosine_scores,
    trial_pairs,
    unrank_pairs,
    verification_rates,
)


def test_pairs_are_numbered_in_lexicographic_order():
    for n in (2, 3, 7, 30):
        pairs = list(itertools.combinations(range(n), 2))
        i, j = unrank_pairs(np.arange(len(pairs)), np.full(len(pairs), n))
        assert list(zip(i.tolist(), j.tolist())) == pairs
    n = 200_000  # rounding of the square root near row ends is corrected
    last = n * (n - 1) // 2 - 1
    i, j = unrank_pairs(np.array([0, n - 2, n - 1, last]), np.full(4, n))
    assert list(zip(i.tolist(), j.tolist())) == [(0, 1), (0, n - 1), (1, 2), (n - 2, n - 1)]


def test_trials_are_balanced_true_distinct_and_deterministic():
    speakers = np.repeat(np.arange(5), [4, 6, 3, 5, 2])
    first, second, same = trial_pairs(speakers, 40, seed=3)
    assert len(same) == 40 and same[:20].all() and not same[20:].any()
    assert ((speakers[first] == speakers[second]) == same).all()
    assert (first < second).all()
    assert len(set(zip(first.tolist(), second.tolist()))) == 40  # no pair twice
    again = trial_pairs(speakers, 40, seed=3)
    assert all((a == b).all() for a, b in zip((first, second, same), again))
    other = trial_pairs(speakers, 40, seed=4)
    assert not (other[0] == first).all() or not (other[1] == second).all()


def test_trials_stop_at_the_pairs_a_split_has():
    """Two speakers of two clips: 2 same-speaker pairs, 4 different ones; balanced: 2 + 2."""
    speakers = np.array([7, 7, 9, 9])
    first, second, same = trial_pairs(speakers, 1000, seed=0)
    assert same.tolist() == [True, True, False, False]
    assert sorted(zip(first[:2].tolist(), second[:2].tolist())) == [(0, 1), (2, 3)]
    assert all(speakers[a] != speakers[b] for a, b in zip(first[2:], second[2:]))


def test_equal_error_rate_threshold_and_min_dcf_of_a_hand_computed_case():
    """Same-speaker scores 0.9, 0.8, 0.3; different 0.1, 0.7, 0.2. Accepting score >= 0.7
    rejects one same pair of three (FRR 1/3) and accepts one different pair of three (FAR
    1/3): EER 1/3 at threshold 0.7. The detection cost is lowest at threshold 0.8 (no false
    alarm, one miss of three): 0.01 * 1/3 / min(0.01, 0.99) = 1/3."""
    scores = torch.tensor([0.9, 0.8, 0.3, 0.1, 0.7, 0.2])
    same = torch.tensor([True, True, True, False, False, False])
    rates = verification_rates(scores, same)
    assert float(rates["eer"]) == pytest.approx(1 / 3, abs=1e-6)
    assert float(rates["threshold"]) == pytest.approx(0.7, abs=1e-6)
    assert float(rates["min_dcf"]) == pytest.approx(1 / 3, abs=1e-6)
    # Separable scores, negative cosines included: EER 0 at the lowest same-speaker score.
    rates = verification_rates(torch.tensor([0.4, -0.1, -0.5, -0.9]), same[[0, 1, 3, 4]])
    assert float(rates["eer"]) == 0.0 and float(rates["min_dcf"]) == 0.0
    assert float(rates["threshold"]) == pytest.approx(-0.1, abs=1e-6)


def test_equal_error_rate_equals_a_brute_force_threshold_sweep():
    rng = np.random.default_rng(0)
    same = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    scores = np.clip(np.where(same, 0.3, -0.1) + rng.normal(0, 0.25, 600), -1, 1)
    best = None
    for t in np.unique(scores):  # accept score >= t
        far, frr = np.mean(scores[~same] >= t), np.mean(scores[same] < t)
        if best is None or abs(far - frr) < best[0]:
            best = (abs(far - frr), (far + frr) / 2, t)
    rates = verification_rates(torch.from_numpy(scores).float(), torch.from_numpy(same))
    assert float(rates["eer"]) == pytest.approx(best[1], abs=1e-6)
    assert float(rates["threshold"]) == pytest.approx(best[2], abs=1e-6)


def test_trial_metrics_score_cosines_of_the_split():
    """Two speakers whose embeddings point two ways: every trial is right, EER 0."""
    torch.manual_seed(0)
    base = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    speakers = torch.tensor([0, 0, 0, 1, 1, 1])
    embeddings = 3 * base[speakers] + 0.1 * torch.randn(6, 3)
    metric = TrialMetrics(trials=8, seed=0)
    metric.update(embeddings[:4], speakers[:4])
    metric.update(embeddings[4:], speakers[4:])
    computed = metric.compute()
    assert float(computed["eer"]) == 0.0 and float(computed["trials"]) == 8
    first, second, _ = trial_pairs(speakers.numpy(), 8, 0)
    cosines = cosine_scores(embeddings, first, second)
    expected = torch.nn.functional.cosine_similarity(embeddings[first], embeddings[second])
    assert torch.allclose(cosines, expected, atol=1e-6)
