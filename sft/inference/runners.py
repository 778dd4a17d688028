"""Runners of sft.load's Predictor: padded token ids and mask (int64 numpy), or an image or
audio model's features, in; the network's raw outputs (float32 numpy) out. PyTorch for a
model folder, onnxruntime for an exported ONNX model (no torch needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sft.errors import SFTConfigError


class TorchRunner:
    """The PyTorch network of a model folder."""

    def __init__(
        self, folder: Path, spec: dict, device: str = "cpu", trust_remote_code: bool = False
    ):
        from sft.model.loading import load_network  # lazy: torch only for backend=torch

        self.device = device
        self.net = load_network(folder, spec, trust_remote_code).to(device)

    def __call__(
        self,
        input_ids: np.ndarray | None = None,
        attention_mask: np.ndarray | None = None,
        **features: np.ndarray,
    ) -> np.ndarray:
        """Text: ids and mask; images and audio: their `pixel_values` / `input_values`."""
        import torch  # lazy: an ONNX folder predicts without torch

        def tensor(array):
            return None if array is None else torch.from_numpy(array).to(self.device)

        with torch.inference_mode():
            out = self.net(
                tensor(input_ids),
                tensor(attention_mask),
                **{k: tensor(v) for k, v in features.items()},
            )
        return out.float().cpu().numpy()


class OnnxRunner:
    """An exported `model.onnx`, run by onnxruntime (no torch needed)."""

    def __init__(self, path: Path):
        try:
            import onnxruntime as ort  # lazy: the optional deploy extra
        except ImportError:
            raise SFTConfigError(
                "onnxruntime is not installed (pip install 'sft[deploy]')"
            ) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(
        self,
        input_ids: np.ndarray | None = None,
        attention_mask: np.ndarray | None = None,
        **features: np.ndarray,
    ) -> np.ndarray:
        """Text: ids and mask; images and audio: their `pixel_values` / `input_values`."""
        given = {"input_ids": input_ids, "attention_mask": attention_mask, **features}
        return self.session.run(None, {name: given[name] for name in self.inputs})[0]
