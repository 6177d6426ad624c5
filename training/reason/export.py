"""Export the reason head to ONNX (a hand-built graph) and check parity with the estimator.

The graph takes the sentence embedding and returns the calibrated probabilities (temperature folded into the
weights) and the out-of-scope score, computed exactly as ``CalibratedReasonHead.out_of_scope_score``.
"""

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
    f32 = np.float32
    init = [
        numpy_helper.from_array(w, "W"),
        numpy_helper.from_array(b, "b"),
        numpy_helper.from_array(np.array(1.0, dtype=f32), "one"),
        numpy_helper.from_array(head.centroids_.T.astype(f32), "centroids_T"),
        numpy_helper.from_array(head.oos_weights_.astype(f32), "oos_w"),
        numpy_helper.from_array(np.array(head.oos_bias_, dtype=f32), "oos_b"),
    ]
    nodes = [
        helper.make_node("MatMul", ["embedding", "W"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ReduceMax", ["probabilities"], ["max_prob"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["one", "max_prob"], ["far_prob"]),
        helper.make_node("MatMul", ["embedding", "centroids_T"], ["centroid_sim"]),
        helper.make_node("ReduceMax", ["centroid_sim"], ["max_centroid_sim"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["one", "max_centroid_sim"], ["far_centroid"]),
    ]
    refs = head.knn_refs_
    if refs is not None and head.knn_k > 0 and len(refs):
        k = min(head.knn_k, len(refs))
        init += [numpy_helper.from_array(np.ascontiguousarray(refs.T.astype(f32)), "refs_T"),
                 numpy_helper.from_array(np.array([k], dtype=np.int64), "k")]
        nodes += [
            helper.make_node("MatMul", ["embedding", "refs_T"], ["ref_sim"]),
            helper.make_node("TopK", ["ref_sim", "k"], ["knn_sim", "knn_idx"], axis=1),
            helper.make_node("ReduceMean", ["knn_sim"], ["mean_knn_sim"], axes=[1], keepdims=1),
            helper.make_node("Sub", ["one", "mean_knn_sim"], ["far_knn"]),
        ]
    else:
        nodes.append(helper.make_node("Sub", ["far_prob", "far_prob"], ["far_knn"]))
    nodes += [
        helper.make_node("Concat", ["far_prob", "far_centroid", "far_knn"], ["oos_features"], axis=1),
        helper.make_node("MatMul", ["oos_features", "oos_w"], ["oos_lin"]),
        helper.make_node("Add", ["oos_lin", "oos_b"], ["oos_z"]),
    ]
    if head.oos_link_ == "sigmoid":
        nodes.append(helper.make_node("Sigmoid", ["oos_z"], ["out_of_scope_score"]))
    else:
        nodes.append(helper.make_node("Identity", ["oos_z"], ["out_of_scope_score"]))
    graph = helper.make_graph(
        nodes=nodes,
        name="reason_head",
        inputs=[helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
                 helper.make_tensor_value_info("out_of_scope_score", TensorProto.FLOAT, ["batch"])],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="returns-triage")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def head_parity(head: CalibratedReasonHead, path: Path, X: np.ndarray) -> dict[str, float]:
    """Top-1 and abstention agreement, max probability and score differences: estimator vs ONNX export."""
    X = np.asarray(X, dtype=np.float32)
    ref = head.predict_proba(X)
    ref_score = head.out_of_scope_score(X)
    got, got_score = onnx_session(path).run(None, {"embedding": X})
    return {
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "max_prob_diff": float(np.abs(ref - got).max()),
        "abstain_agreement": float(((ref_score >= head.oos_threshold_) == (got_score >= head.oos_threshold_)).mean()),
        "max_oos_score_diff": float(np.abs(ref_score - got_score).max()),
    }
