"""Tiny random-config backbones of each family, saved with `save_pretrained` like real ones:
GPT-2 (a decoder whose tokenizer has no pad token), ViT, ResNet, wav2vec2.

Nothing here needs the network; each builds in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import torch

from conftest import FILLER, WORDS

EOS = "<|endoftext|>"


def tiny_gpt2(folder: Path) -> Path:
    """A 2-layer GPT-2 (hidden 32) with a word-level tokenizer that has an EOS but no pad token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2Model, PreTrainedTokenizerFast

    vocab = [EOS, "[UNK]"] + FILLER + [w for words in WORDS.values() for w in words]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, unk_token="[UNK]")
    assert tokenizer.pad_token is None  # what the code under test has to cope with
    config = GPT2Config(
        vocab_size=len(vocab),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    GPT2Model(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _image_processor(size: int):
    from transformers import ViTImageProcessor

    return ViTImageProcessor(
        size={"height": size, "width": size}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5]
    )


def tiny_vit(folder: Path, size: int = 16) -> Path:
    """A 2-layer ViT (hidden 32, 4x4 patches of 16x16 images) and its image processor."""
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(
        image_size=size,
        patch_size=4,
        num_channels=3,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
    )
    torch.manual_seed(0)
    ViTModel(config).save_pretrained(folder)
    _image_processor(size).save_pretrained(folder)
    return folder


def tiny_resnet(folder: Path, size: int = 16) -> Path:
    """A 2-stage ResNet (8 and 16 channels) and an image processor."""
    from transformers import ResNetConfig, ResNetModel

    config = ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic"
    )
    torch.manual_seed(0)
    ResNetModel(config).save_pretrained(folder)
    _image_processor(size).save_pretrained(folder)
    return folder


def tiny_wav2vec2(folder: Path, sampling_rate: int = 8000, masked: bool = False) -> Path:
    """A 2-layer wav2vec2 (hidden 32, 16-channel convolutions) and its feature extractor;
    `masked`: layer-norm convolutions and an extractor that returns an attention mask (as
    wav2vec2-large-lv60), else group norm and no mask (as wav2vec2-base)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        mask_time_prob=0.0,
        feat_extract_norm="layer" if masked else "group",
        do_stable_layer_norm=masked,
    )
    torch.manual_seed(0)
    Wav2Vec2Model(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1,
        sampling_rate=sampling_rate,
        padding_value=0.0,
        do_normalize=True,
        return_attention_mask=masked,
    ).save_pretrained(folder)
    return folder


def tiny_convnext(folder: Path, size: int = 16) -> Path:
    """A 2-stage ConvNeXt (8 and 16 channels) and an image processor."""
    from transformers import ConvNextConfig, ConvNextModel

    config = ConvNextConfig(
        num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_stages=2, patch_size=2
    )
    torch.manual_seed(0)
    ConvNextModel(config).save_pretrained(folder)
    _image_processor(size).save_pretrained(folder)
    return folder


def tiny_hubert(folder: Path, sampling_rate: int = 8000) -> Path:
    """A 2-layer HuBERT (wav2vec2's architecture) and a wav2vec2 feature extractor."""
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    config = HubertConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16,) * 7,
        num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=4,
        mask_time_prob=0.0,
    )
    torch.manual_seed(0)
    HubertModel(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=sampling_rate, return_attention_mask=False
    ).save_pretrained(folder)
    return folder


def tiny_ast(folder: Path, sampling_rate: int = 8000) -> Path:
    """A 2-layer audio spectrogram transformer over 16 mel bins x 32 frames, and its
    feature extractor."""
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    config = ASTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        num_mel_bins=16,
        max_length=32,
        patch_size=16,
        frequency_stride=10,
        time_stride=10,
    )
    torch.manual_seed(0)
    ASTModel(config).save_pretrained(folder)
    ASTFeatureExtractor(
        num_mel_bins=16, max_length=32, sampling_rate=sampling_rate
    ).save_pretrained(folder)
    return folder


# -- synthetic media: classes a tiny model separates in a few epochs --------------------------

SHAPES = ("square", "cross", "ring")


def shape_image(kind: str, rng, size: int = 16):
    """A bright shape of `kind` at a random place on a noisy dark background (RGB PIL)."""
    import numpy as np
    from PIL import Image

    pixels = rng.uniform(0, 60, (size, size, 3))
    y, x = np.mgrid[:size, :size]
    cy, cx = rng.integers(5, size - 5, 2)
    if kind == "square":
        mask = (abs(y - cy) <= 3) & (abs(x - cx) <= 3)
    elif kind == "cross":
        mask = ((abs(y - cy) <= 4) & (abs(x - cx) <= 0)) | ((abs(x - cx) <= 4) & (abs(y - cy) <= 0))
    else:
        r = np.hypot(y - cy, x - cx)
        mask = (r >= 2.5) & (r <= 4.0)
    color = {"square": (230, 60, 60), "cross": (60, 230, 60), "ring": (60, 60, 230)}[kind]
    pixels[mask] = color
    return Image.fromarray(pixels.astype("uint8"), mode="RGB")


def write_shapes(root: Path, per_class: int, seed: int) -> Path:
    """`root/<shape>/<i>.png`: a folder per class."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        (root / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape_image(kind, rng).save(root / kind / f"{i}.png")
    return root


TONES = {"low": 300.0, "high": 1500.0}


def write_tone(path: Path, freq: float, rng, rate: int = 16000, seconds: float = 0.5) -> Path:
    """A 16-bit PCM WAV: a sine at `freq` (random phase and loudness) plus a little noise."""
    import wave

    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    signal = rng.uniform(0.3, 0.8) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6.28))
    signal += rng.normal(0, 0.02, t.shape)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_tones(root: Path, per_class: int, seed: int) -> Path:
    """`root/<low|high>/<i>.wav`, recorded at 16 kHz (models here run at 8 kHz: resampled)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for label, freq in TONES.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            write_tone(root / label / f"{i}.wav", freq, rng)
    return root
