"""Seeded text noise: keyboard typos, abbreviations and casing, each at a rate the caller chooses.

Only alphabetic words are touched, so SKUs, order numbers, dates and quantities survive intact; words shorter
than four letters never get a typo, so short negation cues ("not", "no") survive while "wasn't" may not.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = ["NoiseRates", "TXT_ABBREVIATIONS", "TRADE_ABBREVIATIONS", "add_typos", "abbreviate", "apply_casing"]

_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_KEYBOARD_ROWS):
    for _c, _ch in enumerate(_row):
        near = [_row[i] for i in (_c - 1, _c + 1) if 0 <= i < len(_row)]
        for _rr in (_r - 1, _r + 1):
            if 0 <= _rr < len(_KEYBOARD_ROWS):
                near += [_KEYBOARD_ROWS[_rr][i] for i in (_c - 1, _c, _c + 1) if 0 <= i < len(_KEYBOARD_ROWS[_rr])]
        _NEIGHBOURS[_ch] = "".join(near)


@dataclass(frozen=True)
class NoiseRates:
    """How noisy one channel is. Rates are per eligible word, except the casing shares, which are per text."""

    typo: float = 0.0
    txt_abbreviation: float = 0.0
    trade_abbreviation: float = 0.0
    lower: float = 0.0
    upper: float = 0.0


# Consumer text-speak, seen in portal messages.
TXT_ABBREVIATIONS: Final = MappingProxyType({
    "you": ("u",), "your": ("ur",), "please": ("pls", "plz"), "thanks": ("thx", "ty"), "because": ("bc", "cos"),
    "are": ("r",), "about": ("abt",), "before": ("b4",), "tomorrow": ("tmrw",), "really": ("rly",),
    "don't": ("dont",), "doesn't": ("doesnt",), "won't": ("wont",), "can't": ("cant",), "it's": ("its",),
    "i'm": ("im",), "didn't": ("didnt",), "with": ("w",), "to be honest": ("tbh",),
})

# Trade shorthand, seen in rep notes, receiving remarks and EDI free text.
TRADE_ABBREVIATIONS: Final = MappingProxyType({
    "customer": ("cust",), "quantity": ("qty",), "please": ("pls",), "received": ("rcvd", "recd"),
    "damaged": ("dmg", "dmgd"), "damage": ("dmg",), "delivery": ("dlvry", "del"), "delivered": ("dlvd",),
    "packaging": ("pkg",), "package": ("pkg",), "carton": ("ctn",), "cartons": ("ctns",), "without": ("w/o",),
    "with": ("w/",), "order": ("ord",), "number": ("no.",), "return": ("rtn",), "returned": ("rtnd",),
    "replacement": ("repl",), "warranty": ("wty",), "months": ("mths",), "required": ("reqd",),
    "shipped": ("shpd",), "shipment": ("shpt",), "description": ("desc",), "defective": ("def",),
    "expiry": ("exp",), "and": ("&",), "approximately": ("approx",), "department": ("dept",),
    "information": ("info",), "inspection": ("insp",), "units": ("pcs",),
    "because": ("b/c",), "incomplete": ("incompl",), "thanks": ("thx",),
})

_PHRASES = tuple(k for k in (*TXT_ABBREVIATIONS, *TRADE_ABBREVIATIONS) if " " in k)


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word) - 1)
    op = rng.randrange(4)
    if op == 0:  # swap two neighbouring letters
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 1:  # drop a letter
        return word[:i] + word[i + 1:]
    if op == 2:  # double a letter
        return word[:i] + word[i] + word[i:]
    near = _NEIGHBOURS.get(word[i].lower())
    if not near:
        return word
    sub = rng.choice(near)
    return word[:i] + (sub.upper() if word[i].isupper() else sub) + word[i + 1:]


def add_typos(rng: random.Random, text: str, rate: float) -> str:
    """Give each word of four or more letters a keyboard typo with probability ``rate``."""
    if rate <= 0.0:
        return text

    def maybe(match: re.Match[str]) -> str:
        word = match.group(0)
        if len(word) < 4 or rng.random() >= rate:
            return word
        return _typo(rng, word)

    return _WORD.sub(maybe, text)


def _match_case(source: str, replacement: str) -> str:
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def abbreviate(rng: random.Random, text: str, table: MappingProxyType[str, tuple[str, ...]], rate: float) -> str:
    """Replace words found in ``table`` by one of their abbreviations with probability ``rate`` each."""
    if rate <= 0.0:
        return text
    for phrase in _PHRASES:
        if phrase in table and phrase in text.lower() and rng.random() < rate:
            text = re.sub(re.escape(phrase), table[phrase][0], text, count=1, flags=re.IGNORECASE)

    def maybe(match: re.Match[str]) -> str:
        word = match.group(0)
        options = table.get(word.lower())
        if options is None or rng.random() >= rate:
            return word
        return _match_case(word, rng.choice(options))

    return _WORD.sub(maybe, text)


def apply_casing(rng: random.Random, text: str, lower: float, upper: float) -> str:
    """Lower-case the whole text with probability ``lower``, else upper-case it with probability ``upper``."""
    roll = rng.random()
    if roll < lower:
        return text.lower()
    if roll < lower + upper:
        return text.upper()
    return text
