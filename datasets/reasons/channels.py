"""The five channels a return reason arrives through, each with its own wrapper and its own noise.

A template gives the reason in the channel's register (a customer one-liner, a rep note, a receiving remark,
an EDI reason phrase); the channel voice then wraps it (greeting and sign-off, note prefixes, EDI fields) and
adds noise at the channel's rates. Wrappers never depend on the label, with one exception: a rep asks for an
RMA or a credit, and an email offers photos or asks for a returns label, only when the text is a return, as
real writers would.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from .noise import TRADE_ABBREVIATIONS, TXT_ABBREVIATIONS, NoiseRates, abbreviate, add_typos, apply_casing

__all__ = ["CHANNELS", "CHANNEL_NOISE", "render_channel"]

CHANNELS: Final[tuple[str, ...]] = ("portal", "email", "field_sales", "warehouse", "edi")

#: Noise per channel; DATA_CARD.md quotes these numbers, keep them in step.
CHANNEL_NOISE: Final = MappingProxyType({
    "portal": NoiseRates(typo=0.04, txt_abbreviation=0.25, lower=0.35, upper=0.04),
    "email": NoiseRates(typo=0.012),
    "field_sales": NoiseRates(typo=0.025, trade_abbreviation=0.7, lower=0.6, upper=0.05),
    "warehouse": NoiseRates(typo=0.02, trade_abbreviation=0.8, lower=0.05, upper=0.85),
    "edi": NoiseRates(typo=0.004, trade_abbreviation=0.3, upper=0.75),
})

_PORTAL_CHATTER = ("ordered it for my dad", "first time ordering from you", "pls sort asap", "cheers", "thanks",
                   "need this sorted", "2nd time this has happened", "hope you can help", "thx in advance")
_PORTAL_RETURN_CHATTER = ("really disappointed", "not happy", "can I get a refund", "want my money back")
_PORTAL_ENDINGS = ("!!", " :(", "...", "!", " ??")

_GREETINGS = ("Hi,", "Hello,", "Hi team,", "Hello customer service,", "Dear Sir or Madam,", "Good morning,",
              "Good afternoon,", "Hi {agent},", "Dear support team,", "Morning,")
_EMAIL_OPENERS = ("Hope you're well.", "Hope you had a good weekend.", "Sorry for the long email.",
                  "I tried calling but couldn't get through.", "Happy Friday!",
                  "We've been ordering from you for years and this is the first time this has happened.",
                  "I'm writing on behalf of our purchasing team.", "Following up on my call this morning.")
_EMAIL_CLOSERS = ("Please advise on next steps.",
                  "Also, could you send over your updated price list when you get a chance?",
                  "Our accounts team will settle the other invoice this week.",
                  "The weather here has been terrible, hope it's better your end!",
                  "I'm out of office on Friday.", "Can you confirm once this has been processed?")
_EMAIL_RETURN_CLOSERS = ("Let me know if you need photos.", "Happy to drop it at a branch if that's easier.",
                         "Can you send a returns label?")
_SIGN_OFFS = ("Thanks,\n{name}", "Kind regards,\n{name}\n{company}", "Cheers, {name}", "Best,\n{name}",
              "Regards\n{name} | Purchasing | {company}", "Many thanks\n{name}", "Thanks", "Sent from my iPhone")

_REP_PREFIXES = ("cust visit -", "call w/ buyer:", "per cust:", "rep note:", "{company} -", "site visit {company}:",
                 "ph call {name} @ {company}:", "acct {company}:", "")
_REP_SUFFIXES = ("pls advise", "will follow up", "{initials}", "cc {name}", "urgent", "")
_REP_RETURN_SUFFIXES = ("pls raise RMA", "pls credit", "RMA pls", "pls arrange collection")

_WAREHOUSE_PREFIXES = ("RTN RCVD {date} -", "GR NOTE:", "INSP {initials}:", "{rma}:", "DOCK 3:", "RET BAY:", "")
_WAREHOUSE_SUFFIXES = ("PHOTOS ON FILE", "SEE ATTACHED", "CHK BY {initials}", "PALLET {line}", "REF {rma}", "")

_EDI_FORMATS = ("RSN: {body} / QTY {qty} / REF PO {po}",
                "RSN={body};QTY={qty};PO={po};LN={line}",
                "RETURN REASON: {body} | QTY: {qty} | PO# {po} | ITEM {sku}",
                "FTX+RET+++{body}'QTY+12:{qty}'RFF+ON:{po}'",
                "{po}/{line} {sku} X{qty} - {body}",
                "NOTE: {body} / REF {po}")


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def _pick(rng: random.Random, options: tuple[str, ...], slots: Mapping[str, str]) -> str:
    return rng.choice(options).format_map(slots)


def _portal(rng: random.Random, body: str, slots: Mapping[str, str], is_return: bool) -> str:
    if rng.random() < 0.2:
        chatter = rng.choice(_PORTAL_CHATTER + _PORTAL_RETURN_CHATTER if is_return else _PORTAL_CHATTER)
        body = f"{body}, {chatter}" if rng.random() < 0.7 else f"{chatter}. {body}"
    roll = rng.random()
    if roll < 0.45:
        body = body.rstrip(".")
    elif roll < 0.55:
        body = body.rstrip(".") + rng.choice(_PORTAL_ENDINGS)
    return body


def _email(rng: random.Random, body: str, slots: Mapping[str, str], is_return: bool) -> str:
    lines = [_pick(rng, _GREETINGS, slots), ""]
    paragraph = _sentence(body)
    if rng.random() < 0.35:
        paragraph = f"{rng.choice(_EMAIL_OPENERS)} {paragraph}"
    if rng.random() < 0.4:
        closers = _EMAIL_CLOSERS + _EMAIL_RETURN_CLOSERS if is_return else _EMAIL_CLOSERS
        paragraph = f"{paragraph} {rng.choice(closers)}"
    lines += [paragraph, "", _pick(rng, _SIGN_OFFS, slots)]
    if rng.random() < 0.15:
        del lines[0:2]  # many emails skip the greeting altogether
    return "\n".join(lines)


def _field_sales(rng: random.Random, body: str, slots: Mapping[str, str], is_return: bool) -> str:
    prefix = _pick(rng, _REP_PREFIXES, slots)
    suffixes = _REP_SUFFIXES + _REP_RETURN_SUFFIXES if is_return else _REP_SUFFIXES
    suffix = _pick(rng, suffixes, slots) if rng.random() < 0.5 else ""
    return " ".join(part for part in (prefix, body.rstrip("."), suffix) if part)


def _warehouse(rng: random.Random, body: str, slots: Mapping[str, str], is_return: bool) -> str:
    prefix = _pick(rng, _WAREHOUSE_PREFIXES, slots)
    suffix = _pick(rng, _WAREHOUSE_SUFFIXES, slots) if rng.random() < 0.4 else ""
    return " ".join(part for part in (prefix, body.rstrip("."), "-" if suffix else "", suffix) if part)


def _edi(rng: random.Random, body: str, slots: Mapping[str, str], is_return: bool) -> str:
    return rng.choice(_EDI_FORMATS).format_map({**slots, "body": body.rstrip(".")})


_VOICES: Final[Mapping[str, Callable[[random.Random, str, Mapping[str, str], bool], str]]] = MappingProxyType({
    "portal": _portal, "email": _email, "field_sales": _field_sales, "warehouse": _warehouse, "edi": _edi,
})


def render_channel(rng: random.Random, channel: str, body: str, slots: Mapping[str, str], *, is_return: bool,
                   wrap: bool = True, noisy: bool = True) -> str:
    """Turn a template's rendered ``body`` into the text that arrives through ``channel``.

    Typos and abbreviations hit the body only (greetings and EDI field names are machine- or habit-made);
    casing then applies to the whole text. ``noisy=False`` skips all three, for tests and inspection;
    ``wrap=False`` skips the wrapper (spam and gibberish arrive without one).
    """
    rates = CHANNEL_NOISE[channel]
    if noisy:
        body = abbreviate(rng, body, TXT_ABBREVIATIONS, rates.txt_abbreviation)
        body = abbreviate(rng, body, TRADE_ABBREVIATIONS, rates.trade_abbreviation)
        body = add_typos(rng, body, rates.typo)
    text = _VOICES[channel](rng, body, slots, is_return) if wrap else body
    if noisy:
        text = apply_casing(rng, text, rates.lower, rates.upper)
    return text
