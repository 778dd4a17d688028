"""Ship a trained tiny BERT: the registered MLflow model, `mlflow models serve`, `sft-predict`,
`sft-export`. Every path must predict what the in-memory model predicts."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import sft
from conftest import mlflow_runs, run_sft
from helpers.shipped import app_config, post, server, shipped  # noqa: F401  (fixtures)
from sft.train import train_task


def module_logits(module, tokenizer, texts) -> np.ndarray:
    """The in-memory module's raw outputs, one unpadded text at a time."""
    rows = []
    for text in texts:
        ids = torch.tensor([tokenizer(text, truncation=True, max_length=64)["input_ids"]])
        with torch.no_grad():
            rows.append(module(ids, torch.ones_like(ids))[0])
    return torch.stack(rows).double().numpy()


def as_matrix(records, labels) -> np.ndarray:
    return np.array([[r["probabilities"][name] for name in labels] for r in records])


def test_run_logs_and_registers_a_self_contained_model(shipped):
    from mlflow import MlflowClient

    run = shipped["client"].get_run(shipped["run"].info.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["sft.model_uri"] == shipped["uri"]
    client = MlflowClient(shipped["tracking_uri"])
    version = client.get_model_version(shipped["name"], "1")
    assert version.run_id == run.info.run_id
    # The version says where it came from without a click: run, scores, data fingerprints.
    assert version.tags["run_id"] == run.info.run_id
    assert float(version.tags["test/f1_macro"]) == pytest.approx(run.data.metrics["test/f1_macro"])
    assert float(version.tags["best/val/f1_macro"]) == pytest.approx(
        run.data.metrics["best/val/f1_macro"]
    )
    for split in ("train", "test"):
        key = f"sft.data.{split}_sha256"
        assert version.tags[key] == run.data.tags[key] and len(version.tags[key]) == 64
    assert run.info.run_id in version.description and "test/f1_macro" in version.description
    assert "multiclass" in client.get_registered_model(shipped["name"]).description
    versions = client.search_model_versions(f"name='{shipped['name']}'")
    assert [int(v.version) for v in versions] == [1]
    import mlflow

    mlflow.set_tracking_uri(shipped["tracking_uri"])
    local = Path(mlflow.artifacts.download_artifacts(shipped["uri"]))
    mlmodel = (local / "MLmodel").read_text()
    assert "python_function" in mlmodel and "signature:" in mlmodel
    example = json.loads((local / "serving_input_example.json").read_text())
    # the plain-list form a user sends most (the pyfunc model takes a list since issue 27)
    assert list(example) == ["inputs"] and example["inputs"]
    assert all(isinstance(text, str) for text in example["inputs"])
    inner = local / "artifacts" / "model"
    assert {
        "config.json",
        "model.safetensors",
        "modeling_sft.py",
        "sft_model.json",
        "tokenizer.json",
    } <= {p.name for p in inner.iterdir()}
    spec = json.loads((inner / "sft_model.json").read_text())
    assert spec["labels"] == ["negative", "neutral", "positive"] and spec["task"] == "multiclass"
    assert not (local / "python_model.pkl").exists()  # logged as code: nothing is unpickled
    code = (local / "serving_model.py").read_text()
    assert (
        len(code) < 2000 and "from sft.inference.mlflow_model import" in code
    )  # no network in the code


@pytest.mark.parametrize(
    "overrides,registered",
    [
        (["+trainer.limit_train_batches=2"], None),  # a debug run: nothing anyone ships
        (
            [
                "+trainer.fast_dev_run=true",
                "logger.register=always",
                "logger.registered_model_name=mine",
            ],
            "mine",
        ),
        (["logger.register=never"], None),
    ],
)
def test_which_runs_register_a_model(make_cfg, overrides, registered):
    cfg = make_cfg("trainer.max_epochs=1", *overrides)
    train_task(cfg)
    client, runs = mlflow_runs(Path(cfg.paths.outputs), "text_csv")
    models = [m.name for m in client.search_registered_models()]
    tags = runs[0].data.tags
    if registered is None:
        assert models == [] and tags["sft.model_uri"].startswith("runs:/")
    else:
        assert models == [registered] and tags["sft.model_uri"] == f"models:/{registered}/1"


def test_a_finished_run_keeps_one_copy_of_the_model_and_no_checkpoint(shipped):
    """last.ckpt resumes only an unfinished run and the best checkpoint's weights are in the
    model: both go; the run folder's model/ links to the copy MLflow logged."""
    run_dir = shipped["out"] / "run"
    assert not list(run_dir.rglob("*.ckpt"))
    model_dir = shipped["model_dir"]
    assert model_dir.is_symlink() and (model_dir / "model.safetensors").is_file()
    assert model_dir.resolve().is_relative_to((shipped["out"] / "artifacts").resolve())
    tags = shipped["client"].get_run(shipped["run"].info.run_id).data.tags
    assert tags["sft.model_dir"] == str(model_dir)
    assert sft.load(tags["sft.model_dir"]).labels == ["negative", "neutral", "positive"]


def test_pyfunc_and_sft_load_predict_like_the_in_memory_model(shipped):
    import mlflow

    texts = shipped["texts"]
    predictor = sft.load(shipped["model_dir"])
    labels = predictor.labels
    # The run fitted class biases, and a temperature unless the toy validation split was
    # separated so well that T was not identified (sft.training.calibrate.usable_temperature),
    # on val (conf/train.yaml `decisions`): every path serves softmax(logits / T) and decides by
    # argmax(logits / T + bias).
    spec = predictor.spec
    assert len(spec["class_bias"]) == len(labels)
    temperature = spec.get("temperature") or 1.0
    scaled = module_logits(shipped["module"], predictor.tokenizer, texts) / temperature
    expected = torch.softmax(torch.from_numpy(scaled), -1).numpy()
    decided = (scaled + np.asarray(spec["class_bias"])).argmax(1)
    mlflow.set_tracking_uri(shipped["tracking_uri"])
    served = mlflow.pyfunc.load_model(shipped["uri"])
    for records in (
        predictor.predict(texts),
        served.predict(pd.DataFrame({"text": texts})),
        sft.load(mlflow.artifacts.download_artifacts(shipped["uri"])).predict(texts),
    ):
        np.testing.assert_allclose(as_matrix(records, labels), expected, atol=1e-5)
        assert [r["label"] for r in records] == [labels[i] for i in decided]
    gold = pd.read_csv(shipped["test_csv"])["label"].tolist()
    accuracy = np.mean([r["label"] == g for r, g in zip(predictor.predict(texts), gold)])
    assert accuracy > 0.9  # it is the trained model, not a fresh head


def test_served_model_answers_good_requests(shipped, server):
    texts = ["great good excellent pill", "awful bad drug and a terrible week"]
    expected = sft.load(shipped["model_dir"]).predict(texts)
    labels = list(expected[0]["probabilities"])
    for body in (
        {"inputs": texts},
        {"inputs": {"text": texts}},
        {"dataframe_split": {"columns": ["text"], "data": [[t] for t in texts]}},
    ):
        status, answer = post(server, body)
        assert status == 200, answer
        got = answer["predictions"]
        assert (
            [r["label"] for r in got] == [r["label"] for r in expected] == ["positive", "negative"]
        )
        np.testing.assert_allclose(as_matrix(got, labels), as_matrix(expected, labels), atol=1e-6)


@pytest.mark.parametrize(
    "body,message",
    [
        ({"inputs": []}, "no texts"),
        ({"inputs": [3, "fine"]}, "input 0: expected a string, got int"),
        ({"inputs": ["fine", None]}, "input 1: expected a string, got null"),
        ({"inputs": ["fine", "   "]}, "input 1: empty text"),
        ({"inputs": "just one string"}, "expected a list of texts"),
        ({"inputs": ["good"] * 1001}, "too many texts: 1001"),
        ({"inputs": ["good " * 10001]}, "text too long: 50005 characters"),
        ({"dataframe_split": {"columns": ["review"], "data": [["good"]]}}, "text"),
        ({"texts": ["good"]}, "dataframe_split"),
        ("{not json", "JSON"),
    ],
    ids=[
        "empty",
        "number",
        "null",
        "blank",
        "string",
        "too-many",
        "too-long",
        "no-text-column",
        "unknown-key",
        "malformed",
    ],
)
def test_served_model_refuses_bad_requests_with_400(server, body, message):
    status, answer = post(server, body, raw=isinstance(body, str))
    assert status == 400, answer
    assert message in answer["message"]
    assert len(answer["message"]) < 1500  # a huge request is not echoed back whole
    status, _ = post(server, {"inputs": ["still alive"]})  # the server survived
    assert status == 200


def test_sft_predict_writes_predictions_for_a_csv(shipped, tmp_path):
    preds = tmp_path / "out" / "preds.csv"
    done = run_sft(
        "predict",
        f"model_uri={shipped['uri']}",
        f"input={shipped['test_csv']}",
        f"output={preds}",
        f"tracking_uri={shipped['tracking_uri']}",
        "batch_size=7",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "Predicted 60 examples" in done.stderr
    table = pd.read_csv(preds)
    source = pd.read_csv(shipped["test_csv"])
    assert list(table.columns) == [
        "text",
        "label",
        "pred_label",
        "pred_probabilities_negative",
        "pred_probabilities_neutral",
        "pred_probabilities_positive",
    ]
    assert table["text"].tolist() == source["text"].tolist()
    expected = sft.load(shipped["model_dir"]).predict(source["text"].tolist())
    assert table["pred_label"].tolist() == [r["label"] for r in expected]
    np.testing.assert_allclose(
        table.filter(like="pred_probabilities_").to_numpy(),
        as_matrix(expected, ["negative", "neutral", "positive"]),
        atol=1e-6,
    )
    assert (table["pred_label"] == table["label"]).mean() > 0.9


def test_sft_predict_reads_stdin_lines_and_names_bad_columns(shipped, monkeypatch, capsys):
    import io

    from sft.errors import SFTDataError
    from sft.predict import predict_task

    monkeypatch.setattr(sys, "stdin", io.StringIO("great good pill\n\nawful bad week\n"))
    predict_task(app_config("predict", f"model_uri={shipped['model_dir']}", "progress=false"))
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in rows] == ["great good pill", "awful bad week"]
    assert [r["pred_label"] for r in rows] == ["positive", "negative"]
    with pytest.raises(
        SFTDataError,
        match=r"text_column: no column 'review' in .*test.csv "
        r"\(columns: text, label\)",
    ):
        predict_task(
            app_config(
                "predict",
                f"model_uri={shipped['model_dir']}",
                f"input={shipped['test_csv']}",
                "text_column=review",
            )
        )


def test_sft_export_onnx_matches_pytorch(shipped, tmp_path):
    out = tmp_path / "onnx"
    texts = shipped["texts"][:20]
    done = run_sft(
        "export",
        f"run_id={shipped['run'].info.run_id}",
        "format=onnx",
        f"out={out}",
        f"tracking_uri={shipped['tracking_uri']}",
        f"parity_texts={json.dumps(texts)}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    reported = float(
        re.search(r"max abs difference of the raw outputs (\S+)", done.stdout).group(1)
    )
    assert reported < 1e-4
    assert not any(p.suffix == ".safetensors" for p in out.iterdir())  # ONNX holds the weights
    exported = sft.load(out)
    assert exported.backend == "onnx"
    reference = sft.load(shipped["model_dir"])
    diff = np.abs(
        exported.logits(shipped["texts"], batch_size=16)
        - reference.logits(shipped["texts"], batch_size=16)
    ).max()
    assert diff < 1e-4
    assert [r["label"] for r in exported.predict(texts)] == [
        r["label"] for r in reference.predict(texts)
    ]
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "model.onnx"))
    input_ids, mask = reference.pad(reference.encode(texts[:3]))
    logits = session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0]
    np.testing.assert_allclose(logits, reference.logits(texts[:3], batch_size=3), atol=1e-4)


