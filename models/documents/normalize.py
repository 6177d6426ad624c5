"""Typed value parsing: amounts, dates, identifiers, tracking numbers and currencies as printed on documents.

Pure functions of strings, shared by candidate generation and the plausibility checks.
"""

from __future__ import annotations

import re
from datetime import date

from returns_triage.models.documents.lexicon import CARRIERS, CURRENCY_SYMBOLS, ISO_4217, fold

__all__ = [
    "parse_amount",
    "parse_date",
    "parse_currency",
    "is_identifier",
    "is_tracking_number",
    "normalize_identifier",
    "parse_carrier",
]

_MONTHS: dict[str, int] = {}
for _i, _names in enumerate(
    [
        "january jan januar janv janvier januari enero ene jänner",
        "february feb februar fevr fevrier februari febrero",
        "march mar marz maerz mars maart marzo mrt",
        "april apr avril avr abril",
        "may mai mei mayo",
        "june jun juni juin junio",
        "july jul juli juillet juil julio",
        "august aug august aout augustus agosto ago",
        "september sep sept septembre septiembre",
        "october oct oktober octobre okt oktober octubre",
        "november nov novembre noviembre",
        "december dec dezember decembre dez december diciembre dic",
    ],
    start=1,
):
    for _n in _names.split():
        _MONTHS[fold(_n)] = _i

_AMOUNT_RE = re.compile(
    r"^(?P<sign>[-−(])?(?P<int>\d{1,3}(?:(?P<sep>[.,' ])\d{3})*|\d+)(?P<dec>[.,]\d{2})?(?:\))?-?$"
)
_SYMBOL_STRIP = re.compile(r"^(US\$|SFr\.|Fr\.|[€$£¥]|zł|[A-Z]{3})\s*|\s*(US\$|[€$£¥]|zł|[A-Z]{3})$")


def parse_amount(text: str, *, require_decimals: bool = True) -> float | None:
    """``"1.234,56"``, ``"1,234.56"``, ``"€ 1'234.50"``, ``"(12.00)"`` -> float; None when not an amount.

    The decimal separator is the one followed by exactly two final digits; the other one (or an apostrophe or a
    space) groups thousands. Without two decimals a string is only an amount when ``require_decimals`` is off.
    """
    s = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    for _ in range(2):
        s = _SYMBOL_STRIP.sub("", s).strip()
    if not s or len(s) > 20:
        return None
    m = _AMOUNT_RE.match(s)
    if not m:
        return None
    dec = m.group("dec")
    sep = m.group("sep")
    if dec is None:
        if require_decimals:
            return None
        digits = m.group("int")
        if sep in (".", ","):
            digits = digits.replace(sep, "")
        value = float(digits.replace("'", "").replace(" ", ""))
    else:
        if sep is not None and sep == dec[0]:
            return None  # "1.234.56": the grouping and decimal separators must differ
        integer = re.sub(r"[.,' ]", "", m.group("int"))
        value = float(f"{integer}.{dec[1:]}")
    if m.group("sign"):
        value = -value
    return round(value, 2)


_ISO_DATE = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})$")
_DASH_MONTH_DATE = re.compile(r"^(\d{1,2})[-/ ]([^\W\d_]{3,9})\.?[-/ ](\d{2}|\d{4})$")
_NUM_DATE = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})$")
_WORD_DATE = re.compile(r"^(\d{1,2})\.?\s+(?:de\s+)?([^\W\d_]+)\.?,?\s+(?:de\s+)?(\d{4})$")
_US_WORD_DATE = re.compile(r"^([^\W\d_]+)\.?\s+(\d{1,2}),?\s+(\d{4})$")


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def parse_date(text: str, *, month_first: bool = False) -> date | None:
    """Parse a printed date. ``month_first`` decides ambiguous slashed dates (``03/04/26``) only; a day above
    12 disambiguates by itself. Two-digit years are 2000-2099."""
    s = text.strip().rstrip(",;")
    if m := _ISO_DATE.match(s):
        return _safe_date(int(m[1]), int(m[3]), int(m[4]))
    if m := _DASH_MONTH_DATE.match(s):  # 29-Oct-2015, 01-Apr-16
        month = _MONTHS.get(fold(m[2]))
        year = int(m[3]) + 2000 if len(m[3]) == 2 else int(m[3])
        return _safe_date(year, month, int(m[1])) if month else None
    if m := _NUM_DATE.match(s):
        a, sep, b, y = int(m[1]), m[2], int(m[3]), int(m[4])
        year = y + 2000 if y < 100 else y
        if sep == "/" and month_first and a <= 12:
            return _safe_date(year, a, b) or _safe_date(year, b, a)
        if sep == "/" and b > 12 >= a:
            return _safe_date(year, a, b)
        return _safe_date(year, b, a)
    if m := _WORD_DATE.match(s):
        month = _MONTHS.get(fold(m[2]).rstrip("."))
        return _safe_date(int(m[3]), month, int(m[1])) if month else None
    if m := _US_WORD_DATE.match(s):
        month = _MONTHS.get(fold(m[1]).rstrip("."))
        return _safe_date(int(m[3]), month, int(m[2])) if month else None
    return None


def parse_currency(text: str) -> str | None:
    """An ISO 4217 code from a code or a symbol found in ``text`` (``"€"``, ``"EUR"``, ``"1.234,56 zł"``)."""
    s = text.strip().strip(":.,()")
    if s.upper() == s and s in ISO_4217:
        return s
    for sym in ("US$", "SFr.", "Fr.", "€", "£", "zł", "¥", "$"):
        if sym in text:
            return CURRENCY_SYMBOLS[sym]
    for tok in re.findall(r"\b[A-Z]{3}\b", text):
        if tok in ISO_4217:
            return tok
    return None


_ID_RE = re.compile(r"^[A-Z0-9][A-Z0-9./_-]{2,30}[A-Z0-9]$", re.IGNORECASE)
_TRACKING_RES = (
    re.compile(r"^1Z[0-9A-Z]{16}$"),  # UPS
    re.compile(r"^JJD\d{12,20}$"),  # DHL parcel
    re.compile(r"^3S[A-Z0-9]{9,13}$"),  # PostNL
    re.compile(r"^[A-Z]{2}\d{9}[A-Z]{2}$"),  # UPU S10 (postal services)
    re.compile(r"^\d{10,22}$"),  # numeric (DHL Express 10, FedEx 12/15, DPD 14, GLS 11...)
)


def normalize_identifier(text: str) -> str:
    return text.strip().strip(":;,()[]").lstrip("#").rstrip(".")


def is_identifier(text: str) -> bool:
    """Looks like a document or account number: 4-32 characters, at least 3 digits, no spaces."""
    s = normalize_identifier(text)
    if not _ID_RE.match(s):
        return False
    if is_tracking_number(s):
        return True  # UPS "1Z..." numbers can carry as few as two digits
    digits = sum(c.isdigit() for c in s)
    return digits >= 3 and parse_date(s) is None and parse_amount(s) is None


def is_tracking_number(text: str) -> bool:
    s = normalize_identifier(text).upper()
    return any(r.match(s) for r in _TRACKING_RES)


def parse_carrier(text: str) -> str | None:
    key = " ".join(fold(text).strip(":.,").split())
    return CARRIERS.get(key)
