"""The model card's "Use with transformers alone" section: the snippet that loads a saved
folder with transformers and no sft, and what transformers alone does not apply."""

from __future__ import annotations

from pathlib import Path

from sft.model.hf_native import auto_class, is_native
from sft.model.saving import SPEC_FILE, read_spec
from sft.tasks import get_task
from sft.tasks.sequence.outputs import decision_rule

FOLDER = "<this folder>"  # what the snippet names; tests/model/test_hf_native.py replaces it
SAMPLES = {"text": "'some text'", "image": "'path/to/image.png'", "audio": "'path/to/clip.wav'"}
# A whole task model's pipeline (its spec's auto_class); none: load the class, no pipeline.
TASK_PIPELINES = {
    "AutoModelForObjectDetection": "object-detection",
    "AutoModelForSemanticSegmentation": "image-segmentation",
    "AutoModelForCTC": "automatic-speech-recognition",
    "AutoModelForSpeechSeq2Seq": "automatic-speech-recognition",
    "AutoModelForCausalLM": "text-generation",
}


def snippet(folder: Path) -> list[str] | None:
    """Python lines that load `folder` with transformers alone and predict; None when
    transformers cannot load it alone (a LoRA adapter kept apart, a backbone with its own
    remote code: the older layout)."""
    spec = read_spec(folder)
    modality = spec.get("modality", "text")
    name = f'"{FOLDER}"'
    if is_native(folder):
        tokens = spec.get("pooling") == "none"
        tag = "token-classification" if tokens else f"{modality}-classification"
        # cut at the training max_length (the token pipeline takes no truncation argument)
        cut = ", truncation=True" if modality == "text" and not tokens else ""
        call = f"([{SAMPLES[modality]}]{cut})"
        scores = "" if tokens else ", top_k=None"
        return [
            "from transformers import pipeline",
            "",
            f'model = pipeline("{tag}", model={name}, trust_remote_code=True{scores})',
            f"print(model{call})",
            f"# or: transformers.{auto_class(spec)}.from_pretrained({name}, "
            "trust_remote_code=True)",
        ]
    task_class = spec.get("auto_class")
    if not task_class:
        return None
    tag = TASK_PIPELINES.get(task_class)
    lines = ["import transformers", ""]
    lines.append(f"model = transformers.{task_class}.from_pretrained({name})")
    if tag:
        lines.append(f'pipe = transformers.pipeline("{tag}", model={name})')
    return lines


def not_applied(spec: dict) -> list[str]:
    """What sft.load does that transformers alone does not, for this folder's spec."""
    out = []
    task = get_task(spec["task"])
    rule = decision_rule(spec, task.name)  # None: the most probable label
    if rule is not None:
        out.append(
            f"sft decides labels by a rule the pipeline does not apply ({rule}); the "
            "pipeline reports the most probable label. The probabilities are the same."
        )
    if task.decision_key == "labels":  # several labels per input: sft applies a threshold
        threshold = spec.get("threshold", 0.5)
        out.append(
            f"sft's labels are those whose probability reaches {threshold} (or the tuned "
            "thresholds); the pipeline gives every label's probability."
        )
    if spec.get("pooling") == "none":
        out.append(
            "sft tags words (each word's first subword) and cuts texts at "
            f"{spec.get('max_length')} tokens; the pipeline tags subword tokens (see its "
            "`aggregation_strategy`) and does not cut: the logits are the same."
        )
    if spec.get("clean_text"):
        out.append(
            "sft cleans each text first (data.clean_text; sft.data.labels.clean); "
            "transformers does not. For sft's predictions pass `clean(text)`: "
            "`t = html.unescape(text).strip()`, then `t[1:-1].strip()` when `t` is wrapped in "
            "double quotes (`len(t) >= 2 and t[0] == t[-1] == '\"'`)."
        )
    return out


def transformers_lines(folder: Path) -> list[str]:
    """The card section, after a blank line: the snippet (or why there is none) and what it
    does not apply; nothing for a folder that holds no saved model (yet)."""
    if not (Path(folder) / SPEC_FILE).is_file():
        return []
    lines = ["", "## Use with transformers alone", ""]
    code = snippet(folder)
    if code is None:
        return [
            *lines,
            "This folder keeps parts only sft reads (a LoRA adapter kept apart from its base, "
            "or a backbone with its own remote code): load it with `sft.load`.",
        ]
    spec = read_spec(folder)
    native = is_native(folder)
    lines += [
        "No sft needed"
        + (
            ": the folder carries its model code (`modeling_sft.py`), hence "
            "`trust_remote_code=True`; without it transformers refuses to load the folder "
            "(it never builds a classifier with a random head)."
            if native
            else ": the folder is a plain transformers model."
        ),
        "",
        "```python",
        *code,
        "```",
    ]
    caveats = (
        not_applied(spec)
        if native
        else [
            "The network is the same as sft.load's; sft's own post-processing settings in "
            "sft_model.json (score thresholds, a verification threshold, decoding settings) "
            "are not read by transformers: pass the pipeline's own arguments."
        ]
    )
    if caveats:
        lines += ["", *[f"- {c}" for c in caveats]]
    return lines
