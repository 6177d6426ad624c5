"""The document-driven policy: hard rules, model gates, audit sampling → a route and one explanation.

:class:`DocumentPolicy` has the interface the scoring service calls (``.version``, ``.route(...)``). Each
clause of the explanation names the policy setting it applied and, when that setting comes from an override,
which one ("value €129.00 under cap €1500.00 (facility DC-ROTTERDAM)"), next to the model evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from returns_triage.serving.domain.failsafe import FailsafeBoard, case_inputs, tightened_gates
from returns_triage.serving.domain.model import (
    Decision,
    DocumentAssessment,
    ReasonAssessment,
    ReturnCase,
    RiskAssessment,
    Route,
    sha256_of,
)
from returns_triage.serving.domain.policy_document import (
    LAYER_LABEL,
    LAYERS,
    PolicyDocument,
    load_policy_document,
)

__all__ = ["DocumentPolicy", "Assessment", "ShadowedDecision", "audit_draw", "assessments_from_document",
           "estimated_error"]

_SYMBOL = {"EUR": "€", "USD": "$", "GBP": "£"}
_LAYER_FIELD = {"categories": "category", "channels": "channel", "segments": "segment", "facilities": "facility"}


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the policy found before choosing a route (also what calibration and simulation read)."""

    violations: tuple[tuple[str, str], ...]  # (hard rule, clause)
    holds: tuple[str, ...]  # model-gate clauses that stop an auto-approval
    evidence: tuple[str, ...]  # clauses that passed
    settings: dict[str, tuple[Any, str]]  # effective setting -> (value, where it came from)
    audit_propensity: float  # P(an eligible case is sampled for audit) under these settings
    audit_sampled: bool
    failsafe: str | None = None  # the open fail-safe or vetted-inputs check holding this eligible case, by its clause

    @property
    def eligible(self) -> bool:
        """Would be auto-approved but for audit sampling."""
        return not self.violations and not self.holds


def audit_draw(case: ReturnCase) -> float:
    """A uniform number in [0, 1) fixed by the case: audit sampling is random across cases yet reproducible."""
    return int(sha256_of(["audit-sample", case.tenant, case.case_id])[:13], 16) / 16**13


def estimated_error(confidence: float, risk: float) -> float:
    """The chance that auto-approving is an error (a fraud, or a legitimate return with a wrong reason) when the
    reason confidence and the fraud risk are calibrated and independent: 1 − p_reason · (1 − p_fraud).

    Approving in increasing order of this estimate admits the most returns for a given error rate, which is why
    ``gates.max_error_estimate`` is one threshold on it rather than a rectangle of two."""
    return 1.0 - confidence * (1.0 - risk)


def _money(amount: float, currency: str) -> str:
    symbol = _SYMBOL.get(currency)
    return f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"


def _where(source: str) -> str:
    return "" if source == "default" else f" ({source})"


def _day(value: Any) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError:
        return None


