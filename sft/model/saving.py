"""Write a fine-tuned model as a folder: backbone (`save_pretrained`, with id2label), tokenizer,
head weights (safetensors) and `sft_model.json` (task, pooling, labels, head config). A whole
task model (sft.model.task_model: detection, segmentation) is saved by `save_pretrained`
alone, head included; its spec names the `auto_class` that loads it.

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

    # here: it imports Lightning, which sft.load avoids
    from sft.model.lora import keeps_adapter, plain_encoder, save_adapter

    out_dir = Path(out_dir)
    if out_dir.is_symlink():  # a link into a logged model (a resumed run's): never write through
        out_dir.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    if keeps_adapter(module.finetune):  # the base's config stays the base's (its folder)
        save_adapter(module.backbone.encoder, out_dir)
    else:
        encoder = plain_encoder(module.backbone.encoder)
        id2label = module.task.id2label(module.label_names)  # None: the targets are no labels
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
    state = {k: v.detach().contiguous().cpu() for k, v in module.head.state_dict().items()}
    if state:  # a whole task model (sft.model.task_model) has its head inside the encoder
        save_file(state, str(out_dir / HEAD_FILE))
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
    if not isinstance(spec, dict) or spec.get("format", FORMAT) > FORMAT:
        raise SFTConfigError(
            f"{path}: format {spec.get('format') if isinstance(spec, dict) else '?'}"
            f" is newer than this sft reads ({FORMAT}); upgrade sft"
        )
    return spec


def _num_outputs(module) -> int:
    """The head's output width (a task model's own head: one output per label)."""
    params = list(module.head.parameters())
    return params[-1].shape[0] if params else len(module.label_names)
