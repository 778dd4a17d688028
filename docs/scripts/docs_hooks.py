"""mkdocs hook: the pages generated at build time from the files they describe.

Generated, not committed, because their sources change on every branch: six branches add
config keys (and their help comments) and modules in parallel, and a committed page would
conflict at every merge and go stale between regenerations. Built from the source at each
`mkdocs build`, the pages cannot disagree with it (`make docs`, run by `.ci/run`, builds
them in strict mode).

A page asks for a generated block with a marker line, replaced by `on_page_markdown`:
- `<!-- generated: groups -->`: a table of every config group and choice, the default marked.
- `<!-- generated: options -->`: every key of every config choice under conf/, of
  conf/train.yaml and of each app under apps/, with its default and its help. The help is
  read by `sft.config.key_help` (the comment above each key, the one home of its
  `sft-train --help`), so the reference and `--help` say the same words.
- `<!-- generated: experiments -->`: each named experiment and its leading comment.
- `<!-- generated: modules -->`: every module of sft/ and benchmarks/ with the first line of
  its docstring and its length (the map that was hand-kept in the README and missed modules).
- `<!-- generated: results -->`: the files under benchmarks/results/, copied into the site
  by `on_files` under `results/` so the page can link them.
The home page is the README itself (`on_files` adds it as index.md, its `docs/` links made
relative), so the repository's front page and the site's cannot drift apart.

Raises nothing of its own; a YAML file that does not parse fails the build with PyYAML's error.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml
from mkdocs.structure.files import File

from sft.config.key_help import MACHINERY, NOT_SETTINGS, choice_help, read_help

# Config groups left out of the option reference: experiments set other groups' keys (their
# help lives there); they get a list of their own.
NOT_OPTIONS = {"experiment"}
MARKER = "<!-- generated: {} -->"


def _cell(text: str) -> str:
    """Text for one Markdown table cell: one line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _value(value: Any) -> str:
    """A default as it is written on the command line (null, true, [0.9, 0.999], {})."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def _flat(values: dict, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value; a mapping keeps its own row (value '') before its keys."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if not prefix and key in NOT_SETTINGS:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out[name] = ""
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _values(path: Path) -> dict:
    """The keys a choice sets itself, under those of the same-group choices it extends."""
    own = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged: dict = {}
    for base in read_help(str(path)).bases:
        if (path.parent / f"{base}.yaml").is_file():
            merged.update(_values(path.parent / f"{base}.yaml"))
    return _merge(merged, {k: v for k, v in own.items() if k != "defaults"})


def _merge(base: dict, over: dict) -> dict:
    """`over` merged into `base` key by key, nested mappings too (as Hydra composes them)."""
    out = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = _merge(out[key], value) if both else value
    return out


def _key_table(values: dict[str, Any], help_of: dict[str, str], prefix: str = "") -> list[str]:
    """A Markdown table of keys, defaults and help (machinery keys left out)."""
    rows = ["| key | default | what it means |", "|---|---|---|"]
    for key, value in values.items():
        if key.rsplit(".", 1)[-1] in MACHINERY:
            continue
        shown = "" if value == "" else f"`{_cell(_value(value))}`"
        rows.append(f"| `{prefix}{key}` | {shown} | {_cell(help_of.get(key, ''))} |")
    return rows if len(rows) > 2 else []


def _about(path: Path) -> list[str]:
    """A file's leading comment block as a text block (its commands and indents kept)."""
    text = read_help(str(path)).description
    return ["", "```text", *text.splitlines(), "```"] if text else []


def _defaults(train: Path) -> dict[str, str]:
    """Group -> its default choice, from conf/train.yaml's defaults list."""
    entries = (yaml.safe_load(train.read_text(encoding="utf-8")) or {}).get("defaults", [])
    return {k: str(v) for e in entries if isinstance(e, dict) for k, v in e.items()}


def _first_sentence(path: Path) -> str:
    """The first sentence of a file's leading comment, command lines skipped."""
    words = []
    for line in read_help(str(path)).description.splitlines():
        if line.strip().startswith("sft-train") or line.startswith(" "):
            if words:
                break
            continue
        if not line.strip() and words:
            break
        words.append(line.strip())
    text = re.split(r"\s{3,}sft-train ", " ".join(words))[0]
    match = re.match(r"(.+?\.)(\s|$)", text)
    text = match.group(1) if match else text
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."