def test_sft_export_folder_and_a_failed_parity_check(shipped, tmp_path):
    from sft.errors import SFTConfigError
    from sft.export import export_task

    out = tmp_path / "folder"
    export_task(
        app_config(
            "export",
            f"model_uri={shipped['uri']}",
            f"out={out}",
            f"tracking_uri={shipped['tracking_uri']}",
        )
    )
    texts = shipped["texts"]
    assert sft.load(out).predict(texts) == sft.load(shipped["model_dir"]).predict(texts)
    with pytest.raises(SFTConfigError, match="exists and is not empty"):
        export_task(app_config("export", f"model_uri={shipped['model_dir']}", f"out={out}"))
    strict = tmp_path / "strict"
    with pytest.raises(SystemExit) as failed:  # ONNX never matches PyTorch to 1e-12
        export_task(
            app_config(
                "export",
                f"model_uri={shipped['model_dir']}",
                "format=onnx",
                f"out={strict}",
                "tolerance=1e-12",
            )
        )
    assert failed.value.code == 1 and not strict.exists()
    assert not list(tmp_path.glob(".strict-*"))  # nor a half-written staging folder


@pytest.mark.parametrize(
    "app,overrides,message",
    [
        ("predict", [], "config key 'model_uri' must be set"),
        ("predict", ["model_uri=m", "batch_size=0"], "config key 'batch_size' must be > 0, got 0"),
        (
            "predict",
            ["model_uri=m", "backend=tensorrt"],
            "config key 'backend': Invalid value 'tensorrt'",
        ),
        ("predict", ["model_uri=m", "+batchsize=3"], "unknown config key 'batchsize'"),
        ("export", ["run_id=abc"], "config key 'out' must be set"),
        ("export", ["run_id=abc", "out=x", "format=tflite"], "config key 'format': Invalid value"),
    ],
)
def test_app_configs_refuse_bad_keys_with_one_line(app, overrides, message):
    from sft.config.app_schemas import ExportSchema, PredictSchema, validate_app
    from sft.errors import SFTConfigError

    schema = {"predict": PredictSchema, "export": ExportSchema}[app]
    validate_app(
        app_config(app, *{"predict": ["model_uri=m"], "export": ["run_id=a", "out=x"]}[app]), schema
    )  # the shipped config with its required keys is valid
    with pytest.raises(SFTConfigError) as err:
        validate_app(app_config(app, *overrides), schema)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_predict_and_export_refuse_bad_requests_before_work(tmp_path):
    from sft.errors import SFTConfigError
    from sft.export import export_task
    from sft.predict import predict_task

    with pytest.raises(SFTConfigError, match=r"output: cannot write 'preds.xlsx'"):
        predict_task(app_config("predict", "model_uri=m", "output=preds.xlsx"))
    with pytest.raises(SFTConfigError, match="model_uri: no such folder"):
        predict_task(app_config("predict", f"model_uri={tmp_path / 'none'}", "input=-"))
    with pytest.raises(SFTConfigError, match="set exactly one of run_id"):
        export_task(app_config("export", f"out={tmp_path / 'x'}"))
