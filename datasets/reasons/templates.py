"""Generating templates: a small phrase grammar, the ``Template`` record and the registry of all templates.

A pattern is text with ``{slot}`` placeholders (see ``slots.SLOT_NAMES``) and ``[a|b|c]`` choices, which nest
and may be empty (``[ please|]`` is an optional word). Patterns are compiled once at import, so rendering is a
walk over tuples. The wording itself lives in the ``templates_*`` modules as plain tuples::

    (voice, pattern, *flags)

``voice`` names the channels the wording suits (see ``VOICES``). Flags: ``"mixed:CODE"`` (the text also states
a lesser reason, recorded as the secondary label), ``"negates:CODE"`` (the text mentions and rules out that
code, e.g. "box was fine, ..."), ``"needs:TAG"`` (the product must carry that catalogue tag), ``"raw"`` (the
channel adds noise but no greeting, sign-off or note prefix: spam and gibberish arrive as they are).

Template ids read ``<label>.<kind or topic>.<nn>``, e.g. ``defective.negation.02`` or
``out_of_scope.spam.01``; they are stable as long as the wording modules only append.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, TypeAlias

from . import templates_customer, templates_fulfilment, templates_out_of_scope, templates_product
from .catalogue import TAGS
from .slots import SLOT_NAMES
from .taxonomy import LABELS, OUT_OF_SCOPE, REASON_CODES

__all__ = ["Template", "TEMPLATES", "VOICES", "KINDS", "compile_pattern", "render_pattern", "templates_for"]

VOICES: Final = MappingProxyType({
    "C": ("portal", "email"),  # a customer writing in
    "P": ("portal",),          # a one-liner only a web form gets
    "E": ("email",),           # a full message
    "R": ("field_sales",),     # a rep's note
    "W": ("warehouse",),       # a receiving remark
    "X": ("edi",),             # an EDI reason phrase
    "RW": ("field_sales", "warehouse"),
})

KINDS: Final[tuple[str, ...]] = ("plain", "mixed", "negation")

# Slots that only make sense for some products; a template using them gets the tag implicitly.
_SLOT_TAGS: Final = MappingProxyType({"part": "kit", "part2": "kit", "expiry_past": "perishable",
                                      "expiry_soon": "perishable", "shelf": "perishable", "lot": "perishable"})

# Code-wide product constraints: an expiry complaint about a drill, or a warranty claim on bolts, reads wrong.
_CODE_TAGS: Final = MappingProxyType({"EXPIRED_OR_SHORT_DATED": "perishable", "WARRANTY_CLAIM": "durable"})


class _Slot(str):
    """A slot name inside a compiled pattern (a ``str`` subclass so the walk can tell it from literal text)."""


Node: TypeAlias = "str | _Slot | tuple[tuple[Node, ...], ...]"
Pattern: TypeAlias = tuple[Node, ...]


def _parse(text: str, i: int, depth: int) -> tuple[Pattern, int]:
    seq: list[Node] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            seq.append("".join(literal))
            literal.clear()

    while i < len(text):
        ch = text[i]
        if ch == "{":
            end = text.index("}", i)
            flush()
            seq.append(_Slot(text[i + 1:end]))
            i = end + 1
        elif ch == "[":
            flush()
            options: list[Pattern] = []
            i += 1
            while True:
                option, i = _parse(text, i, depth + 1)
                options.append(option)
                if i >= len(text):
                    raise ValueError(f"unclosed '[' in pattern {text!r}")
                i += 1
                if text[i - 1] == "]":
                    break
            seq.append(tuple(options))
        elif ch in "|]":
            if depth == 0:
                raise ValueError(f"stray {ch!r} in pattern {text!r}")
            break
        else:
            literal.append(ch)
            i += 1
    flush()
    return tuple(seq), i


def _slots_in(pattern: Pattern) -> set[str]:
    found: set[str] = set()
    for node in pattern:
        if isinstance(node, _Slot):
            found.add(str(node))
        elif isinstance(node, tuple):
            for option in node:
                found |= _slots_in(option)
    return found


def compile_pattern(text: str) -> Pattern:
    """Parse a pattern; unknown slot names and unbalanced brackets raise ``ValueError``."""
    pattern, _ = _parse(text, 0, 0)
    unknown = _slots_in(pattern) - SLOT_NAMES
    if unknown:
        raise ValueError(f"unknown slots {sorted(unknown)} in pattern {text!r}")
    return pattern


def _walk(pattern: Pattern, rng: random.Random, slots: Mapping[str, str], out: list[str]) -> None:
    for node in pattern:
        if isinstance(node, _Slot):
            out.append(slots[node])
        elif isinstance(node, str):
            out.append(node)
        else:
            _walk(node[rng.randrange(len(node))], rng, slots, out)


def render_pattern(pattern: Pattern, rng: random.Random, slots: Mapping[str, str]) -> str:
    """Render a compiled pattern: one option per choice, slots filled, whitespace tidied."""
    out: list[str] = []
    _walk(pattern, rng, slots, out)
    return _tidy("".join(out))


def _tidy(text: str) -> str:
    # Empty options leave doubled spaces and orphaned punctuation behind; fix those, then articles.
    text = " ".join(text.split())
    for bad, good in ((" ,", ","), (" .", "."), (" ;", ";"), (" :", ":"), (",,", ","), (".,", ","), (",.", "."),
                      (" ?", "?"), (" !", "!")):
        text = text.replace(bad, good)
    return _fix_articles(text.strip(" ,;-"))


_VOWEL_SOUND_EXCEPTIONS = ("us", "uni", "eu", "one", "use")


def _fix_articles(text: str) -> str:
    words = text.split(" ")
    for i in range(len(words) - 1):
        if words[i] not in ("a", "an", "A", "An"):
            continue
        nxt = words[i + 1].lower()
        vowel = nxt[:1] in "aeiou" and not nxt.startswith(_VOWEL_SOUND_EXCEPTIONS)
        vowel = vowel or nxt[:3] in ("led", "ups", "hdm", "mcb", "ffp", "fda", "msd", "sds")
        want = "an" if vowel else "a"
        words[i] = want if words[i].islower() else want.capitalize()
    return " ".join(words)


@dataclass(frozen=True)
class Template:
    """One generating template: its label, the channels it speaks for, and how it relates to other codes."""

    id: str
    label: str
    kind: str
    channels: tuple[str, ...]
    source: str
    pattern: Pattern
    product_tags: frozenset[str]
    secondary_label: str | None = None
    negated_label: str | None = None
    topic: str | None = None
    raw: bool = False


def _build(label: str, group: str, number: int, spec: Sequence[str], topic: str | None) -> Template:
    voice, source, *flags = spec
    kind, secondary, negated, raw = "plain", None, None, False
    tags = {tag for slot, tag in _SLOT_TAGS.items() if "{" + slot + "}" in source}
    if label in _CODE_TAGS:
        tags.add(_CODE_TAGS[label])
    for flag in flags:
        key, _, value = flag.partition(":")
        if key == "mixed":
            kind, secondary = "mixed", value
        elif key == "negates":
            kind, negated = "negation", value
        elif key == "needs":
            tags.add(value)
        elif key == "raw":
            raw = True
        else:
            raise ValueError(f"unknown flag {flag!r} on {label} template {source!r}")
    for other in (secondary, negated):
        if other is not None and (other not in REASON_CODES or other == label):
            raise ValueError(f"{label} template {source!r} refers to {other!r}")
    if not tags <= set(TAGS):
        raise ValueError(f"unknown product tags {sorted(tags - set(TAGS))} in {source!r}")
    prefix = f"{label.lower()}.{topic or kind}"
    return Template(id=f"{prefix}.{number:02d}", label=label, kind=kind, channels=VOICES[voice], source=source,
                    pattern=compile_pattern(source), product_tags=frozenset(tags), secondary_label=secondary,
                    negated_label=negated, topic=topic, raw=raw)


def _build_all() -> tuple[Template, ...]:
    built: list[Template] = []
    grouped: dict[tuple[str, str | None], dict[str, list[Sequence[str]]]] = {}
    for module in (templates_fulfilment, templates_product, templates_customer):
        for label, specs in module.WORDING.items():
            for spec in specs:
                kind = "mixed" if any(f.startswith("mixed:") for f in spec[2:]) else (
                    "negation" if any(f.startswith("negates:") for f in spec[2:]) else "plain")
                grouped.setdefault((label, None), {}).setdefault(kind, []).append(spec)
    for topic, specs in templates_out_of_scope.WORDING.items():
        grouped.setdefault((OUT_OF_SCOPE, topic), {}).setdefault(topic, []).extend(specs)
    for (label, topic), by_group in grouped.items():
        for group, specs in by_group.items():
            built += [_build(label, group, n, spec, topic) for n, spec in enumerate(specs, start=1)]
    return tuple(sorted(built, key=lambda t: (LABELS.index(t.label), t.id)))


#: Every template, ordered by label (taxonomy order) then id.
TEMPLATES: Final[tuple[Template, ...]] = _build_all()

_BY_LABEL: Final = MappingProxyType({label: tuple(t for t in TEMPLATES if t.label == label) for label in LABELS})


def templates_for(label: str) -> tuple[Template, ...]:
    """The templates that generate ``label`` (a reason code or ``OUT_OF_SCOPE``)."""
    return _BY_LABEL[label]