class DocumentPolicy:
    """Routes returns by a :class:`PolicyDocument`. Immutable; resolved rule sets are cached per context."""

    def __init__(self, document: PolicyDocument, failsafe: FailsafeBoard | None = None) -> None:
        self.document = document
        self.failsafe = failsafe  # open fail-safe states written by `triage monitor` (serving/domain/failsafe.py)
        self._cache: dict[tuple[str, ...], dict[str, tuple[Any, str]]] = {}

    @classmethod
    def from_file(cls, path: str | None = None) -> DocumentPolicy:
        return cls(load_policy_document(path))

    @property
    def version(self) -> str:
        return self.document.version

    def settings_for(self, case: ReturnCase) -> dict[str, tuple[Any, str]]:
        """Effective settings for the case's category, channel, segment and facility, with their source."""
        category = str((case.payload.get("line") or {}).get("category") or "")
        ctx = {"category": category, "channel": case.channel, "segment": case.segment, "facility": case.facility}
        key = tuple(ctx[_LAYER_FIELD[layer]] for layer in LAYERS)
        cached = self._cache.get(key)
        if cached is None:
            cached = {name: (value, "default") for name, value in self.document.defaults.items()}
            for layer, name in zip(LAYERS, key, strict=True):
                for setting, value in self.document.layer(layer, name).items():
                    cached[setting] = (value, f"{LAYER_LABEL[layer]} {name}")
            self._cache[key] = cached
        return cached

    def assess(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None, now: datetime,
               documents: DocumentAssessment | None = None) -> Assessment:
        s = self.settings_for(case)
        violations: list[tuple[str, str]] = []
        holds: list[str] = []
        evidence: list[str] = []
        self._reason_gates(reason, s, holds)
        if not holds:
            minimum, src = s["gates.min_reason_confidence"]
            evidence.append(f"reason {reason.code} p={reason.confidence:.2f} ≥ {minimum:.2f}{_where(src)}")
        self._hard_rules(case, reason, documents, now, s, violations, evidence)
        if risk is not None:
            limit, src = s["gates.max_fraud_risk"]
            if risk.score > limit:
                holds.append(f"fraud risk {risk.score:.1%} above {limit:.1%}{_where(src)}")
            else:
                evidence.append(f"risk {risk.score:.1%} ≤ {limit:.1%}{_where(src)}")
        self._error_gate(reason, risk, s, holds, evidence)
        if documents is not None:
            self._document_gates(documents, s, holds, evidence)
        rate, _ = s["audit_sample_rate"]
        eligible = not violations and not holds
        failsafe = self._failsafe_gate(case, reason, risk, s, evidence) if eligible else None
        if eligible and failsafe is None:
            failsafe = self._inputs_gate(case)
        return Assessment(
            violations=tuple(violations), holds=tuple(holds), evidence=tuple(evidence), settings=s,
            audit_propensity=float(rate), audit_sampled=eligible and audit_draw(case) < rate, failsafe=failsafe,
        )

    def _failsafe_gate(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None,
                       s: dict[str, tuple[Any, str]], evidence: list[str]) -> str | None:
        """The clause of an open fail-safe that holds this eligible case, or None (noted in the evidence when a
        fail-safe is open but the case clears its tightened gates)."""
        state = (self.failsafe.for_case(case.tenant, case.segment, reason.code) if self.failsafe is not None
                 else None)
        if state is None:
            return None
        min_conf, max_risk = tightened_gates(s["gates.min_reason_confidence"][0], s["gates.max_fraud_risk"][0],
                                             state.factor)
        score = risk.score if risk is not None else 0.0
        gate = s.get("gates.max_error_estimate", (None, "default"))[0]
        within_gate = gate is None or estimated_error(reason.confidence, score) <= gate * state.factor
        if state.factor > 0.0 and reason.confidence >= min_conf and score <= max_risk and within_gate:
            joint = "" if gate is None else f" and estimated error ≤ {gate * state.factor:.1%}"
            evidence.append(f"{state.clause()}: p={reason.confidence:.2f} ≥ {min_conf:.2f} and risk {score:.1%} "
                            f"≤ {max_risk:.1%}{joint}")
            return None
        return state.clause()

    def _inputs_gate(self, case: ReturnCase) -> str | None:
        """The clause that holds an eligible case whose inputs lie outside what the monitor vetted for its segment
        (every feature outside, and why), or None — also while no ranges are published."""
        vetted = self.failsafe.inputs_for(case.tenant, case.segment) if self.failsafe is not None else None
        if vetted is None:
            return None
        findings = vetted.outside(case_inputs(case.payload, case.channel, case.facility))
        return vetted.clause(findings) if findings else None

    def route(self, case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None, now: datetime,
              documents: DocumentAssessment | None = None) -> Route:
        a = self.assess(case, reason, risk, now, documents)
        s = a.settings
        tag = f"policy {self.version}"
        if a.eligible and a.failsafe is not None:
            # Held by the fail-safe: reviewed like an audit sample with propensity 1, so the monitor keeps
            # measuring the error the normal gates would make and can clear the fail-safe when it is back.
            sample = "audit sample: would be auto-approved, sampled with propensity 1.0000"
            return self._review(case, (a.failsafe, sample), a.evidence, s["audit_queue"][0], 10, now, s, tag,
                                lead="queued by the fail-safe")
        if a.eligible and not a.audit_sampled:
            return Route(route="auto_approve", reasons=a.evidence,
                         explanation="auto-approved: " + " · ".join((*a.evidence, tag)))
        declining = [clause for rule, clause in a.violations if rule in s["auto_decline"][0]]
        if declining:
            return Route(route="auto_decline", reasons=tuple(declining),
                         explanation="auto-declined: " + " · ".join((*declining, tag)))
        if a.eligible:  # an audit sample: would have been auto-approved
            sample = f"audit sample: would be auto-approved, sampled with propensity {a.audit_propensity:.4f}"
            return self._review(case, (sample,), a.evidence, s["audit_queue"][0], 10, now, s, tag,
                                lead="queued as audit sample")
        held = (*(clause for _, clause in a.violations), *a.holds)
        return self._review(case, held, a.evidence, s["queue"][0], self._priority(case, reason, risk, a), now, s, tag,
                            lead="queued for review")

    # --- clauses -----------------------------------------------------------------------------------------

    def _hard_rules(self, case: ReturnCase, reason: ReasonAssessment, documents: DocumentAssessment | None,
                    now: datetime, s: dict[str, tuple[Any, str]], violations: list[tuple[str, str]],
                    evidence: list[str]) -> None:
        line = case.payload.get("line") or {}
        order = case.payload.get("order") or {}
        money = case.currency
        window, src = s["hard_rules.return_window_days"]
        exempt = reason.code in s["hard_rules.return_window_exempt_reasons"][0]
        start = _day(order.get("delivered_at")) or _day(order.get("order_date"))
        asked = _day(case.payload.get("requested_at")) or now.date()
        if window is not None and start is not None and not exempt:
            age = (asked - start).days
            if age > window:
                violations.append(("return_window", f"requested {age} days after delivery, outside the "
                                                    f"{window}-day return window{_where(src)}"))
            else:
                evidence.append(f"within {window}-day return window ({age} days){_where(src)}")
        category = str(line.get("category") or "")
        banned, src = s["hard_rules.non_returnable_categories"]
        if category in banned:
            violations.append(("non_returnable", f"category {category} is non-returnable{_where(src)}"))
        cap, src = s["hard_rules.value_cap"]
        if cap is not None:
            if case.refund_amount > cap:
                violations.append(("value_cap", f"refund {_money(case.refund_amount, money)} above cap "
                                                f"{_money(cap, money)}{_where(src)}"))
            else:
                evidence.append(f"value {_money(case.refund_amount, money)} under cap {_money(cap, money)}{_where(src)}")
        needed, src = s["hard_rules.documents_required_above"]
        has_docs = bool(case.payload.get("document_ids")) or (documents is not None and bool(documents.document_ids))
        if needed is not None and case.refund_amount > needed and not has_docs:
            violations.append(("documents_required", f"documents required above {_money(needed, money)}"
                                                     f"{_where(src)}, none attached"))
        quantity = int(line.get("quantity") or 1)
        before = int(line.get("refunded_quantity_before") or 0)
        on, src = s["hard_rules.duplicate_claim"]
        if on and before >= quantity:
            violations.append(("duplicate_claim", f"line {line.get('line_id') or line.get('sku')} already refunded "
                                                  f"({before} of {quantity} units){_where(src)}"))
        elif on and before > 0:
            violations.append(("duplicate_claim", f"{before} unit(s) of this line already refunded{_where(src)}"))
        on, src = s["hard_rules.refund_above_line_value"]
        line_value = float(line.get("unit_price") or 0.0) * quantity
        if on and line_value > 0 and case.refund_amount > line_value + 0.005:
            violations.append(("refund_above_line_value", f"refund {_money(case.refund_amount, money)} above line "
                                                          f"value {_money(line_value, money)}{_where(src)}"))

    @staticmethod
    def _reason_gates(reason: ReasonAssessment, s: dict[str, tuple[Any, str]], holds: list[str]) -> None:
        if reason.abstain:
            # The model abstains on its out-of-scope score, which can be high even when one code dominates
            # (text unlike anything it was trained on): say both, so the reviewer sees why.
            holds.append(f"reason model abstained: text unclear or out of scope (out-of-scope score "
                         f"{reason.out_of_scope_score:.2f}; best code {reason.code} p={reason.confidence:.2f})")
        minimum, src = s["gates.min_reason_confidence"]
        if not reason.abstain and reason.confidence < minimum:
            holds.append(f"reason {reason.code} p={reason.confidence:.2f} below {minimum:.2f}{_where(src)}")
        size, src = s["gates.max_prediction_set_size"]
        if len(reason.prediction_set) > size:
            holds.append(f"{len(reason.prediction_set)} reason codes plausible ({', '.join(reason.prediction_set)}), "
                         f"at most {size}{_where(src)}")
        oos, src = s["gates.max_out_of_scope_score"]
        if not reason.abstain and reason.out_of_scope_score > oos:
            holds.append(f"out-of-scope score {reason.out_of_scope_score:.2f} above {oos:.2f}{_where(src)}")
        codes, src = s["gates.review_reason_codes"]
        if reason.code in codes and not reason.abstain:
            holds.append(f"reason {reason.code} always needs a person{_where(src)}")

    @staticmethod
    def _error_gate(reason: ReasonAssessment, risk: RiskAssessment | None, s: dict[str, tuple[Any, str]],
                    holds: list[str], evidence: list[str]) -> None:
        """The joint gate: reads only the stored reason confidence and fraud risk, so a replay routes the same.
        Without a fraud score the estimate is the reason's alone, as the separate risk gate is then skipped too."""
        limit, src = s.get("gates.max_error_estimate", (None, "default"))
        if limit is None:
            return
        score = risk.score if risk is not None else 0.0
        estimate = estimated_error(reason.confidence, score)
        basis = "" if risk is not None else " (no fraud score)"
        if estimate > limit:
            holds.append(f"estimated error {estimate:.1%} above gate {limit:.1%}{basis}{_where(src)}")
        else:
            evidence.append(f"estimated error {estimate:.1%} under gate {limit:.1%}{basis}{_where(src)}")

    @staticmethod
    def _document_gates(documents: DocumentAssessment, s: dict[str, tuple[Any, str]], holds: list[str],
                        evidence: list[str]) -> None:
        severities, src = s["gates.hold_finding_severities"]
        serious = [f for f in documents.findings if f.get("severity") in severities]
        for finding in serious:
            detail = f": {finding['detail']}" if finding.get("detail") else ""
            holds.append(f"document check {finding.get('code')} ({finding.get('severity')}){detail}")
        conf = documents.document_confidence
        minimum, src = s["gates.min_document_confidence"]
        if conf is not None and conf < minimum:
            holds.append(f"document confidence {conf:.2f} below {minimum:.2f}{_where(src)}")
        elif conf is not None and not serious:
            evidence.append(f"{len(documents.document_ids)} document(s) agree with the request "
                            f"(confidence {conf:.2f})")

    def _review(self, case: ReturnCase, held: tuple[str, ...], passed: tuple[str, ...], queue: str, priority: int,
                now: datetime, s: dict[str, tuple[Any, str]], tag: str, *, lead: str) -> Route:
        urgent = priority >= s["urgent_priority"][0]
        hours = float(s["urgent_sla_hours"][0] if urgent else s["sla_hours"][0])
        explanation = f"{lead}: " + " · ".join(held)
        if passed:
            explanation += " | evidence: " + " · ".join(passed)
        return Route(route="review", reasons=held, explanation=explanation + " · " + tag, queue=queue,
                     priority=priority, sla_due_at=now + timedelta(hours=hours))

    @staticmethod
    def _priority(case: ReturnCase, reason: ReasonAssessment, risk: RiskAssessment | None, a: Assessment) -> int:
        """0–100, higher first: money at stake, risk, doubt about the reason, and hard-rule violations."""
        cap = a.settings["hard_rules.value_cap"][0] or 1000.0
        value_part = min(30.0, 30.0 * case.refund_amount / max(cap * 2, 1.0))
        risk_part = 40.0 * (risk.score if risk is not None else 0.0)
        doubt_part = 15.0 * (1.0 - reason.confidence)
        rule_part = 15.0 if a.violations else 0.0
        return int(round(min(100.0, value_part + risk_part + doubt_part + rule_part)))


