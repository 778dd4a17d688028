"""What the README and the docs pages cite exists, and the site builds strict.

Every guarantee in the docs names the test that proves it (`tests/...py::test_name`) and the
modules and configs it lives in; a renamed or deleted test or file would leave a promise with
no proof behind it (the old README cited a test that no longer existed). These checks read
the Markdown as text: a citation is a path under one of the repository's folders, or
`::test_name` after such a path (the same file, as the docs abbreviate).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCS = [ROOT / "README.md", *PAGES]
# Folders whose files the docs cite by path (outputs/ and the like are written by runs).
CITED_ROOTS = ("sft", "benchmarks", "conf", "tests", "experiments", "apps", "docs")
ROOTS = "|".join(CITED_ROOTS)
# A path under one of them; <, > and * are kept so that patterns (conf/logger/<name>.yaml,
# benchmarks/results/x-*.json) are seen whole and skipped.
PATH = re.compile(rf"(?<![\w./-])((?:{ROOTS})/[\w./<>*-]*[\w/*>])")
README_MAX_LINES = 300


@cache
def defined_tests(path: Path) -> frozenset[str]:
    """The test functions of a test file, top level and in classes."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    )


def cited_tests(text: str) -> list[tuple[str, str]]:
    """(file, test name) for every `tests/x.py::test_y` and every `::test_y` (the file named
    last before it, as the docs abbreviate)."""
    found, current = [], None
    for match in re.finditer(r"tests/[\w/]+\.py|::test_\w+", text):
        token = match.group(0)
        if token.startswith("tests/"):
            current = token
        elif current is not None:
            found.append((current, token[2:]))
    return found


def missing_citations(text: str) -> list[str]:
    """The cited tests and paths of one Markdown text that do not exist in the repository."""
    missing = []
    for file, name in cited_tests(text):
        path = ROOT / file
        if not path.is_file() or name not in defined_tests(path):
            missing.append(f"{file}::{name}")
    for cited in PATH.findall(text):
        if any(c in cited for c in "<*") or "..." in cited:
            continue  # a pattern (conf/data/*.yaml, conf/logger/<name>.yaml), not a file
        if not (ROOT / cited).exists():
            missing.append(cited)
    return missing


def github_slug(heading: str) -> str:
    """GitHub's anchor of a heading (mkdocs.yml makes the site's the same)."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown page (code blocks skipped)."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {github_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def broken_links(readme: str) -> list[str]:
    """README links that are neither web addresses, nor pages (and anchors) under docs/, nor
    anchors of the README itself."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if target.startswith(("http://", "https://")):
            continue
        page, _, anchor = target.partition("#")
        if not page:
            own = re.sub(r"```.*?```", "", readme, flags=re.S)
            if anchor not in {github_slug(h) for h in re.findall(r"^#{1,6} (.+)$", own, re.M)}:
                broken.append(target)
            continue
        path = ROOT / page
        if not page.startswith("docs/") or not path.is_file():
            broken.append(target)
        elif anchor and anchor not in anchors(path):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", DOCS, ids=[p.relative_to(ROOT).as_posix() for p in DOCS])
def test_every_cited_test_and_file_exists(page):
    missing = missing_citations(page.read_text(encoding="utf-8"))
    assert not missing, f"{page.relative_to(ROOT)} cites what does not exist: {missing}"


def test_the_check_finds_a_removed_test_a_missing_module_and_a_broken_link():
    # The old README (before the docs site) cited a test that had been renamed.
    text = (
        "`tests/data/test_data.py::test_a_damaged_cache_entry_is_rebuilt`,\n"
        "`::test_a_cache_entry_that_loads_but_holds_other_ids_is_rebuilt`; sft/data/nothing.py"
    )
    assert missing_citations(text) == [
        "tests/data/test_data.py::test_a_cache_entry_that_loads_but_holds_other_ids_is_rebuilt",
        "sft/data/nothing.py",
    ]
    assert broken_links("[a](docs/data.md) [b](docs/gone.md) [c](docs/data.md#nowhere)") == [
        "docs/gone.md",
        "docs/data.md#nowhere",
    ]
    assert broken_links("## Speed\n[a](#speed) [b](#nowhere) [c](sft/cli.py)") == [
        "#nowhere",
        "sft/cli.py",
    ]


def test_the_readme_is_short_and_links_only_to_pages_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_MAX_LINES, "move sections to docs/ pages"
    assert broken_links(readme) == []


def test_the_readmes_group_table_names_every_group_and_choice():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = {
        m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| (.*)$", readme, flags=re.M)
    }
    lacking = []
    for group in sorted(p for p in (ROOT / "conf").iterdir() if p.is_dir()):
        choices = {p.stem for p in group.glob("*.yaml")}
        row = rows.get(group.name, "")
        lacking += [f"{group.name}={c}" for c in sorted(choices) if f"`{c}`" not in row]
    assert not lacking, f"README's config-group table lacks {lacking}"


def _cases():
    """The tables of tests/apps/test_errors.py (imported: some rows are built by loops)."""
    spec = importlib.util.spec_from_file_location(
        "docs_test_errors", ROOT / "tests" / "apps" / "test_errors.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES, module.EXPLAIN_CASES


def test_the_quoted_count_of_bad_inputs_is_the_number_the_test_runs():
    text = (ROOT / "docs" / "guarantees.md").read_text(encoding="utf-8")
    quoted = re.search(r"(\d+) bad inputs of `sft-train` \(and (\d+) of `sft-explain`\)", text)
    cases, explain_cases = _cases()
    assert quoted, "docs/guarantees.md no longer quotes the count of bad inputs"
    assert (int(quoted[1]), int(quoted[2])) == (len(cases), len(explain_cases)), (
        "update the count in docs/guarantees.md to the rows of tests/apps/test_errors.py"
    )


def test_the_site_builds_in_strict_mode_with_the_generated_pages(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    options = (site / "reference" / "index.html").read_text(encoding="utf-8")
    # A key's help as its YAML comment says it, and an app's key: generated, not copied.
    assert "optimizer.lr" in options and "Base learning rate" in options
    assert "sft-predict" in options and "model_uri" in options
    modules = (site / "architecture" / "index.html").read_text(encoding="utf-8")
    every = [p.relative_to(ROOT).as_posix() for p in (ROOT / "sft").rglob("*.py")]
    assert [m for m in every if m not in modules] == []
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "make train" in home and 'href="data/"' in home


def _hooks():
    """docs/scripts/docs_hooks.py, the mkdocs hook that generates the reference pages."""
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs/scripts/docs_hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_option_reference_has_every_key_of_every_choice_with_its_help():
    from sft.config.key_help import MACHINERY, choice_help

    hooks = _hooks()
    reference = hooks.option_reference(ROOT)
    conf = ROOT / "conf"
    lacking = []
    for group in sorted(p for p in conf.iterdir() if p.is_dir() and p.name != "experiment"):
        for path in sorted(group.glob("*.yaml")):
            for key, text in choice_help(group, path.stem).items():
                if key.rsplit(".", 1)[-1] in MACHINERY or key.startswith("hydra"):
                    continue
                row = f"| `{group.name}.{key}` |"
                first = hooks._cell(text)[:40]  # the help as a table cell shows it
                if row not in reference or (first and first not in reference):
                    lacking.append(f"{group.name}={path.stem}: {key}")
    assert not lacking, lacking
