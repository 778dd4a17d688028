"""Shipping a trained tiny BERT fast and documented: the int8 ONNX export and its agreement
gate, the model card, a bounded burst of concurrent requests against the served model, and one
clear error for a malformed batch."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import yaml

import sft
from conftest import run_sft
from helpers.shipped import app_config, post, server, shipped  # noqa: F401  (fixtures)
from sft.tasks.sequence import SEQUENCE

# int8 weights move the logits; labels must still agree on at least this share of inputs
# (the default min_agreement of conf/export.yaml) and the logits stay within this of fp32's.
INT8_AGREEMENT = 0.99
INT8_LOGIT_TOLERANCE = 0.5


def front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, text[:300]
    return yaml.safe_load(match.group(1))


def test_int8_export_agrees_with_pytorch_on_the_validation_split(shipped, tmp_path):
    out = tmp_path / "int8"
    done = run_sft(
        "export",
        f"model_uri={shipped['uri']}",
        "format=onnx",
        "quantize=int8",
        f"out={out}",
        f"tracking_uri={shipped['tracking_uri']}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    # no download bars, and no warning that echoes a line of sft's source (stderr is for
    # what a user must read)
    assert "Downloading artifacts" not in done.stderr, done.stderr
    assert "Warning:" not in done.stderr and "warnings.warn" not in done.stderr, done.stderr
    found = re.search(
        r"Agreement on (\d+) inputs \(the val split of run (\w+) .*\): (\S+) of "
        r"predicted labels equal",
        done.stdout,
    )
    assert found, done.stdout
    assert int(found.group(1)) == 30  # val_fraction=0.2 of the 150 train rows
    assert found.group(2) == shipped["run"].info.run_id
    assert float(found.group(3)) >= INT8_AGREEMENT
    spec = json.loads((out / "sft_model.json").read_text())
    assert spec["onnx"]["quantize"] == "int8"
    # its model card says what the folder is, not only what the fp32 model was
    card = (out / "README.md").read_text()
    assert {"onnx", "int8"} <= set(front_matter(card)["tags"])
    assert "## This export: onnx int8" in card
    assert "ONNX with int8 weights" in card
    assert f"predicted labels equal on {float(found.group(3)):.4f} of 30 inputs" in card
    assert "The test metrics below are the PyTorch model's, not this export's." in card
    int8 = sft.load(out)
    assert int8.backend == "onnx"
    import onnx

    graph = onnx.load(str(out / "model.onnx")).graph
    assert any(init.data_type == onnx.TensorProto.INT8 for init in graph.initializer)
    reference = sft.load(shipped["model_dir"])
    texts = shipped["texts"]
    diff = np.abs(int8.logits(texts) - reference.logits(texts)).max()
    assert 0 < diff < INT8_LOGIT_TOLERANCE  # quantized (not fp32), yet close
    same = np.mean(
        [a["label"] == b["label"] for a, b in zip(int8.predict(texts), reference.predict(texts))]
    )
    assert same >= INT8_AGREEMENT


def test_int8_export_refuses_to_land_when_quantization_breaks_the_model(
    shipped, tmp_path, monkeypatch, capsys
):
    """A quantizer that ruins the weights (every int8 weight set to zero) must not land."""
    import onnx
    from onnx import numpy_helper

    import sft.inference.onnx as onnx_export
    from sft.export import export_task

    real = onnx_export.quantize_onnx

    def broken(folder, mode="int8"):
        path = real(folder, mode)
        model = onnx.load(str(path))
        for init in model.graph.initializer:
            if init.data_type == onnx.TensorProto.INT8:
                init.CopyFrom(
                    numpy_helper.from_array(np.zeros_like(numpy_helper.to_array(init)), init.name)
                )
        onnx.save(model, str(path))
        return path

    monkeypatch.setattr(onnx_export, "quantize_onnx", broken)
    out = tmp_path / "int8"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(SystemExit) as failed:
        export_task(
            app_config(
                "export",
                f"model_uri={shipped['uri']}",
                "format=onnx",
                "quantize=int8",
                f"out={out}",
                "overwrite=true",
                f"tracking_uri={shipped['tracking_uri']}",
            )
        )
    assert failed.value.code == 1
    said = capsys.readouterr()
    share = float(re.search(r"\): (\S+) of predicted labels equal", said.out).group(1))
    assert share < INT8_AGREEMENT
    assert "FAILED: the export differs from the PyTorch model (predicted labels: " in said.err
    # the refusal names the key that sets the bar (it read as a fault of the model alone)
    assert f"< min_agreement={INT8_AGREEMENT:g}" in said.err
    assert "to accept this difference, set min_agreement=<a lower share>" in said.err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # out/ untouched
    assert not list(tmp_path.glob(".int8-*"))


def test_model_card_matches_the_logged_run(shipped):
    from mlflow import MlflowClient

    card = (shipped["model_dir"] / "README.md").read_text()
    meta = front_matter(card)
    run = MlflowClient(shipped["tracking_uri"]).get_run(shipped["run"].info.run_id)
    assert meta["base_model"] == str(run.data.params["model.name_or_path"])
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["labels"] == ["negative", "neutral", "positive"]
    assert meta["datasets"] == ["text_csv"]
    metrics = meta["model-index"][0]["results"][0]["metrics"]
    logged = {k: v for k, v in run.data.metrics.items() if k.startswith("test/")}
    assert {m["name"] for m in metrics} == set(logged) and "test/acc" in logged
    for metric in metrics:
        assert metric["value"] == pytest.approx(logged[metric["name"]], rel=1e-6, abs=1e-9)
    assert f"MLflow run: `{run.info.run_id}`" in card
    for section in (
        "## Training",
        "## Test results",
        "Per class:",
        "## Data",
        "## Intended use and limitations",
        "## How to use",
    ):
        assert section in card
    for label in meta["labels"]:
        assert re.search(rf"^\| {label} \| \d\.\d{{4}} \|", card, re.M)  # per-class rows
    assert "Splits: train 120, test 60, val 30." in card
    import mlflow

    mlflow.set_tracking_uri(shipped["tracking_uri"])
    logged_card = mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/README.md")
    assert open(logged_card).read() == card  # the run artifact is the same card
    inner = mlflow.artifacts.download_artifacts(shipped["uri"])
    assert (pd.io.common.Path(inner) / "artifacts" / "model" / "README.md").read_text() == card


def test_model_card_warns_of_leakage_imbalance_and_truncation(tmp_path, tiny_model_dir, toy_data):
    from types import SimpleNamespace

    from hydra import compose, initialize_config_dir

    from conftest import tiny_overrides, toy_frame
    from sft.cli import CONF_DIR
    from sft.config.instantiate import instantiate
    from sft.model.backbone import load_tokenizer
    from sft.training.model_card import write_model_card

    train = pd.concat([toy_frame(60, seed=1), toy_frame(12, seed=3, labels=("neutral",))])
    train = train[train["label"] != "negative"].head(50)
    train = pd.concat([train, toy_frame(6, seed=4, labels=("negative",))])
    test = pd.concat([toy_frame(10, seed=5), train.head(4)])  # 4 rows leak into test
    train.to_csv(tmp_path / "train.csv", index=False)
    test.to_csv(tmp_path / "test.csv", index=False)
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                *tiny_overrides(tiny_model_dir, toy_data, tmp_path),
                f"data.train_path={tmp_path / 'train.csv'}",
                f"data.test_path={tmp_path / 'test.csv'}",
                "model.max_length=8",
            ],
        )
    datamodule = instantiate(cfg.data, seed=cfg.seed)
    datamodule.load(SEQUENCE)
    datamodule.encode(load_tokenizer(str(tiny_model_dir)), 8, None)
    module = SimpleNamespace(test_report={}, label_names=datamodule.labels.names)
    card = write_model_card(tmp_path, cfg, datamodule, module, {}, None, None, None, None)
    text = card.read_text()
    front_matter(text)
    assert re.search(
        r"- truncation: \d+\.\d% of the train texts are longer than max_length=8", text
    )
    assert re.search(r"- label imbalance in train: negative \d+, neutral \d+, positive \d+", text)
    assert re.search(r"- leakage: [1-4] exact duplicate inputs in both train and test", text)
    assert "No test split: the model was not tested." in text


def test_sft_predict_refuses_a_malformed_batch_with_one_line(shipped, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "great pill"}\n{"text": null}\n')
    done = run_sft(
        "predict",
        f"model_uri={shipped['model_dir']}",
        f"input={bad}",
        f"output={tmp_path / 'preds.csv'}",
        cwd=tmp_path,
    )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and f"{bad} row 2: empty text in column 'text'" in errors[0], (
        done.stderr
    )
    assert not (tmp_path / "preds.csv").exists()


GOOD = [
    ["great good excellent pill", "awful bad drug and a terrible week"],
    ["okay fine plain day"],
    ["love this wonderful drug"] * 5,
]
BAD = [
    ({"inputs": []}, "no texts"),
    ({"inputs": [7, "fine"]}, "expected a string"),
    ({"texts": ["good"]}, "dataframe_split"),
    ("{not json", "JSON"),
    ({"inputs": ["fine", "  "]}, "empty text"),
]


def test_served_model_survives_a_bounded_burst_of_mixed_requests(shipped, server):
    """6 client threads, 40 requests each (at most 120 s each), one in three malformed."""
    reference = sft.load(shipped["model_dir"])
    expected = {i: [r["label"] for r in reference.predict(texts)] for i, texts in enumerate(GOOD)}
    results, lock = [], threading.Lock()

    def client(worker: int) -> None:
        deadline = time.monotonic() + 120
        for n in range(40):
            if time.monotonic() > deadline:
                break
            if (worker + n) % 3 == 0:
                body, message = BAD[(worker + n) % len(BAD)]
                status, answer = post(server, body, raw=isinstance(body, str))
                outcome = ("bad", status, message in answer.get("message", ""), message)
            else:
                i = (worker + n) % len(GOOD)
                status, answer = post(server, {"inputs": GOOD[i]})
                labels = [r["label"] for r in answer.get("predictions", [])]
                outcome = ("good", status, labels == expected[i], answer)
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    kinds = Counter(kind for kind, *_ in results)
    assert kinds["good"] >= 100 and kinds["bad"] >= 50, kinds
    for kind, status, right, detail in results:
        if kind == "good":
            assert status == 200 and right, detail
        else:
            assert 400 <= status < 500 and right, (status, detail)
    status, answer = post(server, {"inputs": ["still alive"]})
    assert status == 200 and len(answer["predictions"]) == 1


@pytest.mark.parametrize("modality", ["image", "audio"])
def test_image_and_audio_models_export_to_onnx(
    modality, tiny_vit_dir, tiny_wav2vec2_dir, tmp_path, capsys
):
    """A tiny ViT (pixel_values) and wav2vec2 (input_values) with an sft head, exported."""
    import shutil

    import torch
    from safetensors.torch import save_file

    from helpers.backbones import write_shapes, write_tones
    from sft.export import export_task
    from sft.model.heads import LinearHead

    source, labels, extra, write = {
        "image": (
            tiny_vit_dir,
            ["circle", "square", "triangle"],
            {"normalize": True},
            write_shapes,
        ),
        "audio": (tiny_wav2vec2_dir, ["low", "high"], {"max_seconds": 0.5}, write_tones),
    }[modality]
    folder = shutil.copytree(source, tmp_path / "model")
    torch.manual_seed(0)
    head = LinearHead(32, len(labels))
    save_file(
        {k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "head.safetensors")
    )
    (folder / "sft_model.json").write_text(
        json.dumps(
            {
                "format": 1,
                "task": "multiclass",
                "labels": labels,
                "pooling": "mean",
                "max_length": 64,
                "head": {"_target_": "sft.model.heads.LinearHead", "dropout": 0.1},
                "num_outputs": len(labels),
                "modality": modality,
                **extra,
            }
        )
    )
    files = sorted(
        str(p) for p in write(tmp_path / "data", per_class=3, seed=1).rglob("*") if p.is_file()
    )
    out = tmp_path / "onnx"
    export_task(
        app_config(
            "export",
            f"model_uri={folder}",
            "format=onnx",
            f"out={out}",
            f"parity_texts={json.dumps(files)}",
        )
    )
    said = capsys.readouterr().out
    assert f"Agreement on {len(files)} inputs (the parity texts): 1.0000" in said
    exported = sft.load(out)
    assert exported.backend == "onnx" and not list(out.glob("*.safetensors"))
    reference = sft.load(folder)
    np.testing.assert_allclose(
        exported.logits(files, batch_size=4), reference.logits(files, batch_size=4), atol=1e-4
    )
