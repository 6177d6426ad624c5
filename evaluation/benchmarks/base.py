"""The benchmark contract (DESIGN.md): the last line printed is
``{"bench": NAME, "metrics": {...}, "targets": [{"metric", "value", "op", "target", "met"}]}``.

Targets are the ones the issues set; they are declared next to each benchmark and never lowered here.
"""

from __future__ import annotations

import importlib
import json
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Target", "BenchResult", "register", "available", "run_benchmark", "output_dir"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
}

# NAME -> module that registers it on import. Importing lazily keeps `triage bench X` from paying for
# every benchmark's dependencies.
_MODULES: dict[str, str] = {
    "reason-banking77": "returns_triage.evaluation.benchmarks.reason",
    "reason-clinc150": "returns_triage.evaluation.benchmarks.reason",
    "reason-synthetic": "returns_triage.evaluation.benchmarks.reason",
    "documents": "returns_triage.evaluation.benchmarks.documents",
    "fraud": "returns_triage.evaluation.benchmarks.fraud",
    "serving": "returns_triage.evaluation.benchmarks.serving",
    "queue": "returns_triage.evaluation.benchmarks.queue",
    "idempotency": "returns_triage.evaluation.benchmarks.idempotency",
    "policy": "returns_triage.evaluation.benchmarks.policy",
    "disposition": "returns_triage.evaluation.benchmarks.disposition",
    "kpi-scale": "returns_triage.evaluation.benchmarks.kpi_scale",
    "score-batch": "returns_triage.evaluation.benchmarks.score_batch",
    "load": "returns_triage.evaluation.benchmarks.load",
    "drift-scenario": "returns_triage.evaluation.benchmarks.drift_scenario",
    "audit-verify": "returns_triage.evaluation.benchmarks.audit_verify",
    "fuzz": "returns_triage.evaluation.benchmarks.fuzz",
}
_REGISTRY: dict[str, Callable[[bool], BenchResult]] = {}


@dataclass(frozen=True, slots=True)
class Target:
    metric: str
    op: str
    target: float

    def check(self, metrics: dict[str, Any]) -> dict[str, Any]:
        value = metrics.get(self.metric)
        met = value is not None and bool(_OPS[self.op](float(value), self.target))
        return {"metric": self.metric, "value": value, "op": self.op, "target": self.target, "met": met}


@dataclass(slots=True)
class BenchResult:
    bench: str
    metrics: dict[str, Any]
    targets: list[Target] = field(default_factory=list)
    artifacts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bench": self.bench,
            "metrics": self.metrics,
            "targets": [t.check(self.metrics) for t in self.targets],
            "artifacts": self.artifacts,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_json_default, sort_keys=False)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def register(name: str) -> Callable[[Callable[[bool], BenchResult]], Callable[[bool], BenchResult]]:
    def deco(fn: Callable[[bool], BenchResult]) -> Callable[[bool], BenchResult]:
        _REGISTRY[name] = fn
        return fn

    return deco


def available() -> list[str]:
    return sorted(_MODULES)


def output_dir(name: str) -> Path:
    """Where a benchmark writes its JSON and plots (``var/bench/NAME``)."""
    path = Path("var") / "bench" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_benchmark(name: str, quick: bool = False) -> BenchResult:
    if name not in _MODULES:
        raise KeyError(f"unknown benchmark {name!r}; available: {', '.join(available())}")
    importlib.import_module(_MODULES[name])
    result = _REGISTRY[name](quick)
    (output_dir(name) / ("result-quick.json" if quick else "result.json")).write_text(result.to_json() + "\n")
    return result
