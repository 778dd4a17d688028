"""A saved sft folder loads with transformers alone (trust_remote_code=True) and predicts what
sft.load predicts; without trust_remote_code, or with an Auto class the folder does not name,
transformers refuses instead of building a classifier with a random head (issue 27). Tiny
BERT / ViT / wav2vec2 backbones from configs; heads drawn from a seed."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)

import sft
from helpers.saved_models import TEXTS, Module
from sft.model.heads import LinearHead, MLPHead
from sft.model.saving import save_model, write_spec

LONG = " ".join(["good"] * 200)  # past max_length 64: both sides truncate it alike
LINEAR = {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1}
MLP = {"_target_": "sft.model.heads.MLPHead", "hidden_sizes": [16], "activation": "tanh"}
LABELS = {
    "multiclass": ["negative", "neutral", "positive"],
    "binary": ["no", "yes"],
    "multilabel": ["a", "b", "c"],
    "regression": [],
}


def saved(folder, out, task="multiclass", pooling="mean", mlp=False, extra=None, processor=None):
    """A tiny backbone + head saved by save_model into `out` (heads drawn from seed 0)."""
    torch.manual_seed(0)
    labels = LABELS[task]
    width = len(labels) if task in ("multiclass", "multilabel") else 1
    head = (
        MLPHead(32, width, hidden_sizes=[16], activation="tanh") if mlp else LinearHead(32, width)
    )
    module = Module(folder, task, labels, head, MLP if mlp else LINEAR)
    module.backbone.pooling = pooling
    if task == "regression":
        module.target_scale = (3.0, 2.0)  # standardized targets: served value = out * 2 + 3
    processor = processor or AutoTokenizer.from_pretrained(folder)
    return save_model(module.eval(), processor, module.head_config, 64, out, extra=extra)


def by_label(records: list[dict]) -> dict[str, float]:
    return {r["label"]: r["score"] for r in records}


@pytest.mark.parametrize(
    ("task", "pooling", "mlp", "extra"),
    [
        ("multiclass", "mean", True, {"temperature": 2.0}),
        ("multiclass", "cls", False, None),
        ("multiclass", "max", False, None),
        ("multiclass", "pooler", False, None),
        ("multiclass", "last_token", False, None),
        ("binary", "mean", False, {"temperature": 0.5}),
        ("multilabel", "cls", True, None),
        ("regression", "mean", False, None),
    ],
)
def test_the_text_pipeline_on_the_folder_gives_sft_loads_predictions(
    tiny_model_dir, tmp_path, task, pooling, mlp, extra
):
    folder = saved(tiny_model_dir, tmp_path / "m", task, pooling, mlp, extra)
    texts = [*TEXTS, LONG]
    expected = sft.load(folder).predict(texts)
    pipe = pipeline("text-classification", model=str(folder), trust_remote_code=True, top_k=None)
    got = [by_label(r) for r in pipe(texts, truncation=True)]
    for want, have in zip(expected, got):
        if task == "regression":
            assert have["score"] == pytest.approx(want["score"], abs=1e-5)
        else:
            assert have == pytest.approx(want["probabilities"], abs=1e-5)
    config = AutoModelForSequenceClassification.from_pretrained(
        folder, trust_remote_code=True
    ).config
    assert list(config.id2label.values()) == (LABELS[task] or ["score"])


def test_without_trust_remote_code_or_with_another_auto_class_transformers_refuses(
    tiny_model_dir, tmp_path
):
    folder = saved(tiny_model_dir, tmp_path / "m")
    for load in (
        lambda: AutoModelForSequenceClassification.from_pretrained(folder),
        lambda: AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False),
        lambda: AutoModel.from_pretrained(folder, trust_remote_code=False),
        lambda: pipeline("text-classification", model=str(folder), trust_remote_code=False),
        # the folder names no token classifier: no head to build, no random one
        lambda: AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True),
    ):
        with pytest.raises(ValueError):
            load()


def test_a_head_only_sft_can_build_is_refused_by_transformers_with_the_reason(
    tiny_model_dir, tmp_path
):
    folder = saved(tiny_model_dir, tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["head"] = {"kind": "sft", "target": "my_heads.AttentionHead"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"my_heads\.AttentionHead.*sft\.load"):
        AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)


def test_an_older_folder_backbone_plus_head_file_still_loads_with_the_same_predictions(
    tiny_model_dir, tmp_path
):
    native = saved(tiny_model_dir, tmp_path / "native")
    torch.manual_seed(0)  # the same head as `saved` draws
    module = Module(tiny_model_dir, "multiclass", LABELS["multiclass"], LinearHead(32, 3), LINEAR)
    old = tmp_path / "old"  # the layout sft wrote before transformers-native folders
    module.backbone.encoder.save_pretrained(old)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(old)
    save_file(
        {k: v.contiguous() for k, v in module.head.state_dict().items()},
        str(old / "head.safetensors"),
    )
    spec = json.loads((native / "sft_model.json").read_text())
    write_spec({**spec, "format": 1}, old)
    want = sft.load(native).predict(TEXTS)
    got = sft.load(old).predict(TEXTS)
    for a, b in zip(want, got):
        assert a["probabilities"] == pytest.approx(b["probabilities"], abs=1e-6)


def test_token_classification_loads_with_its_auto_class_and_gives_sfts_logits(
    tiny_model_dir, tmp_path
):
    torch.manual_seed(0)
    module = Module(
        tiny_model_dir, "token_classification", ["O", "B-X", "I-X"], LinearHead(32, 3), LINEAR
    )
    module.backbone.pooling = "none"
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    folder = save_model(module.eval(), tokenizer, LINEAR, 64, tmp_path / "m")
    predictor = sft.load(folder)
    ids, mask = predictor.pad(predictor.encode(TEXTS))
    want = predictor.runner(ids, mask)
    model = AutoModelForTokenClassification.from_pretrained(folder, trust_remote_code=True)
    with torch.no_grad():
        got = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    assert model.config.id2label == {0: "O", 1: "B-X", 2: "I-X"}
    with pytest.raises(ValueError):  # no random sequence head either
        AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)


def test_image_and_audio_pipelines_on_the_folder_give_sft_loads_probabilities(
    tiny_vit_dir, tiny_wav2vec2_dir, tmp_path
):
    from transformers import AutoFeatureExtractor, AutoImageProcessor

    from helpers.backbones import write_shapes, write_tone

    images = sorted(str(p) for p in write_shapes(tmp_path / "shapes", 1, seed=0).rglob("*.png"))
    image = saved(
        tiny_vit_dir,
        tmp_path / "image",
        extra={"modality": "image", "normalize": False, "temperature": 1.5},
        processor=AutoImageProcessor.from_pretrained(tiny_vit_dir),
    )
    rng = np.random.default_rng(0)
    # shorter than, as long as and longer than the 0.5 s clips of training: padded and cut
    clips = [
        str(write_tone(tmp_path / f"{s}.wav", 300.0, rng, rate=8000, seconds=s))
        for s in (0.3, 0.5, 0.8)
    ]
    audio = saved(
        tiny_wav2vec2_dir,
        tmp_path / "audio",
        extra={"modality": "audio", "max_seconds": 0.5},
        processor=AutoFeatureExtractor.from_pretrained(tiny_wav2vec2_dir),
    )
    from sft.data.media import load_audio

    for folder, tag, inputs, given in (
        (image, "image-classification", images, images),
        # arrays at the model's rate: the pipeline reads a file path with ffmpeg
        (audio, "audio-classification", clips, [load_audio(c, 8000) for c in clips]),
    ):
        expected = sft.load(folder).predict(inputs)
        pipe = pipeline(tag, model=str(folder), trust_remote_code=True)
        got = [by_label(r) for r in pipe(given, top_k=3)]
        for want, have in zip(expected, got):
            assert have == pytest.approx(want["probabilities"], abs=1e-5)


def test_the_model_cards_snippet_runs_in_a_python_without_sft(tiny_model_dir, tmp_path):
    import subprocess
    import sys

    from sft.inference.hf_card import FOLDER, transformers_lines

    folder = saved(tiny_model_dir, tmp_path / "m", extra={"temperature": 2.0})
    lines = transformers_lines(folder)
    code = "\n".join(
        lines[lines.index("```python") + 1 : lines.index("```", lines.index("```python"))]
    )
    code = code.replace(FOLDER, str(folder)).replace("'some text'", repr(TEXTS[0]))
    check = "\nimport sys\nassert not [m for m in sys.modules if m.split('.')[0] == 'sft']\n"
    # cwd away from the repository, no PYTHONPATH; the venv has sft installed, so the check
    # is that nothing the snippet runs imports it
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    run = subprocess.run(
        [sys.executable, "-c", code + check], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    printed = run.stdout.strip().splitlines()[-1]
    want = sft.load(folder).predict(TEXTS[:1])[0]["probabilities"]
    got = {d["label"]: d["score"] for d in eval(printed)[0]}  # the pipeline's printed records
    assert got == pytest.approx(want, abs=1e-5)


def test_a_lora_adapter_folder_is_refused_by_transformers_not_paired_with_a_random_head(
    tiny_model_dir, tmp_path
):
    # transformers loads a peft adapter folder onto the base its adapter_config.json names,
    # as BertForSequenceClassification with a fresh classifier, unless the folder has its
    # own config.json: sft writes one that refuses (model type sft, head kind adapter)
    from test_lora_adapter import HEAD, lora_module

    folder = save_model(
        lora_module(tiny_model_dir, "adapter"),
        AutoTokenizer.from_pretrained(tiny_model_dir),
        HEAD,
        32,
        tmp_path / "adapter",
    )
    with pytest.raises(ValueError):
        AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=False)
    with pytest.raises(OSError, match=r"no file named model\.safetensors"):  # the base is apart
        AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    assert len(sft.load(folder).predict(TEXTS)) == len(TEXTS)  # sft still reads it


@pytest.mark.parametrize(
    ("family", "auto"),
    [
        ("detection", "AutoModelForObjectDetection"),
        ("segmentation", "AutoModelForSemanticSegmentation"),
    ],
)
def test_a_whole_task_model_folder_loads_with_its_auto_class_as_the_same_network(
    tmp_path, family, auto
):
    # a detector or segmenter is exactly a transformers class: saved as it is, no remote code
    import types

    import transformers
    from transformers import AutoImageProcessor

    from helpers.task_models import tiny_detector, tiny_segmenter
    from sft.model.task_model import TaskModel
    from sft.tasks import get_task

    build = tiny_detector if family == "detection" else tiny_segmenter
    source = build(tmp_path / "source")
    model = getattr(transformers, auto).from_pretrained(source)
    module = types.SimpleNamespace(
        backbone=TaskModel(model).eval(),
        head=torch.nn.Identity(),
        task=get_task(family),
        label_names=list(model.config.id2label.values()),
        finetune=None,
        threshold=0.5,
    )
    processor = AutoImageProcessor.from_pretrained(source)
    folder = save_model(module, processor, {}, 64, tmp_path / "m", extra={"modality": "image"})
    assert not (folder / "modeling_sft.py").exists()
    pixels = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        want = sft.load(folder).runner.net(pixel_values=pixels).logits
        got = getattr(transformers, auto).from_pretrained(folder).eval()(pixel_values=pixels).logits
    torch.testing.assert_close(got, want)
    with pytest.raises(ValueError):  # no sequence classifier of these: nothing random built
        AutoModelForSequenceClassification.from_pretrained(folder)


def test_a_new_run_can_start_from_an_sft_folders_fine_tuned_backbone(tiny_model_dir, tmp_path):
    # model.name_or_path (and model.backbone_from) naming an sft folder: its backbone alone
    from sft.model.backbone import Backbone

    folder = saved(tiny_model_dir, tmp_path / "m")
    torch.manual_seed(0)
    trained = Module(tiny_model_dir, "multiclass", LABELS["multiclass"], LinearHead(32, 3), LINEAR)
    again = Backbone(str(folder), "mean", 64)
    want = trained.backbone.encoder.state_dict()
    for name, tensor in again.encoder.state_dict().items():
        torch.testing.assert_close(tensor, want[name])


def test_an_onnx_export_folder_is_refused_by_transformers(tiny_model_dir, tmp_path):
    # an ONNX export (fp32 or int8) holds the folder's files but the PyTorch weights, as
    # export_onnx copies them: transformers raises, it builds nothing random
    from sft.inference.onnx import _copy_all_but_weights

    folder = saved(tiny_model_dir, tmp_path / "m")
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    _copy_all_but_weights(folder, onnx)
    assert (onnx / "config.json").is_file() and not (onnx / "model.safetensors").exists()
    for trust in (False, True):
        with pytest.raises((ValueError, OSError)):
            AutoModelForSequenceClassification.from_pretrained(onnx, trust_remote_code=trust)
