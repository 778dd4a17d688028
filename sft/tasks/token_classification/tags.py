"""Tagging schemes (IOB2 a.k.a. BIO, and BIOES), tag-sequence validation, and tags -> entity
spans by the CoNLL rules as seqeval's strict mode applies them.

A tag is `O` or `<prefix>-<TYPE>`: IOB2 prefixes B (begins an entity) and I (continues it);
BIOES adds E (ends it) and S (a one-word entity). Spans are (type, first word, last word),
0-based and inclusive, as conlleval counts them.
"""

from __future__ import annotations

from collections.abc import Iterable

from sft.errors import SFTDataError

SCHEMES = {"iob2": ("B", "I"), "bioes": ("B", "I", "E", "S")}
ALIASES = {"bio": "iob2", "iob2": "iob2", "bioes": "bioes", "iobes": "bioes"}
OUTSIDE = "O"


def scheme_name(name: str, tags: Iterable[str] = ()) -> str:
    """The canonical scheme ("iob2" or "bioes") for a configured `name`: bio, iob2, bioes,
    iobes, or auto (bioes when any tag has an E- or S- prefix, else iob2). Raises
    SFTDataError naming data.scheme for another name."""
    key = str(name).lower()
    if key == "auto":
        return "bioes" if any(str(t)[:2] in ("E-", "S-") for t in tags) else "iob2"
    if key not in ALIASES:
        raise SFTDataError(
            f"data.scheme={name}: unknown tagging scheme (use auto, bio, iob2, bioes or iobes)"
        )
    return ALIASES[key]


def split_tag(tag: str) -> tuple[str, str | None]:
    """(prefix, type) of a tag: ("O", None) for O, ("B", "PER") for B-PER; ("", None) when
    the tag has neither form."""
    if tag == OUTSIDE:
        return OUTSIDE, None
    prefix, dash, kind = str(tag).partition("-")
    if not dash or len(prefix) != 1 or not kind:
        return "", None
    return prefix, kind


def form_error(tag: str, scheme: str) -> str | None:
    """Why `tag` is not of `scheme`'s form (None when it is)."""
    prefix, _ = split_tag(tag)
    if prefix == OUTSIDE or prefix in SCHEMES[scheme]:
        return None
    allowed = ", ".join(f"{p}-<TYPE>" for p in SCHEMES[scheme])
    return f"tag '{tag}' is not of the {scheme.upper()} form (O, {allowed})"


def sequence_error(tags: list[str], scheme: str) -> tuple[int, str] | None:
    """The first position (0-based) where `tags` breaks `scheme`'s rules, and why; None
    when the sequence is well formed. Tags of the wrong form are reported too.

    IOB2: I-X continues B-X or I-X. BIOES additionally: B-X and I-X are followed by I-X or
    E-X; E-X continues B-X or I-X; S-X stands alone.
    """
    for i, tag in enumerate(tags):
        problem = form_error(tag, scheme)
        if problem:
            return i, problem
    parts = [split_tag(t) for t in tags]
    for i, (prefix, kind) in enumerate(parts):
        before = parts[i - 1] if i > 0 else (OUTSIDE, None)
        after = parts[i + 1] if i + 1 < len(parts) else (OUTSIDE, None)
        continues = before[0] in ("B", "I") and before[1] == kind
        if prefix in ("I", "E") and not continues:
            previous = tags[i - 1] if i > 0 else "the sentence's start"
            if scheme == "iob2":
                return i, (
                    f"'{tags[i]}' follows {_quote(previous)}: an I-{kind} must follow "
                    f"B-{kind} or I-{kind} (broken IOB2 sequence)"
                )
            return i, (
                f"'{tags[i]}' follows {_quote(previous)}: {prefix}-{kind} must follow "
                f"B-{kind} or I-{kind} (broken BIOES sequence)"
            )
        if (
            scheme == "bioes"
            and prefix in ("B", "I")
            and not (after[0] in ("I", "E") and after[1] == kind)
        ):
            following = tags[i + 1] if i + 1 < len(tags) else "the sentence's end"
            return i, (
                f"'{tags[i]}' is followed by {_quote(following)}: {prefix}-{kind} must "
                f"be followed by I-{kind} or E-{kind} (broken BIOES sequence)"
            )
    return None


def _quote(tag: str) -> str:
    return tag if tag.startswith("the sentence") else f"'{tag}'"


def check_tags(
    tags: list[str],
    words: list[str],
    scheme: str,
    where: str,
    known: Iterable[str] | None = None,
    known_from: str = "the train split",
) -> None:
    """Raise SFTDataError, one line, for the first tag of a sentence that is unknown (not in
    `known`, the train split's tag set) or breaks `scheme`; `where` names the file and the
    sentence ("train.conll sentence 12"), the line adds the token (1-based) and its word."""
    if known is not None:
        allowed = set(known)
        for i, tag in enumerate(tags):
            if tag not in allowed:
                raise SFTDataError(
                    f"{where} token {i + 1} ('{words[i]}'): tag '{tag}' does not "
                    f"occur in {known_from} (tags: {', '.join(sorted(allowed))})"
                )
    found = sequence_error(tags, scheme)
    if found is not None:
        i, reason = found
        raise SFTDataError(f"{where} token {i + 1} ('{words[i]}'): {reason}")


def spans(tags: list[str], scheme: str) -> list[tuple[str, int, int]]:
    """Entity spans (type, first word, last word; inclusive) by seqeval's strict rules:

    IOB2: an entity is a B-X and the I-X that directly follow it; an I-X that does not
    continue one starts nothing. BIOES: S-X is an entity; B-X (I-X)* E-X is one; a B-X run
    that does not close with E-X is none. Tags of another form count as O.
    """
    parts = [split_tag(t) for t in tags]
    found = []
    i = 0
    while i < len(parts):
        prefix, kind = parts[i]
        if scheme == "bioes" and prefix == "S":
            found.append((kind, i, i))
            i += 1
            continue
        if prefix != "B" or kind is None:
            i += 1
            continue
        j = i + 1
        closed = False
        while (
            j < len(parts)
            and parts[j][1] == kind
            and parts[j][0] in (("I",) if scheme == "iob2" else ("I", "E"))
        ):
            j += 1
            if parts[j - 1][0] == "E":
                closed = True
                break
        if scheme == "iob2" or closed:
            found.append((kind, i, j - 1))
        i = j
    return found


def entity_types(tag_names: Iterable[str]) -> list[str]:
    """The entity types a tag set names, sorted (B-PER, I-PER, B-LOC -> LOC, PER)."""
    return sorted({kind for _, kind in map(split_tag, tag_names) if kind})


def tag_order(tags: Iterable[str]) -> list[str]:
    """The tag list a model is trained on: O first, then the others sorted by type, then by
    prefix in B, I, E, S order (so B-X and I-X sit together)."""
    rank = {"B": 0, "I": 1, "E": 2, "S": 3}
    others = sorted(
        {t for t in tags if t != OUTSIDE},
        key=lambda t: (split_tag(t)[1] or t, rank.get(split_tag(t)[0], 9), t),
    )
    return [OUTSIDE, *others]
