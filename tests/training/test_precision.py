"""`trainer.precision: auto` picks bf16 autocast only where the hardware has native bf16."""

from __future__ import annotations

from omegaconf import OmegaConf

from sft.training.precision import BF16, FP32, auto_precision, cpu_flags, resolve_precision

X86 = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 avx512f {extra}\n"


def test_cpu_flags_are_read_from_cpuinfo_on_x86_and_arm(tmp_path):
    x86 = tmp_path / "x86"
    x86.write_text(X86.format(extra="avx512_bf16"))
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert "avx512_bf16" in cpu_flags(x86) and "avx2" in cpu_flags(x86)
    assert "bf16" in cpu_flags(arm)
    assert cpu_flags(tmp_path / "missing") == set()  # not Linux: no flags, hence fp32


def test_auto_is_bf16_only_on_a_cpu_with_native_bf16():
    assert auto_precision("cpu", flags={"avx2", "avx512f", "avx512_bf16"}) == BF16
    assert auto_precision("cpu", flags={"avx2", "amx_bf16"}) == BF16
    assert auto_precision("cpu", flags={"avx2", "avx512f"}) == FP32  # emulated: a slowdown
    assert auto_precision("cpu", flags=set()) == FP32
    assert auto_precision("mps", flags={"avx512_bf16"}) == FP32


def test_resolving_writes_the_choice_into_the_config_and_keeps_explicit_ones():
    auto = OmegaConf.create({"precision": "auto", "accelerator": "cpu"})
    assert resolve_precision(auto) == auto_precision("cpu")
    assert auto.precision == auto_precision("cpu")  # what the run's params will show
    explicit = OmegaConf.create({"precision": "32-true", "accelerator": "cpu"})
    assert resolve_precision(explicit) == "32-true"
    assert explicit.precision == "32-true"


def test_16_mixed_on_the_cpu_is_logged_as_the_bf16_it_runs(caplog):
    """Lightning runs trainer.precision=16-mixed on the CPU as bf16-mixed, yet the run's
    params said 16-mixed: the config now holds what ran, and one line says why."""
    cpu = OmegaConf.create({"precision": "16-mixed", "accelerator": "cpu"})
    with caplog.at_level("WARNING"):
        assert resolve_precision(cpu) == BF16
    assert cpu.precision == BF16  # what the run's params will show
    assert [r.getMessage() for r in caplog.records] == [
        "trainer.precision=16-mixed: fp16 autocast does not run on the CPU, so Lightning runs "
        "bf16-mixed, and the run logs that"
    ]
    gpu = OmegaConf.create({"precision": "16-mixed", "accelerator": "gpu"})
    assert resolve_precision(gpu) == "16-mixed" and gpu.precision == "16-mixed"
