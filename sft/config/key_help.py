"""What each config key means: the comment beside its default, printed by `sft-train --help`.

One home per key: the YAML of a choice under conf/ holds its default, and the comment block
directly above the key (no blank line between), or after its value on the same line, is its
help. A file's leading comment block describes the file (the choice), not its first key.
A choice that extends another of its group (`defaults: [text_csv, _self_]`) inherits that
file's help for the keys it does not comment itself.

`sft-train --help` shows, for the config composed from the overrides given with it
(`sft-train data=text_csv --help`), every key with its value and its help: conf/train.yaml's
help template calls the resolver `${sft.config_keys:}` registered here. PyYAML's composer
gives each key's line (PyYAML drops comments; the lines around a key are read here).
Nothing here imports torch, Lightning, transformers or MLflow: --help stays instant.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from sft.config import CONF_DIR

# Hydra's instantiation keys: the group line shows `_target_`; `_partial_` is how it is built.
MACHINERY = frozenset({"_target_", "_partial_"})
# Keys that are not settings of the run: the defaults list, and Hydra's own config (whose help
# is Hydra's: sft-train --hydra-help).
NOT_SETTINGS = frozenset({"defaults", "hydra"})


@dataclass(frozen=True)
class FileHelp:
    """The help of one YAML file: `description` is its leading comment block; `keys` maps each
    dotted key (nested mappings included, `defaults` and `hydra` left out) to its help ('' when
    it has none); `bases` are the plain entries of its defaults list (other choices of the same
    group it extends), in order."""

    description: str
    keys: dict[str, str] = field(default_factory=dict)
    bases: tuple[str, ...] = ()


def _comment(line: str) -> str | None:
    """The text of a comment-only line ('# x' -> 'x', keeping deeper indentation), else None."""
    stripped = line.strip()
    if not stripped.startswith("#"):
        return None
    text = stripped[1:]
    return text[1:] if text.startswith(" ") else text


def _header_end(lines: list[str]) -> int:
    """Index of the first line after the file's leading comment block."""
    end = 0
    while end < len(lines) and _comment(lines[end]) is not None:
        end += 1
    return end


def _above(lines: list[str], line: int) -> list[str]:
    """The comment lines directly above `line`, unless they are the file's leading block."""
    start = line
    while start > 0 and _comment(lines[start - 1]) is not None:
        start -= 1
    if start == 0:  # the file's description, not this key's help
        return []
    return [_comment(text) for text in lines[start:line]]


def _after(lines: list[str], key: yaml.Node, value: yaml.Node) -> list[str]:
    """The comment after the key's value on the key's own line (`lr: 1e-4  # why`)."""
    line = key.start_mark.line
    end = value.end_mark if value.end_mark.line == line else key.end_mark
    rest = lines[line][end.column :].strip()
    rest = rest[1:].strip() if rest.startswith(":") else rest
    return [rest[1:].strip()] if rest.startswith("#") else []


