"""The model card's usage lines: the export command a user copies must run as written."""

from sft.errors import first_line
from sft.tasks import get_task
from sft.training.model_card import usage_lines


def test_an_audio_models_export_line_names_the_files_its_parity_check_runs_on():
    # sft-export refuses an image or audio model without parity_texts (files to run).
    lines = "\n".join(usage_lines("abc", "speech", "audio", get_task("speech_to_text")))
    assert "sft-export model_uri=models:/speech/<version> format=onnx out=exports/onnx " in lines
    assert "parity_texts=[path/to/file]" in lines


def test_a_text_models_export_line_needs_no_files():
    lines = "\n".join(usage_lines("abc", None, "text", get_task("multiclass")))
    assert "format=onnx quantize=int8 out=exports/int8" in lines
    assert "parity_texts" not in lines


def test_one_line_errors_drop_terminal_colour_codes():
    # torch's ONNX exporter colours its report; quoted in a one-line error it was noise.
    error = RuntimeError("\n\x1b[96mThis is step 2/3\x1b[0m of exporting\nmore")
    assert first_line(error) == "This is step 2/3 of exporting"
