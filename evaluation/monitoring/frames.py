"""Stored decisions and the labels known at a time, as one table per window (pandas), the input of every
calculator in this package."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from returns_triage.serving.domain.failsafe import (
    CATEGORICAL_INPUTS,
    INPUTS_HOLD,
    NUMERIC_INPUTS,
    as_number,
    case_inputs,
)

__all__ = ["window_frame", "audit_propensity", "FRAME_COLUMNS", "NUMERIC_FEATURES", "CATEGORICAL_FEATURES"]

_PROPENSITY = re.compile(r"sampled with propensity ([0-9.]+)")
# The inputs the router checks a return against (serving/domain/failsafe.py), read from a case the same way.
NUMERIC_FEATURES = list(NUMERIC_INPUTS)
CATEGORICAL_FEATURES = list(CATEGORICAL_INPUTS)
FRAME_COLUMNS = ["decision_id", "case_ref", "created_at", "segment", *CATEGORICAL_FEATURES, *NUMERIC_FEATURES,
                 "reason_text", "route", "reason_code", "reason_confidence", "reason_abstain", "risk_score",
                 "model_version",
                 "reason_model_version", "audit_propensity", "failsafe_held", "inputs_held", "labelled", "label_fraud",
                 "label_reason",
                 "error"]


def audit_propensity(document: dict[str, Any]) -> float:
    """The propensity an audit sample was drawn with (the policy writes it in the decision's reasons); NaN when
    the decision is not an audit sample."""
    for clause in document.get("reasons") or ():
        m = _PROPENSITY.search(str(clause))
        if m:
            return float(m.group(1))
    return float("nan")


def window_frame(rows: list[dict[str, Any]], labels: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per decision. ``error`` is 1 when what is known says an auto-approval would have been wrong (fraud
    confirmed, another reason confirmed, or a reviewer rejected), 0 when known right, NaN when nothing is known."""
    out: list[dict[str, Any]] = []
    for r in rows:
        payload = r["payload"] or {}
        doc = r["document"] or {}
        label = labels.get(r["case_ref"], {})
        fraud = label.get("fraud")
        reason = label.get("reason_code")
        rejected = label.get("review_action") == "reject"
        labelled = fraud is not None or reason is not None or "review_action" in label
        error = (float(bool(fraud) or (reason is not None and reason != r["reason_code"]) or rejected)
                 if labelled else float("nan"))
        text = str(payload.get("reason_text") or "")
        reasons = [str(c) for c in doc.get("reasons") or ()]
        out.append({
            "decision_id": r["decision_id"], "case_ref": r["case_ref"], "created_at": r["created_at"],
            "segment": r["segment"], **case_inputs(payload, r["channel"], r["facility"]), "reason_text": text,
            "route": r["route"], "reason_code": r["reason_code"],
            "reason_confidence": float(r["reason_confidence"]),
            "reason_abstain": bool((doc.get("reason") or {}).get("abstain", False)),
            "risk_score": as_number(r["risk_score"]),
            "model_version": str((r.get("model_versions") or {}).get("fraud", "")),
            "reason_model_version": str((r.get("model_versions") or {}).get("reason", "")),
            "audit_propensity": audit_propensity(doc),
            "failsafe_held": any(c.startswith("fail-safe ") for c in reasons),
            "inputs_held": any(c.startswith(INPUTS_HOLD) for c in reasons),
            "labelled": labelled, "label_fraud": np.nan if fraud is None else float(bool(fraud)),
            "label_reason": reason, "error": error,
        })
    return pd.DataFrame(out, columns=FRAME_COLUMNS)


def between(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    t = frame["created_at"]
    return frame[(t >= start) & (t < end)]
