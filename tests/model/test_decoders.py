"""Decoder backbones (GPT-2 style) as classifiers: last-token pooling and a pad token for a
tokenizer that has none, from the config to the MLflow model."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch

import sft
from conftest import mlflow_runs
from sft.model.backbone import Backbone, load_tokenizer
from sft.tasks.sequence import SEQUENCE
from sft.train import train_task


def test_tokenizer_without_pad_token_pads_with_eos(tiny_gpt2_dir):
    tokenizer = load_tokenizer(str(tiny_gpt2_dir))
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"


def test_last_token_pooling_ignores_right_padding(tiny_gpt2_dir):
    backbone = Backbone(str(tiny_gpt2_dir), pooling="last_token", max_length=64).eval()
    tokenizer = load_tokenizer(str(tiny_gpt2_dir))
    texts = ["good drug", "the pill was awful and my week was bad after it"]
    alone = []
    with torch.no_grad():
        for text in texts:
            ids = torch.tensor([tokenizer(text)["input_ids"]])
            alone.append(backbone(ids, torch.ones_like(ids))[0])
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # padded
        together = backbone(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(together, torch.stack(alone), atol=1e-5, rtol=1e-4)
    # Mean pooling of the same padded batch differs: last_token really picks one position.
    assert not torch.allclose(together[1], together[1] * 0 + together[1].mean())


def test_batches_are_right_padded_even_for_a_tokenizer_that_pads_left(tiny_gpt2_dir, toy_data):
    """Decoders often save padding_side="left"; last_token pooling reads right-padded rows."""
    from sft.data.module import TextDataModule

    tokenizer = load_tokenizer(str(tiny_gpt2_dir))
    tokenizer.padding_side = "left"
    data = TextDataModule(name="toy", train_path=str(toy_data["train"]), val_fraction=0.2)
    data.load(SEQUENCE)
    data.tokenize(tokenizer, 64, cache_dir=None)
    batch = next(iter(data.train_dataloader()))
    lengths = batch["attention_mask"].sum(1)
    assert lengths.min() < batch["input_ids"].shape[1]  # the batch is padded
    for row, ids, n in zip(batch["attention_mask"], batch["input_ids"], lengths.tolist()):
        assert row[:n].all() and not row[n:].any()  # real tokens first, then padding
        assert (ids[n:] == tokenizer.pad_token_id).all()


@pytest.fixture(scope="module")
def gpt2_run(tiny_gpt2_dir, toy_data, tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from conftest import tiny_overrides
    from sft.cli import CONF_DIR

    out = tmp_path_factory.mktemp("gpt2-run")
    overrides = [
        o for o in tiny_overrides(tiny_gpt2_dir, toy_data, out) if not o.startswith("model")
    ]
    overrides += ["model=gpt2", f"model.name_or_path={tiny_gpt2_dir}", "model.max_length=64"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    assert cfg.model.pooling == "last_token"
    train_task(cfg)
    client, runs = mlflow_runs(out, "text_csv")
    return {"out": out, "client": client, "run": runs[0], "test": toy_data["test"]}


def test_gpt2_classifier_learns_logs_and_predicts(gpt2_run):
    run = gpt2_run["run"]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test/acc"] > 0.8  # chance is 1/3
    assert run.data.params["model.pooling"] == "last_token"
    texts = pd.read_csv(gpt2_run["test"])["text"].tolist()[:12]
    predictor = sft.load(gpt2_run["out"] / "run" / "model")
    assert predictor.spec["pooling"] == "last_token"
    assert predictor.tokenizer.pad_token == "<|endoftext|>"  # saved with the folder
    batched = predictor.logits(texts, batch_size=12)
    single = np.concatenate([predictor.logits([t]) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)  # padding never leaks in
    mlflow.set_tracking_uri(f"sqlite:///{gpt2_run['out']}/mlflow.db")
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    served = pyfunc.predict(pd.DataFrame({"text": texts}))
    assert [r["label"] for r in served] == [r["label"] for r in predictor.predict(texts)]
