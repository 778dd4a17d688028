"""`sft-export run_id=<id> format=folder|onnx [quantize=int8] out=<dir>`: a trained model as a
folder that `sft.load(dir)` reads without Hydra or MLflow; `onnx` adds a model.onnx that
onnxruntime runs (and leaves the PyTorch weights out); `quantize=int8` makes its weights int8.

Before anything is written to `out`, the export is loaded back and compared with the PyTorch
model: the max abs difference of the raw outputs on `parity_texts` (batched together, so
padding is tested) must stay within `tolerance` (fp32 exports only: int8 moves the logits by
design), and the share of equal predicted labels on the training run's validation split (or
on `parity_texts` when that split cannot be read again) must reach `min_agreement`. Both are
printed; a failed check exits 1 and leaves `out` as it was.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from sft.cli import run_app
from sft.errors import SFTConfigError, SFTError


def export_task(cfg) -> None:
    """Fetch the model, write the export beside `out`, check it, then move it into place."""
    # lazy: the entry point stays light until the config has been read
    from sft.config.app_schemas import ExportSchema, validate_app

    validate_app(cfg, ExportSchema)
    if (cfg.run_id is None) == (cfg.model_uri is None):
        raise SFTConfigError(
            "set exactly one of run_id=<MLflow run id> and model_uri=<models:/"
            "..., runs:/... or a folder>"
        )
    if cfg.quantize is not None and str(cfg.format) != "onnx":
        raise SFTConfigError(f"quantize={cfg.quantize}: only format=onnx exports quantize")
    if not 0.0 <= cfg.min_agreement <= 1.0:
        raise SFTConfigError(f"min_agreement: must be in [0, 1], got {cfg.min_agreement}")
    out = Path(cfg.out).expanduser().resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not cfg.overwrite:
        raise SFTConfigError(f"out: {out} exists and is not empty (set overwrite=true)")
    # lazy: torch and MLflow only once the config is known to be good
    from sft.config.uris import absolute_tracking_uri
    from sft.inference.model_uri import resolve_model, run_model
    from sft.inference.parity import DEFAULT_TEXTS, agreement, parity
    from sft.inference.predictor import load

    texts = list(cfg.parity_texts) or DEFAULT_TEXTS
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="sft-export-") as tmp,
        tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as staging,
    ):
        source = (
            run_model(cfg.run_id, cfg.tracking_uri, Path(tmp))
            if cfg.run_id
            else resolve_model(cfg.model_uri, cfg.tracking_uri, Path(tmp))
        )
        reference = load(source, backend="torch")
        task = reference.kind  # the features its family declares
        for key, value, feature in (
            ("format", cfg.format, "onnx"),
            ("quantize", cfg.quantize, "int8"),
        ):
            if value == feature and not task.supports(feature):
                raise SFTConfigError(
                    f"{key}={value}: task '{task.name}' does not support "
                    f"{feature} export (export format=folder)"
                )
        if getattr(reference, "members", None) is not None and str(cfg.format) == "onnx":
            raise SFTConfigError(
                "format=onnx: a fold or seed ensemble (cv.ensemble) exports as format=folder only"
            )
        checked, where = check_inputs(cfg, absolute_tracking_uri(cfg.tracking_uri))
        if reference.featurizer is not None and not cfg.parity_texts:
            if checked is None:
                raise SFTConfigError(
                    "parity_texts: an image or audio model is checked on "
                    "files: set parity_texts=[path, ...]"
                )
            texts = checked[:8]
        target = Path(staging) / "export"
        if str(cfg.format) == "onnx":
            from sft.inference.onnx import export_onnx, quantize_onnx  # lazy: torch.onnx

            export_onnx(reference, target, texts, cfg.opset)
            if cfg.quantize is not None:
                quantize_onnx(target, str(cfg.quantize))
        else:
            shutil.copytree(source, target)
        exported = load(target, backend="onnx" if str(cfg.format) == "onnx" else "torch")
        kind = f"{cfg.format}{' ' + str(cfg.quantize) if cfg.quantize else ''}"
        diff = parity(reference, exported, texts)
        agreed = agreement(reference, exported, checked or texts)
        share = agreed["agreement"]
        print(
            f"Parity ({kind} export vs the PyTorch model, {len(texts)} parity texts): max abs "
            f"difference of the raw outputs {diff:.3g} (tolerance {cfg.tolerance:g}"
            f"{', not applied to int8' if cfg.quantize else ''})"
        )
        print(
            f"Agreement on {agreed['n']} inputs ({where if checked else 'the parity texts'}): "
            + (
                f"{share:.4f} of predicted labels equal (min_agreement {cfg.min_agreement:g})"
                if share is not None
                else "regression, no labels"
            )
            + f", max abs difference of the raw outputs {agreed['max_abs_diff']:.3g}"
        )
        failed, bars = [], []  # what differs, and the key that sets each bar
        if not (cfg.quantize or diff <= cfg.tolerance):  # NaN fails
            failed.append(
                f"raw outputs: max abs difference {diff:.3g} > tolerance={cfg.tolerance:g}"
            )
            bars.append("tolerance=<a larger difference>")
        if share is not None and not share >= cfg.min_agreement:
            failed.append(
                f"predicted labels: {share:.4f} equal < min_agreement={cfg.min_agreement:g}"
            )
            bars.append("min_agreement=<a lower share>")
        if failed:
            print(
                f"FAILED: the export differs from the PyTorch model ({'; '.join(failed)}); "
                f"nothing written to {out}; to accept this difference, set {' and '.join(bars)}",
                file=sys.stderr,
            )
            sys.exit(1)
        if str(cfg.format) == "onnx":
            note_export(target, kind, diff, agreed, where if checked else "the parity texts", cfg)
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        target.rename(out)
    sample = "'some text'" if getattr(reference, "featurizer", None) is None else "'path/to/file'"
    # this Python by its path: a bare `python` may be another one, without sft
    print(
        f'Exported {kind} to {out}\n  load: {shlex.quote(sys.executable)} -c "import sft; '
        f"print(sft.load('{out}').predict([{sample}]))\""
    )


def note_export(folder: Path, kind: str, diff: float, agreed: dict, where: str, cfg) -> None:
    """Say in `folder`'s model card (README.md, copied from the PyTorch model) what this export
    is: its format and weights, and how far it was checked against the PyTorch model, whose
    test metrics the card keeps (the export's own were not measured on test)."""
    card = folder / "README.md"
    if not card.exists():
        return
    text = card.read_text()
    share = agreed["agreement"]
    quantized = (
        f"ONNX with {cfg.quantize} weights (onnxruntime dynamic quantization)"
        if cfg.quantize
        else "ONNX (fp32)"
    )
    checked = (
        f"predicted labels equal on {share:.4f} of {agreed['n']} inputs ({where}; "
        f"min_agreement {cfg.min_agreement:g})"
        if share is not None
        else f"{agreed['n']} inputs ({where})"
    )
    section = (
        f"## This export: {kind}\n\n{quantized}, exported by `sft-export` from the PyTorch "
        f"model this card describes. Checked against it: {checked}; max abs difference of "
        f"the raw outputs {agreed['max_abs_diff']:.3g} there, {diff:.3g} on the parity texts. "
        "The test metrics below are the PyTorch model's, not this export's. transformers "
        "alone does not load this export (no PyTorch weights; Optimum's ONNX classes do not "
        "know its graph, sft's backbone + pooling + head): the section 'Use with "
        "transformers alone' below is the PyTorch model's. Run it with `sft.load` "
        "(onnxruntime, no torch).\n\n"
    )
    head, sep, rest = text.partition("\n# ")  # after the front matter, before the title
    tags = ["onnx"] + ([str(cfg.quantize)] if cfg.quantize else [])
    if head.startswith("---\n") and "\ntags:\n" in head:
        head = head.replace("\ntags:\n", "\ntags:\n" + "".join(f"- {t}\n" for t in tags), 1)
    if not sep:
        card.write_text(section + text)
        return
    title, _, body = rest.partition("\n")
    card.write_text(f"{head}{sep}{title}\n\n{section}{body.lstrip(chr(10))}")


def check_inputs(cfg, tracking_uri: str) -> tuple[list[str] | None, str]:
    """The training run's `agreement_split` inputs, or (None, why not) when there is no run
    behind the model or its data cannot be read again (then the parity texts are used)."""
    if cfg.agreement_split is None:
        return None, "agreement_split=null"
    # lazy: MLflow, the data module
    from sft.tracking.mlflow_tracker import MLflowTracker
    from sft.training.splits import run_id_of, split_inputs

    tracker = MLflowTracker(tracking_uri)
    run_id = run_id_of(cfg.model_uri, cfg.run_id, tracker)
    if run_id is None:
        return None, "no training run behind the model"
    try:
        return split_inputs(run_id, tracker, str(cfg.agreement_split))
    except SFTError as err:
        print(f"Note: checking agreement on the parity texts: {err}", file=sys.stderr)
        return None, str(err)


def main() -> None:
    run_app(export_task, config_name="export", prog="sft-export")


if __name__ == "__main__":
    main()
