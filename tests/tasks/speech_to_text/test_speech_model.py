"""load_task_model for CTC models: the task's vocabulary size and blank id, the model.config
fields (CTC loss, SpecAugment, layer drop) set where the architecture has them and refused
in one line where it has not, freeze_feature_encoder, and a pretrained CTC head replaced for a
new vocabulary."""

from __future__ import annotations

import pytest

from sft.errors import SFTConfigError
from sft.model.backbone import resolve_model_path
from sft.model.task_model import load_task_model

SETTINGS = {"vocab_size": 7, "pad_token_id": 0}


def ctc(name: str, **kwargs):
    folder = resolve_model_path(f"pkg://sft/assets/{name}")
    return load_task_model("AutoModelForCTC", folder, [], init="random", **kwargs).encoder


def test_parakeet_takes_the_vocabulary_and_its_encoder_the_layer_drop():
    model = ctc("parakeet_ctc", settings=SETTINGS, config={"layerdrop": 0.2})
    assert model.config.vocab_size == 7 and model.config.pad_token_id == 0
    assert model.ctc_head.out_channels == 7
    assert model.config.encoder_config.layerdrop == 0.2
    assert model.encoder.layerdrop == 0.2


def test_a_setting_the_architecture_lacks_is_refused_in_one_line():
    with pytest.raises(SFTConfigError) as caught:
        ctc("parakeet_ctc", settings=SETTINGS, config={"mask_time_prob": 0.05})
    assert str(caught.value) == (
        "model.config.mask_time_prob: ParakeetCTCConfig has no setting 'mask_time_prob' (the "
        "architecture does not use it)"
    )
    with pytest.raises(SFTConfigError, match="ParakeetForCTC has no convolutional feature"):
        ctc("parakeet_ctc", settings=SETTINGS, freeze_feature_encoder=True)


def test_wav2vec2_takes_spec_augment_and_freezes_its_feature_encoder():
    config = {"mask_time_prob": 0.3, "ctc_loss_reduction": "sum", "ctc_zero_infinity": False}
    model = ctc("wav2vec2_ctc", settings=SETTINGS, config=config, freeze_feature_encoder=True)
    assert model.config.mask_time_prob == 0.3 and model.config.ctc_loss_reduction == "sum"
    assert model.lm_head.out_features == 7
    assert not any(p.requires_grad for p in model.wav2vec2.feature_extractor.parameters())
    assert all(p.requires_grad for p in model.lm_head.parameters())


def test_a_pretrained_ctc_model_gets_a_new_head_for_a_new_vocabulary(tmp_path):
    import torch

    saved = ctc("wav2vec2_ctc", settings={"vocab_size": 11, "pad_token_id": 0})
    saved.save_pretrained(tmp_path)
    model = load_task_model(
        "AutoModelForCTC", str(tmp_path), [], init="pretrained", settings=SETTINGS
    ).encoder
    assert model.lm_head.out_features == 7
    before = saved.wav2vec2.encoder.layers[0].attention.k_proj.weight
    torch.testing.assert_close(model.wav2vec2.encoder.layers[0].attention.k_proj.weight, before)
