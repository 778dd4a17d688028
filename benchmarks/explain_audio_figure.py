"""The audio figure of docs/explain.md: a tiny wav2vec2 (2 layers, hidden 32, built from a
config with random weights) trained for 150 steps on 0.4 s clips at 8 kHz whose class is the
pitch of a 0.1 s tone burst (300 Hz: low, 1500 Hz: high, none: no burst), with an 800 Hz
distractor burst in another window of every clip; one new clip explained with
`sft.load(...).explain` and drawn by sft.inference.explain_media_report (the recipe of
tests/inference/test_explain_media.py's burst test). Not run by CI; about 30 s on one thread.

  python benchmarks/explain_audio_figure.py --out outputs/bench/explain-audio
  cp outputs/bench/explain-audio/figure/0_clip.png docs/explain_audio.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import soundfile
import torch
from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

import sft
from sft.data.media import AudioFeaturizer
from sft.inference import explain_media_report
from sft.model.backbone import Backbone
from sft.model.heads import LinearHead
from sft.model.saving import save_model
from sft.tasks import get_task

RATE, LABELS = 8000, ["high", "low", "none"]
TONES = {"low": 300.0, "high": 1500.0, "distractor": 800.0}
HEAD = {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1}


def burst_clip(label: str, rng, place: int, other: int) -> np.ndarray:
    """Faint noise, the class's burst in 0.1 s window `place`, the distractor in `other`."""
    t = np.arange(int(0.4 * RATE)) / RATE
    clip = rng.normal(0, 0.01, t.shape)
    for window, kind in ((place, label), (other, "distractor")):
        if kind != "none":
            span = slice(int(window * 0.1 * RATE), int((window + 1) * 0.1 * RATE))
            clip[span] += 0.5 * np.sin(2 * np.pi * TONES[kind] * t[span] + rng.uniform(0, 6.3))
    return clip.astype(np.float32)


class Module(torch.nn.Module):
    """What save_model reads: backbone, head, task, labels."""

    def __init__(self, folder: Path):
        super().__init__()
        self.backbone = Backbone(str(folder), "mean", 64)
        self.head = LinearHead(32, len(LABELS))
        self.task, self.label_names, self.head_config = get_task("multiclass"), LABELS, HEAD
        self.finetune, self.threshold, self.target_scale = None, 0.5, None

    def forward(self, **features):
        return self.head(self.backbone(None, None, **features))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/explain-audio"))
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    config = Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16,) * 7, num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=4,
        mask_time_prob=0.0,
    )  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(args.out / "backbone")
    extractor = Wav2Vec2FeatureExtractor(sampling_rate=RATE, return_attention_mask=False)
    extractor.save_pretrained(args.out / "backbone")
    featurizer = AudioFeaturizer(extractor, max_seconds=0.4)
    module, rng = Module(args.out / "backbone"), np.random.default_rng(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(150):
        labels = rng.integers(3, size=16)
        clips = [burst_clip(LABELS[i], rng, *rng.choice(4, 2, replace=False)) for i in labels]
        logits = module(input_values=torch.from_numpy(featurizer.from_base(clips)["input_values"]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    spec = featurizer.spec()
    folder = save_model(module.eval(), extractor, HEAD, 64, args.out / "model", extra=spec)
    path = args.out / "clip.wav"
    soundfile.write(path, burst_clip("low", rng, place=2, other=0), RATE)
    found = sft.load(folder).explain([str(path)], n_steps=64)
    written = explain_media_report.write(
        found, args.out / "figure", "burst clip",
        headings=["low burst at 0.2-0.3 s, 800 Hz distractor at 0-0.1 s"],
    )  # fmt: skip
    print(f"loss {float(loss):.4f}; delta {found[0]['delta']:+.2e}; wrote {written[-1]}")


if __name__ == "__main__":
    main()