def _walk(node: yaml.MappingNode, lines: list[str], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, help) for every key of a mapping node and of the mappings inside it."""
    for key, value in node.value:
        name = f"{prefix}{key.value}"
        if not prefix and key.value in NOT_SETTINGS:
            continue
        text = _above(lines, key.start_mark.line) + _after(lines, key, value)
        yield name, "\n".join(text).strip()
        if isinstance(value, yaml.MappingNode):
            yield from _walk(value, lines, f"{name}.")


def _bases(node: yaml.Node | None) -> tuple[str, ...]:
    """Plain string entries of the defaults list except _self_: same-group files extended."""
    if not isinstance(node, yaml.MappingNode):
        return ()
    for key, value in node.value:
        if key.value == "defaults" and isinstance(value, yaml.SequenceNode):
            return tuple(
                item.value
                for item in value.value
                if isinstance(item, yaml.ScalarNode) and item.value != "_self_"
            )
    return ()


@cache
def read_help(path: str) -> FileHelp:
    """The description and the help of every key of one YAML file (see the module docstring).

    Raises OSError when the file cannot be read, yaml.YAMLError when it is not YAML."""
    text = Path(path).read_text(encoding="utf-8")
    lines = text.splitlines()
    header_end = _header_end(lines)
    description = "\n".join(
        c
        for c in (_comment(x) for x in lines[:header_end])
        if not c.lstrip().startswith("@package")
    )
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    keys = dict(_walk(node, lines)) if isinstance(node, yaml.MappingNode) else {}
    return FileHelp(description.strip(), keys, _bases(node))


def choice_help(group_dir: Path, choice: str) -> dict[str, str]:
    """Key -> help for one choice of a group, its bases' help under its own (a key commented in
    neither keeps '')."""
    own = read_help(str(group_dir / f"{choice}.yaml"))
    merged: dict[str, str] = {}
    for base in own.bases:
        if (group_dir / f"{base}.yaml").is_file():
            merged.update(choice_help(group_dir, base))
    for key, text in own.keys.items():
        if text or key not in merged:
            merged[key] = text
    return merged


def _format(value: Any) -> str:
    """A value as it is written on the command line (null, true, [0.9, 0.999], {})."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_format(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format(v)}" for k, v in value.items()) + "}"
    return str(value)


def _rows(values: dict, help_of: dict[str, str], prefix: str) -> Iterator[str]:
    """'  key = value' lines, each with its help (`help_of`: full dotted key -> help) below it;
    a nested mapping as a key line with its help, followed by its own keys."""
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key in MACHINERY:
            continue
        nested = isinstance(value, dict) and value
        target = value.get("_target_") if nested else None
        yield (
            f"  {name}" + (f"  ({target})" if target else "")
            if nested
            else f"  {name} = {_format(value)}"
        )
        for text in (help_of.get(name) or "(no help)").splitlines():
            yield f"      {text}".rstrip()
        if nested:
            yield from _rows(value, help_of, f"{name}.")


def key_table(cfg: DictConfig, choices: dict[str, str], conf_dir: str = CONF_DIR) -> str:
    """Every key of a composed config, grouped by choice: `group=choice (target)` and the
    choice's description, then each key's value (interpolations unresolved) and its help;
    keys of the primary config (train.yaml) last.

    `cfg`: the composed config (its `hydra` node is skipped); `choices`: hydra.runtime.choices.
    """
    conf = Path(conf_dir)
    values = OmegaConf.to_container(cfg, resolve=False)
    top_help = read_help(str(conf / "train.yaml")).keys
    blocks, top = [], {}
    for key, value in values.items():
        if key in NOT_SETTINGS:
            continue
        choice = choices.get(key)
        if choice is None or not (conf / key / f"{choice}.yaml").is_file():
            top[key] = value
            continue
        target = value.get("_target_") if isinstance(value, dict) else None
        title = f"{key}={choice}" + (f"  ({target})" if target else "")
        about = read_help(str(conf / key / f"{choice}.yaml")).description
        help_of = {f"{key}.{k}": v for k, v in choice_help(conf / key, choice).items()}
        rows = _rows(value, help_of, f"{key}.") if isinstance(value, dict) else iter(())
        blocks.append("\n".join([title, *(f"    {x}" for x in about.splitlines()), *rows]))
    if top:
        blocks.append("\n".join(["top-level keys (conf/train.yaml)", *_rows(top, top_help, "")]))
    return "\n\n".join(blocks)


def config_keys(*, _root_: DictConfig) -> str:
    """Resolver `${sft.config_keys:}` for a Hydra help template: the key table of the config
    being composed. Its `$` are doubled, as Hydra passes the template through string.Template."""
    choices = OmegaConf.to_container(_root_.hydra.runtime.choices)
    return key_table(_root_, choices).replace("$", "$$")


OmegaConf.register_new_resolver("sft.config_keys", config_keys, replace=True)
