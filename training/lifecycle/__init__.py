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

from returns_triage.training.lifecycle.promote import GateResult, promote
from returns_triage.training.lifecycle.registry import materialise, register_bundle
from returns_triage.training.lifecycle.retrain import RetrainResult, retrain
from returns_triage.training.lifecycle.shadow_report import ShadowReport, shadow_report

__all__ = ["promote", "GateResult", "retrain", "RetrainResult", "register_bundle", "materialise", "shadow_report",
           "ShadowReport"]
