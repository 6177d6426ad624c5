"""Export the reason head to ONNX (a hand-built graph) and check parity with the estimator.

The graph takes the sentence embedding and returns the calibrated probabilities (temperature folded into the
weights) and the out-of-scope score, computed exactly as ``CalibratedReasonHead.out_of_scope_score``. A head
fused with a lexical view also takes the word-piece ids and mask of the text and computes that view inside the
graph (``training/reason/cascade.py``, :func:`lexical_subgraph`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from returns_triage.models.bundle import onnx_session
from returns_triage.models.reason.head import CalibratedReasonHead

if TYPE_CHECKING:
    from returns_triage.training.reason.cascade import FirstStageClassifier

__all__ = ["export_head_onnx", "head_parity", "head_inputs"]


def export_head_onnx(head: CalibratedReasonHead, path: Path, lexical: FirstStageClassifier | None = None) -> None:
    """Write ``head.onnx``. A head fused with a lexical view needs that view (``lexical``) to embed it."""
    fused = getattr(head, "uses_lexical_", False)
    if fused and lexical is None:
        raise ValueError("this head fuses a lexical view: pass the fitted view to export it")
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
    inputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])]
    nodes = [helper.make_node("MatMul", ["embedding", "W"], ["xw"])]
    if fused:
        from returns_triage.training.reason.cascade import lexical_subgraph

        assert lexical is not None
        if [str(c) for c in lexical.classes_] != [str(c) for c in head.classes_]:
            raise ValueError("the lexical view's codes differ from the head's")
        lex_init, lex_nodes = lexical_subgraph(lexical)
        init += lex_init + [numpy_helper.from_array(
            np.array(head.lexical_weight_ / head.temperature_, dtype=f32), "lexical_scale")]
        nodes += lex_nodes + [
            helper.make_node("Mul", ["lex_logits", "lexical_scale"], ["lex_scaled"]),
            helper.make_node("Add", ["xw", "lex_scaled"], ["xw_fused"]),
            helper.make_node("Add", ["xw_fused", "b"], ["logits"]),
        ]
        inputs += [helper.make_tensor_value_info("token_ids", TensorProto.INT64, ["batch", "tokens"]),
                   helper.make_tensor_value_info("token_mask", TensorProto.FLOAT, ["batch", "tokens"])]
    else:
        nodes.append(helper.make_node("Add", ["xw", "b"], ["logits"]))
    nodes += [
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
        helper.make_node("ReduceMax", ["probabilities"], ["max_prob"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["one", "max_prob"], ["far_prob"]),
        helper.make_node("MatMul", ["embedding", "centroids_T"], ["centroid_sim"]),
        helper.make_node("ReduceMax", ["centroid_sim"], ["max_centroid_sim"], axes=[1], keepdims=1),
        helper.make_node("Sub", ["one", "max_centroid_sim"], ["far_centroid"]),
    ]
    refs = head.knn_refs_
    # The neighbour product is the head's largest cost per text (one row against every reference); when the
    # out-of-scope model gives it no weight (no out-of-scope examples) it is left out, which changes no output.
    if refs is not None and head.knn_k > 0 and len(refs) and float(head.oos_weights_[2]) != 0.0:
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
        inputs=inputs,
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
                 helper.make_tensor_value_info("out_of_scope_score", TensorProto.FLOAT, ["batch"])],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="returns-triage")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def head_inputs(X: np.ndarray, lexical: FirstStageClassifier | None, texts: Sequence[str] | None
                ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """The ONNX head's feed for embeddings ``X`` of ``texts``, and the lexical logits the estimator needs
    (``None`` for a head without a lexical view)."""
    feed = {"embedding": np.asarray(X, dtype=np.float32)}
    if lexical is None:
        return feed, None
    if texts is None or len(texts) != len(X):
        raise ValueError("a fused head needs the texts of the embeddings")
    ids, mask = lexical.tokens(texts)
    return {**feed, "token_ids": ids, "token_mask": mask}, lexical.lexical_logits(texts)


def head_parity(head: CalibratedReasonHead, path: Path, X: np.ndarray, *,
                lexical: FirstStageClassifier | None = None, texts: Sequence[str] | None = None) -> dict[str, float]:
    """Top-1 and abstention agreement, max probability and score differences: estimator vs ONNX export.
    A fused head needs its lexical view and the texts of ``X``."""
    X = np.asarray(X, dtype=np.float32)
    feed, lex = head_inputs(X, lexical if getattr(head, "uses_lexical_", False) else None, texts)
    ref = head.predict_proba(X, lex)
    ref_score = head.out_of_scope_score(X, lex)
    got, got_score = onnx_session(path).run(None, feed)
    return {
        "top1_agreement": float((ref.argmax(1) == got.argmax(1)).mean()),
        "max_prob_diff": float(np.abs(ref - got).max()),
        "abstain_agreement": float(((ref_score >= head.oos_threshold_) == (got_score >= head.oos_threshold_)).mean()),
        "max_oos_score_diff": float(np.abs(ref_score - got_score).max()),
    }
