"""Export a model folder's network to ONNX: (input_ids, attention_mask) -> the head's raw
outputs, with dynamic batch and sequence axes, beside the tokenizer and `sft_model.json`.

The exported folder holds no PyTorch weights: `sft.load` runs it with onnxruntime and the
same tokenization and post-processing as the PyTorch model.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.export import Dim

from sft.inference.predictor import ONNX_FILE, TORCH_WEIGHTS, Predictor
from sft.model.saving import HEAD_FILE, read_spec, write_spec

# Above this many bytes of weights, they go to an external data file (protobuf caps at 2 GB).
SINGLE_FILE_LIMIT = 1_500_000_000


def export_onnx(predictor: Predictor, out_dir: Path, example_texts: list[str],
                opset: int | None = None) -> Path:
    """Write `model.onnx`, the tokenizer and the spec of `predictor` (torch) into `out_dir`."""
    net = predictor.runner.net
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_all_but_weights(predictor.folder, out_dir)
    ids = predictor.encode(example_texts[:4])
    input_ids, mask = predictor.pad(ids)
    if input_ids.shape[0] < 2 or input_ids.shape[1] < 3:  # sizes 0 and 1 would be baked in
        input_ids, mask = predictor.pad(ids + [np.tile(ids[0], 3)[: predictor.max_length]])
    batch = Dim("batch")
    sequence = Dim("sequence", max=predictor.max_length)
    size = sum(p.numel() * p.element_size() for p in net.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on axis names and deprecations
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        torch.onnx.export(
            net.cpu().eval(), (torch.from_numpy(input_ids), torch.from_numpy(mask)),
            str(out_dir / ONNX_FILE), dynamo=True, opset_version=opset,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_shapes=({0: batch, 1: sequence}, {0: batch, 1: sequence}),
            external_data=size > SINGLE_FILE_LIMIT, verbose=False)
    spec = read_spec(out_dir)
    spec["onnx"] = {"file": ONNX_FILE, "opset": opset, "torch": torch.__version__}
    write_spec(spec, out_dir)
    return out_dir / ONNX_FILE


def _copy_all_but_weights(source: Path, out_dir: Path) -> None:
    """Tokenizer, config and spec: everything in the folder but the PyTorch weights."""
    skip = {HEAD_FILE, *TORCH_WEIGHTS}
    for path in Path(source).iterdir():
        if path.is_file() and path.name not in skip and not path.name.startswith(
                "model-0"):  # weight shards of a large backbone
            shutil.copy2(path, out_dir / path.name)
