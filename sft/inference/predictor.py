"""`sft.load(folder)`: a fine-tuned model as a Predictor, texts in, predictions out (image
and audio models: file paths in).

The one prediction code path: `sft-predict`, the MLflow model (`mlflow models serve`) and
`sft-export` all go through `Predictor`. A runner turns padded token ids into the head's raw
outputs (PyTorch, or onnxruntime for an exported ONNX model); the model's task (sft.tasks,
by the `task` its sft_model.json names) turns those into what users read. Needs neither
Hydra nor MLflow.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from tqdm.auto import tqdm

from sft.data.tokenize import ensure_pad_token
from sft.errors import SFTConfigError, SFTDataError, first_line
from sft.inference.runners import OnnxRunner, TorchRunner
from sft.model.saving import SPEC_FILE, backbone_config, read_spec
from sft.tasks import REGISTRY, get_task

ONNX_FILE = "model.onnx"
# A folder's PyTorch weights: a whole model, or a LoRA adapter kept apart (its base elsewhere)
TORCH_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")
BACKENDS = ("auto", "torch", "onnx")
# Texts tokenized at a time by Predictor.rows (sorted by length within each chunk).
ENCODE_ROWS = 4096


# -- the predictor ---------------------------------------------------------------------------


class Predictor:
    """Tokenize like training did, run in length-sorted batches, post-process per task."""

    def __init__(self, folder: Path, spec: dict, tokenizer, runner, backend: str, featurizer=None):
        """`featurizer` (images, audio; sft.data.media): file paths -> model inputs; then
        `tokenizer` is that model's processor."""
        self.folder = Path(folder)
        self.featurizer = featurizer
        self.spec = spec
        self.task = spec["task"]
        self.labels = list(spec.get("labels") or [])
        self.max_length = int(spec["max_length"])
        self.tokenizer = tokenizer
        self.runner = runner
        self.backend = backend
        try:
            self.kind = get_task(self.task)
        except SFTConfigError:
            raise SFTConfigError(
                f"{folder}: task '{self.task}' is not one this sft can "
                f"predict ({', '.join(REGISTRY)}); upgrade sft"
            ) from None

    def predict(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False, **settings
    ) -> list[dict]:
        """One record per text, as the task shapes it (sequence tasks: label and
        probabilities (classification) or score (regression); a generating task: {"text":
        generated text}, its inputs as `generate` takes them). `settings`: a generating
        task's (max_new_tokens, num_beams), passed only when one is set."""
        given = {key: value for key, value in settings.items() if value is not None}
        if given and getattr(self.kind, "generate", None) is None:
            raise SFTConfigError(f"{', '.join(given)}: task '{self.task}' does not generate")
        return self.kind.predict(self, texts, batch_size, progress, **given)

    def generate(
        self,
        inputs,
        max_new_tokens: int | None = None,
        num_beams: int | None = None,
        batch_size: int = 8,
        progress: bool = False,
    ) -> list[str]:
        """The text the model writes after each input, in order, as its task generates (its
        `generate`: a causal LM takes prompts, `{"prompt"|"messages"|"text": ...}` rows or
        role/content conversations, one or a list). `max_new_tokens`, `num_beams` (greedy:
        1): None takes the model's saved settings. SFTConfigError for a task that does not
        generate; SFTDataError naming the input for a bad one."""
        return self._ask("generate")(
            self, inputs, batch_size, progress, max_new_tokens=max_new_tokens, num_beams=num_beams
        )

    def embed(self, paths: Sequence[str], batch_size: int = 8, progress: bool = False):
        """(n, d) float32 L2-normalized embeddings of the inputs, as the task makes them (its
        `embed`: speaker verification's voiceprints); SFTConfigError for a task that does
        not embed."""
        return self._ask("embed")(self, paths, batch_size, progress)

    def verify(self, first: str, second: str, batch_size: int = 8) -> dict:
        """Whether two inputs match, as the task decides (its `verify`: speaker verification
        gives {"score": cosine, "same": score >= the model's threshold}); SFTConfigError for
        a task that does not verify."""
        return self._ask("verify")(self, first, second, batch_size)

    def explain(
        self,
        inputs: Sequence[str],
        target: str | None = None,
        n_steps: int = 50,
        baseline: str | None = None,
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> list[dict]:
        """Per input, which part made the prediction: integrated gradients of the target's
        logit (predicted label by default) on the input embeddings, merged to words
        (sft.inference.explain.explain_texts), or for image and audio files on the pixels
        (a heat map) or the waveform / spectrogram (scores over time)
        (sft.inference.explain_media.explain_media): the fields, the baselines (None: the
        modality's default), the errors."""
        # lazy: captum only to explain
        from sft.inference.explain import explain_texts
        from sft.inference.explain_media import explain_media

        explain = explain_texts if self.featurizer is None else explain_media
        return explain(self, inputs, target, n_steps, baseline, internal_batch_size, progress)

    def _ask(self, question: str):
        answer = getattr(self.kind, question, None)
        if answer is None:
            raise SFTConfigError(f"{self.folder}: task '{self.task}' does not {question}")
        return answer

    def logits(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """The network's raw outputs as the task lays them out (its `raw_outputs`: one row
        per input for sequence tasks; what sft-export's parity check compares)."""
        return self.kind.raw_outputs(self, texts, batch_size, progress)

    def rows(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        """The head's raw outputs for pooled networks, shape (len(texts), num_outputs), in the
        order of `texts` (batches sorted by length: little padding)."""
        if self.featurizer is not None:
            return self._media_logits(self.encode(texts), batch_size, progress)
        texts = self._checked(texts)
        out = np.zeros((len(texts), int(self.spec["num_outputs"])), dtype=np.float32)
        bar = _progress(len(texts), progress)
        # ENCODE_ROWS texts tokenized at a time: all at once, the token lists took ~200 bytes
        # a token (+5.8 GiB for 1M short texts); this way memory holds one chunk's int32 ids.
        for first in range(0, len(texts), ENCODE_ROWS):
            ids = self.encode(texts[first : first + ENCODE_ROWS])
            order = np.argsort([-len(row) for row in ids], kind="stable")  # little padding
            for start in range(0, len(ids), batch_size):
                batch = order[start : start + batch_size]
                input_ids, mask = self.pad([ids[i] for i in batch])
                out[first + batch] = self.runner(input_ids, mask)
                bar.update(len(batch))
        bar.close()
        return out

    def _media_logits(self, paths: list[str], batch_size: int, progress: bool) -> np.ndarray:
        """Raw outputs for image or audio files, featurized as training's eval splits were."""
        out = np.zeros((len(paths), int(self.spec["num_outputs"])), dtype=np.float32)
        bar = _progress(len(paths), progress)
        for start in range(0, len(paths), batch_size):
            out[start : start + batch_size] = self.runner(
                **self.featurizer(paths[start : start + batch_size])
            )
            bar.update(min(batch_size, len(paths) - start))
        bar.close()
        return out

    def _checked(self, texts: Sequence[str]) -> list[str]:
        """`texts` as a list; SFTDataError for a single string or an item not a string."""
        if isinstance(texts, str):
            raise SFTDataError("expected a list of texts, got a single string")
        texts = list(texts)
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise SFTDataError(f"input {i}: expected a string, got {type(text).__name__}")
        return texts

    def encode(self, texts: Sequence[str]):
        """Token ids per text (int32 arrays), cleaned and truncated as in training (special
        tokens added); image and audio models: the file paths, checked."""
        texts = self._checked(texts)
        if self.featurizer is not None:
            return texts  # read and featurized batch by batch (sft.data.media)
        if self.spec.get("clean_text"):
            from sft.data.labels import clean  # lazy: pandas only for clean_text models

            texts = [clean(t) for t in texts]
        if not texts:
            return []
        encoded = self.tokenizer(
            texts,
            truncation=True,
            max_length=self.max_length,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [np.asarray(row, dtype=np.int32) for row in encoded["input_ids"]]

    def pad(self, rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Right-pad to the longest row, as training's collator does; the attention mask."""
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self.tokenizer.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return input_ids, mask


def load(
    path: str | Path, backend: str = "auto", device: str = "cpu", trust_remote_code: bool = False
) -> Predictor:
    """The model saved in `path` (a model folder, or an MLflow model folder holding one).

    backend: `torch` (the safetensors weights), `onnx` (an exported model.onnx, run by
    onnxruntime), or `auto` (torch when the folder has its weights, else onnx).
    """
    folder = model_folder(path)
    spec = read_spec(folder)
    if backend not in BACKENDS:
        raise SFTConfigError(
            f"backend: unknown backend '{backend}' (choices: {', '.join(BACKENDS)})"
        )
    if spec.get("members"):  # a fold/seed ensemble (sft.inference.ensemble): members load here
        from sft.inference.ensemble import load_ensemble  # lazy: it takes `load` as an argument

        return load_ensemble(
            folder, spec, load, backend=backend, device=device, trust_remote_code=trust_remote_code
        )
    if backend == "auto":
        backend = "torch" if any((folder / f).is_file() for f in TORCH_WEIGHTS) else "onnx"
    if backend == "onnx" and not (folder / ONNX_FILE).is_file():
        raise SFTConfigError(f"{folder}: no {ONNX_FILE} (export one with sft-export format=onnx)")
    modality = spec.get("modality", "text")
    if modality != "text":
        return _load_media(folder, spec, modality, backend, device, trust_remote_code)
    from transformers import AutoTokenizer  # lazy: media models need none

    try:
        config = backbone_config(folder)  # a native folder's own config.json is sft's
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder),
            trust_remote_code=trust_remote_code,
            **({"config": config} if config is not None else {}),
        )
    except (OSError, ValueError) as err:
        raise SFTConfigError(f"{folder}: cannot load the tokenizer ({first_line(err)})") from None
    if ensure_pad_token(tokenizer).pad_token_id is None:
        raise SFTConfigError(f"{folder}: the tokenizer has no pad token")
    runner = (
        OnnxRunner(folder / ONNX_FILE)
        if backend == "onnx"
        else TorchRunner(folder, spec, device, trust_remote_code)
    )
    return Predictor(folder, spec, tokenizer, runner, backend)


def _load_media(
    folder: Path, spec: dict, modality: str, backend: str, device: str, trust_remote_code: bool
) -> Predictor:
    """An image or audio model: its processor, the featurizer training used, the network."""
    from sft.data.media import MODALITIES, featurizer, load_processor  # lazy: PIL, soundfile

    if modality not in MODALITIES:
        raise SFTConfigError(
            f"{folder}: modality '{modality}' is not one this sft can predict "
            f"({', '.join(MODALITIES)}); upgrade sft"
        )
    processor = load_processor(str(folder), modality, trust_remote_code)
    runner = (
        OnnxRunner(folder / ONNX_FILE)
        if backend == "onnx"
        else TorchRunner(folder, spec, device, trust_remote_code)
    )
    return Predictor(
        folder, spec, processor, runner, backend, featurizer=featurizer(modality, processor, spec)
    )


def task_of(path: str | Path):
    """The task object of the model saved at `path` (its spec's `task`), read without
    loading the model; SFTConfigError for a task this sft does not know."""
    folder = model_folder(path)
    name = read_spec(folder).get("task")
    if name not in REGISTRY:
        raise SFTConfigError(
            f"{folder}: task '{name}' is not one this sft can predict ({', '.join(REGISTRY)}); "
            "upgrade sft"
        )
    return get_task(name)


def model_folder(path: str | Path) -> Path:
    """The folder with `sft_model.json`: `path` itself, or the one an MLflow model carries."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise SFTConfigError(f"model folder not found: {folder}")
    if (folder / SPEC_FILE).is_file():
        return folder
    if (
        folder / "MLmodel"
    ).is_file():  # an MLflow model (sft/inference/mlflow_model.py): find its artifact
        flavor = (
            (yaml.safe_load((folder / "MLmodel").read_text()) or {})
            .get("flavors", {})
            .get("python_function", {})
        )
        for artifact in (flavor.get("artifacts") or {}).values():
            inner = folder / str(artifact.get("path", ""))
            if (inner / SPEC_FILE).is_file():
                return inner
    raise SFTConfigError(f"{folder} is not an sft model folder (no {SPEC_FILE})")


def _progress(total: int, enabled: bool):
    return tqdm(
        total=total,
        unit="text",
        disable=not enabled or total == 0,
        file=sys.stderr,
        dynamic_ncols=True,
    )
