"""Slot values for one example: the product, its attribute, numbers, dates, references and people.

All values for one example come from one call, so a text and its channel wrapper agree (the EDI ``QTY`` field
and the "ordered 10, got 8" sentence use the same order quantity).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Final

from .catalogue import CATEGORY_NAMES, EQUIPMENT, PRODUCTS, Product

__all__ = ["SLOT_NAMES", "fill_slots"]

_TODAY = date(2025, 6, 16)  # a fixed "now" keeps dates deterministic and mutually consistent
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_QUANTITIES = (2, 3, 4, 5, 6, 8, 10, 12, 20, 24, 25, 50, 100)
_CARRIERS = ("DHL", "DPD", "UPS", "FedEx", "GLS", "the courier", "the haulier", "the driver")
_NEEDS = ("the install on Monday", "a site shutdown", "our audit", "the trade show", "a customer demo",
          "the weekend shutdown", "a job that started last week", "the lab inspection", "the fit-out")
_SITES = ("the Leeds site", "our Rotterdam warehouse", "site 3", "the north plant", "our Manchester branch",
          "the lab in building B", "the depot", "the Lyon workshop")
_COMPANIES = ("Hartwell Engineering", "Norlund Labs", "Brightmoor Facilities", "Kestrel Electrical Ltd",
              "Oakfield Joinery", "Vantor Logistics", "Meridian Biotech", "Stoneway Builders", "Calder Foods")
_NAMES = ("Sam", "Priya", "Tom", "Agnieszka", "Luis", "Chen", "Fatima", "Jonas", "Mark", "Olu", "Helen", "Ravi",
          "Ines", "Gareth")
_FAILURES = ("stopped charging", "started tripping the breaker", "began overheating", "lost power under load",
             "developed a leak", "started making a grinding noise", "stopped working altogether",
             "started cutting out")
_URLS = ("www.best-deals4u.biz", "bit.ly/fr33cash", "cheap-seo-now.net", "win-big.example", "crypto-x.example")
_KEYBOARD_RUNS = ("asdf", "qwerty", "zxcv", "jkl", "hjkl", "uiop", "sdfg", "wasd")

SLOT_NAMES: Final[frozenset[str]] = frozenset({
    "product", "short", "sku", "attr", "attr_name", "alt", "other", "other_sku", "part", "part2", "category",
    "equipment", "is", "was", "has", "it", "them", "its", "doesnt",
    "qty", "qty_short", "diff", "qty_over", "extra", "pack_n", "pack_short",
    "order", "order2", "po", "rma", "inv", "serial", "lot", "recall", "line",
    "carrier", "days", "weeks", "months", "warranty_years", "month_name", "day", "date",
    "expiry_past", "expiry_soon", "shelf", "mfg_year",
    "need", "site", "company", "name", "agent", "initials", "email", "url", "gibberish", "failure", "amount",
})


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _format_date(rng: random.Random, day: date) -> str:
    style = rng.randrange(5)
    if style == 0:
        return day.isoformat()
    if style == 1:
        return day.strftime("%d/%m/%Y")
    if style == 2:
        return day.strftime("%m/%Y")
    if style == 3:
        return f"{day.day} {_MONTHS[day.month - 1][:3]} {day.year}"
    return day.strftime("%d.%m.%y")


def _order_number(rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return "SO-" + _digits(rng, 6)
    if style == 1:
        return "#" + _digits(rng, 7)
    return "1" + _digits(rng, 6)


def _gibberish(rng: random.Random) -> str:
    style = rng.randrange(4)
    if style == 0:
        return rng.choice(_KEYBOARD_RUNS) * rng.randint(1, 3)
    if style == 1:
        return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 12)))
    if style == 2:
        return rng.choice("xzkjqa") * rng.randint(3, 8)
    return " ".join("".join(rng.choice("bcdfghklmnprstvw") + rng.choice("aeiou") for _ in range(rng.randint(1, 3)))
                    for _ in range(rng.randint(2, 4)))


_OTHERS: dict[str, tuple[Product, ...]] = {}


def _others(product: Product) -> tuple[Product, ...]:
    # What a mis-pick plausibly sends: a neighbour from the same category, else anything else in stock.
    found = _OTHERS.get(product.sku)
    if found is None:
        found = tuple(p for p in PRODUCTS if p.category == product.category and p is not product)
        found = found or tuple(p for p in PRODUCTS if p is not product)
        _OTHERS[product.sku] = found
    return found


def fill_slots(rng: random.Random, product: Product) -> dict[str, str]:
    """Draw every slot value for one example about ``product``."""
    other = rng.choice(_others(product))
    parts = product.parts or ("manual",)
    qty = rng.choice(_QUANTITIES)
    qty_short = rng.randint(max(1, qty // 3), qty - 1)
    extra = rng.randint(1, max(1, qty // 2))
    pack_n = rng.choice((50, 100, 200))
    expiry_past = _TODAY - timedelta(days=rng.randint(5, 400))
    expiry_soon = _TODAY + timedelta(days=rng.randint(10, 110))
    name = rng.choice(_NAMES)
    company = rng.choice(_COMPANIES)
    plural = product.plural
    return {
        "product": product.name,
        "short": product.short,
        "sku": product.sku,
        "attr": product.attr_value,
        "attr_name": product.attr_name,
        "alt": rng.choice(product.alternatives),
        "other": other.short,
        "other_sku": other.sku,
        "part": rng.choice(parts),
        "part2": rng.choice(parts),
        "category": CATEGORY_NAMES[product.category],
        "equipment": rng.choice(EQUIPMENT[product.category]),
        # Agreement helpers, so "the {short} {is} cracked" reads right for "bolts" and for "drill".
        "is": "are" if plural else "is",
        "was": "were" if plural else "was",
        "has": "have" if plural else "has",
        "it": "they" if plural else "it",
        "them": "them" if plural else "it",
        "its": "their" if plural else "its",
        "doesnt": "don't" if plural else "doesn't",
        "qty": str(qty),
        "qty_short": str(qty_short),
        "diff": str(qty - qty_short),
        "qty_over": str(qty + extra),
        "extra": str(extra),
        "pack_n": str(pack_n),
        "pack_short": str(pack_n - rng.randint(3, pack_n // 4)),
        "order": _order_number(rng),
        "order2": _order_number(rng),
        "po": rng.choice(("4500", "PO", "PO-", "")) + _digits(rng, rng.choice((4, 5, 6))),
        "rma": "RMA" + _digits(rng, 6),
        "inv": rng.choice(("INV-", "INV", "")) + _digits(rng, 6),
        "serial": "SN" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(8)),
        "lot": "L" + _digits(rng, 4) + rng.choice("ABCDEFGH"),
        "recall": "RC-" + _digits(rng, 4),
        "line": str(rng.randint(1, 12) * 10),
        "carrier": rng.choice(_CARRIERS),
        "days": str(rng.randint(2, 21)),
        "weeks": str(rng.randint(2, 6)),
        "months": str(rng.randint(3, 30)),
        "warranty_years": str(rng.choice((2, 3, 5))),
        "month_name": rng.choice(_MONTHS),
        "day": rng.choice(_WEEKDAYS),
        "date": _format_date(rng, _TODAY - timedelta(days=rng.randint(0, 30))),
        "expiry_past": _format_date(rng, expiry_past),
        "expiry_soon": _format_date(rng, expiry_soon),
        "shelf": str(rng.randint(2, 5)),
        "mfg_year": str(rng.randint(2018, 2022)),
        "need": rng.choice(_NEEDS),
        "site": rng.choice(_SITES),
        "company": company,
        "name": name,
        "agent": rng.choice([n for n in _NAMES if n != name]),
        "initials": name[0] + rng.choice("ABCDEFGHJKLMNPRSTW"),
        "email": f"{name.lower()}@{company.split()[0].lower()}.example",
        "url": rng.choice(_URLS),
        "gibberish": _gibberish(rng),
        "failure": rng.choice(_FAILURES),
        "amount": f"{rng.randint(40, 9000)}.{_digits(rng, 2)}",
    }
