"""Write a fine-tuned model as a folder: backbone (`save_pretrained`, with id2label), tokenizer,
head weights (safetensors) and `sft_model.json` (task, pooling, labels, head config).

A LoRA-tuned backbone is saved with its adapters merged into the weights: the folder always
holds a plain transformers model; `lora` in sft_model.json records what was merged.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import save_file

from sft.model.lora import plain_encoder

SPEC_FILE = "sft_model.json"
HEAD_FILE = "head.safetensors"


def save_model(module, tokenizer, head_config: dict, max_length: int, out_dir: Path) -> Path:
    """Save `module` (an SFTModule) so that it can be rebuilt without Hydra or MLflow."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    encoder = plain_encoder(module.backbone.encoder)
    if module.task != "regression":
        encoder.config.id2label = dict(enumerate(module.label_names))
        encoder.config.label2id = {name: i for i, name in enumerate(module.label_names)}
    encoder.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    state = {k: v.detach().contiguous().cpu() for k, v in module.head.state_dict().items()}
    save_file(state, str(out_dir / HEAD_FILE))
    scale = module.target_scale
    spec = {"format": 1, "task": module.task, "labels": module.label_names,
            "pooling": module.backbone.pooling, "max_length": max_length,
            "head": head_config, "num_outputs": _num_outputs(module),
            "lora": module.finetune.describe() if hasattr(module.finetune, "describe") else None,
            # multilabel: label i is predicted when sigmoid(output i) >= threshold.
            "threshold": module.threshold if module.task == "multilabel" else None,
            # regression with standardized targets: prediction = output * target_std + mean.
            "target_mean": scale[0] if scale else None, "target_std": scale[1] if scale else None}
    (out_dir / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    return out_dir


def _num_outputs(module) -> int:
    return list(module.head.parameters())[-1].shape[0]
