"""Document-type features: a hashed bag of folded words plus, per type, whether a type name (in any of five
languages) appears, and whether it appears in large print (a title). Pure numpy, so training and the
onnxruntime extractor compute identical vectors."""

from __future__ import annotations

import re
import zlib

import numpy as np

from returns_triage.models.documents.layout import group_lines
from returns_triage.models.documents.lexicon import DOCUMENT_TYPE_NAMES, DOCUMENT_TYPES, fold
from returns_triage.models.documents.safe_parse import ParsedDocument

__all__ = ["HASH_DIM", "N_FEATURES", "doctype_features"]

HASH_DIM = 2048
_NAMED = tuple(t for t in DOCUMENT_TYPES if t in DOCUMENT_TYPE_NAMES)
N_FEATURES = HASH_DIM + 2 * len(_NAMED)
_PATTERNS = {t: re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
             for t, names in DOCUMENT_TYPE_NAMES.items()}


def doctype_features(doc: ParsedDocument) -> np.ndarray:
    """A float32 ``[1, N_FEATURES]`` vector: L2-normalised log term counts, then name / title flags."""
    vec = np.zeros(N_FEATURES, dtype=np.float32)
    for w in doc.words:
        token = fold(w.text).strip(".,:;()#°")
        if not token or any(c.isdigit() for c in token):
            continue
        vec[zlib.crc32(token.encode()) % HASH_DIM] += 1.0
    bag = vec[:HASH_DIM]
    np.log1p(bag, out=bag)
    norm = float(np.linalg.norm(bag))
    if norm > 0:
        bag /= norm
    sizes = sorted(w.size for w in doc.words)
    median = sizes[len(sizes) // 2] if sizes else 10.0
    for line in group_lines(doc):
        if line.page > 1:
            continue
        text = " " + " ".join(fold(line.text).replace("'", " ").split()) + " "
        large = max(w.size for w in line.words) >= 1.3 * median
        for k, t in enumerate(_NAMED):
            if _PATTERNS[t].search(text):
                vec[HASH_DIM + k] = 1.0
                if large:
                    vec[HASH_DIM + len(_NAMED) + k] = 1.0
    return vec.reshape(1, -1)
