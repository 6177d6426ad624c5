"""The promotion gate: the challenger replaces the champion only when it is better where it matters.

It must (1) be non-inferior on the headline metric on the fixed holdout, (2) beat the champion on recent matured
outcomes from the database (when there are any), and (3) leave no slice (facility, segment, channel, reason) with
enough evidence worse than the champion's by more than ``margin``, in either source. The evidence table is printed
and logged to MLflow (experiment ``promotion-gates``) whatever the verdict. On a pass the ``champion`` alias moves
to the challenger's version and the bundle is materialised into the local model store serving reads.

Sampling noise is measured, not guessed: a paired Poisson bootstrap (both bundles on the same resampled cases)
gives the standard error of every difference. The fixed holdout predates any shift, so a challenger fitted to the
world as it is now may lose a little there; it passes when its loss is within the non-inferiority margin
``min(1.645 × SE, 0.02)`` — a loss the holdout cannot tell from noise at one-sided 95 %, and never more than two
points of the headline metric. On recent matured outcomes the challenger must win outright. A slice is worse when
its drop exceeds ``margin`` and is itself significant (drop + 1.645 × SE still below zero), so a slice of forty
cases cannot veto a promotion by chance while a real loss beyond the margin still does.

Recent matured outcomes are a holdout too: a fixed hash of the case id (:func:`in_gate_holdout`) keeps a share of
cases out of retraining, so champion and challenger are compared on recent cases neither learned from.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Engine

from returns_triage.errors import NotFound
from returns_triage.settings import Settings
from returns_triage.training import tracking
from returns_triage.training.lifecycle import families as fam
from returns_triage.training.lifecycle.labels import DEFAULT_WINDOWS, MaturityWindows, fraud_labels, reason_labels
from returns_triage.training.lifecycle.registry import fetch_verified, materialise

__all__ = ["EvidenceRow", "GateResult", "promote", "gate", "DEFAULT_MARGIN", "in_gate_holdout", "GATE_HOLDOUT_SHARE",
           "NONINFERIORITY_Z", "MAX_NONINFERIORITY_MARGIN"]

DEFAULT_MARGIN = 0.03
GATE_HOLDOUT_SHARE = 0.2  # of matured cases kept out of retraining for the gate
NONINFERIORITY_Z = 1.645  # one-sided 95 %
MAX_NONINFERIORITY_MARGIN = 0.02
_BOOTSTRAP = 200


def in_gate_holdout(case_id: str, share: float = GATE_HOLDOUT_SHARE) -> bool:
    """Whether a case belongs to the gate's recent holdout: a fixed hash of its id, so retraining and the gate
    agree without sharing state, run after run."""
    digest = hashlib.sha256(f"gate-holdout:{case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < share


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One comparison: a source (holdout / outcomes), a slice (``overall`` or ``column=value``), the metric."""

    source: str
    slice: str
    metric: str
    n: int
    positives: int
    champion: float
    challenger: float
    verdict: str  # "ok", "worse", "insufficient" (too little evidence to judge), "lost" (headline lost)
    se: float | None = None  # paired-bootstrap standard error of the difference
    allowance: float = 0.0  # the loss tolerated as noise (the non-inferiority margin of a holdout headline)

    @property
    def delta(self) -> float:
        return self.challenger - self.champion

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "slice": self.slice, "metric": self.metric, "n": self.n,
                "positives": self.positives, "champion": _clean(self.champion),
                "challenger": _clean(self.challenger), "delta": _clean(self.delta), "verdict": self.verdict,
                "se": None if self.se is None else _clean(self.se), "allowance": _clean(self.allowance)}


def _metric_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "." if c == "=" else "_" for c in name)


def _clean(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


@dataclass
class GateResult:
    """The verdict and everything behind it. ``passed`` is True only when the challenger was promoted."""

    family: str
    passed: bool
    champion_version: str | None
    challenger_version: str | None
    margin: float
    rows: list[EvidenceRow] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    gate_run_id: str | None = None
    materialised: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "passed": self.passed, "champion_version": self.champion_version,
                "challenger_version": self.challenger_version, "margin": self.margin, "reasons": self.reasons,
                "evidence": [r.to_dict() for r in self.rows], "gate_run_id": self.gate_run_id,
                "materialised": self.materialised}

    def table(self) -> str:
        """The evidence as a fixed-width table, worst first within each source."""
        head = f"{'source':<9} {'slice':<34} {'metric':<18} {'n':>6} {'pos':>5} {'champion':>9} " \
               f"{'challenger':>10} {'delta':>8}  verdict"
        lines = [head, "-" * len(head)]

        def fmt(x: float) -> str:
            return f"{x:.4f}" if math.isfinite(x) else "n/a"

        for r in self.rows:
            lines.append(f"{r.source:<9} {r.slice[:34]:<34} {r.metric:<18} {r.n:>6} {r.positives:>5} "
                         f"{fmt(r.champion):>9} {fmt(r.challenger):>10} {fmt(r.delta):>8}  {r.verdict}")
        return "\n".join(lines)


