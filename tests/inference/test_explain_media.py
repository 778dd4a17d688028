"""Explanations of image and audio models (sft.inference.explain_media): a heat map over the
pixels, scores over time.

Trust: a tiny ResNet trained on pictures whose class is the colour of a square in a random
corner (red, blue, or none), with a white distractor square in another corner of every
picture, puts most of its heat map on the class square, and blanking the pixels it ranks
highest lowers the predicted probability more than blanking as many random pixels.
Audio: the time mapping (bins cover what the model reads, scores sum to the logit's change,
delta small) on wav2vec2 and AST; a tiny wav2vec2 trained on clips whose class is the pitch
of a tone burst (plus a distractor burst) puts most of the positive score on the class
burst's window.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import sft
from conftest import run_sft
from helpers.backbones import tiny_ast, tiny_wav2vec2, write_tones
from sft.data.media import ImageFeaturizer, load_processor
from sft.errors import SFTConfigError, SFTDataError
from sft.model.backbone import Backbone
from sft.model.heads import LinearHead
from sft.model.saving import save_model
from sft.tasks import get_task

LABELS = ["blue", "none", "red"]
COLOURS = {"red": (230, 40, 40), "blue": (40, 40, 230), "distractor": (230, 230, 230)}
CORNERS = [(0, 0), (0, 12), (12, 0), (12, 12)]  # 4x4 squares in the corners
HEAD = {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1}


class Media(torch.nn.Module):
    """The parts of an SFTModule that save_model reads, for pixel or audio inputs."""

    def __init__(self, folder, pooling: str, labels: list[str] = LABELS):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = Backbone(str(folder), pooling, 64)
        self.head = LinearHead(self.backbone.hidden_size, len(labels))
        self.task, self.label_names, self.head_config = get_task("multiclass"), labels, HEAD
        self.finetune, self.threshold, self.target_scale = None, 0.5, None

    def forward(self, **features):
        return self.head(self.backbone(None, None, **features))


def planted(label: str, rng) -> tuple[np.ndarray, tuple, tuple]:
    """uint8 [16, 16, 3]: dark noise, a 4x4 square of the class's colour in a random corner
    (none: no class square) and a white distractor square in another; the top-left pixels
    of the class square and of the distractor."""
    pixels = rng.integers(0, 40, (16, 16, 3)).astype(np.uint8)
    place, other = (CORNERS[i] for i in rng.choice(4, size=2, replace=False))
    for (y, x), kind in ((place, label), (other, "distractor")):
        if kind != "none":
            pixels[y : y + 4, x : x + 4] = COLOURS[kind]
    return pixels, place, other


@pytest.fixture(scope="module")
def corner_model(tiny_resnet_dir, tmp_path_factory):
    """The tiny ResNet (mean pooling) + linear head trained on planted pictures (Adam, 150
    steps of 24), saved, and 30 test pictures: (predictor, paths, labels, places)."""
    module = Media(tiny_resnet_dir, "mean")
    processor = load_processor(str(tiny_resnet_dir), "image")
    folder = tmp_path_factory.mktemp("corners")
    featurizer = ImageFeaturizer(processor)
    rng = np.random.default_rng(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(150):
        labels = rng.integers(3, size=24)
        batch = featurizer.from_base([planted(LABELS[i], rng)[0] for i in labels])
        logits = module(pixel_values=torch.from_numpy(batch["pixel_values"]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    module.eval()
    model = save_model(module, processor, HEAD, 64, folder / "model", extra=featurizer.spec())
    test = rng.integers(3, size=30)
    paths, places = [], []
    for n, i in enumerate(test):
        pixels, place, other = planted(LABELS[i], rng)
        paths.append(str(folder / f"{n}_{LABELS[i]}.png"))
        places.append((place, other))
        Image.fromarray(pixels).save(paths[-1])
    return sft.load(model), paths, [LABELS[i] for i in test], places


@pytest.fixture(scope="module")
def explained(corner_model):
    predictor, paths, labels, _ = corner_model
    records = predictor.predict(paths)
    accuracy = np.mean([r["label"] == y for r, y in zip(records, labels)])
    assert accuracy >= 0.95, f"the corner model is not right yet: accuracy {accuracy:.2f}"
    return predictor.explain(paths, n_steps=32)


def test_the_heat_map_sits_on_the_class_square_and_adds_up(corner_model, explained):
    """Measured (seed 0): the class square (1/16 of the picture) holds 55-63% of the
    positive heat (towards the target) and 40-50% of |heat|; the distractor 16-27% of
    |heat|; |delta| <= 0.09 for logit changes of about 7 at 32 steps."""
    _, _, labels, places = corner_model
    for label, ((y, x), (v, u)), found in zip(labels, places, explained):
        assert found["target"] == label and found["heat"].shape == (16, 16)
        heat = found["heat"]
        # completeness: the map adds up to the logit's change, up to the integral's error
        gap = found["logit"] - found["baseline_logit"]
        assert heat.sum() - gap == pytest.approx(found["delta"], abs=1e-4)
        assert abs(found["delta"]) <= 0.05 * max(abs(gap), 1.0), (found["delta"], gap)
        if label == "none":  # no class square: nothing to find
            continue
        towards, mass = np.clip(heat, 0, None), np.abs(heat)
        assert towards[y : y + 4, x : x + 4].sum() > 0.5 * towards.sum(), found["path"]
        inside, distractor = mass[y : y + 4, x : x + 4].sum(), mass[v : v + 4, u : u + 4].sum()
        assert inside > distractor + 0.1 * mass.sum(), (found["path"], inside, distractor)


def test_blanking_the_top_pixels_lowers_the_probability_more_than_random_pixels(
    corner_model, explained
):
    predictor, _, labels, _ = corner_model
    rng = np.random.default_rng(0)

    def probability(image, target):
        raw = predictor.runner(**predictor.featurizer.from_base([image]))[0]
        return float(torch.softmax(torch.from_numpy(raw), 0)[LABELS.index(target)])

    top_drop, random_drop = [], []
    for label, found in zip(labels, explained):
        if label == "none":
            continue
        image, before, k = found["image"], found["probability"], 16
        top = np.argsort(-found["heat"].ravel())[:k]
        blanked = image.copy().reshape(-1, 3)
        blanked[top] = 0  # the baseline's colour: black
        top_drop.append(before - probability(blanked.reshape(image.shape), label))
        for _ in range(5):
            chosen = rng.choice(image.shape[0] * image.shape[1], size=k, replace=False)
            blanked = image.copy().reshape(-1, 3)
            blanked[chosen] = 0
            random_drop.append(before - probability(blanked.reshape(image.shape), label))
    assert np.mean(top_drop) > np.mean(random_drop) + 0.2, (top_drop, random_drop)


def test_the_mean_baseline_is_the_processors_mean_colour(corner_model):
    predictor, paths, _, _ = corner_model
    found = predictor.explain(paths[:1], baseline="mean", n_steps=32)[0]
    assert found["baseline"] == "mean"
    gap = found["logit"] - found["baseline_logit"]
    assert abs(found["delta"]) <= 0.05 * max(abs(gap), 1.0)
    grey = np.full((16, 16, 3), 128, np.uint8)  # the tiny processor's mean: 0.5
    raw = predictor.runner(**predictor.featurizer.from_base([grey]))[0]
    weights = predictor.kind.explained_weights(LABELS, found["target"])
    assert found["baseline_logit"] == pytest.approx(float(raw @ np.asarray(weights)), abs=1e-5)


def test_bad_image_requests_get_one_line(corner_model, tmp_path):
    predictor, paths, _, _ = corner_model
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(SFTDataError, match=f"{broken}: not a readable image"):
        predictor.explain([str(broken)])
    with pytest.raises(SFTConfigError, match=r"'silence' is not a baseline of image models"):
        predictor.explain(paths[:1], baseline="silence")
    with pytest.raises(SFTConfigError, match="target: 'cat' is not a label of this model"):
        predictor.explain(paths[:1], target="cat")


@pytest.mark.parametrize(
    "build,bins,width",
    [
        # 0.4 s at 8 kHz through convolutions of stride 320 and receptive field 400 samples
        (tiny_wav2vec2, (3200 - 400) // 320 + 1, 0.04),
        # layer-norm convolutions and an extractor that gives an attention mask
        (partial(tiny_wav2vec2, masked=True), (3200 - 400) // 320 + 1, 0.04),
        # the extractor's max_length: 32 frames of 10 ms (0.32 s of the 0.4 s are read)
        (tiny_ast, 32, 0.01),
    ],
)
def test_audio_scores_cover_what_the_model_reads_and_add_up(build, bins, width, tmp_path):
    """wav2vec2: one bin per frame its transformer reads; AST: one per spectrogram frame.
    The bins start at 0, follow each other and sum to the logit's change (delta small)."""
    backbone = build(tmp_path / "backbone")
    module = Media(backbone, "mean")
    extractor = load_processor(str(backbone), "audio")
    spec = {"modality": "audio", "max_seconds": 0.4}
    predictor = sft.load(save_model(module.eval(), extractor, HEAD, 64, tmp_path / "m", extra=spec))
    clips = sorted(str(p) for p in write_tones(tmp_path / "tones", 1, seed=0).rglob("*.wav"))
    for found in predictor.explain(clips, n_steps=16):
        times = np.asarray(found["times"])
        assert len(times) == len(found["scores"]) == bins
        assert found["bin_seconds"] == pytest.approx(width)
        assert times[0] == 0 and np.allclose(np.diff(times), width)
        total = found["logit"] - found["baseline_logit"]
        assert found["scores"].sum() - total == pytest.approx(found["delta"], abs=1e-4)
        assert abs(found["delta"]) <= 0.05 * max(abs(total), 1.0)
        # Audio length, not time taken: the 0.5 s clips are cut to the model's 0.4 s window.
        assert found["truncated"] and found["duration"] == pytest.approx(0.4)
    with pytest.raises(SFTConfigError, match="'black' is not a baseline of audio models"):
        predictor.explain(clips[:1], baseline="black")


