"""CTC decoding and the error rates: WER and CER equal a hand-computed example, greedy CTC
merges repeats and drops blanks, and a clip decodes the same alone and padded in a batch (only
the frames that carry audio are read)."""

from __future__ import annotations

import pytest
import torch

from helpers.speech_clips import speak
from sft.tasks.speech_to_text.decode import (
    SpeechErrorRates,
    greedy_ids,
    ids_to_text,
    transcribe,
    utterance_rows,
)
from sft.tasks.speech_to_text.features import SpeechFeaturizer, pad_batch
from sft.tasks.speech_to_text.vocab import build_vocabulary, token_list


def test_wer_and_cer_equal_a_hand_computed_example():
    metric = SpeechErrorRates()
    metric.update(["one two three"], ["one too three"])
    metric.update(["for"], ["four"])
    values = metric.compute()
    # words: 1 substitution of 3 + 1 of 1 -> 2 / 4; characters: w->o of 13, one deletion of 4
    assert float(values["wer"]) == pytest.approx(2 / 4)
    assert float(values["cer"]) == pytest.approx(2 / 17)
    metric.reset()
    metric.update(["ab"], ["ab"])
    assert float(metric.compute()["cer"]) == 0.0
    rows = utterance_rows(["for"], ["four"], ["x.wav"])
    assert rows == [{"path": "x.wav", "reference": "four", "hypothesis": "for", "cer": 0.25}]


def test_greedy_ctc_merges_repeats_drops_blanks_and_stops_at_the_length():
    frames = [0, 3, 3, 0, 3, 4, 4, 2, 5, 5]  # blank, a a, blank, a, b b, |, c c
    logits = torch.nn.functional.one_hot(torch.tensor([frames, frames]), 6).float()
    ids = greedy_ids(logits, torch.tensor([10, 4]), blank=0)
    assert ids == [[3, 3, 4, 2, 5], [3]]
    tokens = ["[PAD]", "[UNK]", "|", "a", "b", "c"]
    assert ids_to_text(ids[0], tokens) == "aab c"


def tiny_parakeet(tmp_path, vocab_size: int):
    from transformers import AutoFeatureExtractor

    from sft.model.backbone import resolve_model_path
    from sft.model.task_model import load_task_model

    folder = resolve_model_path("pkg://sft/assets/parakeet_ctc")
    torch.manual_seed(0)
    model = load_task_model(
        "AutoModelForCTC",
        folder,
        [],
        init="random",
        settings={"vocab_size": vocab_size, "pad_token_id": 0},
    ).encoder.eval()
    return model, AutoFeatureExtractor.from_pretrained(folder)


def test_a_clip_decodes_the_same_alone_and_padded_in_a_batch(tmp_path):
    vocab = build_vocabulary(["abcdefgho"])
    model, extractor = tiny_parakeet(tmp_path, len(vocab))
    featurizer = SpeechFeaturizer(extractor)
    short, long = featurizer.features(speak("ab")), featurizer.features(speak("cab dog hog fed"))
    tokens = token_list_of(vocab)
    with torch.no_grad():
        values, mask = map(torch.from_numpy, pad_batch([short]))
        alone = model(input_features=values, attention_mask=mask)
        values, mask = pad_batch([short, long])
        mask = torch.from_numpy(mask)
        batch = model(input_features=torch.from_numpy(values), attention_mask=mask)
    frames = alone.logits.shape[1]
    assert batch.logits.shape[1] > frames  # the short clip has padded frames in the batch
    torch.testing.assert_close(batch.logits[0, :frames], alone.logits[0], atol=1e-4, rtol=1e-4)
    text_alone = transcribe(model, alone.logits, torch.ones(1, len(short)), tokens, 0)
    text_batch = transcribe(model, batch.logits, mask, tokens, 0)
    assert text_batch[0] == text_alone[0]
    # Outputs that write "c" on the short clip's padded frames: only its real frames count.
    junk = torch.zeros_like(batch.logits)
    junk[..., 0] = 1.0  # blank everywhere
    junk[0, frames - 1, tokens.index("a")] = 2.0
    junk[0, frames:, tokens.index("c")] = 2.0
    assert transcribe(model, junk, mask, tokens, 0)[0] == "a"
    everything = greedy_ids(junk[:1], torch.tensor([junk.shape[1]]), 0)
    assert ids_to_text(everything[0], tokens) == "ac"


def token_list_of(vocab: dict) -> list[str]:
    from sft.tasks.speech_to_text.vocab import make_tokenizer

    return token_list(make_tokenizer(vocab))