def _compare(family: str, source: str, champion: fam.Evaluation, challenger: fam.Evaluation, margin: float,
             min_gain: float, se: Mapping[str, float] | None = None, *,
             noninferior: bool = False) -> list[EvidenceRow]:
    """Evidence rows for one source. ``se`` holds the standard error of each difference by slice name
    (``overall`` included); without it every difference is taken at face value. ``noninferior`` judges the
    headline by the non-inferiority margin instead of requiring a win."""
    metric = fam.HEADLINE[family]
    need = fam.SLICE_MIN[family]
    se = se or {}
    a, b = champion.overall, challenger.overall
    allowance = min(MAX_NONINFERIORITY_MARGIN, NONINFERIORITY_Z * se.get("overall", 0.0)) if noninferior else 0.0
    lost = not (b[metric] >= a[metric] + min_gain - allowance) \
        if math.isfinite(a[metric]) and math.isfinite(b[metric]) else False
    rows = [EvidenceRow(source, "overall", metric, int(a["n"]), int(a["positives"]), a[metric], b[metric],
                        "lost" if lost else "ok", se.get("overall"), allowance)]
    slice_rows = []
    for column, values in champion.slices.items():
        for value, ca in values.items():
            cb = challenger.slices[column][value]
            name = f"{column}={value}"
            enough = ca["n"] >= need["n"] and ca["positives"] >= need["positives"] and math.isfinite(ca[metric]) \
                and math.isfinite(cb[metric])
            delta = cb[metric] - ca[metric]
            worse = enough and delta < -margin and delta + NONINFERIORITY_Z * se.get(name, 0.0) < 0.0
            verdict = "insufficient" if not enough else ("worse" if worse else "ok")
            slice_rows.append(EvidenceRow(source, name, metric, int(ca["n"]), int(ca["positives"]), ca[metric],
                                          cb[metric], verdict, se.get(name)))
    slice_rows.sort(key=lambda r: (r.verdict != "worse", r.delta if math.isfinite(r.delta) else 0.0))
    return rows + slice_rows


