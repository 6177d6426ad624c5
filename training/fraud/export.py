"""ONNX export of the fraud trees with a parity check against scikit-learn.

Features are float32 end to end (training included), so the ONNX tree ensemble and scikit-learn compare the
same numbers against the same thresholds; no native categorical features (STACK.md trap 5).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType

from returns_triage.errors import TriageError
from returns_triage.models.bundle import onnx_session

__all__ = ["export_onnx", "onnx_parity"]


def export_onnx(model: Any, path: Path, parity_features: np.ndarray) -> dict[str, float]:
    """Write ``model`` as ONNX to ``path``; raise unless labels agree on every parity row."""
    with warnings.catch_warnings():
        # skl2onnx 1.20 passes Python bools in an integer attribute of the tree ensemble (protobuf 6 warns).
        warnings.filterwarnings("ignore", message=".*Expected an int, got a boolean.*", category=DeprecationWarning)
        onx = to_onnx(
            model, initial_types=[("features", FloatTensorType([None, model.n_features_in_]))],
            options={id(model): {"zipmap": False}}, target_opset={"": 17, "ai.onnx.ml": 3},
        )
    path.write_bytes(onx.SerializeToString())
    parity = onnx_parity(model, path, parity_features)
    if parity["onnx_label_agreement"] < 1.0:
        raise TriageError(f"ONNX export disagrees with scikit-learn on labels: {parity}")
    return parity


def onnx_parity(model: Any, path: Path, features: np.ndarray) -> dict[str, float]:
    """Label agreement and the largest probability difference between scikit-learn and onnxruntime."""
    x = np.ascontiguousarray(features, dtype=np.float32)
    session = onnx_session(path)
    labels, proba = session.run(None, {session.get_inputs()[0].name: x})
    sk_proba = model.predict_proba(x)
    return {
        "onnx_label_agreement": float(np.mean(np.asarray(labels) == model.predict(x))),
        "onnx_max_proba_diff": float(np.max(np.abs(np.asarray(proba)[:, 1] - sk_proba[:, 1]))),
        "onnx_parity_rows": int(len(x)),
    }
