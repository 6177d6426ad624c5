"""ONNX export of the two disposition models (notes -> probabilities, features -> disposition) with parity
checks against scikit-learn. No native categorical features (STACK.md trap 5)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from threadpoolctl import threadpool_limits

from returns_triage.errors import TriageError
from returns_triage.models.bundle import onnx_session

__all__ = ["export_onnx", "onnx_parity"]


def export_onnx(model: Any, path: Path, parity_features: np.ndarray, input_name: str) -> dict[str, float]:
    """Write ``model`` as ONNX to ``path``; raise unless labels agree on every parity row."""
    with warnings.catch_warnings():
        # skl2onnx 1.20 passes Python bools in an integer attribute of the tree ensemble (protobuf 6 warns).
        warnings.filterwarnings("ignore", message=".*Expected an int, got a boolean.*", category=DeprecationWarning)
        onx = to_onnx(
            model, initial_types=[(input_name, FloatTensorType([None, model.n_features_in_]))],
            options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3},
        )
    path.write_bytes(onx.SerializeToString())
    parity = onnx_parity(model, path, parity_features)
    if parity["onnx_label_agreement"] < 1.0:
        raise TriageError(f"ONNX export of {path.name} disagrees with scikit-learn on labels: {parity}")
    return parity


def onnx_parity(model: Any, path: Path, features: np.ndarray) -> dict[str, float]:
    """Label agreement and the largest probability difference between scikit-learn and onnxruntime, on the
    same float32 inputs (in chunks, so wide inputs stay small in memory)."""
    session = onnx_session(path, intra_op_threads=1)
    name = session.get_inputs()[0].name
    agree, diff, rows = 0, 0.0, 0
    with threadpool_limits(limits=1):  # OpenMP's second thread is ~18x slower on a busy 2-core machine
        for start in range(0, features.shape[0], 2048):
            chunk = features[start:start + 2048]
            x = np.ascontiguousarray(chunk.toarray() if hasattr(chunk, "toarray") else chunk, dtype=np.float32)
            labels, proba = session.run(None, {name: x})
            agree += int(np.sum(np.asarray(labels) == model.predict(x)))
            diff = max(diff, float(np.max(np.abs(np.asarray(proba) - model.predict_proba(x)))))
            rows += len(x)
    return {"onnx_label_agreement": agree / max(rows, 1), "onnx_max_proba_diff": diff, "onnx_parity_rows": rows}
