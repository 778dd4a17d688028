"""Pretrained transformers encoders, loaded offline from a folder or a pip-shipped model,
and pooled to one vector per input."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import logging as hf_logging

from sft.cache import cached
from sft.data.sources import package_dir
from sft.data.tokenize import ensure_pad_token
from sft.errors import SFTConfigError, first_line
from sft.model.gguf import converted_folder, is_gguf
from sft.model.hf_native import is_native, native_encoder

# mean: average of the token states; cls: the first token's state; pooler: the model's pooler
# (BERT's tanh layer over [CLS]); max: element-wise max over tokens; last_token: the last
# non-padding token's state (for decoder backbones, where only that token has seen the whole
# input; batches are right-padded); none: no pooling, one vector per token [batch, tokens,
# hidden] (per-token tasks: the head then maps each token, the Task's `pooling`).
POOLINGS = ("mean", "cls", "pooler", "max", "last_token", "none")
INITS = ("pretrained", "random")


def resolve_model_path(name_or_path: str) -> str:
    """A local folder for `pkg://package/folder`, and for `gguf://package/file.gguf` (or
    `gguf:///path/file.gguf`) the folder it is converted to once (sft.model.gguf); other
    values pass through (folder or hub id)."""
    if is_gguf(name_or_path):
        return str(converted_folder(name_or_path))
    if name_or_path.startswith("pkg://"):
        package, _, inner = name_or_path[len("pkg://") :].partition("/")
        folder = package_dir(package, "model.name_or_path") / inner
        if not folder.is_dir():
            raise SFTConfigError(f"model.name_or_path: no folder '{inner}' in package '{package}'")
        return str(folder)
    return name_or_path


def load_tokenizer(name_or_path: str, trust_remote_code: bool = False):
    """The tokenizer that belongs to the model at `name_or_path`."""
    path = resolve_model_path(name_or_path)
    if Path(path).is_absolute() and not Path(path).exists():
        raise SFTConfigError(f"model.name_or_path: folder not found: {path}")

    def load():
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        except (OSError, ValueError) as err:
            raise SFTConfigError(
                f"model.name_or_path: cannot load a tokenizer from '{path}' ({first_line(err)})"
            ) from None
        return ensure_pad_token(tokenizer)

    return cached("tokenizer", (path, _folder_version(path), trust_remote_code), load)


class Backbone(nn.Module):
    """A transformers `AutoModel` plus pooling: token states -> one vector per input."""

    def __init__(
        self,
        name_or_path: str,
        pooling: str = "mean",
        max_length: int = 256,
        trust_remote_code: bool = False,
        attn_implementation: str = "auto",
        init: str = "pretrained",
    ):
        """`init`: `pretrained` loads the folder's weights; `random` builds the same
        architecture from its config.json with fresh weights (drawn from the run's seed): the
        from-scratch baseline a transfer is compared with."""
        super().__init__()
        if pooling not in POOLINGS:
            raise SFTConfigError(
                f"model.pooling: unknown pooling '{pooling}' (choices: {', '.join(POOLINGS)})"
            )
        self.name_or_path = name_or_path
        self.pooling = pooling
        self.max_length = max_length
        if init not in INITS:
            raise SFTConfigError(f"model.init: unknown init '{init}' (choices: {', '.join(INITS)})")
        self.init = init
        path = resolve_model_path(name_or_path)
        self.encoder = (
            load_pretrained(path, trust_remote_code)
            if init == "pretrained"
            else random_model(path, trust_remote_code)
        )
        set_attention(self.encoder, attn_implementation)
        limit = getattr(self.encoder.config, "max_position_embeddings", None)
        if limit is not None and max_length > limit:
            raise SFTConfigError(
                f"model.max_length={max_length} exceeds the model's limit of {limit} positions"
            )
        if pooling == "pooler" and getattr(self.encoder, "pooler", None) is None:
            raise SFTConfigError("model.pooling=pooler: this model has no pooler; use mean or cls")
        self.hidden_size = hidden_size(self.encoder.config)
        if pooling != "pooler" and getattr(self.encoder, "pooler", None) is not None:
            # Unused: it gets no gradient, so it is not counted or optimized as trainable.
            self.encoder.pooler.requires_grad_(False)
        # from_pretrained returns the model in eval mode and Lightning keeps each module's
        # mode, so without this dropout would stay off during fine-tuning.
        self.encoder.train()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        **features,
    ) -> torch.Tensor:
        """Token ids and mask (text), or `pixel_values` (images) / `input_values` (audio)."""
        out = self.encoder(**model_inputs(input_ids, attention_mask, features))
        return pool_output(out, frame_mask(self.encoder, out, attention_mask), self.pooling)


def model_inputs(input_ids, attention_mask, features: dict) -> dict:
    """The keyword arguments for the encoder: text ids and mask, or the media features (and
    audio's sample mask, where its feature extractor gives one)."""
    if input_ids is None:
        return (
            features if attention_mask is None else {**features, "attention_mask": attention_mask}
        )
    return {"input_ids": input_ids, "attention_mask": attention_mask, **features}


def frame_mask(encoder: nn.Module, out, attention_mask: torch.Tensor | None):
    """The mask of the encoder's output positions: text's token mask as it is; an audio
    sample mask [batch, samples] -> a frame mask [batch, frames] by the model's own
    conversion (wav2vec2, HuBERT, WavLM: `_get_feature_vector_attention_mask`, private, but
    the one place that knows the convolutions' strides), so pooling skips padded frames."""
    states = getattr(out, "last_hidden_state", None)
    convert = getattr(encoder, "_get_feature_vector_attention_mask", None)
    if (
        attention_mask is None
        or states is None
        or convert is None
        or attention_mask.shape[1] == states.shape[1]
    ):
        return attention_mask
    return convert(states.shape[1], attention_mask)


def hidden_size(config) -> int:
    """Width of the pooled vector: `hidden_size`, or the last stage's channels (ResNet,
    ConvNeXt: `hidden_sizes`)."""
    size = getattr(config, "hidden_size", None)
    if size is None and getattr(config, "hidden_sizes", None):
        size = config.hidden_sizes[-1]
    if size is None:
        raise SFTConfigError(
            f"model.name_or_path: cannot tell the output width of a "
            f"{type(config).__name__} (no hidden_size or hidden_sizes)"
        )
    return int(size)


def set_attention(encoder: nn.Module, wanted: str) -> None:
    """Switch the encoder's attention kernel. `auto`: eager on a machine without CUDA, else
    what transformers chose (sdpa where the model supports it).

    On CPU the eager matmuls train faster than SDPA's kernels at these sequence lengths: on
    this project's 2-core EPYC, MiniLM steps over real length-grouped batches took 0.93x the
    SDPA time in bf16 and 0.90x in fp32 (torch 2.13; see the README's Speed section).
    """
    if wanted == "auto":
        if torch.cuda.is_available():
            return
        wanted = "eager"
    current = getattr(encoder.config, "_attn_implementation", None)
    if wanted == current:
        return
    try:
        encoder.set_attn_implementation(wanted)
    except (ValueError, ImportError, AttributeError) as err:
        raise SFTConfigError(
            f"model.attn_implementation={wanted}: not available for this model ({first_line(err)})"
        ) from None


def pool_output(encoder_output, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One vector per input from an encoder's output, whatever the pooling (`pooler` too).

    Convolutional image models (ResNet, ConvNeXt) give feature maps [batch, channels, h, w]:
    their positions are pooled like tokens, and their pooler's [batch, channels, 1, 1] is
    flattened. Images and fixed-length audio come without a mask: every position counts.
    """
    if pooling == "pooler":
        return encoder_output.pooler_output.flatten(1)
    states = encoder_output.last_hidden_state
    if states.dim() == 4:
        states = states.flatten(2).transpose(1, 2)
    if attention_mask is None or attention_mask.shape[:2] != states.shape[:2]:
        # No mask, or one over audio samples rather than the encoder's frames.
        attention_mask = torch.ones(states.shape[:2], dtype=torch.long, device=states.device)
    return pool(states, attention_mask, pooling)


def pool(states: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """One vector per input from token states [batch, tokens, hidden] (not for `pooler`);
    `none`: the token states themselves."""
    if pooling == "none":
        return states
    if pooling == "cls":
        return states[:, 0]
    if pooling == "last_token":
        last = attention_mask.sum(1).clamp(min=1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    mask = attention_mask.unsqueeze(-1).bool()
    if pooling == "max":
        return states.masked_fill(~mask, torch.finfo(states.dtype).min).max(1).values
    mask = mask.to(states.dtype)
    return (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def load_pretrained(path: str, trust_remote_code: bool = False) -> nn.Module:
    """`AutoModel.from_pretrained` in fp32, with one-line errors for a bad path.

    Loaded once per process; every caller gets a fresh deep copy of the pretrained weights,
    so a sweep's jobs never see each other's fine-tuning.
    """
    return cached(
        "weights",
        (path, _folder_version(path), trust_remote_code),
        lambda: _load_pretrained(path, trust_remote_code),
        copy=copy.deepcopy,
    )


def random_model(path: str, trust_remote_code: bool = False) -> nn.Module:
    """The architecture of the model at `path` (its config.json) with freshly initialized
    weights, in fp32; the folder needs no weights."""
    if not Path(path).exists() and Path(path).is_absolute():
        raise SFTConfigError(f"model.name_or_path: folder not found: {path}")
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code)
        return AutoModel.from_config(
            config, trust_remote_code=trust_remote_code, dtype=torch.float32
        )
    except (OSError, ValueError) as err:
        raise SFTConfigError(
            f"model.name_or_path: cannot build a model from the config in "
            f"'{path}' ({first_line(err)})"
        ) from None


def _folder_version(path: str) -> tuple:
    """Changes when the model folder's files change (a hub id: the id alone)."""
    folder = Path(path)
    if not folder.is_dir():
        return ()
    return tuple(
        sorted(
            (f.name, f.stat().st_mtime_ns, f.stat().st_size)
            for f in folder.iterdir()
            if f.is_file()
        )
    )


def _load_pretrained(path: str, trust_remote_code: bool) -> nn.Module:
    hf_logging.disable_progress_bar()
    if not Path(path).exists() and Path(path).is_absolute():
        raise SFTConfigError(f"model.name_or_path: folder not found: {path}")
    if is_native(Path(path)):  # an sft model folder: go on from its fine-tuned backbone
        return native_encoder(Path(path))
    try:
        return AutoModel.from_pretrained(
            path, trust_remote_code=trust_remote_code, dtype=torch.float32
        )
    except (OSError, ValueError) as err:
        raise SFTConfigError(
            f"model.name_or_path: cannot load a model from '{path}' ({first_line(err)})"
        ) from None
