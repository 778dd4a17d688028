"""Export a model folder's network to ONNX, beside its tokenizer (or image/audio processor)
and `sft_model.json`, and optionally quantize it to int8.

Text: (input_ids, attention_mask) -> the head's raw outputs, dynamic batch and sequence axes.
Images: pixel_values (batch, channels, height, width) -> raw outputs, dynamic batch axis.
Audio: input_values (batch, samples) -> raw outputs, dynamic batch axis (the featurizer cuts
or pads every clip to `max_seconds`, so the sample axis is fixed).

The exported folder holds no PyTorch weights: `sft.load` runs it with onnxruntime and the
same preprocessing and post-processing as the PyTorch model.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.export import Dim

from sft.errors import SFTConfigError, first_line
from sft.inference.predictor import ONNX_FILE, TORCH_WEIGHTS, Predictor
from sft.model.saving import HEAD_FILE, read_spec, write_spec

# Above this many bytes of weights, they go to an external data file (protobuf caps at 2 GB).
SINGLE_FILE_LIMIT = 1_500_000_000
QUANTIZE = (None, "int8")
MEDIA_INPUT = {"image": "pixel_values", "audio": "input_values"}


class _MediaNet(torch.nn.Module):
    """The network with its one media input as a positional argument (what export traces)."""

    def __init__(self, net: torch.nn.Module, name: str):
        super().__init__()
        self.net = net
        self.name = name

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return self.net(None, None, **{self.name: values})


def export_onnx(
    predictor: Predictor, out_dir: Path, examples: list[str], opset: int | None = None
) -> Path:
    """Write `model.onnx`, the processor and the spec of `predictor` (torch) into `out_dir`.

    `examples`: a few texts (text models) or file paths (image and audio models) to trace
    with. Raises SFTConfigError when the exporter cannot trace the network (the message names
    the architecture and the exporter's first line)."""
    net = predictor.runner.net.cpu().eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_all_but_weights(predictor.folder, out_dir)
    modality = predictor.spec.get("modality", "text")
    outputs = ["logits"]
    graph = getattr(predictor.kind, "onnx_graph", None)  # a task that exports its own graph
    if graph is not None:  # speech: (features, attention_mask) -> (logits, output lengths)
        net, args, names, shapes, outputs = graph(predictor, examples)
    elif modality == "text":
        args, names, shapes = _text_inputs(predictor, examples)
    else:
        name = MEDIA_INPUT[modality]
        values = predictor.featurizer(list(examples[:2]) * (2 if len(examples) < 2 else 1))[name]
        net = _MediaNet(net, name)
        args, names, shapes = (torch.from_numpy(values),), [name], ({0: Dim("batch")},)
    size = sum(p.numel() * p.element_size() for p in net.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        try:
            torch.onnx.export(
                net,
                args,
                str(out_dir / ONNX_FILE),
                dynamo=True,
                opset_version=opset,
                input_names=names,
                output_names=outputs,
                dynamic_shapes=shapes,
                external_data=size > SINGLE_FILE_LIMIT,
                verbose=False,
            )
        except Exception as err:  # the exporter raises many kinds; all mean "cannot export"
            arch = type(getattr(predictor.runner.net, "encoder", net)).__name__
            raise SFTConfigError(
                f"format=onnx: {arch} does not export to ONNX ({first_line(err)})"
            ) from None
    spec = read_spec(out_dir)
    spec["onnx"] = {
        "file": ONNX_FILE,
        "opset": opset,
        "torch": torch.__version__,
        "inputs": names,
        "quantize": None,
    }
    write_spec(spec, out_dir)
    return out_dir / ONNX_FILE


def _text_inputs(predictor: Predictor, texts: list[str]):
    ids = predictor.encode(texts[:4])
    input_ids, mask = predictor.pad(ids)
    if input_ids.shape[0] < 2 or input_ids.shape[1] < 3:  # sizes 0 and 1 would be baked in
        input_ids, mask = predictor.pad(ids + [np.tile(ids[0], 3)[: predictor.max_length]])
    batch = Dim("batch")
    sequence = Dim("sequence", max=predictor.max_length)
    return (
        (torch.from_numpy(input_ids), torch.from_numpy(mask)),
        ["input_ids", "attention_mask"],
        ({0: batch, 1: sequence}, {0: batch, 1: sequence}),
    )


def quantize_onnx(folder: Path, mode: str = "int8") -> Path:
    """Replace `folder/model.onnx` by its dynamically quantized version (onnxruntime's
    `quantize_dynamic`: int8 weights of MatMul/Gemm, activations quantized per batch at run
    time; no calibration data needed). The spec records `onnx.quantize`.

    Signed int8 weights (QInt8), as onnxruntime recommends for dynamic quantization on
    x86-64, per output channel: on the trained default model (MiniLM, 64 test reviews, batch
    32, one thread, measured side by side) per-channel weights agreed with PyTorch's labels
    on 95% of the texts against 84% per tensor, at the same speed (1.75-1.85x PyTorch for
    every setting tried: per tensor or channel, reduce_range, UInt8 weights, MatMul only,
    onnxruntime's pre-processing or BERT fusions first; docs/scale.md, Prediction and
    reading)."""
    if mode not in QUANTIZE[1:]:
        raise SFTConfigError(f"quantize: unknown mode '{mode}' (choices: null, int8)")
    from onnxruntime.quantization import QuantType, quantize_dynamic  # lazy: deploy extra

    folder = Path(folder)
    source = folder / ONNX_FILE
    target = folder / "model.int8.onnx"
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process is logged on the root logger
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        root.setLevel(level)
    target.replace(source)
    for data in folder.glob(f"{ONNX_FILE}.data"):  # external weights: now inside the int8 file
        data.unlink()
    spec = read_spec(folder)
    spec.setdefault("onnx", {})["quantize"] = mode
    write_spec(spec, folder)
    return source


def _copy_all_but_weights(source: Path, out_dir: Path) -> None:
    """Tokenizer, config and spec: everything in the folder but the PyTorch weights."""
    skip = {HEAD_FILE, *TORCH_WEIGHTS}
    for path in Path(source).iterdir():
        if (
            path.is_file() and path.name not in skip and not path.name.startswith("model-0")
        ):  # weight shards of a large backbone
            shutil.copy2(path, out_dir / path.name)
