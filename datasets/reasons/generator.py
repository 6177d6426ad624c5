"""Generate the synthetic return-reason corpus, split it by template, and write it as CSV."""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .catalogue import products_with
from .channels import render_channel
from .slots import fill_slots
from .taxonomy import LABELS, OUT_OF_SCOPE, REASON_CODES
from .templates import Template, render_pattern, templates_for

__all__ = ["ReasonExample", "CSV_COLUMNS", "generate_corpus", "render_example", "split_by_template", "write_csv"]

CSV_COLUMNS: tuple[str, ...] = ("text", "label", "channel", "template_id", "secondary_label")

# How often to redraw a text that already exists before accepting the repeat. Short one-liners ("expired")
# legitimately repeat; a few retries keep repeats rare without distorting the template mix.
_REDRAWS = 4


@dataclass(frozen=True)
class ReasonExample:
    """One labelled return-reason text.

    ``label`` is the primary reason code (or ``OUT_OF_SCOPE``); ``secondary_label`` is a lesser reason the
    same text also states (mixed reasons), never a reason the text rules out (negations).
    """

    text: str
    label: str
    channel: str
    template_id: str
    secondary_label: str | None = None


def render_example(template: Template, rng: random.Random, *, channel: str | None = None,
                   noisy: bool = True) -> ReasonExample:
    """Render one example from ``template``; ``channel`` defaults to a random one the template speaks for."""
    if channel is None:
        channel = rng.choice(template.channels)
    elif channel not in template.channels:
        raise ValueError(f"template {template.id} does not speak for channel {channel!r}")
    product = rng.choice(products_with(template.product_tags))
    slots = fill_slots(rng, product)
    body = render_pattern(template.pattern, rng, slots)
    text = render_channel(rng, channel, body, slots, is_return=template.label != OUT_OF_SCOPE,
                          wrap=not template.raw, noisy=noisy)
    return ReasonExample(text=text, label=template.label, channel=channel, template_id=template.id,
                         secondary_label=template.secondary_label)


def _generate_label(rng: random.Random, label: str, count: int, seen: dict[str, str]) -> list[ReasonExample]:
    templates = list(templates_for(label))
    order: list[Template] = []
    examples = []
    for i in range(count):
        # Deal templates like cards, reshuffling each round, so every template is used before any repeats.
        if i % len(templates) == 0:
            order = templates[:]
            rng.shuffle(order)
        template = order[i % len(templates)]
        for _ in range(_REDRAWS + 1):
            example = render_example(template, rng)
            key = example.text.lower()
            if key not in seen:
                break
        # A text another label already owns would be label noise; a repeat within the label is tolerable.
        if seen.setdefault(key, label) != label:
            continue
        examples.append(example)
    return examples


def generate_corpus(seed: int = 0, per_code: int = 300, ood_per_code_equivalent: float = 1.0) -> list[ReasonExample]:
    """Generate ``per_code`` examples for each reason code plus ``round(per_code * ood_per_code_equivalent)``
    out-of-scope examples, shuffled. The same arguments give the same corpus, in any process.
    """
    if per_code < 0:
        raise ValueError(f"per_code must be >= 0, got {per_code}")
    if ood_per_code_equivalent < 0:
        raise ValueError(f"ood_per_code_equivalent must be >= 0, got {ood_per_code_equivalent}")
    rng = random.Random(seed)
    seen: dict[str, str] = {}
    wanted = {code: per_code for code in REASON_CODES}
    wanted[OUT_OF_SCOPE] = round(per_code * ood_per_code_equivalent)
    examples: list[ReasonExample] = []
    for label, count in wanted.items():
        made = _generate_label(rng, label, count, seen)
        # A draw dropped for colliding with another label's text is made up for here, so sizes stay exact.
        while len(made) < count:
            made += _generate_label(rng, label, count - len(made), seen)
        examples += made
    rng.shuffle(examples)
    return examples


def _hold_out(template_ids: Sequence[str], test_fraction: float, rng: random.Random) -> set[str]:
    # Spread the held-out templates proportionally over the groups (kind, or topic for out-of-scope), so the
    # test side gets its share of mixed and negation templates rather than whatever a plain shuffle leaves.
    groups: dict[str, list[str]] = {}
    for template_id in template_ids:
        groups.setdefault(template_id.rsplit(".", 1)[0], []).append(template_id)
    keyed = []
    for group, members in sorted(groups.items()):
        rng.shuffle(members)
        keyed += [((i + rng.random()) / len(members), group, member) for i, member in enumerate(members)]
    keyed.sort()
    n_test = min(len(template_ids) - 1, max(1, round(len(template_ids) * test_fraction)))
    return {member for _, _, member in keyed[:n_test]}


def split_by_template(examples: Iterable[ReasonExample], test_fraction: float = 0.25,
                      seed: int = 0) -> tuple[list[ReasonExample], list[ReasonExample]]:
    """Split into ``(train, test)`` so that no template appears on both sides.

    For each label, about ``test_fraction`` of its templates (at least one, and never all) go to the test
    side with all their examples. Raises ``ValueError`` when a label has fewer than two templates.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    examples = list(examples)
    by_label: dict[str, set[str]] = {}
    owner: dict[str, str] = {}
    for example in examples:
        if owner.setdefault(example.template_id, example.label) != example.label:
            raise ValueError(f"template {example.template_id} generates two labels")
        by_label.setdefault(example.label, set()).add(example.template_id)
    held_out: set[str] = set()
    for label in sorted(by_label, key=lambda lab: (LABELS.index(lab) if lab in LABELS else len(LABELS), lab)):
        template_ids = sorted(by_label[label])
        if len(template_ids) < 2:
            raise ValueError(f"label {label} has {len(template_ids)} template(s); a split by template needs two")
        # One generator per label, so one label's split does not shift when another label is added or removed.
        held_out |= _hold_out(template_ids, test_fraction, random.Random(f"{seed}:{label}"))
    train = [e for e in examples if e.template_id not in held_out]
    test = [e for e in examples if e.template_id in held_out]
    return train, test


def write_csv(examples: Iterable[ReasonExample], path: str | os.PathLike[str]) -> None:
    """Write ``examples`` as UTF-8 CSV with a header ``text,label,channel,template_id,secondary_label``.

    Email texts contain line breaks; they are quoted, so any CSV reader gets them back intact.
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for e in examples:
            writer.writerow((e.text, e.label, e.channel, e.template_id, e.secondary_label or ""))