def _weighted_metric(family: str, y: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The headline metric for each row of ``weights`` (bootstrap replicates × cases); average precision is
    computed as scikit-learn does (one step per distinct score)."""
    if family != "fraud":
        hit = (scores == y).astype(float)
        return (weights * hit).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-12)
    order = np.argsort(-scores, kind="mergesort")
    truth, s, w = y[order].astype(float), scores[order], weights[:, order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]
    tp = np.cumsum(w * truth, axis=1)[:, last]
    fp = np.cumsum(w * (1.0 - truth), axis=1)[:, last]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = tp / tp[:, -1:]
    steps = np.diff(np.concatenate([np.zeros((len(w), 1)), recall], axis=1), axis=1)
    return np.where(tp[:, -1] > 0, np.nansum(steps * precision, axis=1), np.nan)


def _difference_se(family: str, data: fam.EvalSet, champion: np.ndarray, challenger: np.ndarray,
                   seed: int = 0) -> dict[str, float]:
    """Paired Poisson-bootstrap standard error of (challenger − champion), overall and per slice value."""
    y = np.asarray(data.y)
    weights = np.random.default_rng(seed).poisson(1.0, size=(_BOOTSTRAP, len(y))).astype(float)
    masks = {"overall": np.ones(len(y), dtype=bool)}
    for column, values in data.slices.items():
        as_text = np.array([str(v) for v in values], dtype=object)
        for value in sorted(set(as_text)):
            masks[f"{column}={value}"] = as_text == value
    out = {}
    for name, m in masks.items():
        diff = (_weighted_metric(family, y[m], challenger[m], weights[:, m])
                - _weighted_metric(family, y[m], champion[m], weights[:, m]))
        diff = diff[np.isfinite(diff)]
        if len(diff) >= 20:
            out[name] = float(np.std(diff, ddof=1))
    return out


def gate(family: str, champion_dir: Path, challenger_dir: Path, sources: list[fam.EvalSet], *,
         margin: float = DEFAULT_MARGIN, min_gain: float = 0.0) -> tuple[bool, list[EvidenceRow], list[str]]:
    """Compare two bundles on each evaluation set; (passed, evidence rows, reasons for a refusal). A source named
    ``holdout`` is judged for non-inferiority, any other must be won."""
    rows: list[EvidenceRow] = []
    reasons: list[str] = []
    for data in sources:
        se = _difference_se(family, data, fam.predict(family, champion_dir, data),
                            fam.predict(family, challenger_dir, data))
        noninferior = data.name == "holdout"
        found = _compare(family, data.name, fam.evaluate(family, champion_dir, data),
                         fam.evaluate(family, challenger_dir, data), margin, min_gain, se, noninferior=noninferior)
        rows += found
        for r in found:
            if r.verdict == "lost" and noninferior:
                reasons.append(f"{data.name}: the challenger's {r.metric} {r.challenger:.4f} is below the champion's "
                               f"{r.champion:.4f} by more than the non-inferiority margin {r.allowance:.4f} "
                               f"(min({NONINFERIORITY_Z} × SE {r.se or 0.0:.4f}, {MAX_NONINFERIORITY_MARGIN}))")
            elif r.verdict == "lost":
                reasons.append(f"{data.name}: the challenger's {r.metric} {r.challenger:.4f} does not beat the "
                               f"champion's {r.champion:.4f}")
            elif r.verdict == "worse":
                reasons.append(f"{data.name}: slice {r.slice} is worse by {-r.delta:.4f} (> margin {margin}, "
                               f"SE {r.se or 0.0:.4f})")
    return not reasons, rows, reasons


def recent_outcomes(family: str, engine: Engine, *, now: datetime, days: float = 90.0,
                    windows: MaturityWindows = DEFAULT_WINDOWS, tenant: str | None = None) -> fam.EvalSet | None:
    """Matured, labelled cases decided in the last ``days`` that retraining keeps out (:func:`in_gate_holdout`);
    None when there are none."""
    since = now - timedelta(days=days)
    if family == "fraud":
        labelled, _ = fraud_labels(engine, now=now, windows=windows, tenant=tenant, since=since)
    else:
        labelled, _ = reason_labels(engine, now=now, tenant=tenant, since=since)
    labelled = [c for c in labelled if in_gate_holdout(c.case_id)]
    return fam.evalset_from_cases(family, "outcomes", labelled) if labelled else None


def promote(settings: Settings, family: str, *, margin: float = DEFAULT_MARGIN, min_gain: float = 0.0,
            engine: Engine | None = None, now: datetime | None = None, outcome_days: float = 90.0,
            windows: MaturityWindows = DEFAULT_WINDOWS, holdout: fam.EvalSet | None = None,
            tenant: str | None = None, dry_run: bool = False) -> GateResult:
    """Run the gate for ``family``'s ``challenger`` against its ``champion`` and promote on a pass.

    ``engine`` is the service database the matured outcomes come from (default: ``settings.database_url``);
    ``holdout`` replaces the family's fixed holdout (tests, scenarios). With no champion yet, the challenger is
    promoted after its holdout evaluation (nothing to compare against). ``dry_run`` judges without moving aliases.
    Raises NotFound when there is no challenger.
    """
    fam.check_family(family)
    now = now or datetime.now(UTC)
    challenger = tracking.alias_version(settings, family, "challenger")
    if challenger is None:
        raise NotFound(f"{family} has no challenger; train one with `triage retrain {family}`")
    champion = tracking.alias_version(settings, family, "champion")
    result = GateResult(family, False, champion, challenger, margin)
    own_engine = engine is None
    if engine is None:
        from returns_triage.serving.storage import make_engine, upgrade

        engine = make_engine(settings.database_url)
        upgrade(engine)  # as `triage serve` does: a fresh TRIAGE_HOME has no schema yet
    try:
        with tempfile.TemporaryDirectory(prefix=f"gate-{family}-") as tmp:
            challenger_dir = fetch_verified(settings, family, challenger, Path(tmp) / "challenger")
            sources = [holdout or fam.holdout(family)]
            recent = recent_outcomes(family, engine, now=now, days=outcome_days, windows=windows, tenant=tenant)
            if recent is not None:
                sources.append(recent)
            if champion is None or champion == challenger:
                passed, rows, reasons = True, [], []
                result.reasons = ["no champion yet: the first version is promoted" if champion is None
                                  else "the challenger is already the champion"]
            else:
                champion_dir = fetch_verified(settings, family, champion, Path(tmp) / "champion")
                passed, rows, reasons = gate(family, champion_dir, challenger_dir, sources, margin=margin,
                                             min_gain=min_gain)
                result.rows, result.reasons = rows, reasons
                if recent is None:
                    result.reasons.append("no matured outcomes in the database yet: judged on the holdout only")
    finally:
        if own_engine:
            engine.dispose()
    result.passed = passed
    evidence = result.to_dict() | {"min_gain": min_gain, "now": now.isoformat(), "outcome_days": outcome_days,
                                   "windows": windows.to_dict(), "dry_run": dry_run}
    metrics = {_metric_name(f"{r.source}.{r.slice}.delta"): r.delta for r in result.rows if math.isfinite(r.delta)}
    metrics |= {"passed": float(passed), "slices_worse": float(sum(r.verdict == "worse" for r in result.rows))}
    result.gate_run_id = tracking.log_gate_evidence(settings, family, evidence, passed=passed, metrics=metrics)
    if passed and not dry_run:
        tracking.set_alias(settings, family, "champion", challenger)
        if champion is not None and champion != challenger:
            tracking.set_alias(settings, family, "previous_champion", champion)
        result.materialised = str(materialise(settings, family, challenger, alias="champion").version)
    return result
