"""The registry of task families: every registered task implements the protocol generic code
relies on, and reading the registry (what sft.load does) imports no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sft.errors import SFTConfigError
from sft.tasks import REGISTRY, family_of, get_task, task_names
from sft.tasks.base import FEATURES, Family, Task


@pytest.mark.parametrize("name", task_names())
def test_every_registered_task_implements_the_protocol(name):
    task = get_task(name)
    assert isinstance(task, Task), name
    assert isinstance(task.family, Family) and name in task.family.tasks
    assert task.name == name and set(task.features) <= set(FEATURES)
    assert task.monitor[0].startswith("val/") and task.monitor[1] in ("min", "max")
    # A summary metric, or the validation loss every task logs (causal_lm monitors it).
    assert task.monitor[0] in {"val/loss", *(f"val/{m}" for m in task.metrics)}


def test_an_unknown_task_is_one_line_with_the_choices():
    with pytest.raises(SFTConfigError, match=r"unknown task 'ner' \(choices: multiclass, .*auto\)"):
        get_task("ner")
    assert family_of("auto").name == "sequence"


def test_the_registry_and_every_task_load_without_torch():
    code = (
        "import sys\n"
        "from sft.tasks import get_task, task_names\n"
        "[get_task(n) for n in task_names()]\n"
        "print(sorted(m for m in ('torch', 'pytorch_lightning', 'transformers', 'mlflow') "
        "if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]
    assert set(REGISTRY) == set(task_names())
