"""Candidate values typed by pattern, and the lexical + layout features the learned scorer reads.

Pure numpy; shared by training and the onnxruntime extractor so both see exactly the same features.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from returns_triage.models.documents.layout import Line, Segment, group_lines, label_above, label_left_of, split_segments
from returns_triage.models.documents.lexicon import CONCEPT_NAMES, concepts_in, fold
from returns_triage.models.documents.normalize import (
    is_identifier,
    is_tracking_number,
    normalize_identifier,
    parse_amount,
    parse_carrier,
    parse_currency,
    parse_date,
)
from returns_triage.models.documents.safe_parse import ParsedDocument

__all__ = ["Candidate", "CandidateSet", "CANDIDATE_TYPES", "FEATURE_NAMES", "build_candidates", "infer_month_first"]

CANDIDATE_TYPES: tuple[str, ...] = ("amount", "date", "identifier", "currency", "carrier", "text")
_LEGAL_FORMS = {"gmbh", "ltd", "inc", "inc.", "sarl", "b.v.", "bv", "s.l.", "sl", "ag", "llc", "s.a.", "sa", "kg",
                "sp.", "plc", "corp", "co.", "nv", "n.v.", "srl", "oy", "ab", "sas", "gbr", "ug", "e.k."}
_YEAR = re.compile(r"^(19|20)\d\d[,.]?$")
_SLASH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")


@dataclass(slots=True)
class Candidate:
    type: str
    value: Any  # float | ISO date str | str
    text: str
    page: int
    bbox: tuple[float, float, float, float]  # x0, top, x1, bottom
    line: Line
    start: int  # first word index in line
    n_words: int
    left_label: str = ""
    left_gap: float = -1.0
    above_label: str = ""


@dataclass(slots=True)
class CandidateSet:
    candidates: list[Candidate]
    features: np.ndarray  # float32 [n, len(FEATURE_NAMES)]
    lines: list[Line]
    month_first: bool
    meta: dict[str, Any] = field(default_factory=dict)


def infer_month_first(doc: ParsedDocument) -> bool:
    """Ambiguous slashed dates (03/04/26): decide per document. A component above 12 settles it; otherwise a
    dollar document is read month-first (US convention), anything else day-first."""
    votes = 0
    dollar = False
    for w in doc.words:
        if "$" in w.text or w.text.strip(":") == "USD":
            dollar = True
        m = _SLASH_DATE.match(w.text.strip(",;"))
        if m:
            a, b = int(m[1]), int(m[2])
            votes += (b > 12) - (a > 12)
    if votes:
        return votes > 0
    return dollar


def _spans(seg: Segment, max_len: int) -> list[tuple[int, int]]:
    n = len(seg.words)
    return [(i, j) for i in range(n) for j in range(i + 1, min(n, i + max_len) + 1)]


def _bbox(words: list[Any]) -> tuple[float, float, float, float]:
    return (min(w.x0 for w in words), min(w.top for w in words), max(w.x1 for w in words),
            max(w.bottom for w in words))


def _text_candidate(seg: Segment) -> bool:
    text = seg.text
    if not 3 <= len(text) <= 60 or text.endswith(":") or len(seg.words) > 7:
        return False
    letters = sum(c.isalpha() for c in text)
    digits = sum(c.isdigit() for c in text)
    return letters >= 0.6 * len(text.replace(" ", "")) and digits <= 2


def _collect(lines: list[Line], month_first: bool) -> list[Candidate]:
    out: list[Candidate] = []
    for line in lines:
        for seg in split_segments(line):
            used_date: set[int] = set()
            for i, j in sorted(_spans(seg, 5), key=lambda s: s[0] - s[1]):  # longest spans first
                if j - i > 1 and not _YEAR.match(seg.words[j - 1].text):
                    continue  # a multi-word date ends with its year
                if used_date.intersection(range(i, j)):
                    continue
                words = seg.words[i:j]
                text = " ".join(w.text for w in words)
                if j - i > 1 and not any(ch.isalpha() for ch in text):
                    continue  # multi-word dates carry a month name
                d = parse_date(text, month_first=month_first)
                if d is not None:
                    used_date.update(range(i, j))
                    out.append(Candidate("date", d.isoformat(), text, line.page, _bbox(words), line,
                                         seg.start + i, j - i))
            for k, w in enumerate(seg.words):
                if k in used_date:
                    continue
                t = w.text
                amount = parse_amount(t)
                if amount is not None:
                    out.append(Candidate("amount", amount, t, line.page, _bbox([w]), line, seg.start + k, 1))
                elif is_identifier(t):
                    out.append(Candidate("identifier", normalize_identifier(t), t, line.page, _bbox([w]), line,
                                         seg.start + k, 1))
                cur = parse_currency(t)
                if cur is not None and (amount is not None or len(t.strip(":.,()")) <= 4):
                    out.append(Candidate("currency", cur, t, line.page, _bbox([w]), line, seg.start + k, 1))
            for i, j in _spans(seg, 2):
                words = seg.words[i:j]
                carrier = parse_carrier(" ".join(w.text for w in words))
                if carrier is not None:
                    out.append(Candidate("carrier", carrier, " ".join(w.text for w in words), line.page,
                                         _bbox(words), line, seg.start + i, j - i))
            if _text_candidate(seg):
                out.append(Candidate("text", " ".join(seg.text.split()), seg.text, line.page, _bbox(seg.words), line,
                                     seg.start, len(seg.words)))
    return out


def _feature_names() -> list[str]:
    names = [f"type_{t}" for t in CANDIDATE_TYPES]
    names += [f"left_{c}" for c in CONCEPT_NAMES] + [f"above_{c}" for c in CONCEPT_NAMES]
    names += [f"line_{c}" for c in CONCEPT_NAMES]
    names += [
        "has_left_label", "has_above_label", "left_gap", "left_label_colon", "x0", "x1", "top", "page",
        "is_last_page", "n_pages", "rel_size", "bold", "line_index_rel", "line_n_words", "line_n_amounts",
        "line_n_numbers", "n_words", "is_tracking", "id_len", "id_digits", "id_has_letters", "id_has_sep",
        "occurrences", "amount_rank", "amount_is_max", "amount_is_sum", "amount_is_addend", "n_amounts",
        "date_rank", "n_dates", "date_is_max", "text_legal_form", "n_legal_form_texts", "text_capital_ratio", "text_segment_rank",
        "first_on_page_rank", "is_in_table", "below_table", "value_log", "right_edge", "line_has_colon",
    ]
    return names


FEATURE_NAMES: tuple[str, ...] = tuple(_feature_names())
_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}
_NUMBER = re.compile(r"^[-(]?[\d.,']+\)?$")


def _table_rows(lines: list[Line]) -> tuple[set[int], dict[int, float]]:
    """Lines that look like table rows (several numbers), and per page the bottom of the last such row."""
    rows: set[int] = set()
    table_bottom: dict[int, float] = {}
    for k, line in enumerate(lines):
        numbers = sum(bool(_NUMBER.match(w.text)) for w in line.words)
        if numbers >= 2 and len(line.words) >= 3:
            rows.add(k)
            table_bottom[line.page] = max(table_bottom.get(line.page, 0.0), line.bottom)
    return rows, table_bottom


def build_candidates(doc: ParsedDocument) -> CandidateSet:
    lines = group_lines(doc)
    month_first = infer_month_first(doc)
    cands = _collect(lines, month_first)
    by_page: dict[int, list[Line]] = {}
    for line in lines:
        by_page.setdefault(line.page, []).append(line)
    line_pos = {id(line): k for k, line in enumerate(lines)}
    table_rows, table_bottom = _table_rows(lines)
    sizes = [w.size for w in doc.words] or [10.0]
    median_size = float(np.median(sizes))
    n_pages = len(doc.page_sizes)

    amounts = sorted({c.value for c in cands if c.type == "amount"}, reverse=True)
    amount_rank = {v: i for i, v in enumerate(amounts)}
    amount_set = set(amounts)
    sums: set[float] = set()
    addends: set[float] = set()
    for a in amounts[:40]:
        for b in amounts[:40]:
            if a > b and round(a - b, 2) in amount_set and b > 0:
                sums.add(a)
                addends.update((b, round(a - b, 2)))
    dates = sorted({c.value for c in cands if c.type == "date"})
    date_rank = {v: i for i, v in enumerate(dates)}
    occurrences = Counter((c.type, c.value) for c in cands)
    line_concepts = {id(line): concepts_in(" ".join(w.text for w in line.words if not any(ch.isdigit() for ch in w.text)))
                     for line in lines}

    line_stats = [(sum(parse_amount(w.text) is not None for w in line.words),
                   sum(bool(_NUMBER.match(w.text)) for w in line.words),
                   any(w.text.endswith(":") for w in line.words)) for line in lines]
    legal = [any(fold(t).strip(",") in _LEGAL_FORMS for t in c.text.split()) if c.type == "text" else False
             for c in cands]
    n_legal = len({c.value for c, is_legal in zip(cands, legal, strict=True) if is_legal})
    X = np.zeros((len(cands), len(FEATURE_NAMES)), dtype=np.float32)
    page_text_seen: dict[int, int] = {}
    for r, c in enumerate(cands):
        row = X[r]
        width, height = doc.page_sizes[c.page] if c.page < n_pages else (612.0, 792.0)
        row[_INDEX[f"type_{c.type}"]] = 1
        c.left_label, c.left_gap = label_left_of(c.line, c.start)
        c.above_label = label_above(by_page[c.page], c.line, c.bbox[0], c.bbox[2])
        for name in concepts_in(c.left_label):
            row[_INDEX[f"left_{name}"]] = 1
        for name in concepts_in(c.above_label):
            row[_INDEX[f"above_{name}"]] = 1
        for name in line_concepts[id(c.line)]:
            row[_INDEX[f"line_{name}"]] = 1
        first = c.line.words[c.start]
        k = line_pos[id(c.line)]
        row[_INDEX["has_left_label"]] = bool(c.left_label)
        row[_INDEX["has_above_label"]] = bool(c.above_label)
        row[_INDEX["left_gap"]] = min(c.left_gap, 200.0) / 100.0
        row[_INDEX["left_label_colon"]] = c.left_label.endswith(":")
        row[_INDEX["x0"]] = c.bbox[0] / width
        row[_INDEX["x1"]] = c.bbox[2] / width
        row[_INDEX["right_edge"]] = (width - c.bbox[2]) / width
        row[_INDEX["top"]] = c.bbox[1] / height
        row[_INDEX["page"]] = min(c.page, 5)
        row[_INDEX["is_last_page"]] = c.page == n_pages - 1
        row[_INDEX["n_pages"]] = min(n_pages, 10)
        row[_INDEX["rel_size"]] = first.size / median_size
        row[_INDEX["bold"]] = first.bold
        row[_INDEX["line_index_rel"]] = c.line.index / max(len(by_page[c.page]), 1)
        row[_INDEX["line_n_words"]] = min(len(c.line.words), 30)
        row[_INDEX["line_n_amounts"]], row[_INDEX["line_n_numbers"]], row[_INDEX["line_has_colon"]] = line_stats[k]
        row[_INDEX["n_words"]] = c.n_words
        row[_INDEX["is_in_table"]] = k in table_rows
        row[_INDEX["below_table"]] = c.page in table_bottom and c.bbox[1] > table_bottom[c.page]
        row[_INDEX["occurrences"]] = min(occurrences[(c.type, c.value)], 10)
        if c.type in ("identifier", "currency", "carrier"):
            s = str(c.value)
            row[_INDEX["is_tracking"]] = is_tracking_number(s)
            row[_INDEX["id_len"]] = len(s)
            row[_INDEX["id_digits"]] = sum(ch.isdigit() for ch in s)
            row[_INDEX["id_has_letters"]] = any(ch.isalpha() for ch in s)
            row[_INDEX["id_has_sep"]] = any(ch in "-/._" for ch in s)
        elif c.type == "amount":
            row[_INDEX["amount_rank"]] = min(amount_rank[c.value], 20)
            row[_INDEX["amount_is_max"]] = amount_rank[c.value] == 0
            row[_INDEX["amount_is_sum"]] = c.value in sums
            row[_INDEX["amount_is_addend"]] = c.value in addends
            row[_INDEX["n_amounts"]] = min(len(amounts), 50)
            row[_INDEX["value_log"]] = float(np.log10(abs(c.value) + 1))
        elif c.type == "date":
            row[_INDEX["date_rank"]] = date_rank[c.value]
            row[_INDEX["n_dates"]] = len(dates)
            row[_INDEX["date_is_max"]] = date_rank[c.value] == len(dates) - 1
        elif c.type == "text":
            toks = c.text.split()
            row[_INDEX["text_legal_form"]] = legal[r]
            row[_INDEX["n_legal_form_texts"]] = min(n_legal, 5)
            row[_INDEX["text_capital_ratio"]] = sum(t[:1].isupper() for t in toks) / len(toks)
            rank = page_text_seen.get(c.page, 0)
            page_text_seen[c.page] = rank + 1
            row[_INDEX["text_segment_rank"]] = min(rank, 30)
        row[_INDEX["first_on_page_rank"]] = min(c.line.index, 60)
    return CandidateSet(cands, X, lines, month_first)
