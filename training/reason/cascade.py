"""Train the reason classifier's first stage, choose when it may answer, and export it to ONNX.

The first stage (served by ``models/reason/cascade.py``) has two cheap views of a text — lexical tf-idf over
word-piece uni/bigrams and static word-piece vectors distilled from the bundle's own MiniLM encoder — each
with a logistic head. Thresholds are chosen on held-out rows against the *full* model's answers on the same
rows: the first stage may only answer where doing so costs at most ``max_accuracy_drop`` of accuracy and
``max_oos_recall_drop`` of out-of-scope recall, and answers as many texts as those budgets allow.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import scipy.sparse as sp
from onnx import TensorProto, helper, numpy_helper
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from returns_triage.models.bundle import file_sha256, onnx_session
from returns_triage.models.reason.cascade import (
    DEFAULT_MAX_TOKENS,
    accept_rule,
    acceptance_score,
    load_cascade_tokenizer,
    token_batch,
)
from returns_triage.models.reason.head import fit_temperature, softmax

__all__ = ["FirstStageClassifier", "CascadeThresholds", "choose_thresholds", "static_token_table",
           "export_first_stage_onnx", "lexical_subgraph", "first_stage_parity", "fit_cascade"]

_EPS = 1e-12
_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


class FirstStageClassifier(BaseEstimator, ClassifierMixin):
    """Texts → reason code from two cheap views (lexical tf-idf, distilled static vectors), sklearn contract.

    ``static_table`` is one vector per tokenizer vocabulary piece (see :func:`static_token_table`); without it
    the static view is off and only the lexical view answers.
    """

    def __init__(self, tokenizer_path: str = "", static_table: np.ndarray | None = None, *,
                 max_tokens: int = DEFAULT_MAX_TOKENS, bigram_buckets: int = 262_139, min_bigram_df: int = 2,
                 static_dim: int = 128, C_lexical: float = 20.0, C_static: float = 20.0,
                 random_state: int = 0) -> None:
        self.tokenizer_path = tokenizer_path
        self.static_table = static_table
        self.max_tokens = max_tokens
        self.bigram_buckets = bigram_buckets
        self.min_bigram_df = min_bigram_df
        self.static_dim = static_dim
        self.C_lexical = C_lexical
        self.C_static = C_static
        self.random_state = random_state

    # -- features, computed exactly as the exported graph does ------------------------------------------
    def tokens(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Word-piece ids and mask of ``texts``, as served (the graph's ``token_ids`` and ``token_mask``)."""
        tokenizer = load_cascade_tokenizer(Path(self.tokenizer_path), self.max_tokens)
        return token_batch(tokenizer, list(texts))

    def _raw_features(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vocab = self.vocab_size_
        bigram = vocab + (ids[:, :-1] * vocab + ids[:, 1:]) % self.bigram_buckets
        feats = np.concatenate([ids, bigram], axis=1)
        fmask = np.concatenate([mask, mask[:, :-1] * mask[:, 1:]], axis=1)
        return feats, fmask

    def _lexical_matrix(self, ids: np.ndarray, mask: np.ndarray) -> sp.csr_matrix:
        feats, fmask = self._raw_features(ids, mask)
        rows = self.remap_[feats]
        weight = self.idf_rows_[rows] * fmask
        n = len(ids)
        X = sp.csr_matrix((weight.ravel().astype(np.float64), (np.repeat(np.arange(n), feats.shape[1]),
                                                               rows.ravel())), shape=(n, len(self.idf_rows_)))
        X.sum_duplicates()
        norm = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1.0 / np.maximum(norm, np.sqrt(_EPS))) @ X)

    def _static_vectors(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.token_weight_[ids] * mask
        s = np.einsum("bt,btd->bd", w, self.static_vectors_[ids].astype(np.float32))
        return s / np.sqrt(np.maximum((s * s).sum(axis=1, keepdims=True), _EPS))

    # -- sklearn contract ------------------------------------------------------------------------------------
    def fit(self, X: Sequence[str], y: Any) -> FirstStageClassifier:
        y = np.asarray(y)
        ids, mask = self.tokens(X)
        tokenizer = load_cascade_tokenizer(Path(self.tokenizer_path), self.max_tokens)
        self.vocab_size_ = int(tokenizer.get_vocab_size())
        feats, fmask = self._raw_features(ids, mask)
        n = len(ids)
        present = sp.csr_matrix((np.ones(int(fmask.sum())), (np.repeat(np.arange(n), feats.shape[1])[fmask.ravel() > 0],
                                                              feats.ravel()[fmask.ravel() > 0])),
                                shape=(n, self.vocab_size_ + self.bigram_buckets))
        present.data[:] = 1.0
        present.sum_duplicates()
        present.data[:] = 1.0
        df = np.asarray(present.sum(axis=0)).ravel()
        keep = np.flatnonzero(np.r_[df[: self.vocab_size_] >= 1, df[self.vocab_size_ :] >= self.min_bigram_df])
        self.remap_ = np.zeros(self.vocab_size_ + self.bigram_buckets, dtype=np.int64)
        self.remap_[keep] = np.arange(1, len(keep) + 1)
        idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
        self.idf_rows_ = np.r_[0.0, idf[keep]].astype(np.float32)
        self.lexical_ = LogisticRegression(C=self.C_lexical, max_iter=2000).fit(self._lexical_matrix(ids, mask), y)
        # The graph stores these weights in float16: predict with exactly the served values.
        self.lexical_.coef_ = self.lexical_.coef_.astype(np.float16).astype(np.float64)
        self.classes_ = self.lexical_.classes_
        self.has_static_ = self.static_table is not None
        if self.has_static_:
            # Unseen pieces carry the largest idf: a rare word is evidence, and the static view is what lets
            # the first stage use words the training data never showed.
            weight = np.log(1.0 + n) + 1.0 + np.zeros(self.vocab_size_)
            weight[: self.vocab_size_] = np.where(df[: self.vocab_size_] > 0, idf[: self.vocab_size_], weight)
            for token in _SPECIAL_TOKENS:
                tid = tokenizer.token_to_id(token)
                if tid is not None:
                    weight[tid] = 0.0
            self.token_weight_ = weight.astype(np.float32)
            table = np.asarray(self.static_table, dtype=np.float32)
            reduced = table if table.shape[1] <= self.static_dim else \
                PCA(n_components=self.static_dim, random_state=self.random_state).fit_transform(table)
            # Stored as float16 in the graph; train on exactly the values it will serve.
            self.static_vectors_ = reduced.astype(np.float16)
            S = self._static_vectors(ids, mask)
            self.static_ = LogisticRegression(C=self.C_static, max_iter=2000).fit(S, y)
            if not np.array_equal(self.static_.classes_, self.classes_):
                raise ValueError("the two views disagree on the label set")
            centroids = np.stack([S[y == c].mean(axis=0) for c in self.classes_])
            self.centroids_ = (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)).astype(np.float32)
        self.temperature_ = 1.0
        return self

    def lexical_logits(self, X: Sequence[str]) -> np.ndarray:
        """The lexical view's logits, as :func:`lexical_subgraph` computes them (the fused head's second input)."""
        check_is_fitted(self, "lexical_")
        ids, mask = self.tokens(X)
        return self.lexical_.decision_function(self._lexical_matrix(ids, mask))

    def views(self, X: Sequence[str]) -> dict[str, np.ndarray]:
        """The reference computation of every graph output, keyed like the ONNX outputs."""
        check_is_fitted(self, "lexical_")
        ids, mask = self.tokens(X)
        lex_logits = self.lexical_.decision_function(self._lexical_matrix(ids, mask))
        if self.has_static_:
            S = self._static_vectors(ids, mask)
            static_logits = self.static_.decision_function(S)
            oos = 1.0 - (S @ self.centroids_.T).max(axis=1)
        else:
            static_logits = lex_logits
            oos = np.zeros(len(ids))
        combined = softmax((_log_softmax(lex_logits) + _log_softmax(static_logits)) / self.temperature_)
        return {"probabilities": combined, "lexical_probabilities": softmax(lex_logits),
                "static_probabilities": softmax(static_logits), "out_of_scope_score": oos}

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        return self.views(X)["probabilities"]

    def predict(self, X: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


@dataclass(frozen=True, slots=True)
class CascadeThresholds:
    accept_at_confidence: float
    defer_at_oos_score: float
    share: float
    accuracy_loss: float
    oos_accepted: float

    def to_dict(self) -> dict[str, float]:
        return {"accept_at_confidence": self.accept_at_confidence, "defer_at_oos_score": self.defer_at_oos_score,
                "calibration_share_answered": self.share, "calibration_accuracy_loss": self.accuracy_loss,
                "calibration_oos_accepted": self.oos_accepted}


def choose_thresholds(views: dict[str, np.ndarray], y: np.ndarray, full_pred: np.ndarray, is_oos: np.ndarray, *, max_accuracy_drop: float, max_oos_recall_drop: float,
                      oos_quantiles: Sequence[float] = (0.8, 0.9, 0.95, 0.98, 0.99, 0.995),
                      min_confidence: float = 0.5) -> CascadeThresholds:
    """The most permissive (confidence, out-of-scope) pair whose answers stay within both budgets.

    ``y`` and ``full_pred`` are class indices into the first stage's ``classes_`` (-1 for out-of-scope rows).
    An in-scope row answered by the first stage counts as a loss when the full model's code is right and the
    first stage's is not; every out-of-scope row it answers counts as a loss (it would not abstain); gains are
    not credited, so the budgets are spent conservatively. The out-of-scope cut is never looser than the ``max(oos_quantiles)``
    quantile of in-scope scores, which keeps text unlike anything in training away from the first stage even
    when the data has no out-of-scope examples.
    """
    a = acceptance_score(views["lexical_probabilities"], views["static_probabilities"])
    o = views["out_of_scope_score"]
    pred = np.asarray(full_pred)
    stage_pred = views["probabilities"].argmax(1)
    in_scope = ~is_oos
    loss = np.where(in_scope, (pred == y) & (stage_pred != y), True)
    n_in, n_oos = max(1, int(in_scope.sum())), int(is_oos.sum())
    allowed_in = max_accuracy_drop * n_in
    allowed_oos = max_oos_recall_drop * n_oos
    best = CascadeThresholds(1.1, -1.0, 0.0, 0.0, 0.0)
    ref = o[in_scope] if in_scope.any() else o
    for q in oos_quantiles:
        cut = float(np.quantile(ref, q)) if len(ref) else 0.0
        eligible = (o < cut) & (a >= min_confidence)
        order = np.flatnonzero(eligible)[np.argsort(-a[eligible], kind="stable")]
        if not len(order):
            continue
        cum_in = np.cumsum(loss[order] & in_scope[order])
        cum_oos = np.cumsum(loss[order] & is_oos[order])
        ok = (cum_in <= allowed_in) & (cum_oos <= allowed_oos)
        scores = a[order]
        distinct = np.r_[scores[1:] < scores[:-1], True]  # only cut between distinct scores
        ok &= distinct
        # Budgets are cumulative: the first violation ends the usable prefix.
        first_bad = np.flatnonzero(~((cum_in <= allowed_in) & (cum_oos <= allowed_oos)))
        limit = first_bad[0] if len(first_bad) else len(order)
        idx = np.flatnonzero(ok[:limit])
        if not len(idx):
            continue
        k = idx[-1]
        share = (k + 1) / len(y)
        if share > best.share:
            best = CascadeThresholds(float(scores[k]), cut, float(share), float(cum_in[k]) / n_in,
                                     float(cum_oos[k]) / max(1, n_oos))
    return best


def static_token_table(encoder_path: Path, tokenizer_path: Path, cache_dir: Path | None = None,
                       batch_size: int = 512) -> np.ndarray:
    """One vector per vocabulary piece: the encoder's pooled output for ``[CLS] piece [SEP]`` (n_vocab × 384).

    Depends only on the encoder file, so it is cached under that file's hash (a few minutes on 2 cores).
    """
    cached = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{file_sha256(encoder_path)}:{file_sha256(tokenizer_path)}".encode()).hexdigest()
        cached = cache_dir / f"static-pieces-{key[:16]}.npy"
        if cached.is_file():
            return np.load(cached, allow_pickle=False)
    tokenizer = load_cascade_tokenizer(tokenizer_path)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    vocab = tokenizer.get_vocab_size()
    session = onnx_session(encoder_path)
    out = np.zeros((vocab, 384), dtype=np.float32)
    for start in range(0, vocab, batch_size):
        piece = np.arange(start, min(vocab, start + batch_size), dtype=np.int64)
        ids = np.stack([np.full_like(piece, cls_id), piece, np.full_like(piece, sep_id)], axis=1)
        (emb,) = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
        out[start : start + len(piece)] = emb
    if cached is not None:
        # Written aside then renamed: concurrent fits sharing the cache never read a half-written table.
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.stem}.{os.getpid()}.partial.npy")
        np.save(partial, out, allow_pickle=False)
        os.replace(partial, cached)
    return out


