"""`sft-export run_id=<id> format=folder|onnx out=<dir>`: a trained model as a folder that
`sft.load(dir)` reads without Hydra or MLflow; `onnx` adds a model.onnx that onnxruntime runs
(and leaves the PyTorch weights out).

Before anything is written to `out`, the export is loaded back and its raw outputs compared
with the PyTorch model's on `parity_texts`: the max abs difference is printed, and above
`tolerance` the export fails (exit 1) and `out` stays as it was.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError

def export_task(cfg) -> None:
    """Fetch the model, write the export beside `out`, check parity, then move it into place."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import ExportSchema, validate_app

    validate_app(cfg, ExportSchema)
    if (cfg.run_id is None) == (cfg.model_uri is None):
        raise SFTConfigError("set exactly one of run_id=<MLflow run id> and model_uri=<models:/"
                             "..., runs:/... or a folder>")
    out = Path(cfg.out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not cfg.overwrite:
        raise SFTConfigError(f"out: {out} exists and is not empty (set overwrite=true)")
    # lazy: torch and MLflow only once the config is known to be good
    from sft.inference.model_uri import resolve_model, run_model
    from sft.inference.parity import DEFAULT_TEXTS, parity
    from sft.inference.predictor import load

    texts = list(cfg.parity_texts) or DEFAULT_TEXTS
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sft-export-") as tmp, \
            tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as staging:
        source = (run_model(cfg.run_id, cfg.tracking_uri, Path(tmp)) if cfg.run_id
                  else resolve_model(cfg.model_uri, cfg.tracking_uri, Path(tmp)))
        reference = load(source, backend="torch")
        if getattr(reference, "members", None) is not None and str(cfg.format) == "onnx":
            raise SFTConfigError("format=onnx: a fold or seed ensemble (cv.ensemble) exports "
                                 "as format=folder only")
        if reference.featurizer is not None:  # an image or audio model
            if str(cfg.format) == "onnx":
                raise SFTConfigError("format=onnx: only text models export to ONNX; use "
                                     "format=folder for image and audio models")
            if not cfg.parity_texts:
                raise SFTConfigError("parity_texts: an image or audio model is checked on "
                                     "files: set parity_texts=[path, ...]")
        target = Path(staging) / "export"
        if str(cfg.format) == "onnx":
            from sft.inference.onnx import export_onnx  # lazy: torch.onnx only for format=onnx

            export_onnx(reference, target, texts, cfg.opset)
        else:
            shutil.copytree(source, target)
        exported = load(target, backend="onnx" if str(cfg.format) == "onnx" else "torch")
        diff = parity(reference, exported, texts)
        print(f"Parity ({cfg.format} export vs the PyTorch model, {len(texts)} texts): max abs "
              f"difference of the raw outputs {diff:.3g} (tolerance {cfg.tolerance:g})")
        if not diff <= cfg.tolerance:  # NaN fails too
            print(f"FAILED: the export differs from the PyTorch model; nothing written to {out}",
                  file=sys.stderr)
            sys.exit(1)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        target.rename(out)
    print(f"Exported {str(cfg.format)} to {out}\n  load: python -c \"import sft; "
          f"print(sft.load('{out}').predict(['some text']))\"")


def main() -> None:
    run_app(export_task, config_name="export", prog="sft-export")


if __name__ == "__main__":
    main()
