"""The shadow comparison: how often the challenger agreed with the champion on live traffic, and how each did
against the outcomes that have matured since (fraud: average precision, precision and recall at the high band;
reason: accuracy against confirmed or corrected codes)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from returns_triage.serving.storage.tables import shadow_predictions
from returns_triage.training.lifecycle.families import fraud_metrics
from returns_triage.training.lifecycle.labels import DEFAULT_WINDOWS, MaturityWindows, fraud_labels, reason_labels

__all__ = ["ShadowReport", "shadow_report"]


@dataclass
class ShadowReport:
    """Per (family, champion version, challenger version): counts, agreement and outcome-based metrics."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"comparisons": self.rows}

    def table(self) -> str:
        if not self.rows:
            return ("no shadow predictions recorded: set TRIAGE_SHADOW_CHALLENGER=on and put a challenger in the "
                    "local model store (triage models materialise FAMILY VERSION --alias challenger)")
        lines = []
        for r in self.rows:
            lines.append(f"{r['family']}: champion {r['champion_version']} vs challenger {r['challenger_version']}")
            lines.append(f"  scored {r['n']}, agreement {r['agreement']:.3f}, labelled {r['labelled']}")
            for name in sorted(r["champion_metrics"]):
                a, b = r["champion_metrics"][name], r["challenger_metrics"][name]
                fa = f"{a:.4f}" if isinstance(a, float) and math.isfinite(a) else "n/a"
                fb = f"{b:.4f}" if isinstance(b, float) and math.isfinite(b) else "n/a"
                lines.append(f"  {name:<22} champion {fa:>8}   challenger {fb:>8}")
        return "\n".join(lines)


def _band_metrics(y: np.ndarray, bands: list[str]) -> dict[str, float]:
    flagged = np.array([b == "high" for b in bands], dtype=bool)
    tp = float(np.sum(flagged & y))
    return {"precision_high_band": tp / flagged.sum() if flagged.sum() else float("nan"),
            "recall_high_band": tp / y.sum() if y.sum() else float("nan")}


def shadow_report(engine: Engine, *, now: datetime | None = None, since: datetime | None = None,
                  tenant: str | None = None, family: str | None = None,
                  windows: MaturityWindows = DEFAULT_WINDOWS) -> ShadowReport:
    """Compare champion and challenger on the shadow rows stored since ``since`` (all by default)."""
    now = now or datetime.now(UTC)
    query = select(shadow_predictions)
    if since is not None:
        query = query.where(shadow_predictions.c.created_at >= since)
    if tenant is not None:
        query = query.where(shadow_predictions.c.tenant == tenant)
    if family is not None:
        query = query.where(shadow_predictions.c.family == family)
    with engine.connect() as conn:
        stored = [r._asdict() for r in conn.execute(query)]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in stored:
        groups.setdefault((r["family"], r["champion_version"], r["challenger_version"]), []).append(r)
    fraud_truth: dict[str, bool] = {}
    reason_truth: dict[str, str] = {}
    if any(k[0] == "fraud" for k in groups):
        fraud_truth = {c.decision_id: bool(c.label)
                       for c in fraud_labels(engine, now=now, windows=windows, tenant=tenant)[0]}
    if any(k[0] == "reason" for k in groups):
        reason_truth = {c.decision_id: str(c.label) for c in reason_labels(engine, now=now, tenant=tenant)[0]}
    report = ShadowReport()
    for (fam, champ, chall), rows in sorted(groups.items()):
        entry: dict[str, Any] = {"family": fam, "champion_version": champ, "challenger_version": chall,
                                 "n": len(rows), "agreement": float(np.mean([r["agree"] for r in rows]))}
        if fam == "fraud":
            known = [r for r in rows if r["decision_id"] in fraud_truth]
            y = np.array([fraud_truth[r["decision_id"]] for r in known], dtype=bool)
            metrics = {}
            for side in ("champion", "challenger"):
                p = np.array([float(r[side]["score"]) for r in known])
                m = {k: v for k, v in fraud_metrics(y, p).items() if k not in ("n", "positives")}
                metrics[side] = m | _band_metrics(y, [r[side]["band"] for r in known])
        else:
            known = [r for r in rows if r["decision_id"] in reason_truth]
            truth = [reason_truth[r["decision_id"]] for r in known]
            metrics = {side: {"accuracy": float(np.mean([r[side]["code"] == t for r, t in zip(known, truth,
                                                                                            strict=True)]))
                              if known else float("nan")} for side in ("champion", "challenger")}
        entry |= {"labelled": len(known), "champion_metrics": metrics["champion"],
                  "challenger_metrics": metrics["challenger"]}
        report.rows.append(entry)
    return report
