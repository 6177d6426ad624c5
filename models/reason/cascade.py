"""The reason classifier's cheap first stage, as served: answer the texts it is sure of, defer the rest.

Two views of a text that cost microseconds, both inside one ONNX graph (``cascade.onnx``, hashed in the
bundle's manifest like every other file):

* **lexical** — L2-normalised tf-idf over word-piece unigrams and hashed word-piece bigrams, linear head;
* **static** — idf-weighted mean of static word-piece vectors distilled from the bundle's own MiniLM encoder
  (each vocabulary piece embedded once at training time), L2-normalised, linear head; its distance to the
  nearest class centroid is the first stage's out-of-scope score.

A text is answered here only when both views name the same code, the less confident of the two is above
``accept_at_confidence`` and the out-of-scope score is below ``defer_at_oos_score`` — thresholds chosen on
validation data so that, against the transformer path, accuracy and out-of-scope recall stay within a budget
(``training/reason/cascade.py``). Everything else goes to the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from returns_triage.models.bundle import onnx_session

__all__ = ["CASCADE_FILE", "CascadeOutput", "CascadeStage", "token_batch", "load_cascade_tokenizer",
           "acceptance_score", "accept_rule"]

CASCADE_FILE = "cascade.onnx"
# Reason texts are short; the lexical views saturate long before the encoder's 256-token limit.
DEFAULT_MAX_TOKENS = 64


def load_cascade_tokenizer(path: Path, max_tokens: int = DEFAULT_MAX_TOKENS) -> Tokenizer:
    """The bundle's word-piece tokenizer, padded per batch and truncated at ``max_tokens``."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    return tokenizer


def token_batch(tokenizer: Tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Word-piece ids (n × width, zero-padded) and a float mask: the first stage's only inputs."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=True)
    width = max(1, max((len(e.ids) for e in encodings), default=1))
    ids = np.zeros((len(texts), width), dtype=np.int64)
    mask = np.zeros((len(texts), width), dtype=np.float32)
    for row, enc in enumerate(encodings):
        n = len(enc.ids)
        ids[row, :n] = enc.ids
        mask[row, :n] = 1.0
    return ids, mask


@dataclass(frozen=True, slots=True)
class CascadeOutput:
    """Per text: combined probabilities, out-of-scope score (on the encoder's scale) and whether it answers."""

    probabilities: np.ndarray
    out_of_scope_score: np.ndarray
    accept: np.ndarray


class CascadeStage:
    """Runs ``cascade.onnx`` and applies the acceptance rule recorded in the manifest."""

    def __init__(self, model_path: Path, tokenizer_path: Path, config: dict[str, Any], *,
                 intra_op_threads: int = 0) -> None:
        self._session = onnx_session(model_path, intra_op_threads=intra_op_threads)
        self._tokenizer = load_cascade_tokenizer(tokenizer_path, int(config.get("max_tokens", DEFAULT_MAX_TOKENS)))
        self.accept_at_confidence = float(config["accept_at_confidence"])
        self.defer_at_oos_score = float(config["defer_at_oos_score"])
        score_map = config.get("oos_score_map") or {}
        self._map_from = np.asarray(score_map.get("first_stage", [0.0, 1.0]), dtype=np.float64)
        self._map_to = np.asarray(score_map.get("encoder", [0.0, 1.0]), dtype=np.float64)

    def raw(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Every output of the graph (for parity checks): probabilities per view, combined, out-of-scope score."""
        ids, mask = token_batch(self._tokenizer, texts)
        names = [o.name for o in self._session.get_outputs()]
        return dict(zip(names, self._session.run(None, {"token_ids": ids, "token_mask": mask}), strict=True))

    def run(self, texts: list[str]) -> CascadeOutput:
        if not texts:
            empty = np.zeros(0, dtype=np.float32)
            return CascadeOutput(np.zeros((0, 0), dtype=np.float32), empty, empty.astype(bool))
        out = self.raw(texts)
        # Reported on the encoder's out-of-scope scale (quantile-matched at training), which policies are set on.
        reported = np.interp(out["out_of_scope_score"], self._map_from, self._map_to).astype(np.float32)
        return CascadeOutput(out["probabilities"], reported,
                             accept_rule(out["lexical_probabilities"], out["static_probabilities"],
                                         out["out_of_scope_score"], self.accept_at_confidence,
                                         self.defer_at_oos_score))


def acceptance_score(lexical: np.ndarray, static: np.ndarray) -> np.ndarray:
    """The less confident view's top probability where both views agree on the code, else 0."""
    agree = lexical.argmax(1) == static.argmax(1)
    return np.where(agree, np.minimum(lexical.max(1), static.max(1)), 0.0)


def accept_rule(lexical: np.ndarray, static: np.ndarray, oos_score: np.ndarray, accept_at: float,
                defer_at: float) -> np.ndarray:
    """True where the first stage answers; shared by training (threshold search) and serving."""
    return (acceptance_score(lexical, static) >= accept_at) & (oos_score < defer_at)