def lexical_subgraph(stage: FirstStageClassifier) -> tuple[list[onnx.TensorProto], list[onnx.NodeProto]]:
    """Initializers and nodes that compute the lexical view's logits (``lex_logits``, batch × classes) from the
    graph inputs ``token_ids`` (int64) and ``token_mask`` (float), exactly as :meth:`FirstStageClassifier.lexical_logits`.

    Shared by the first stage (``cascade.onnx``) and the fused head (``head.onnx``). Also defines the small
    constants ``zero1``, ``one1``, ``minus1``, ``end1`` and ``eps`` other nodes may use.
    """
    check_is_fitted(stage, "lexical_")
    f32, i64 = np.float32, np.int64
    lex_w = stage.lexical_.coef_.T  # row r weighs compact feature r; row 0 (unseen) always meets weight 0
    init = [
        numpy_helper.from_array(np.array(stage.vocab_size_, dtype=i64), "vocab"),
        numpy_helper.from_array(np.array(stage.bigram_buckets, dtype=i64), "buckets"),
        numpy_helper.from_array(np.array([0], dtype=i64), "zero1"),
        numpy_helper.from_array(np.array([1], dtype=i64), "one1"),
        numpy_helper.from_array(np.array([-1], dtype=i64), "minus1"),
        numpy_helper.from_array(np.array([np.iinfo(np.int64).max], dtype=i64), "end1"),
        numpy_helper.from_array(np.array(_EPS, dtype=f32), "eps"),
        numpy_helper.from_array(stage.remap_.astype(i64), "remap"),
        numpy_helper.from_array(stage.idf_rows_.astype(f32), "idf_rows"),
        # In float16 (half the size); the estimator predicts with exactly these rounded weights.
        numpy_helper.from_array(lex_w.astype(np.float16), "lex_w"),
        numpy_helper.from_array(stage.lexical_.intercept_.astype(f32), "lex_b"),
    ]
    n = helper.make_node
    nodes = [
        # Hashed bigrams of adjacent pieces, then every feature's compact row (0 = never seen in training).
        n("Slice", ["token_ids", "zero1", "minus1", "one1"], ["left"]),
        n("Slice", ["token_ids", "one1", "end1", "one1"], ["right"]),
        n("Mul", ["left", "vocab"], ["left_v"]),
        n("Add", ["left_v", "right"], ["pair"]),
        n("Mod", ["pair", "buckets"], ["pair_bucket"]),
        n("Add", ["pair_bucket", "vocab"], ["bigram"]),
        n("Slice", ["token_mask", "zero1", "minus1", "one1"], ["mask_left"]),
        n("Slice", ["token_mask", "one1", "end1", "one1"], ["mask_right"]),
        n("Mul", ["mask_left", "mask_right"], ["bigram_mask"]),
        n("Concat", ["token_ids", "bigram"], ["features"], axis=1),
        n("Concat", ["token_mask", "bigram_mask"], ["feature_mask"], axis=1),
        n("Gather", ["remap", "features"], ["rows"]),
        n("Gather", ["idf_rows", "rows"], ["idf"]),
        n("Mul", ["idf", "feature_mask"], ["w"]),
        # ||tf-idf||² with repeated features merged: w · [rows_i == rows_j] · w.
        n("Unsqueeze", ["rows", "minus1"], ["rows_col"]),
        n("Unsqueeze", ["rows", "one1"], ["rows_row"]),
        n("Equal", ["rows_col", "rows_row"], ["same_bool"]),
        n("Cast", ["same_bool"], ["same"], to=TensorProto.FLOAT),
        n("Unsqueeze", ["w", "minus1"], ["w_col"]),
        n("MatMul", ["same", "w_col"], ["same_w"]),
        n("Mul", ["same_w", "w_col"], ["w_sq"]),
        n("ReduceSum", ["w_sq", "one1"], ["norm_sq3"], keepdims=1),
        n("Squeeze", ["norm_sq3", "minus1"], ["norm_sq"]),
        n("Max", ["norm_sq", "eps"], ["norm_sq_safe"]),
        n("Sqrt", ["norm_sq_safe"], ["norm"]),
        n("Gather", ["lex_w", "rows"], ["lex_w_rows16"]),
        n("Cast", ["lex_w_rows16"], ["lex_w_rows"], to=TensorProto.FLOAT),
        n("Mul", ["lex_w_rows", "w_col"], ["lex_terms"]),
        n("ReduceSum", ["lex_terms", "one1"], ["lex_sum"], keepdims=0),
        n("Div", ["lex_sum", "norm"], ["lex_x"]),
        n("Add", ["lex_x", "lex_b"], ["lex_logits"]),
    ]
    return init, nodes


