"""Labelled history for policy calibration and simulation, from the returns-world simulator.

Model evidence per case:

- fraud risk: a fraud model trained on an *earlier* period of the same world (HGB + isotonic calibration,
  the fraud training pipeline, scored in-process with scikit-learn), applied to the later period;
- reason: a **noisy-confidence model of the reason classifier** — the simulator's reason texts are one
  template per code, which any real classifier gets right, so we draw a calibrated confidence per case
  (logit ~ Normal(μ by channel, 2.5)), make the prediction wrong with probability 1 − confidence (a random other
  code), and derive the prediction set and out-of-scope score from it.

An auto-approval *error* is a fraudulent return or a legitimate one whose predicted reason is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from returns_triage.serving.domain.model import DocumentAssessment, ReasonAssessment, ReturnCase, RiskAssessment
from returns_triage.serving.domain.policy_routing import DocumentPolicy

__all__ = ["History", "simulated_history", "noisy_reason_model", "relaxed", "REASON_MODEL_NOTE"]

REASON_MODEL_NOTE = ("reason: noisy-confidence model of the simulator's reason codes (calibrated confidence, "
                     "logit ~ N(mu by channel, 2.5), wrong with prob. 1 - confidence); fraud: HGB+isotonic trained "
                     "on an earlier simulated period, scored in-process")
_MU = {"portal": 6.5, "email": 5.5, "store": 7.0, "field_rep": 6.0, "edi": 7.5}


@dataclass
class History:
    cases: list[ReturnCase]
    reasons: list[ReasonAssessment]
    risks: list[RiskAssessment]
    documents: list[DocumentAssessment | None]
    times: list[datetime]
    error: np.ndarray  # bool: approving it would be wrong
    is_fraud: np.ndarray
    day: np.ndarray  # days since the world's start
    refund: np.ndarray

    def __len__(self) -> int:
        return len(self.cases)

    @property
    def confidence(self) -> np.ndarray:
        return np.array([r.confidence for r in self.reasons])

    @property
    def risk(self) -> np.ndarray:
        return np.array([r.score for r in self.risks])

    @property
    def segment(self) -> np.ndarray:
        return np.array([c.segment for c in self.cases])

    def select(self, idx: np.ndarray) -> History:
        idx = np.asarray(idx)
        return History([self.cases[i] for i in idx], [self.reasons[i] for i in idx], [self.risks[i] for i in idx],
                       [self.documents[i] for i in idx], [self.times[i] for i in idx], self.error[idx],
                       self.is_fraud[idx], self.day[idx], self.refund[idx])


def noisy_reason_model(codes: list[str], channels: list[str], seed: int) -> tuple[list[ReasonAssessment], np.ndarray]:
    """Calibrated noisy predictions of ``codes``; returns the assessments and whether each is wrong."""
    from returns_triage.datasets.returns_world.generative import REASON_CODES

    rng = np.random.default_rng([seed, 61])
    n = len(codes)
    logit = np.array([_MU.get(ch, 5.0) for ch in channels]) + 2.5 * rng.standard_normal(n)
    p = 1.0 / (1.0 + np.exp(-logit))
    wrong = rng.random(n) > p
    second_share = rng.uniform(0.5, 1.0, n)
    oos = rng.beta(1.0, 40.0, n)
    out = []
    for i, code in enumerate(codes):
        others = [c for c in REASON_CODES if c != code]
        alt = others[int(rng.integers(len(others)))]
        predicted, runner_up = (alt, code) if wrong[i] else (code, alt)
        pset = (predicted, runner_up) if (1 - p[i]) * second_share[i] >= 0.05 else (predicted,)
        out.append(ReasonAssessment(code=predicted, confidence=round(float(p[i]), 6), prediction_set=pset,
                                    out_of_scope_score=round(float(oos[i]), 6), abstain=bool(oos[i] > 0.5),
                                    model_version="noisy-reason-sim"))
    return out, wrong


def simulated_history(*, seed: int = 11, customers: int = 12_000, months: int = 15, train_until: float = 180.0,
                      calibrate_until: float = 240.0, max_iter: int = 80, legit_share: float | None = None) -> History:
    """Simulate a world, train the fraud model on days [0, train_until), calibrate it on
    [train_until, calibrate_until), and return the labelled history of the cases after that."""
    from returns_triage.datasets.returns_world import WorldConfig, simulate_world
    from returns_triage.serving.service.scoring import case_from_request
    from returns_triage.training.fraud.pipeline import LEGIT_SHARE, fit_fraud_model, training_positions, world_cases

    world = simulate_world(WorldConfig(seed=seed, customers=customers, months=months))
    labels = world.labels()
    day = labels["requested_day"]
    train_pos, weight = training_positions(labels, day < train_until,
                                            LEGIT_SHARE if legit_share is None else legit_share, seed)
    trained = fit_fraud_model(world_cases(world, train_pos),
                              world_cases(world, np.flatnonzero((day >= train_until) & (day < calibrate_until))),
                              seed=seed, max_iter=max_iter, sample_weight=weight)
    later = world_cases(world, np.flatnonzero(day >= calibrate_until))
    raw = trained.model.predict_proba(later.features)[:, 1]
    cal = trained.calibration
    scores = np.interp(raw, cal["x"], cal["y"])
    cases = [case_from_request("default", r) for r in later.requests]
    reasons, wrong = noisy_reason_model(later.reason_codes, [c.channel for c in cases], seed)
    risks = [RiskAssessment(score=round(float(s), 6), band="high" if s >= 0.3 else "medium" if s >= 0.05 else "low",
                            factors=(), model_version="fraud-sim") for s in scores]
    docs: list[DocumentAssessment | None] = []
    for req, found in zip(later.requests, later.findings, strict=True):
        docs.append(None if found is None else DocumentAssessment(
            document_ids=tuple(req["document_ids"]), extractions=(), findings=tuple(found),
            document_confidence=None, model_version=None))
    fraud = later.labels["is_fraud"].astype(bool)
    times = [datetime.fromisoformat(r["requested_at"].replace("Z", "+00:00")) for r in later.requests]
    refund = np.array([float(r["refund_amount"]) for r in later.requests])
    return History(cases, reasons, risks, docs, times, fraud | (wrong & ~fraud), fraud,
                   later.labels["requested_day"], refund)


def relaxed(policy: DocumentPolicy) -> DocumentPolicy:
    """The policy with the calibrated gates wide open and no audit sampling: what is left decides eligibility."""
    from returns_triage.serving.domain.policy_document import PolicyDocument

    content = _strip_gates(policy.document.content)
    content["defaults"]["gates"]["min_reason_confidence"] = 0.0
    content["defaults"]["gates"]["max_fraud_risk"] = 1.0
    content["defaults"]["gates"].pop("max_error_estimate", None)
    content["defaults"]["audit_sample_rate"] = 0.0
    for layer in (content.get("overrides") or {}).values():
        for rules in (layer or {}).values():
            rules.pop("audit_sample_rate", None)
    return DocumentPolicy(PolicyDocument(policy.document.name, content, policy.document.source))


def _strip_gates(content: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without override-level values of the calibrated gates (calibration owns them)."""
    import copy

    out = copy.deepcopy(content)
    for layer in (out.get("overrides") or {}).values():
        for rules in (layer or {}).values():
            gates = rules.get("gates") or {}
            gates.pop("min_reason_confidence", None)
            gates.pop("max_fraud_risk", None)
            gates.pop("max_error_estimate", None)
            if "gates" in rules and not gates:
                rules.pop("gates")
    return out


def eligibility(policy: DocumentPolicy, history: History) -> np.ndarray:
    """Whether each case passes every rule except the calibrated gates (and audit sampling)."""
    open_policy = relaxed(policy)
    return np.array([open_policy.assess(c, r, k, t, d).eligible for c, r, k, t, d in
                     zip(history.cases, history.reasons, history.risks, history.times, history.documents,
                         strict=True)])
