"""Reading structure from positioned words: lines, segments (runs of words without a wide gap) and labels."""

from __future__ import annotations

from dataclasses import dataclass

from returns_triage.models.documents.safe_parse import ParsedDocument, Word

__all__ = ["Line", "Segment", "group_lines", "split_segments", "label_left_of", "label_above"]


@dataclass(slots=True)
class Line:
    page: int
    top: float
    bottom: float
    words: list[Word]
    index: int = 0  # reading order on its page

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(slots=True)
class Segment:
    line: Line
    start: int  # index of the first word in line.words
    words: list[Word]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


def group_lines(doc: ParsedDocument) -> list[Line]:
    """Words sharing a baseline band become a line (sorted left to right); lines sorted by page then top."""
    words = sorted(doc.words, key=lambda w: (w.page, round((w.top + w.bottom) / 2, 0), w.x0))
    lines: list[Line] = []
    for w in words:
        mid = (w.top + w.bottom) / 2
        cur = lines[-1] if lines else None
        if cur is not None and cur.page == w.page and abs(mid - (cur.top + cur.bottom) / 2) <= max(2.0, 0.3 * w.size):
            cur.words.append(w)
            cur.top, cur.bottom = min(cur.top, w.top), max(cur.bottom, w.bottom)
        else:
            lines.append(Line(w.page, w.top, w.bottom, [w]))
    page_counter: dict[int, int] = {}
    for line in lines:
        line.words.sort(key=lambda w: w.x0)
        line.index = page_counter.get(line.page, 0)
        page_counter[line.page] = line.index + 1
    return lines


def split_segments(line: Line) -> list[Segment]:
    """Split a line where the gap between words is wide, and after a word ending with ':' (label: value)."""
    segments: list[Segment] = []
    start = 0
    for i in range(1, len(line.words) + 1):
        if i < len(line.words):
            prev, cur = line.words[i - 1], line.words[i]
            gap = cur.x0 - prev.x1
            if gap <= max(8.0, 1.2 * prev.size) and not prev.text.endswith(":"):
                continue
        segments.append(Segment(line, start, line.words[start:i]))
        start = i
    return segments


_CURRENCY_TOKENS = frozenset({"€", "$", "£", "¥", "US$", "Fr.", "SFr.", "zł", "EUR", "USD", "GBP", "CHF", "PLN",
                               "SEK", "DKK", "NOK", "CZK", "HUF", "JPY", "CAD", "AUD"})


def _has_digit(text: str) -> bool:
    """Digits mark a value, not a label; a rate ("21%", "(7.7 %)") belongs to its label ("VAT 21%")."""
    if text.rstrip(")").endswith("%"):
        return False
    return any(c.isdigit() for c in text)


def label_left_of(line: Line, first_word: int, max_words: int = 6) -> tuple[str, float]:
    """The digit-free words immediately left of ``first_word`` (the label of an inline value) and the gap."""
    picked: list[Word] = []
    i = first_word - 1
    right_edge = line.words[first_word].x0
    while i >= 0 and len(picked) < max_words:
        w = line.words[i]
        edge = picked[-1].x0 if picked else right_edge
        if w.text in _CURRENCY_TOKENS and not picked:
            right_edge = w.x0  # "Total: € 12,00": the symbol sits between label and value
            i -= 1
            continue
        if _has_digit(w.text) or edge - w.x1 > (250 if not picked else 20) or (picked and w.text.endswith(":")):
            break
        picked.append(w)
        i -= 1
    if not picked:
        return "", -1.0
    picked.reverse()
    return " ".join(w.text for w in picked), right_edge - picked[-1].x1


def label_above(lines_on_page: list[Line], line: Line, x0: float, x1: float, max_gap: float = 26.0) -> str:
    """Digit-free words on the nearest line above that overlap ``[x0, x1]`` horizontally (a label over a value)."""
    for other in reversed(lines_on_page[: line.index]):
        if line.top - other.bottom > max_gap:
            return ""
        overlapping = [w for w in other.words if w.x1 >= x0 - 4 and w.x0 <= x1 + 4]
        if overlapping:
            if any(_has_digit(w.text) for w in overlapping):
                return ""
            # Extend to the whole label when its first word starts left of the value (labels above, left-aligned).
            first = min(other.words.index(w) for w in overlapping)
            last = max(other.words.index(w) for w in overlapping)
            while last + 1 < len(other.words) and other.words[last + 1].x0 - other.words[last].x1 < 6:
                last += 1
            while first > 0 and other.words[first].x0 - other.words[first - 1].x1 < 6:
                first -= 1
            return " ".join(w.text for w in other.words[first : last + 1] if not _has_digit(w.text))
    return ""
