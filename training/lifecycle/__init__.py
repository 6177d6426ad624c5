"""The model lifecycle: signed, registered bundles; retraining from matured outcomes; gated promotion; the local
model store serving reads; and the shadow comparison of champion and challenger.

Python entry points (the monitoring worker and the drift scenario call these):

- :func:`retrain` (``retrain.py``): training set from matured outcomes and reviewer corrections → new bundle,
  logged to MLflow, registered as ``challenger``.
- :func:`promote` (``promote.py``): the gate (holdout + matured outcomes, no slice worse than the margin); on a
  pass ``champion`` moves and the bundle is materialised into the local model store.
- :func:`register_bundle` / :func:`materialise` (``registry.py``): log and register any bundle; copy a registered
  version into the local store and point an alias at it.
- :func:`shadow_report` (``shadow_report.py``): agreement and outcome-based performance of both models.
"""

from __future__ import annotations

from returns_triage.lazy import lazy_exports

__all__ = ["promote", "GateResult", "retrain", "RetrainResult", "register_bundle", "materialise", "shadow_report",
           "ShadowReport"]

# Loaded on first use: `triage` builds its argument parser from this package's `cli` module, and every command
# (`triage serve` too) would otherwise import SQLAlchemy, NumPy and MLflow's helpers first (about 0.35 s).
_WHERE = {"promote": "promote", "GateResult": "promote", "retrain": "retrain", "RetrainResult": "retrain",
          "register_bundle": "registry", "materialise": "registry", "shadow_report": "shadow_report",
          "ShadowReport": "shadow_report"}

__getattr__ = lazy_exports(__name__, _WHERE)
