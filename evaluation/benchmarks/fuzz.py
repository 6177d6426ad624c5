"""`triage bench fuzz`: the longer hostile-input run of issue 8 — Schemathesis with every check against the real
app (ASGI, in process) on a fresh SQLite database with the served models and an admin key, with more examples per
operation than the CI test (`tests/api/test_schemathesis.py`, 100). Targets: no failed check, no 5xx."""

from __future__ import annotations

import shutil
import time
from typing import Any

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register

__all__ = ["run", "EXAMPLES", "EXAMPLES_QUICK"]

EXAMPLES, EXAMPLES_QUICK = 400, 100


@register("fuzz")
def run(quick: bool) -> BenchResult:
    import json

    from returns_triage.evaluation.fuzzing import fuzz_fresh_app
    from returns_triage.settings import Settings

    examples = EXAMPLES_QUICK if quick else EXAMPLES
    out = output_dir("fuzz")
    home = (out / "run").resolve()
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    started = time.perf_counter()
    # The served bundles (`triage train default`), not the scratch home's.
    report = fuzz_fresh_app(home, Settings.from_env().model_dir, max_examples=examples)
    summary = report.to_dict()
    metrics: dict[str, Any] = {
        "max_examples_per_operation": examples,
        "operations": summary["operations"],
        # Liveness and readiness take no input: one possible request each.
        "min_examples_per_operation": min((n for op, n in report.examples.items()
                                           if op not in ("GET /healthz", "GET /readyz")), default=0),
        "requests": summary["requests"],
        "failures": summary["failures"],
        "server_errors": summary["server_errors"],
        "statuses": summary["statuses"],
        "seconds": round(time.perf_counter() - started, 1),
        "quick": quick,
    }
    detail = out / ("failures-quick.json" if quick else "failures.json")
    detail.write_text(json.dumps(summary["first_failures"], indent=1))
    targets = [Target("failures", "==", 0), Target("server_errors", "==", 0),
               Target("min_examples_per_operation", ">=", examples)]
    return BenchResult("fuzz", metrics, targets, [str(detail)])
