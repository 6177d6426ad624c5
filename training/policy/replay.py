"""`triage policy simulate --from-db`: re-route stored decisions under a candidate policy and the live one.

Every case is routed again from its recorded evidence (reason, risk, documents, decision time — as stored) by
both policies. The report gives, per policy, the straight-through rate, the expected errors among what it would
auto-approve (from outcomes where known, the models' estimate where not), the daily review-queue load, and the
diff: the cases whose route changes, grouped by the policy clause that changes it.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from returns_triage.serving.domain.policy_routing import Assessment, DocumentPolicy
from returns_triage.training.policy.stored import StoredCase

__all__ = ["replay_stored", "clause_keys"]

_EXAMPLES = 10
# Hold clauses are sentences with the case's numbers in them; these name the policy setting each comes from.
_HOLD_SETTINGS = (
    ("reason model abstained", "gates.abstain (out-of-scope)"),
    (re.compile(r"^reason \S+ p=\S+ below"), "gates.min_reason_confidence"),
    (re.compile(r"^\d+ reason codes plausible"), "gates.max_prediction_set_size"),
    ("out-of-scope score", "gates.max_out_of_scope_score"),
    ("always needs a person", "gates.review_reason_codes"),
    ("fraud risk", "gates.max_fraud_risk"),
    (re.compile(r"^estimated error \S+ above gate"), "gates.max_error_estimate"),
    ("document check", "gates.hold_finding_severities"),
    ("document confidence", "gates.min_document_confidence"),
)


def _hold_setting(clause: str) -> str:
    for pattern, setting in _HOLD_SETTINGS:
        if (pattern.search(clause) if isinstance(pattern, re.Pattern) else pattern in clause):
            return setting
    return re.sub(r"[\d.,%€$£]+", "#", clause)  # unknown clause: its wording without the numbers


def clause_keys(assessment: Assessment) -> frozenset[str]:
    """The policy settings that stop (or sample) an auto-approval of this case."""
    keys = {f"hard_rules.{rule}" for rule, _ in assessment.violations}
    keys |= {_hold_setting(h) for h in assessment.holds}
    if assessment.audit_sampled:
        keys.add("audit_sample_rate")
    return frozenset(keys)


def _route_all(policy: DocumentPolicy, stored: list[StoredCase]) -> tuple[list[Any], list[frozenset[str]]]:
    routes, keys = [], []
    for s in stored:
        routes.append(policy.route(s.case, s.reason, s.risk, s.decided_at, documents=s.documents))
        keys.append(clause_keys(policy.assess(s.case, s.reason, s.risk, s.decided_at, s.documents)))
    return routes, keys


def _summary(policy: DocumentPolicy, routes: list[Any], stored: list[StoredCase]) -> dict[str, Any]:
    approved = [s for s, r in zip(stored, routes, strict=True) if r.route == "auto_approve"]
    labelled = [s for s in approved if s.labelled]
    from_outcomes = sum(s.error_probability for s in labelled)
    from_models = sum(s.error_probability for s in approved if not s.labelled)
    load: dict[str, Counter[str]] = defaultdict(Counter)  # day -> queue -> reviews
    for s, r in zip(stored, routes, strict=True):
        if r.route == "review":
            load[s.decided_at.date().isoformat()][r.queue or "?"] += 1
    days = sorted({s.decided_at.date().isoformat() for s in stored})
    per_day = np.array([sum(load[d].values()) for d in days]) if days else np.zeros(1)
    queues = sorted({q for c in load.values() for q in c})
    return {
        "version": policy.version,
        "straight_through": round(len(approved) / max(len(stored), 1), 4),
        "routes": dict(Counter(r.route for r in routes)),
        "auto_approved": len(approved),
        "expected_errors": {
            "total": round(from_outcomes + from_models, 2),
            "rate": round((from_outcomes + from_models) / max(len(approved), 1), 5),
            "from_outcomes": round(from_outcomes, 2), "labelled_approvals": len(labelled),
            "from_models": round(from_models, 2), "unlabelled_approvals": len(approved) - len(labelled),
        },
        "queue_load": {
            "days": len(days),
            "reviews_per_day": {"mean": round(float(per_day.mean()), 2), "p95": float(np.percentile(per_day, 95)),
                                "max": int(per_day.max())},
            "by_queue_mean_per_day": {q: round(sum(load[d][q] for d in days) / max(len(days), 1), 2)
                                      for q in queues},
            "by_day": [{"day": d, "reviews": sum(load[d].values()), **{q: load[d][q] for q in queues}}
                       for d in days],
        },
    }


def replay_stored(candidate: DocumentPolicy, live: DocumentPolicy, stored: list[StoredCase]) -> dict[str, Any]:
    """The simulate report for ``stored`` (see the module docstring)."""
    cand_routes, cand_keys = _route_all(candidate, stored)
    live_routes, live_keys = _route_all(live, stored)
    changes: dict[str, dict[str, Any]] = {}
    for s, c, lr, ck, lk in zip(stored, cand_routes, live_routes, cand_keys, live_keys, strict=True):
        if c.route == lr.route:
            continue
        entry = changes.setdefault(f"{lr.route}->{c.route}", {"count": 0, "by_clause": Counter(), "examples": []})
        entry["count"] += 1
        # The clauses one policy applies and the other does not are what moved the case.
        moved = (ck ^ lk) or frozenset({"auto_decline" if "auto_decline" in (c.route, lr.route) else "other"})
        entry["by_clause"].update(moved)
        if len(entry["examples"]) < _EXAMPLES:
            entry["examples"].append({"case_id": s.case.case_id, "decision_id": s.decision_id,
                                      "clauses": sorted(moved)})
    for entry in changes.values():
        entry["by_clause"] = dict(entry["by_clause"].most_common())
    same_version = [(s, r) for s, r in zip(stored, live_routes, strict=True)
                    if s.recorded_policy_version == live.version]
    return {
        "cases": len(stored),
        "labelled_cases": sum(s.labelled for s in stored),
        "period": {"first": stored[0].decided_at.isoformat() if stored else None,
                   "last": stored[-1].decided_at.isoformat() if stored else None},
        "recorded": {
            "routes": dict(Counter(s.recorded_route for s in stored)),
            # Decisions the live policy made itself must come out the same (the reproducibility guarantee).
            "made_by_live_policy": len(same_version),
            "live_replay_differs": sum(s.recorded_route != r.route for s, r in same_version),
        },
        "candidate": _summary(candidate, cand_routes, stored),
        "live": _summary(live, live_routes, stored),
        "diff": {"changed": sum(e["count"] for e in changes.values()),
                 "routes": dict(sorted(changes.items()))},
    }