def export_first_stage_onnx(stage: FirstStageClassifier, path: Path) -> None:
    """Write ``cascade.onnx``: token ids + mask → the four outputs of :meth:`FirstStageClassifier.views`."""
    check_is_fitted(stage, "lexical_")
    if not stage.has_static_:
        raise ValueError("the served first stage needs both views (fit with a static_table)")
    f32 = np.float32
    lexical_init, lexical_nodes = lexical_subgraph(stage)
    init = lexical_init + [
        numpy_helper.from_array(np.array(1.0, dtype=f32), "one"),
        numpy_helper.from_array(np.array(1.0 / stage.temperature_, dtype=f32), "inv_t"),
        # The static table in float16 (half the bundle size); the estimator trains and predicts on the same values.
        numpy_helper.from_array(stage.token_weight_.astype(f32), "token_weight"),
        numpy_helper.from_array(stage.static_vectors_.astype(np.float16), "static_vectors"),
        numpy_helper.from_array(stage.static_.coef_.T.astype(f32), "static_w"),
        numpy_helper.from_array(stage.static_.intercept_.astype(f32), "static_b"),
        numpy_helper.from_array(np.ascontiguousarray(stage.centroids_.T.astype(f32)), "centroids_T"),
    ]
    n = helper.make_node
    nodes = lexical_nodes + [
        # Static view: idf-weighted sum of distilled piece vectors, L2-normalised.
        n("Gather", ["token_weight", "token_ids"], ["tw"]),
        n("Mul", ["tw", "token_mask"], ["sw"]),
        n("Unsqueeze", ["sw", "minus1"], ["sw_col"]),
        n("Gather", ["static_vectors", "token_ids"], ["piece16"]),
        n("Cast", ["piece16"], ["piece"], to=TensorProto.FLOAT),
        n("Mul", ["piece", "sw_col"], ["piece_w"]),
        n("ReduceSum", ["piece_w", "one1"], ["s_sum"], keepdims=0),
        n("Mul", ["s_sum", "s_sum"], ["s_sq"]),
        n("ReduceSum", ["s_sq", "one1"], ["s_norm_sq"], keepdims=1),
        n("Max", ["s_norm_sq", "eps"], ["s_norm_sq_safe"]),
        n("Sqrt", ["s_norm_sq_safe"], ["s_norm"]),
        n("Div", ["s_sum", "s_norm"], ["s"]),
        n("MatMul", ["s", "static_w"], ["static_xw"]),
        n("Add", ["static_xw", "static_b"], ["static_logits"]),
        n("MatMul", ["s", "centroids_T"], ["centroid_sim"]),
        n("ReduceMax", ["centroid_sim", "one1"], ["max_sim"], keepdims=0),
        n("Sub", ["one", "max_sim"], ["out_of_scope_score"]),
        n("Softmax", ["lex_logits"], ["lexical_probabilities"], axis=1),
        n("Softmax", ["static_logits"], ["static_probabilities"], axis=1),
        n("LogSoftmax", ["lex_logits"], ["lex_log"], axis=1),
        n("LogSoftmax", ["static_logits"], ["static_log"], axis=1),
        n("Add", ["lex_log", "static_log"], ["joint_log"]),
        n("Mul", ["joint_log", "inv_t"], ["joint_scaled"]),
        n("Softmax", ["joint_scaled"], ["probabilities"], axis=1),
    ]
    n_classes = len(stage.classes_)
    graph = helper.make_graph(
        nodes=nodes, name="reason_first_stage",
        inputs=[helper.make_tensor_value_info("token_ids", TensorProto.INT64, ["batch", "tokens"]),
                helper.make_tensor_value_info("token_mask", TensorProto.FLOAT, ["batch", "tokens"])],
        outputs=[helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", n_classes]),
                 helper.make_tensor_value_info("lexical_probabilities", TensorProto.FLOAT, ["batch", n_classes]),
                 helper.make_tensor_value_info("static_probabilities", TensorProto.FLOAT, ["batch", n_classes]),
                 helper.make_tensor_value_info("out_of_scope_score", TensorProto.FLOAT, ["batch"])],
        initializer=init,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="returns-triage")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def first_stage_parity(stage: FirstStageClassifier, path: Path, tokenizer_path: Path, texts: list[str],
                       config: dict[str, Any]) -> dict[str, float]:
    """Served graph vs the estimator on ``texts``: code and acceptance agreement, largest probability gap."""
    from returns_triage.models.reason.cascade import CascadeStage

    ref = stage.views(texts)
    got = CascadeStage(path, tokenizer_path, config).raw(texts)
    ref_accept = accept_rule(ref["lexical_probabilities"], ref["static_probabilities"], ref["out_of_scope_score"],
                             config["accept_at_confidence"], config["defer_at_oos_score"])
    got_accept = accept_rule(got["lexical_probabilities"], got["static_probabilities"], got["out_of_scope_score"],
                             config["accept_at_confidence"], config["defer_at_oos_score"])
    return {
        "top1_agreement": float((ref["probabilities"].argmax(1) == got["probabilities"].argmax(1)).mean()),
        "accept_agreement": float((ref_accept == got_accept).mean()),
        "max_prob_diff": float(max(np.abs(ref[k] - got[k]).max() for k in
                                   ("probabilities", "lexical_probabilities", "static_probabilities"))),
        "max_oos_score_diff": float(np.abs(ref["out_of_scope_score"] - got["out_of_scope_score"]).max()),
        "n_texts": len(texts),
    }


