"""An sft model as a transformers model: backbone + pooling + sft's head, loadable with
transformers alone (`trust_remote_code=True`).

sft copies this file into every model folder it saves as `modeling_sft.py` (config.json's
`auto_map` names its classes), so it imports torch and transformers only: a user's Python
that has no sft runs it. `SFTConfig.model_type` ("sft") is unknown to transformers, so a load
WITHOUT trust_remote_code raises instead of building the backbone's own classifier with a
random head. The forward computes what `sft.load(folder).predict` serves:

- `logits` are the head's outputs divided by the calibration temperature (sft-train
  decisions.calibrate=temperature); a binary model's one logit z becomes [0, z], so the
  pipelines' softmax gives [1 - sigmoid(z), sigmoid(z)], sft's probabilities; a regression
  model's value is mapped back to the target's scale (data.standardize).
- Pooling is sft's (sft.model.backbone.pool_output): mean, cls, pooler, max, last_token over
  the unpadded tokens (audio: frames), or none (one logit row per token).
- Tuned decision rules (class biases, thresholds) and text cleaning (data.clean_text) are
  NOT applied: transformers' pipelines take the most probable label (the model card says so).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}
PROBLEM_TYPES = {
    "multiclass": "single_label_classification",
    "binary": "single_label_classification",
    "multilabel": "multi_label_classification",
    "regression": "regression",
}


class SFTConfig(PretrainedConfig):
    """The backbone's own config (`backbone_config`, nested) plus sft's head.

    `pooling`: mean, cls, pooler, max, last_token or none. `head`: {"kind": "linear"} or
    {"kind": "mlp", "hidden_sizes": [...], "activation": "gelu"}; a head this file cannot
    build ({"kind": "sft", "target": <class>}) makes loading raise: load it with sft.load.
    `num_outputs`: the head's width (binary and regression: 1). `sft_task`: multiclass,
    binary, multilabel, regression or token_classification. `calibration_temperature`,
    `target_mean`, `target_std`: see the module docstring. `audio`: a waveform model's
    featurizing, done here because transformers' audio pipeline neither cuts nor pads
    clips: {"samples": clip length in training (longer clips are cut to it), "pad":
    zero-pad shorter ones to it (an extractor without attention mask), "normalize": zero
    mean, unit variance per clip over its real samples, as Wav2Vec2FeatureExtractor
    (do_normalize=True) does; the folder's extractor then has do_normalize false}.
    """

    model_type = "sft"
    sub_configs: ClassVar[dict] = {"backbone_config": AutoConfig}

    def __init__(
        self,
        backbone_config=None,
        pooling: str = "mean",
        head: dict | None = None,
        num_outputs: int = 1,
        sft_task: str = "multiclass",
        calibration_temperature: float | None = None,
        target_mean: float | None = None,
        target_std: float | None = None,
        audio: dict | None = None,
        **kwargs,
    ):
        if isinstance(backbone_config, dict):
            backbone_config = CONFIG_MAPPING[backbone_config["model_type"]].from_dict(
                backbone_config
            )
        self.backbone_config = backbone_config
        self.pooling = pooling
        self.head = head or {"kind": "linear"}
        self.num_outputs = int(num_outputs)
        self.sft_task = sft_task
        self.calibration_temperature = calibration_temperature
        self.target_mean = target_mean
        self.target_std = target_std
        self.audio = audio
        kwargs.setdefault("problem_type", PROBLEM_TYPES.get(sft_task))
        super().__init__(**kwargs)


def build_head(spec: dict, in_features: int, out_features: int) -> nn.Sequential:
    """sft's LinearHead / MLPHead layout (sft.model.heads), so the saved `head.*` weights
    load: dropout, [linear, activation, dropout]..., linear."""
    kind = spec.get("kind")
    if kind == "adapter":
        raise ValueError(
            "this folder keeps a LoRA adapter apart from its base model, which transformers "
            "alone would pair with a random classifier; load it with sft.load, or train with "
            "finetune.save=merged"
        )
    if kind not in ("linear", "mlp"):
        raise ValueError(
            f"this model's head ({spec.get('target', kind)}) is sft code that transformers "
            "alone cannot build; load the folder with sft.load"
        )
    layers: list[nn.Module] = [nn.Dropout(0.0)]
    width = in_features
    for size in spec.get("hidden_sizes", []) if kind == "mlp" else []:
        layers += [nn.Linear(width, int(size)), ACTIVATIONS[spec["activation"]](), nn.Dropout(0.0)]
        width = int(size)
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def width(config) -> int:
    """The pooled vector's width: `hidden_size`, or the last stage's channels (ResNet)."""
    size = getattr(config, "hidden_size", None)
    return int(size if size is not None else config.hidden_sizes[-1])


def pool(states: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per input from states [batch, positions, hidden] (sft's pooling)."""
    if pooling == "none":
        return states
    if pooling == "cls":
        return states[:, 0]
    if pooling == "last_token":
        last = mask.sum(1).clamp(min=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    keep = mask.unsqueeze(-1).bool()
    if pooling == "max":
        return states.masked_fill(~keep, torch.finfo(states.dtype).min).max(1).values
    keep = keep.to(states.dtype)
    return (states * keep).sum(1) / keep.sum(1).clamp(min=1.0)


def waveform(values: torch.Tensor, mask, audio: dict):
    """Raw clips [batch, samples] as sft's AudioFeaturizer gives them to the model: cut to
    `samples`, zero-padded to it (`pad`), then normalized over the real samples
    (`normalize`: (x - mean) / sqrt(var + 1e-7), masked padding 0); the mask cut alike."""
    samples = int(audio["samples"])
    values = values[:, :samples]
    mask = None if mask is None else mask[:, :samples]
    if audio.get("pad") and values.shape[1] < samples:  # padded before normalizing, as sft
        values = nn.functional.pad(values, (0, samples - values.shape[1]))
    real = torch.ones_like(values) if mask is None else mask.to(values.dtype)
    if audio.get("normalize"):
        count = real.sum(1, keepdim=True).clamp(min=1.0)
        mean = (values * real).sum(1, keepdim=True) / count
        var = (((values - mean) * real) ** 2).sum(1, keepdim=True) / count
        values = (values - mean) / torch.sqrt(var + 1e-7) * real
    return values, mask


class SFTPreTrainedModel(PreTrainedModel):
    """The base of sft's models: the backbone (`encoder`) and the head."""

    config_class = SFTConfig
    base_model_prefix = "sft"
    main_input_name = "input_ids"
    _supports_sdpa = True
    per_token = False  # logits per token (pooling none), not per input

    def __init__(self, config: SFTConfig, encoder: nn.Module | None = None, head=None):
        """`encoder`, `head`: existing modules (sft saving a trained model), else built
        from `config` (transformers loading the folder)."""
        super().__init__(config)
        if (config.pooling == "none") != self.per_token:  # another Auto class's folder
            wanted = "Sequence" if config.pooling != "none" else "Token"
            raise ValueError(f"this sft model loads with AutoModelFor{wanted}Classification")
        self.encoder = (
            encoder if encoder is not None else AutoModel.from_config(config.backbone_config)
        )
        self.head = (
            head
            if head is not None
            else build_head(config.head, width(config.backbone_config), config.num_outputs)
        )
        self.post_init()

    def _init_weights(self, module):
        """Only the head is new here; the backbone's own models initialize the rest."""
        if isinstance(module, nn.Linear):
            module.weight.data.normal_(0.0, 0.02)
            if module.bias is not None:
                module.bias.data.zero_()

    def head_outputs(self, input_ids=None, attention_mask=None, **features) -> torch.Tensor:
        """The head's raw outputs (before temperature and scale): [batch, num_outputs], or
        [batch, tokens, num_outputs] for pooling none. Text: ids and mask; images:
        `pixel_values`; audio: `input_values` (and the extractor's sample mask)."""
        if input_ids is not None:
            inputs = {"input_ids": input_ids, "attention_mask": attention_mask}
        else:
            if "input_values" in features and self.config.audio:
                features["input_values"], attention_mask = waveform(
                    features["input_values"], attention_mask, self.config.audio
                )
            inputs = dict(features)
            if attention_mask is not None:
                inputs["attention_mask"] = attention_mask
        out = self.encoder(**inputs)
        if self.config.pooling == "pooler":
            return self.head(out.pooler_output.flatten(1))
        states = out.last_hidden_state
        if states.dim() == 4:  # convolutional feature maps [batch, channels, h, w]
            states = states.flatten(2).transpose(1, 2)
        mask = attention_mask
        if mask is not None and mask.shape[1] != states.shape[1]:
            convert = getattr(self.encoder, "_get_feature_vector_attention_mask", None)
            mask = None if convert is None else convert(states.shape[1], mask)
        if mask is None:
            mask = torch.ones(states.shape[:2], dtype=torch.long, device=states.device)
        return self.head(pool(states, mask, self.config.pooling))

    def served(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw head outputs -> the logits sft serves (temperature, binary's [0, z], scale)."""
        config = self.config
        if config.sft_task == "regression":
            return raw * (config.target_std or 1.0) + (config.target_mean or 0.0)
        z = raw / (config.calibration_temperature or 1.0)
        if config.sft_task == "binary":
            return torch.cat([torch.zeros_like(z), z], dim=-1)
        return z


class SFTForSequenceClassification(SFTPreTrainedModel):
    """Text, image or audio in, one row of logits per input (the pipelines' classifier)."""

    def forward(
        self,
        input_ids=None,
        attention_mask=None,
        pixel_values=None,
        input_values=None,
        labels=None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        """`labels` (optional): class ids (multiclass, binary), multi-hot rows (multilabel)
        or values (regression); the loss is then the one transformers' classifiers use."""
        given = {"pixel_values": pixel_values, "input_values": input_values}
        features = {k: v for k, v in given.items() if v is not None}
        logits = self.served(self.head_outputs(input_ids, attention_mask, **features))
        loss = None
        if labels is not None:
            if self.config.problem_type == "regression":
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.float())
            elif self.config.problem_type == "multi_label_classification":
                loss = nn.functional.binary_cross_entropy_with_logits(logits, labels.float())
            else:
                loss = nn.functional.cross_entropy(logits, labels.long())
        return SequenceClassifierOutput(loss=loss, logits=logits)


class SFTForTokenClassification(SFTPreTrainedModel):
    """Text in, one row of tag logits per token (pooling none)."""

    per_token = True

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        """`labels` (optional): tag ids per token, -100 where none (the loss skips it)."""
        logits = self.served(self.head_outputs(input_ids, attention_mask))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits.flatten(0, 1), labels.flatten().long(), ignore_index=-100
            )
        return TokenClassifierOutput(loss=loss, logits=logits)