@dataclass(frozen=True, slots=True)
class ShadowedDecision(Decision):
    """A decision that also carries the would-be route of a shadow policy (stored, never acted on)."""

    shadow: dict[str, Any] | None = None

    def to_document(self) -> dict[str, Any]:
        doc = Decision.to_document(self)
        if self.shadow is not None:
            doc["shadow"] = self.shadow
        return doc


def assessments_from_document(doc: dict[str, Any]) -> tuple[
        ReasonAssessment, RiskAssessment | None, DocumentAssessment | None, datetime]:
    """The model evidence and clock stored in a decision document: what a replay feeds the policy again."""
    r = doc["reason"]
    reason = ReasonAssessment(code=r["code"], confidence=r["confidence"], prediction_set=tuple(r["prediction_set"]),
                              out_of_scope_score=r["out_of_scope_score"], abstain=r["abstain"],
                              model_version=r["model_version"])
    k = doc.get("risk")
    risk = None if k is None else RiskAssessment(score=k["score"], band=k["band"], factors=tuple(k["factors"]),
                                                 model_version=k["model_version"])
    d = doc.get("documents")
    documents = None if d is None else DocumentAssessment(
        document_ids=tuple(d["document_ids"]), extractions=tuple(d["extractions"]), findings=tuple(d["findings"]),
        document_confidence=d["document_confidence"], model_version=d["model_version"])
    return reason, risk, documents, datetime.fromisoformat(doc["created_at"])
