"""sft-predict streams its input: read, predicted and written a chunk of rows at a time, with
the same output, bytes included, as one chunk; row numbers in errors count across chunks;
on an error no output file appears; Predictor tokenizes a chunk of texts at a time."""

from __future__ import annotations

import contextlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import sft
import sft.inference.predictor as predictor_module
import sft.predict as predict_module
from helpers.saved_models import TEXTS, build
from sft.data.chunks import table_chunks
from sft.data.sources import locate, read_table
from sft.errors import SFTDataError
from sft.model.backbone import load_tokenizer
from sft.model.saving import save_model

FORMATS = ("csv", "tsv", "jsonl", "parquet")


@pytest.fixture(scope="module")
def model(tiny_model_dir, tmp_path_factory):
    module = build(tiny_model_dir, "multiclass")
    folder = tmp_path_factory.mktemp("stream") / "model"
    return save_model(module, load_tokenizer(str(tiny_model_dir)), module.head_config, 64, folder)


def table(rows: int = 23) -> pd.DataFrame:
    """Texts beside a number column with gaps and a text column with quotes and newlines."""
    return pd.DataFrame(
        {
            "text": [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(rows)],
            "score": [None if i % 7 == 0 else i * 1.5 for i in range(rows)],
            "note": ['é, "quoted"\nline' if i % 5 == 0 else "x" for i in range(rows)],
        }
    )


def predict(model, source, output, chunk_rows, monkeypatch, batch_size=1) -> str:
    """sft-predict in this process with `chunk_rows` rows a chunk; what it wrote to stdout."""
    monkeypatch.setattr(predict_module, "CHUNK_ROWS", chunk_rows)
    cfg = {
        "model_uri": str(model),
        "input": str(source),
        "output": str(output),
        "text_column": "text",
        "batch_size": batch_size,
        "progress": False,
        "backend": "auto",
        "tracking_uri": "sqlite:///unused.db",
    }
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        predict_module.predict_task(OmegaConf.create(cfg))
    return out.getvalue()


@pytest.mark.parametrize("source_kind", ["csv", "jsonl", "parquet"])
def test_chunks_write_the_same_bytes_as_one_chunk(model, tmp_path, monkeypatch, source_kind):
    source = tmp_path / f"in.{source_kind}"
    frame = table()
    if source_kind == "csv":
        frame.to_csv(source, index=False)
    elif source_kind == "jsonl":
        frame.to_json(source, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(source, index=False)
    for chunk_rows, folder in ((4096, "whole"), (5, "chunked")):
        (tmp_path / folder).mkdir()
        for kind in FORMATS:
            predict(model, source, tmp_path / folder / f"out.{kind}", chunk_rows, monkeypatch)
        stdout = predict(model, source, "-", chunk_rows, monkeypatch)
        (tmp_path / folder / "stdout.jsonl").write_text(stdout)
    for name in ("out.csv", "out.tsv", "out.jsonl", "stdout.jsonl"):
        whole = (tmp_path / "whole" / name).read_bytes()
        assert whole == (tmp_path / "chunked" / name).read_bytes(), name
    whole = pd.read_parquet(tmp_path / "whole" / "out.parquet")
    assert len(whole) == 23 and "pred_label" in whole
    pd.testing.assert_frame_equal(whole, pd.read_parquet(tmp_path / "chunked" / "out.parquet"))
    assert not list(tmp_path.glob("**/.*.partial"))


def test_a_bad_row_in_a_later_chunk_is_named_and_leaves_no_file(model, tmp_path, monkeypatch):
    frame = table(12)
    frame.loc[7, "text"] = " "  # row 8: in the second chunk of 5 rows
    frame.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "kept.csv").write_text("an earlier output\n")
    for output in ("out.csv", "out.parquet", "kept.csv"):
        with pytest.raises(SFTDataError, match=r"in\.csv row 8: empty text in column 'text'"):
            predict(model, tmp_path / "in.csv", tmp_path / output, 5, monkeypatch)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "out.parquet").exists()
    assert (tmp_path / "kept.csv").read_text() == "an earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "kept.csv"]
    # stdout streams: the first chunk's rows are out before the second chunk fails
    out = io.StringIO()
    with pytest.raises(SFTDataError, match="row 8"), contextlib.redirect_stdout(out):
        monkeypatch.setattr(predict_module, "CHUNK_ROWS", 5)
        cfg = {"model_uri": str(model), "input": str(tmp_path / "in.csv"), "output": "-"}
        predict_module.predict_task(
            OmegaConf.create(
                {
                    **cfg,
                    "text_column": "text",
                    "batch_size": 4,
                    "progress": False,
                    "backend": "auto",
                    "tracking_uri": "sqlite:///unused.db",
                }
            )
        )
    assert len(out.getvalue().splitlines()) == 5


def test_table_chunks_read_what_read_table_reads(tmp_path):
    frame = table(11)
    frame.to_csv(tmp_path / "t.csv", index=False)
    frame.to_csv(tmp_path / "t.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    with zipfile.ZipFile(tmp_path / "t.zip", "w") as archive:
        archive.write(tmp_path / "t.csv", "inner.csv")
    # JSON Lines whose keys differ between rows: every chunk has all of the file's columns
    lines = ['{"text": "a", "x": 1}', "", '{"text": "b"}', '{"y": "z", "text": "c"}']
    (tmp_path / "t.jsonl").write_text("\n".join(lines * 3) + "\n")
    for name in ("t.csv", "t.tsv", "t.parquet", "t.zip/inner.csv", "t.jsonl"):
        source = locate(str(tmp_path / name), "input")
        chunks = list(table_chunks(source, "input", 4))
        assert [len(c) for c in chunks][:2] == [4, 4], name
        joined = pd.concat(chunks)
        pd.testing.assert_frame_equal(joined, read_table(source, "input"), check_dtype=False)
    (tmp_path / "head.csv").write_text("text,label\n")
    (only,) = table_chunks(locate(str(tmp_path / "head.csv"), "input"), "input", 4)
    assert list(only.columns) == ["text", "label"] and only.empty


def test_jsonl_chunks_name_the_line_of_bad_json(tmp_path):
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n\n{"text": \n')
    with pytest.raises(SFTDataError, match=r"bad\.jsonl line 3: invalid JSON"):
        list(table_chunks(locate(str(tmp_path / "bad.jsonl"), "input"), "input", 1))
    (tmp_path / "empty.jsonl").write_text("\n \n")
    with pytest.raises(SFTDataError, match=r"empty\.jsonl is empty"):
        list(table_chunks(locate(str(tmp_path / "empty.jsonl"), "input"), "input", 1))


def test_predictor_tokenizes_a_chunk_of_texts_at_a_time(model, monkeypatch):
    predictor = sft.load(model)
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(11)]
    whole = predictor.logits(texts, batch_size=1)
    sizes = []
    encode = predictor.encode
    monkeypatch.setattr(predictor, "encode", lambda t: sizes.append(len(t)) or encode(t))
    monkeypatch.setattr(predictor_module, "ENCODE_ROWS", 4)
    np.testing.assert_array_equal(predictor.logits(texts, batch_size=1), whole)
    assert sizes == [4, 4, 3]
    assert {row.dtype for row in encode(texts)} == {np.dtype(np.int32)}
