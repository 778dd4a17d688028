"""Write a fine-tuned model as a folder: the network, the tokenizer (or image / audio
processor) and `sft_model.json` (task, pooling, labels, head config). Backbone + sft's head
are saved as one transformers model with its code (sft.model.hf_native: transformers loads it
with trust_remote_code=True, and refuses without); a backbone transformers cannot rebuild
from its config (its own remote code) keeps the older layout, backbone `save_pretrained`
(with id2label) + head weights (`head.safetensors`), which sft.load also reads. A whole task
model (sft.model.task_model: detection, segmentation) is saved by `save_pretrained` alone,
head included; its spec names the `auto_class` that loads it.

A LoRA-tuned backbone is saved with its adapters merged into the weights (a plain transformers
model), or with `finetune.save=adapter` as peft's adapter folder (adapter_config.json naming
the base model's folder); `lora` in sft_model.json records which, and the base.
`sft.load` (sft/inference/predictor.py) reads the folder back; fields added to the spec later
are read with defaults there, so older folders keep loading.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from sft.errors import SFTConfigError

SPEC_FILE = "sft_model.json"
HEAD_FILE = "head.safetensors"
FORMAT = 1
# A folder whose backbone and head are one transformers model (sft.model.hf_native): an sft
# that reads only FORMAT 1 says "upgrade sft" instead of missing head.safetensors.
NATIVE_FORMAT = 2


def save_model(
    module,
    tokenizer,
    head_config: dict,
    max_length: int,
    out_dir: Path,
    clean_text: bool = False,
    extra: dict | None = None,
) -> Path:
    """Save `module` (an SFTModule) so that it can be rebuilt without Hydra or MLflow.

    `tokenizer`: the processor the model takes its inputs from (a tokenizer, an image
    processor or an audio feature extractor). `clean_text`: the data was cleaned
    (sft.data.labels.clean) before tokenization, so prediction cleans its inputs the same
    way. `extra`: more spec fields (images and audio: `modality` and how to featurize).
    `out_dir` a link (a run folder's `model`, pointing into a logged model) is replaced by a
    folder, never written through: a logged model never changes.
    """
    from safetensors.torch import save_file  # lazy: sft.load reads specs without torch

    # here: hf_native imports torch and transformers' models, lora Lightning: sft.load's
    # spec reading needs neither
    from sft.model.hf_native import can_save, for_pipelines, save_adapter_guard, save_native
    from sft.model.lora import keeps_adapter, plain_encoder, save_adapter

    out_dir = Path(out_dir)
    if out_dir.is_symlink():  # a link into a logged model (a resumed run's): never write through
        out_dir.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "format": FORMAT,
        "task": module.task.name,
        "labels": module.label_names,
        "pooling": module.backbone.pooling,
        "max_length": max_length,
        "head": head_config,
        "num_outputs": _num_outputs(module),
        "clean_text": clean_text,
        "lora": module.finetune.describe() if hasattr(module.finetune, "describe") else None,
        # a whole task model (detection, segmentation): the Auto class that loads it
        **({"auto_class": module.task.auto_class} if module.task.auto_class else {}),
        # what turns outputs into predictions beyond the labels (threshold, target scale)
        **module.task.model_spec(module),
        **(extra or {}),
    }
    state = {k: v.detach().contiguous().cpu() for k, v in module.head.state_dict().items()}
    encoder = None if keeps_adapter(module.finetune) else plain_encoder(module.backbone.encoder)
    native = bool(state) and encoder is not None and can_save(encoder)
    id2label = module.task.id2label(module.label_names)  # None: the targets are no labels
    if native:  # backbone + head as one transformers model (sft.model.hf_native)
        tokenizer, audio = for_pipelines(tokenizer, spec)
        spec["format"] = NATIVE_FORMAT
        if audio and audio["normalize"]:  # the saved extractor leaves it to the model's forward
            spec["audio_normalize"] = True
        save_native(encoder, module.head, spec, out_dir, id2label, audio)
    elif encoder is None:  # the base's config stays the base's (its folder)
        save_adapter(module.backbone.encoder, out_dir)
        if state:  # sft's head beside the adapter: transformers alone must not load it
            base = module.backbone.encoder.get_base_model().config
            save_adapter_guard(base, spec, out_dir, id2label)
    else:
        if id2label is not None:
            encoder.config.id2label = id2label
            encoder.config.label2id = {name: i for i, name in id2label.items()}
        encoder.save_pretrained(out_dir)
    template = (extra or {}).get("chat_template")
    if template and getattr(tokenizer, "chat_template", None) != template:
        # The template the run named (data.chat_template) travels in the tokenizer's files,
        # so transformers alone renders prompts as training did; a copy: the run's
        # tokenizer may be shared (cached) and keeps its own.
        tokenizer = copy.copy(tokenizer)
        tokenizer.chat_template = template
    tokenizer.save_pretrained(out_dir)
    if state and not native:  # a whole task model (sft.model.task_model) has its head inside
        save_file(state, str(out_dir / HEAD_FILE))
    write_spec(spec, out_dir)
    return out_dir


def write_spec(spec: dict, out_dir: Path) -> Path:
    """Write `sft_model.json` into `out_dir`."""
    path = Path(out_dir) / SPEC_FILE
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


def read_spec(folder: Path) -> dict:
    """The model folder's `sft_model.json`; SFTConfigError if it is missing or unreadable."""
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise SFTConfigError(f"{folder} is not an sft model folder (no {SPEC_FILE})")
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SFTConfigError(f"{path}: cannot read the model spec ({err})") from None
    if not isinstance(spec, dict) or spec.get("format", FORMAT) > NATIVE_FORMAT:
        raise SFTConfigError(
            f"{path}: format {spec.get('format') if isinstance(spec, dict) else '?'}"
            f" is newer than this sft reads ({NATIVE_FORMAT}); upgrade sft"
        )
    return spec


def backbone_config(folder: Path):
    """The backbone's transformers config of a transformers-native folder (config.json's
    `backbone_config`, sft.model.hf_native), else None. What sft.load hands AutoTokenizer:
    the folder's own config is of a model type transformers does not know (it would warn)."""
    path = Path(folder) / "config.json"
    try:
        nested = json.loads(path.read_text()).get("backbone_config") if path.is_file() else None
    except (OSError, ValueError):
        return None
    if not isinstance(nested, dict) or "model_type" not in nested:
        return None
    # here: transformers' config classes, only for native folders (no torch needed)
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if nested["model_type"] not in CONFIG_MAPPING:
        return None
    return CONFIG_MAPPING[nested["model_type"]].from_dict(nested)


def _num_outputs(module) -> int:
    """The head's output width (a task model's own head: one output per label)."""
    params = list(module.head.parameters())
    return params[-1].shape[0] if params else len(module.label_names)