def group_table(root: Path) -> str:
    """Markdown: a table of every config group and choice of conf/, the default in bold, each
    with the first sentence of its file's leading comment."""
    conf = root / "conf"
    defaults = _defaults(conf / "train.yaml")
    rows = ["| group | choice | what it is |", "|---|---|---|"]
    for group in sorted(p for p in conf.iterdir() if p.is_dir()):
        for path in sorted(group.glob("*.yaml")):
            # The anchor of its section: this page's keys, or the experiments' list on sweeps.md.
            page = "sweeps.md" if group.name in NOT_OPTIONS else ""
            name = f"[`{path.stem}`]({page}#{group.name}{path.stem})"
            if defaults.get(group.name) == path.stem:
                name = f"**{name}** (default)"
            rows.append(f"| `{group.name}` | {name} | {_cell(_first_sentence(path))} |")
    return "\n".join(rows)


def option_reference(root: Path) -> str:
    """Markdown: every config group and choice of conf/, conf/train.yaml's own keys, and every
    app of apps/, each key with its default and its help (see the module docstring)."""
    conf = root / "conf"
    out = ["## Config groups of `sft-train`", ""]
    groups = sorted(p for p in conf.iterdir() if p.is_dir() and p.name not in NOT_OPTIONS)
    for group in groups:
        out += [f"### `{group.name}`", ""]
        for path in sorted(group.glob("*.yaml")):
            target = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("_target_")
            out += [f"#### `{group.name}={path.stem}`", *_about(path), ""]
            if target:
                out += [f"Class: `{target}`", ""]
            help_of = choice_help(group, path.stem)
            out += [*_key_table(_flat(_values(path)), help_of, f"{group.name}."), ""]
    train = conf / "train.yaml"
    top = yaml.safe_load(train.read_text(encoding="utf-8")) or {}
    out += ["## Top-level keys (`conf/train.yaml`)", *_about(train), ""]
    out += [*_key_table(_flat(top), read_help(str(train)).keys), ""]
    out += ["## The other apps (`apps/`)", ""]
    for path in sorted((root / "apps").glob("*.yaml")):
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        out += [f"### `sft-{path.stem}`", *_about(path), ""]
        out += [*_key_table(_flat(values), read_help(str(path)).keys), ""]
    return "\n".join(out)


def experiment_list(root: Path) -> str:
    """Markdown: each named experiment (experiments/*.yaml) with its leading comment."""
    out = []
    for path in sorted((root / "experiments").glob("*.yaml")):
        out += [f"### `experiment={path.stem}`", *_about(path), ""]
    return "\n".join(out)


def _summary(path: Path) -> str:
    """The first sentence-line of a module's docstring ('' when it has none)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def module_map(root: Path) -> str:
    """Markdown: a table per package of sft/ (and one for benchmarks/), each module with its
    line count and the first paragraph of its docstring."""
    out = []
    packages = sorted({p.parent for p in (root / "sft").rglob("*.py")})
    packages.append(root / "benchmarks")
    for package in packages:
        rel = package.relative_to(root).as_posix()
        out += [f"### `{rel}/`", "", "| module | lines | what it holds |", "|---|---|---|"]
        for path in sorted(package.glob("*.py")):
            lines = len(path.read_text(encoding="utf-8").splitlines())
            out.append(f"| `{rel}/{path.name}` | {lines} | {_cell(_summary(path))} |")
        out.append("")
    return "\n".join(out)


def result_list(root: Path) -> str:
    """Markdown: a list of links to the files under benchmarks/results/ (see on_files)."""
    names = sorted(p.name for p in (root / "benchmarks" / "results").glob("*") if p.is_file())
    return "\n".join(f"- [`benchmarks/results/{n}`](results/{n})" for n in names)


GENERATORS = {
    "groups": group_table,
    "options": option_reference,
    "experiments": experiment_list,
    "modules": module_map,
    "results": result_list,
}


def _root(config: Any) -> Path:
    """The repository: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """mkdocs event: replace each marker line with its generated block."""
    for name, make in GENERATORS.items():
        marker = MARKER.format(name)
        if marker in markdown:
            markdown = markdown.replace(marker, make(_root(config)))
    return markdown


def on_files(files: Any, config: Any) -> Any:
    """mkdocs event: add the README as index.md (the home page), and benchmarks/results/* under
    results/, so the benchmarks page links the result files themselves (both live outside
    docs/)."""
    files.append(File.generated(config, "index.md", content=readme_as_index(_root(config))))
    results = _root(config) / "benchmarks" / "results"
    for path in sorted(p for p in results.glob("*") if p.is_file()):
        files.append(File.generated(config, f"results/{path.name}", abs_src_path=str(path)))
    return files


def readme_as_index(root: Path) -> str:
    """The README as the site's home page: its links into docs/ made relative to docs/."""
    text = (root / "README.md").read_text(encoding="utf-8")
    return re.sub(r"\]\(docs/", "](", text)
