"""Benchmarks: `triage bench NAME [--quick] [--json]`. Each module registers one runner."""

from returns_triage.evaluation.benchmarks.base import (
    BenchResult,
    Target,
    available,
    register,
    run_benchmark,
)

__all__ = ["BenchResult", "Target", "available", "register", "run_benchmark"]
