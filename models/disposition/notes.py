"""Inspection notes as numbers: normalised words, word bigrams and character trigrams, hashed into a fixed
number of buckets (signed feature hashing). Pure Python + numpy, stable across processes (crc32, not ``hash``).

Character trigrams make typos cheap ("owrks" still shares "rks" and "wor" with "works"); bigrams keep
negations ("no damage", "kein schaden") apart from their positive words; German umlauts are folded so
"beschädigt" and "beschaedigt" are one word.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np

__all__ = ["NOTE_DIM", "normalise_note", "note_words", "note_buckets", "note_entries", "note_vector", "note_matrix"]

NOTE_DIM = 4096
_FOLD = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NON_WORD = re.compile(r"[^a-z0-9<>]+")


def normalise_note(text: str) -> str:
    """Lower case, umlauts folded, other accents stripped, punctuation to single spaces."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_FOLD))
    ascii_only = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return _NON_WORD.sub(" ", ascii_only).strip()


def note_words(text: str) -> list[str]:
    return normalise_note(text).split()


def note_buckets(words: Sequence[str], dim: int = NOTE_DIM) -> dict[int, float]:
    """Signed counts per bucket for the words' unigrams, bigrams and character trigrams."""
    terms = [f"w:{w}" for w in words]
    terms += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for w in words:
        padded = f" {w} "
        terms += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
    counts: dict[int, float] = {}
    for term in terms:
        h = zlib.crc32(term.encode())
        bucket = h % dim
        counts[bucket] = counts.get(bucket, 0.0) + (1.0 if (h >> 31) & 1 else -1.0)
    return counts


def note_entries(text: str | None, dim: int = NOTE_DIM) -> tuple[np.ndarray, np.ndarray]:
    """The non-zero (bucket, value) pairs of :func:`note_vector`, for sparse matrices."""
    counts = note_buckets(note_words(text or ""), dim)
    idx = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    raw = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    val = np.sign(raw) * np.log1p(np.abs(raw))
    norm = float(np.sqrt(np.sum(val * val)))
    return idx, (val / norm if norm > 0 else val).astype(np.float32)


def note_vector(text: str | None, dim: int = NOTE_DIM) -> np.ndarray:
    """One note as a float32 vector of length ``dim`` (L2-normalised, log-scaled signed counts)."""
    x = np.zeros(dim, dtype=np.float32)
    idx, val = note_entries(text, dim)
    x[idx] = val
    return x


def note_matrix(texts: Sequence[str | None], dim: int = NOTE_DIM) -> np.ndarray:
    """Many notes as a dense float32 matrix, rows equal to :func:`note_vector` (keep batches small)."""
    out = np.zeros((len(texts), dim), dtype=np.float32)
    for i, text in enumerate(texts):
        idx, val = note_entries(text, dim)
        out[i, idx] = val
    return out