def fit_cascade(
    fit_texts: Sequence[str],
    fit_labels: Sequence[str],
    held_texts: Sequence[str] | None,
    held_labels: Sequence[str] | None,
    full_pred_held: np.ndarray,
    full_oos_held: np.ndarray,
    *,
    bundle_dir: Path,
    ood_label: str | None = None,
    classes: Sequence[str] | None = None,
    cache_dir: Path | None = None,
    max_accuracy_drop: float = 0.0025,
    max_oos_recall_drop: float = 0.0025,
    folds: int = 2,
    seed: int = 0,
    say: Any = lambda _msg: None,
) -> tuple[list[str], dict[str, Any], dict[str, float]]:
    """Fit the first stage, choose its thresholds and write ``cascade.onnx`` into ``bundle_dir``.

    ``held_texts`` are rows the full model was not trained on, with the full model's codes on them in
    ``full_pred_held`` and its out-of-scope scores in ``full_oos_held``; without them the first stage is
    cross-fitted on ``fit_texts`` (both arrays then describe ``fit_texts``). The default budgets are half the allowance the cascade is
    held to (0.5 points each), leaving room for the sampling noise of a validation split.
    Returns the files written, the manifest's ``cascade`` section and the parity figures.
    """
    tokenizer_path = bundle_dir / "tokenizer.json"
    say("distilling static word-piece vectors from the encoder")
    table = static_token_table(bundle_dir / "encoder.onnx", tokenizer_path, cache_dir)
    # Reduced once here rather than in every cross-fitted estimator (the table does not depend on the rows).
    table = PCA(n_components=FirstStageClassifier().static_dim, random_state=seed).fit_transform(table)
    fit_labels_arr = np.asarray(fit_labels)
    in_fit = fit_labels_arr != ood_label if ood_label is not None else np.ones(len(fit_labels_arr), dtype=bool)
    fit_idx = np.flatnonzero(in_fit)

    def new_stage() -> FirstStageClassifier:
        return FirstStageClassifier(str(tokenizer_path), table, random_state=seed)

    say(f"fitting the first stage on {len(fit_idx)} texts")
    stage = new_stage().fit([fit_texts[i] for i in fit_idx], fit_labels_arr[fit_idx])
    if classes is not None and [str(c) for c in stage.classes_] != [str(c) for c in classes]:
        raise RuntimeError("the first stage's codes differ from the full model's: the bundle would mislabel")
    if held_texts is not None and held_labels is not None and len(held_texts):
        texts, labels = list(held_texts), np.asarray(held_labels)
        views = stage.views(texts)
    else:
        # Out-of-fold views: each row judged by a first stage that never saw it.
        texts, labels = list(fit_texts), fit_labels_arr
        views = {}
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        y_in = fit_labels_arr[fit_idx]
        for k, (tr, te) in enumerate(splitter.split(fit_idx, y_in)):
            part = new_stage().fit([fit_texts[i] for i in fit_idx[tr]], y_in[tr])
            rows = fit_idx[te] if k else np.r_[fit_idx[te], np.flatnonzero(~in_fit)]
            got = part.views([texts[i] for i in rows])
            for key, value in got.items():
                views.setdefault(key, np.zeros((len(texts),) + value.shape[1:], dtype=np.float64))[rows] = value
    index = {c: i for i, c in enumerate(stage.classes_)}
    y_idx = np.array([index.get(str(v), -1) for v in labels])
    is_oos = labels == ood_label if ood_label is not None else np.zeros(len(labels), dtype=bool)
    full_idx = np.array([index.get(str(v), -2) for v in full_pred_held])
    known = (y_idx >= 0) | is_oos  # a held-out code the first stage never learned is simply not scored
    chosen = choose_thresholds({k: v[known] for k, v in views.items()}, y_idx[known], full_idx[known],
                               is_oos[known], max_accuracy_drop=max_accuracy_drop,
                               max_oos_recall_drop=max_oos_recall_drop)
    in_scope = known & ~is_oos
    if in_scope.sum() >= 20:
        joint = (np.log(np.clip(views["lexical_probabilities"][in_scope], 1e-12, None))
                 + np.log(np.clip(views["static_probabilities"][in_scope], 1e-12, None)))
        stage.temperature_ = fit_temperature(joint, y_idx[in_scope])
    say(f"first stage answers {chosen.share:.1%} of held-out texts (confidence ≥ {chosen.accept_at_confidence:.3f},"
        f" out-of-scope score < {chosen.defer_at_oos_score:.3f})")
    # The policy compares out-of-scope scores with thresholds set on the encoder's scale: answered texts report
    # the first stage's score mapped onto that scale by matching quantiles on the held-out rows.
    levels = np.linspace(0.0, 1.0, 41)
    score_map = {"first_stage": np.quantile(views["out_of_scope_score"][known], levels).tolist(),
                 "encoder": np.quantile(np.asarray(full_oos_held, dtype=np.float64)[known], levels).tolist()}
    config = {"max_tokens": stage.max_tokens, "oos_score_map": score_map, "views": ["lexical", "static"], "temperature": stage.temperature_,
              "max_accuracy_drop": max_accuracy_drop, "max_oos_recall_drop": max_oos_recall_drop,
              "n_threshold_rows": int(known.sum()), "n_features": int(len(stage.idf_rows_) - 1),
              "static_dim": int(stage.static_vectors_.shape[1]), **chosen.to_dict()}
    path = bundle_dir / "cascade.onnx"
    export_first_stage_onnx(stage, path)
    step = max(1, len(texts) // 600)
    parity = first_stage_parity(stage, path, tokenizer_path, texts[::step][:600], config)
    if parity["top1_agreement"] < 1.0 or parity["accept_agreement"] < 0.995:
        raise RuntimeError(f"the ONNX first stage disagrees with the estimator: {parity}")
    return ["cascade.onnx"], config, parity
