"""Synthetic corpus of free-text return reasons over the default taxonomy, with out-of-scope texts.

Seeded and stdlib-only: ``generate_corpus`` renders examples from hand-written templates across five channels,
``split_by_template`` holds out whole templates for an honest test set, ``write_csv`` saves either side.
See DATA_CARD.md for how it is made and what it does not cover.
"""

from .channels import CHANNELS
from .generator import ReasonExample, generate_corpus, split_by_template, write_csv
from .taxonomy import OUT_OF_SCOPE, OUT_OF_SCOPE_DESCRIPTION, REASON_CODES, REASON_DESCRIPTIONS

__all__ = [
    "REASON_CODES",
    "REASON_DESCRIPTIONS",
    "OUT_OF_SCOPE",
    "OUT_OF_SCOPE_DESCRIPTION",
    "CHANNELS",
    "ReasonExample",
    "generate_corpus",
    "split_by_template",
    "write_csv",
]