def test_sft_explain_writes_a_png_per_image_and_a_summary(corner_model, tmp_path):
    predictor, paths, _, _ = corner_model
    out = tmp_path / "explained"
    done = run_sft(
        "explain",
        f"model_uri={predictor.folder}",
        f"input={paths[0].rsplit('/', 1)[0]}",  # the folder of the pictures
        "limit=3",
        "n_steps=8",
        f"out_dir={out}",
        "progress=false",
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Explained 3 images" in done.stderr
    table = pd.read_csv(out / "explanations.csv")
    assert len(table) == 3 and set(table["target"]) <= set(LABELS)
    for name in table["png"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


RATE, TONES = 8000, {"low": 300.0, "high": 1500.0, "distractor": 800.0}
TONE_LABELS = ["high", "low", "none"]


def burst_clip(label: str, rng) -> tuple[np.ndarray, int, int]:
    """0.4 s at 8 kHz of faint noise with a 0.1 s tone burst of the class's pitch in one of
    four windows (none: no class burst) and an 800 Hz distractor burst in another; the
    windows' indices."""
    t = np.arange(int(0.4 * RATE)) / RATE
    clip = rng.normal(0, 0.01, t.shape)
    place, other = (int(i) for i in rng.choice(4, size=2, replace=False))
    for window, kind in ((place, label), (other, "distractor")):
        if kind != "none":
            span = slice(int(window * 0.1 * RATE), int((window + 1) * 0.1 * RATE))
            clip[span] += 0.5 * np.sin(2 * np.pi * TONES[kind] * t[span] + rng.uniform(0, 6.3))
    return clip.astype(np.float32), place, other


def window_score(times: np.ndarray, scores: np.ndarray, i: int) -> float:
    """The scores of the frames that read any of window i (0.1 s; a frame reads 50 ms)."""
    return float(scores[(times + 0.05 > i * 0.1) & (times < (i + 1) * 0.1)].sum())


def test_a_planted_tone_burst_carries_most_of_the_attribution(tmp_path):
    """A tiny wav2vec2 trained on burst clips (Adam, 150 steps of 16: train loss 0.001)
    explains a class clip by its class burst: measured (seed 0), the class window's frames
    hold 43-96% of the positive score (mean 0.71; they are about 3.5 of the 9 frames) and
    more than the distractor window's in every clip."""
    import soundfile  # here: only this test writes clips of its own

    from helpers.backbones import tiny_wav2vec2
    from sft.data.media import AudioFeaturizer

    backbone = tiny_wav2vec2(tmp_path / "backbone")
    extractor = load_processor(str(backbone), "audio")
    featurizer = AudioFeaturizer(extractor, max_seconds=0.4)
    module = Media(backbone, "mean", TONE_LABELS)
    rng = np.random.default_rng(0)
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    for _ in range(150):
        labels = rng.integers(3, size=16)
        batch = featurizer.from_base([burst_clip(TONE_LABELS[i], rng)[0] for i in labels])
        logits = module(input_values=torch.from_numpy(batch["input_values"]))
        loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(labels))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model = save_model(module.eval(), extractor, HEAD, 64, tmp_path / "m", extra=featurizer.spec())
    predictor, shares, ahead = sft.load(model), [], []
    for n in range(16):
        clip, place, other = burst_clip(TONE_LABELS[n % 2], rng)  # high, low in turn
        soundfile.write(tmp_path / f"{n}.wav", clip, RATE)
        found = predictor.explain([str(tmp_path / f"{n}.wav")], n_steps=64)[0]
        assert found["target"] == TONE_LABELS[n % 2]
        assert abs(found["delta"]) <= 0.05 * max(abs(found["logit"] - found["baseline_logit"]), 1)
        towards = np.clip(found["scores"], 0, None)
        mine, theirs = (window_score(found["times"], towards, i) for i in (place, other))
        shares.append(mine / towards.sum())
        ahead.append(mine > theirs)
    assert np.mean(shares) > 0.6 and all(ahead), (shares, ahead)
