"""The sentence encoder at serving time: `tokenizers` + onnxruntime, no torch."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from returns_triage.models.bundle import onnx_session

__all__ = ["OnnxTextEncoder"]

MAX_TOKENS = 256


class OnnxTextEncoder:
    """Turns texts into L2-normalised 384-d embeddings with the exported MiniLM graph.

    ``wide_threads`` (more than ``intra_op_threads``) loads a second session of the same graph on that many threads,
    used by the calls a thread makes inside :meth:`wide`: a serving process runs a lone request's text on every core
    (half the latency of a long text) and concurrent requests one call per core (the most texts per second)."""

    def __init__(self, model_path: Path | bytes, tokenizer_path: Path, *, intra_op_threads: int = 0,
                 wide_threads: int = 0) -> None:
        self._session = onnx_session(model_path, intra_op_threads=intra_op_threads)
        # Only worth its memory and load time when it has more threads than the session above (0: one per core).
        narrow = intra_op_threads or os.cpu_count() or 1
        self._wide_session = (onnx_session(model_path, intra_op_threads=wide_threads)
                              if wide_threads > narrow else None)
        self._calls = threading.local()
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        # The shipped tokenizer pads every text to 128 tokens; pad per batch instead (STACK.md, trap 2).
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer = tokenizer

    @property
    def has_wide_session(self) -> bool:
        return self._wide_session is not None

    @contextmanager
    def wide(self) -> Iterator[None]:
        """Calls this thread makes inside the block run on the wide session (when there is one)."""
        before = getattr(self._calls, "wide", False)
        self._calls.wide = True
        try:
            yield
        finally:
            self._calls.wide = before

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        out: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            out.append(self._encode_batch(texts[start : start + batch_size]))
        return np.concatenate(out, axis=0)

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros((len(texts), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
        session = self._session
        if self._wide_session is not None and getattr(self._calls, "wide", False):
            session = self._wide_session
        (emb,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
        return emb
