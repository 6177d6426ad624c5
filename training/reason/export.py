"""Export the reason head to ONNX (a hand-built graph: logits / T → softmax) and check parity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from returns_triage.models.bundle import onnx_session
from returns_triage.models.reason.head import CalibratedReasonHead

__all__ = ["export_head_onnx", "head_parity"]


def export_head_onnx(head: CalibratedReasonHead, path: Path) -> None:
    w = (head.coef_.T / head.temperature_).astype(np.float32)  # temperature folded into the weights
    b = (head.intercept_ / head.temperature_).astype(np.float32)
    dim, n_classes = w.shape
    graph = helper.make_graph(
        nodes=[
            helper.make_node("MatMul", ["embedding", "W"], ["xw"]),
            helper.make_node("Add", ["xw", "b"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        ],
        name="reason_head",
        inputs=[helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes])],
        initializer=[numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="returns-triage")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def head_parity(head: CalibratedReasonHead, path: Path, X: np.ndarray) -> dict[str, float]:
    """Top-1 agreement and max probability difference between the estimator and its ONNX export."""
    ref = head.predict_proba(X)
    (got,) = onnx_session(path).run(None, {"embedding": np.asarray(X, dtype=np.float32)})
    return {
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "max_prob_diff": float(np.abs(ref - got).max()),
    }
