"""Whole transformers task models (sft.model.task_model): loaded with a head for the data's
labels, from weights or at random, and a backbone started from a classifier's encoder."""

from __future__ import annotations

import pytest
import torch
from transformers import ConditionalDetrForObjectDetection, ResNetConfig, ResNetModel

from helpers.task_models import RESNET, tiny_detector
from sft.errors import SFTConfigError
from sft.model.task_model import load_backbone_weights, load_task_model


def test_a_new_label_set_replaces_the_class_head_and_names_the_classes(tmp_path):
    folder = tiny_detector(tmp_path / "det", num_labels=3)
    saved = ConditionalDetrForObjectDetection.from_pretrained(folder)
    net = load_task_model("AutoModelForObjectDetection", str(folder), ["cat", "dog"])
    model = net.encoder
    assert model.config.id2label == {0: "cat", 1: "dog"}
    assert model.config.label2id == {"cat": 0, "dog": 1}
    # Conditional DETR scores each class with a sigmoid: one output per label.
    assert model.class_labels_classifier.out_features == 2
    # Everything but the class head is the saved model's.
    kept = saved.state_dict()
    for name, tensor in model.state_dict().items():
        if not name.startswith("class_labels_classifier"):
            assert torch.equal(tensor, kept[name]), name


def test_init_random_keeps_the_architecture_but_not_the_weights(tmp_path):
    folder = tiny_detector(tmp_path / "det")
    saved = ConditionalDetrForObjectDetection.from_pretrained(folder).state_dict()
    torch.manual_seed(1)
    model = load_task_model("AutoModelForObjectDetection", str(folder), ["a"], init="random")
    weights = model.encoder.state_dict()
    assert set(weights) == set(saved)
    name = "model.encoder.layers.0.mlp.fc1.weight"
    assert not torch.equal(weights[name], saved[name])


def test_backbone_from_copies_a_classifiers_resnet_into_the_detector(tmp_path):
    folder = tiny_detector(tmp_path / "det")
    torch.manual_seed(2)
    ResNetModel(ResNetConfig(**RESNET)).save_pretrained(tmp_path / "resnet")
    classifier = ResNetModel.from_pretrained(tmp_path / "resnet").state_dict()
    net = load_task_model(
        "AutoModelForObjectDetection",
        str(folder),
        ["a", "b"],
        backbone_from=str(tmp_path / "resnet"),
    )
    backbone = net.encoder.model.backbone.model.state_dict()
    weight = "encoder.stages.1.layers.0.layer.1.convolution.weight"
    assert torch.equal(backbone[weight], classifier[weight])
    assert torch.equal(
        backbone["embedder.embedder.normalization.running_mean"].float(),
        classifier["embedder.embedder.normalization.running_mean"].float(),
    )


def test_backbone_from_another_architecture_is_refused_and_copies_nothing(tmp_path):
    folder = tiny_detector(tmp_path / "det")
    model = ConditionalDetrForObjectDetection.from_pretrained(folder)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    wide = {**RESNET, "hidden_sizes": [8, 32]}
    ResNetModel(ResNetConfig(**wide)).save_pretrained(tmp_path / "wide")
    with pytest.raises(SFTConfigError, match=r"have no match of that shape.*architectures differ"):
        load_backbone_weights(model, str(tmp_path / "wide"))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_errors_name_the_key(tmp_path):
    with pytest.raises(SFTConfigError, match=r"model\.name_or_path: cannot load"):
        load_task_model("AutoModelForObjectDetection", str(tmp_path / "none"), ["a"])
    with pytest.raises(SFTConfigError, match="auto_class 'AutoModel' is not one of"):
        load_task_model("AutoModel", str(tmp_path), ["a"])
    folder = tiny_detector(tmp_path / "det")
    with pytest.raises(SFTConfigError, match=r"model\.init=warm"):
        load_task_model("AutoModelForObjectDetection", str(folder), ["a"], init="warm")


def test_the_loaded_model_is_in_training_mode(tmp_path):
    """from_pretrained gives eval mode; Lightning keeps modes, so dropout would stay off."""
    net = load_task_model("AutoModelForObjectDetection", str(tiny_detector(tmp_path)), ["a"])
    assert all(module.training for module in net.modules())


def test_every_parameter_trains_whatever_the_init(tmp_path):
    """transformers freezes a DETR's whole ResNet backbone when built from its config (a name
    check meant for timm's names) but not when loaded with from_pretrained."""
    folder = tiny_detector(tmp_path)
    for init in ("pretrained", "random"):
        net = load_task_model("AutoModelForObjectDetection", str(folder), ["a"], init=init)
        assert all(p.requires_grad for p in net.parameters()), init


@pytest.mark.parametrize(
    "asset,auto_class",
    [
        ("detr_digits", "AutoModelForObjectDetection"),
        ("upernet_digits", "AutoModelForSemanticSegmentation"),
    ],
)
def test_the_demo_models_build_offline_and_take_the_shipped_classifiers_resnet(
    tmp_path, asset, auto_class
):
    """experiment=digit_boxes / digit_masks: the detector and the segmenter of sft/assets
    (configs, no weights) start from the classifier of sft/assets/resnet_digits (job 0)."""
    from sft.data.media import load_processor
    from sft.model.backbone import resolve_model_path

    classifier = ResNetModel(
        ResNetConfig.from_pretrained(resolve_model_path("pkg://sft/assets/resnet_digits"))
    )
    classifier.save_pretrained(tmp_path / "resnet")
    names = [str(d) for d in range(10)]
    net = load_task_model(
        auto_class,
        f"pkg://sft/assets/{asset}",
        names,
        "random",
        backbone_from=str(tmp_path / "resnet"),
    )
    assert net.encoder.config.id2label == dict(enumerate(names))
    weight = "encoder.stages.2.layers.0.layer.1.convolution.weight"
    backbone = next(m for m in net.encoder.modules() if hasattr(m, "out_features"))
    assert torch.equal(backbone.state_dict()[weight], classifier.state_dict()[weight])
    processor = load_processor(resolve_model_path(f"pkg://sft/assets/{asset}"), "image")
    size = processor.size
    assert 96 in (getattr(size, "height", None), getattr(size, "longest_edge", None))


def test_linear_probe_freezes_only_a_task_models_backbone(tiny_detr_dir, tiny_segformer_dir):
    """finetune=linear_probe on a detector: the ResNet is frozen (and in eval mode), the
    transformer and the box and class heads train; a SegFormer has no AutoBackbone: refused."""
    from types import SimpleNamespace

    from sft.model.finetune import LinearProbe

    net = load_task_model("AutoModelForObjectDetection", str(tiny_detr_dir), ["a", "b"])
    LinearProbe().prepare(SimpleNamespace(backbone=net))
    backbone = net.encoder.model.backbone.model
    assert not any(p.requires_grad for p in backbone.parameters()) and not backbone.training
    rest = [p for n, p in net.named_parameters() if ".backbone." not in n]
    assert rest and all(p.requires_grad for p in rest)
    segmenter = load_task_model("AutoModelForSemanticSegmentation", str(tiny_segformer_dir), ["a"])
    with pytest.raises(SFTConfigError, match=r"finetune=linear_probe: .* has no transformers"):
        LinearProbe().prepare(SimpleNamespace(backbone=segmenter))
