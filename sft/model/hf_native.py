"""Model folders that transformers loads alone: backbone + sft's head saved as one
transformers model (sft.model.hf_modeling, copied into the folder as `modeling_sft.py`, with
an `auto_map` in config.json), so `AutoModelForSequenceClassification.from_pretrained(folder,
trust_remote_code=True)` and the pipelines give sft.load's predictions, and a load without
trust_remote_code raises (config.json's model_type "sft" is unknown to transformers) instead of
building the backbone's own classifier with a random head.

Weights: model.safetensors with `encoder.*` (the backbone's own names) and `head.*` (sft's
head). sft.load reads them back here (`load_native`) with sft's own pooling and head classes;
tests/model/test_hf_native.py checks that transformers computes the same.
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from sft.errors import SFTConfigError, first_line
from sft.model import hf_modeling

MODELING_FILE = "modeling_sft.py"
WEIGHTS_FILE = "model.safetensors"
MODEL_TYPE = hf_modeling.SFTConfig.model_type
# The Auto class a pipeline of each modality asks for; pooling none (per token): tokens.
AUTO_CLASSES = {
    "text": "AutoModelForSequenceClassification",
    "image": "AutoModelForImageClassification",
    "audio": "AutoModelForAudioClassification",
}
TOKENS_AUTO_CLASS = "AutoModelForTokenClassification"
HEADS = {"sft.model.heads.LinearHead": "linear", "sft.model.heads.MLPHead": "mlp"}


def auto_class(spec: dict) -> str:
    """The transformers Auto class that loads a native folder of `spec` (sft_model.json)."""
    if spec.get("pooling") == "none":
        return TOKENS_AUTO_CLASS
    return AUTO_CLASSES.get(spec.get("modality", "text"), AUTO_CLASSES["text"])


def can_save(encoder: nn.Module) -> bool:
    """Whether transformers can rebuild `encoder` from its config alone: a model type it
    ships (a trust_remote_code backbone keeps the older layout: backbone + head.safetensors)."""
    return getattr(encoder.config, "model_type", None) in CONFIG_MAPPING


def native_head(head_config: dict) -> dict:
    """The head as modeling_sft.py builds it: linear, mlp, or `sft` (a head class of the
    user's: transformers then refuses to load the folder, sft.load builds it)."""
    target = str(head_config.get("_target_", ""))
    kind = HEADS.get(target)
    if kind == "linear":
        return {"kind": "linear"}
    if kind == "mlp":
        return {
            "kind": "mlp",
            "hidden_sizes": [int(s) for s in head_config.get("hidden_sizes", (256,))],
            "activation": str(head_config.get("activation", "gelu")),
        }
    return {"kind": "sft", "target": target}


def hf_config(
    encoder_config, spec: dict, id2label: dict | None, audio: dict | None = None
) -> hf_modeling.SFTConfig:
    """config.json of a native folder: the backbone's config nested, the head, the labels
    (`id2label`, the task's; None: the targets are no labels, and the one output is named
    "score", the served record's key), the task's problem_type, and what turns raw outputs
    into served logits."""
    task = spec["task"]
    labels = list(id2label.values()) if id2label else ["score"]
    cls = auto_class(spec)
    config = hf_modeling.SFTConfig(
        # a copy: the trained model keeps its own config object as it was
        backbone_config=copy.deepcopy(encoder_config),
        pooling=spec.get("pooling", "mean"),
        head=native_head(spec["head"]),
        num_outputs=int(spec["num_outputs"]),
        sft_task=task,
        calibration_temperature=spec.get("temperature"),
        target_mean=spec.get("target_mean"),
        target_std=spec.get("target_std"),
        audio=audio,
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
    )
    name = (
        "SFTForTokenClassification" if cls == TOKENS_AUTO_CLASS else "SFTForSequenceClassification"
    )
    config.architectures = [name]
    stem = Path(MODELING_FILE).stem
    config.auto_map = {"AutoConfig": f"{stem}.SFTConfig", cls: f"{stem}.{name}"}
    return config


def save_native(
    encoder: nn.Module,
    head: nn.Module,
    spec: dict,
    out_dir: Path,
    id2label: dict | None,
    audio: dict | None = None,
) -> None:
    """Write config.json, model.safetensors and modeling_sft.py of the trained `encoder` (a
    plain transformers model, LoRA merged) and `head` into `out_dir`. `id2label`: as
    hf_config takes it; `audio`: SFTConfig's."""
    out_dir = Path(out_dir)
    hf_config(encoder.config, spec, id2label, audio).save_pretrained(out_dir)
    state, seen = {}, set()
    for prefix, part in (("encoder.", encoder), ("head.", head)):
        for name, value in part.state_dict().items():
            value = value.detach().cpu().contiguous()
            storage = value.untyped_storage()
            if storage.data_ptr() in seen or storage.nbytes() != value.nbytes:
                # tied weights, or a view into a larger tensor: safetensors refuses shared memory
                value = value.clone()
            seen.add(value.untyped_storage().data_ptr())
            state[prefix + name] = value
    save_file(state, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    shutil.copyfile(hf_modeling.__file__, out_dir / MODELING_FILE)


def save_adapter_guard(base_config, spec: dict, out_dir: Path, id2label: dict | None) -> None:
    """config.json (model type "sft", head kind `adapter`) and modeling_sft.py beside a LoRA
    adapter kept apart (finetune.save=adapter): transformers then reads the folder's own
    config.json and refuses it (without trust_remote_code: an unknown model type; with it:
    no weights beside it) instead of loading the adapter onto the base its
    adapter_config.json names, with a random classifier."""
    config = hf_config(base_config, spec, id2label)
    config.head = {"kind": "adapter"}
    config.save_pretrained(out_dir)
    shutil.copyfile(hf_modeling.__file__, Path(out_dir) / MODELING_FILE)


def is_native(folder: Path) -> bool:
    """Whether `folder` holds a native sft model (config.json of model type "sft" and the
    weights beside it; a LoRA adapter folder's config.json only guards it)."""
    path = Path(folder) / "config.json"
    if not path.is_file() or not (Path(folder) / WEIGHTS_FILE).is_file():
        return False
    try:
        return json.loads(path.read_text()).get("model_type") == MODEL_TYPE
    except (OSError, ValueError):
        return False


def load_native(folder: Path, build_head) -> tuple[nn.Module, nn.Module, dict]:
    """(backbone, head, config dict) of a native folder, in fp32 with the saved weights;
    `build_head(in_features, out_features)`: sft's head builder (the folder's sft_model.json
    names the head class). SFTConfigError naming the folder."""
    encoder, state, config = _encoder(Path(folder))
    head = build_head(hf_modeling.width(encoder.config), int(config["num_outputs"]))
    _fill(head, state, "head.", folder)
    return encoder, head, config


def native_encoder(folder: Path) -> nn.Module:
    """The trained backbone of a native folder alone (a plain transformers model, fp32): what
    a new run starts from when `model.name_or_path` or `model.backbone_from` names an sft
    model folder."""
    return _encoder(Path(folder))[0]


def _encoder(folder: Path) -> tuple[nn.Module, dict, dict]:
    """(backbone with its weights, the folder's whole state dict, config.json)."""
    try:
        config = json.loads((folder / "config.json").read_text())
        backbone = dict(config["backbone_config"])
        encoder_config = CONFIG_MAPPING[backbone["model_type"]].from_dict(backbone)
        encoder = AutoModel.from_config(encoder_config, dtype=torch.float32)
        state = load_file(str(folder / WEIGHTS_FILE))
    except (OSError, ValueError, KeyError) as err:
        raise SFTConfigError(f"{folder}: cannot load the model ({first_line(err)})") from None
    _fill(encoder, state, "encoder.", folder)
    return encoder.eval(), state, config


def _fill(part: nn.Module, state: dict, prefix: str, folder: Path) -> None:
    """Load the `prefix`ed tensors of `state` into `part`; SFTConfigError when they do not fit
    (a non-persistent buffer may be absent: the model rebuilds it)."""
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    try:
        missing, unexpected = part.load_state_dict(own, strict=False)
    except RuntimeError as err:  # a tensor of another shape
        raise SFTConfigError(f"{folder}: {WEIGHTS_FILE}: {first_line(err)}") from None
    if [k for k in missing if not _buffer(part, k)] or unexpected:
        raise SFTConfigError(
            f"{folder}: {WEIGHTS_FILE} does not fit the saved {prefix[:-1]} "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


def _buffer(module: nn.Module, name: str) -> bool:
    """Whether `name` is a buffer (a state dict may leave out non-persistent ones)."""
    return name in dict(module.named_buffers())


def for_pipelines(processor, spec: dict) -> tuple[object, dict | None]:
    """(the processor to save, SFTConfig's `audio`): what makes transformers' pipelines
    featurize as sft.load does. Text: the tokenizer truncates at the spec's max_length (with
    truncation=True). Images: normalize as training did (data.normalize). Raw-waveform audio
    (feature_size 1): cutting, padding and normalizing move into the model's forward
    (hf_modeling.waveform), the saved extractor does not normalize (sft_model.json's
    `audio_normalize` tells sft.load to). A copy: the run's processor may be shared (cached)."""
    processor = copy.copy(processor)
    modality = spec.get("modality", "text")
    if modality == "text":
        processor.model_max_length = int(spec["max_length"])
        return processor, None
    if modality == "image":
        if hasattr(processor, "do_normalize"):
            processor.do_normalize = bool(spec.get("normalize", True))
        return processor, None
    extractor = getattr(processor, "feature_extractor", processor)
    if getattr(extractor, "feature_size", None) != 1:  # spectrograms (AST): not cut here
        return processor, None
    audio = {
        "samples": round(float(spec.get("max_seconds", 10.0)) * int(extractor.sampling_rate)),
        "pad": not getattr(extractor, "return_attention_mask", False),
        "normalize": bool(getattr(extractor, "do_normalize", False)),
    }
    processor.do_normalize = False
    return processor, audio
