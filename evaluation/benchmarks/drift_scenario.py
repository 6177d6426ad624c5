"""`triage bench drift-scenario`: months of returns through the real API, then a shift, on the returns-world
simulator; the monitor, the fail-safe, retraining on matured outcomes and gated promotion react to it.

Traffic: every simulated return is scored with ``POST /v1/returns/score`` (in-process Litestar TestClient, real
SQLite, the served bundles) at its simulated time; outcomes are posted with ``POST /v1/outcomes`` when they mature
(inspection or fraud confirmation as the simulator draws them; audit samples and fail-safe holds are inspected
three days later). The monitor runs a full round (window figures, Evidently reports, alerts, fail-safe) at the
close of every ``monitor_every``-day window, and its fail-safe rules alone every ``failsafe_every`` days in between
(as ``triage worker monitor`` on an hourly schedule would), each with the labels known then. On
``shift_day`` a fraud ring opens accounts and a new product line (e-mobility) launches with new phrasing. After the
first performance alert and ``retrain_delay`` days of matured outcomes, the fraud model is retrained from the
database (``triage retrain``'s function), a deliberately degraded challenger is put to the promotion gate first
(it must be refused), then the retrained one; a pass hot-swaps it into the running app.

Reported (targets from issue 9): windows from the shift to the first performance alert, the largest true
auto-approval error of any window after the shift (the simulator knows the truth) against the policy target, the
straight-through rate after promotion against before the shift, the confidence-based estimate of reason accuracy
made when a window closed against the value realised later (pre-shift), and the refused promotion with its
evidence. Beside them, what a reader needs to judge those figures: the pooled error and the windows above the
target before and after the shift, and the gap a perfectly calibrated estimate would still show from the binomial
noise of each window's labels. Plots under ``var/bench/drift-scenario/``.

Windows are two weeks wide and the full world is large enough (5,000 customers, about 780 returns per window) that
a window's figures rest on enough cases: at α = 2 % a window of fewer than 50 auto-approvals exceeds the target
with its first wrong one, and a window's realised reason accuracy over ~400 confirmed reasons still scatters by
about 1.5 points. The scenario runs whole windows only. The definitions are printed with the figures
(``definitions``).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from returns_triage.evaluation.benchmarks.base import BenchResult, Target, output_dir, register

__all__ = ["run", "TARGETS", "ALPHA"]

ALPHA = 0.02  # the scenario policy's target auto-approval error (written into its calibration section)
AUDIT_RATE = 0.30  # share of would-be auto-approvals audited: enough labelled samples per weekly window
TARGETS = [
    Target("windows_shift_to_performance_alert", "<=", 2),
    Target("max_auto_approval_error_after_shift", "<=", ALPHA),
    Target("straight_through_gap_after_promotion_points", "<=", 5.0),
    Target("cbpe_reason_accuracy_max_gap_pre_shift_points", "<=", 3.0),
    Target("degraded_promotion_refused", "==", 1.0),
]

# New phrasing for the new product line: words the reason model has not seen with these codes.
_NEW_PHRASING = {
    "DEFECTIVE": "Scooter throws error E07 and the motor cuts out after the firmware update",
    "DAMAGED_IN_TRANSIT": "Courier dropped the e-bike, the frame is bent and the display cracked",
    "WRONG_ITEM_SHIPPED": "Got the 250W commuter model, I paid for the 500W off-road one",
    "ORDERED_WRONG_ITEM": "Picked the 36V kit but my bike needs 48V, my mistake",
    "NOT_AS_DESCRIBED": "Range is 18 km not the 45 km on the product page",
    "INCOMPATIBLE": "The charger plug doesn't match the battery port on my scooter",
    "MISSING_PARTS": "No charger and no key in the e-scooter box",
    "NO_LONGER_NEEDED": "Got a company e-bike through work so returning this one",
    "WARRANTY_CLAIM": "Battery capacity dropped to 60% within a year, claiming under guarantee",
}


_DEFINITIONS = {
    "window": "the monitor's window: monitor_every_days consecutive days aligned on the scenario's first day; "
              "a case belongs to the window it was scored in; the scenario runs whole windows only (traffic after "
              "the last whole window is not sent); windows after the shift count from the one holding shift_day",
    "auto_approval_error": "per window, from the simulator's truth: wrong auto-approvals / auto-approvals among the "
                           "returns scored in it; wrong = a fraud, or a legitimate return whose predicted reason code "
                           "is not its true one; audit samples, fail-safe holds and returns held for inputs outside "
                           "the vetted ranges went to a person and are not auto-approvals",
    "cbpe_gap": "per window after the reference and before the shift: |reason accuracy estimated when the window "
                "closed - reason accuracy realised on the confirmed reasons known at the end of the run| in points",
    "straight_through": "auto-approvals / returns scored; after promotion: from the later of the promotion and the "
                        "last fail-safe clearance to the end",
}


@dataclass(frozen=True)
class _Plan:
    customers: int
    months: int
    shift_day: int
    ring_accounts: int
    monitor_every: int  # days between full monitor rounds: the window width, so each round closes a window
    retrain_delay: int
    reference_windows: int = 2  # the first windows: the monitor's reference, no estimate judged there
    failsafe_every: float = 0.25  # days between fail-safe checks (a worker's interval)
    seed: int = 7


def _plan(quick: bool) -> _Plan:
    if quick:
        return _Plan(customers=600, months=4, shift_day=56, ring_accounts=60, monitor_every=14, retrain_delay=10)
    return _Plan(customers=5000, months=8, shift_day=126, ring_accounts=320, monitor_every=14, retrain_delay=14)


def _policy_file(path: Path) -> Path:
    """The shipped default policy with a larger audit sample (labels for every window) and its target."""
    from returns_triage.serving.domain.policy_document import dump_policy_document, load_policy_document

    content = json.loads(json.dumps(load_policy_document().content))
    content["policy"]["name"] = "drift-scenario"
    content["defaults"]["audit_sample_rate"] = AUDIT_RATE
    content.setdefault("overrides", {}).setdefault("channels", {}).pop("store", None)
    content["calibration"] = {"alpha": ALPHA, "note": "target of the drift scenario"}
    path.write_text(dump_policy_document(content))
    return path


def _models_dir(out: Path) -> Path:
    from returns_triage.models.bundle import MANIFEST_NAME
    from returns_triage.settings import Settings

    configured = Settings.from_env().model_dir
    if all((configured / f / MANIFEST_NAME).is_file() for f in ("reason", "fraud")):
        return configured
    models = out / "models"
    if not all((models / f / MANIFEST_NAME).is_file() for f in ("reason", "fraud")):
        from returns_triage.training.defaults import train_default_bundles

        settings = Settings.from_env({"TRIAGE_HOME": str(out), "TRIAGE_MODEL_DIR": str(models)})
        train_default_bundles(settings, quick=True, only=("reason", "fraud"))
    return models


@register("drift-scenario")
def run(quick: bool) -> BenchResult:
    from litestar.testing import TestClient

    from returns_triage.datasets.returns_world import FraudRing, WorldConfig, simulate_world
    from returns_triage.evaluation.monitoring.monitor import Monitor, MonitorConfig
    from returns_triage.evaluation.monitoring.worker import _encoder
    from returns_triage.serving.api import create_app
    from returns_triage.serving.domain.failsafe import INPUTS_HOLD
    from returns_triage.serving.service.api_keys import ApiKeyService
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.api_keys import SqlApiKeyStore
    from returns_triage.settings import Settings

    started = time.perf_counter()
    plan = _plan(quick)
    out = output_dir("drift-scenario")
    home = out / ("run-quick" if quick else "run")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    models_dir = _models_dir(out)
    settings = Settings.from_env({
        "TRIAGE_HOME": str(home), "TRIAGE_MODEL_DIR": str(models_dir),
        "TRIAGE_POLICY_FILE": str(_policy_file(home / "policy.yaml")), "TRIAGE_FAILSAFE_REFRESH_SECONDS": "0",
        "TRIAGE_RATE_LIMITS": "workflow_engine=0,admin=0", "TRIAGE_REASON_BATCHING": "false",
    })
    engine = make_engine(settings.database_url)
    upgrade(engine)

    # --- the world ---------------------------------------------------------------------------------------
    world = simulate_world(WorldConfig(
        seed=plan.seed, customers=plan.customers, months=plan.months, new_product_line_day=plan.shift_day,
        fraud_ring=FraudRing(start_day=plan.shift_day, window_days=21, accounts=plan.ring_accounts)))
    requests = world.requests()
    truth = world.labels()
    codes = world.reason_codes()
    for i, r in enumerate(requests):
        r["document_ids"] = []  # the simulator's document ids name no uploaded file
        if truth["requested_day"][i] >= plan.shift_day and r["line"]["category"] == "e_mobility":
            r["reason_text"] = _NEW_PHRASING.get(codes[i], r["reason_text"])
    origin = datetime.combine(world.config.start, datetime.min.time(), tzinfo=UTC)
    day_of = truth["requested_day"]

    monitor = Monitor(engine, MonitorConfig(alpha=ALPHA, window_days=plan.monitor_every,
                                            reference_windows=plan.reference_windows, lookback_windows=2,
                                            origin=origin, failsafe_days=7,
                                            reports_dir=out / "reports" / ("quick" if quick else "full")),
                      # --quick compares the request features only: the text-embedding drift (Evidently fits a
                      # t-SNE per window for its plot) is what makes a window's report slow.
                      embed=None if quick else _encoder(settings))
    app = create_app(settings, engine=engine)
    ctx = app.state.ctx
    clock = [origin]
    ctx.scoring.clock = lambda: clock[0]
    token, _ = ApiKeyService(SqlApiKeyStore(engine)).create("workflow_engine", "default")

    scored: list[dict[str, Any]] = []  # per case: day, route, code, fraud truth, audit flag
    outcomes: list[tuple[float, dict[str, Any]]] = []
    for i in range(len(requests)):
        if np.isfinite(truth["outcome_day"][i]):
            outcomes.append((float(truth["outcome_day"][i]), _outcome(i, requests, truth, codes, "w")))
    runs: list[dict[str, Any]] = []
    events: dict[str, Any] = {"first_alert_day": None, "first_alert": None, "promotion": None, "refused": None,
                              "failsafe": []}
    lifecycle_error = None
    accepted: set[str] = set()
    with TestClient(app) as client:
        client.headers.update({"Authorization": f"Bearer {token}"})
        # The scenario runs whole windows only: a trailing part-window would be judged on a fraction of the
        # traffic every other window is judged on.
        horizon = (world.config.days // plan.monitor_every) * plan.monitor_every
        order = np.array([i for i in np.argsort(day_of, kind="stable") if day_of[i] < horizon], dtype=int)
        pos, sent, refused_outcomes = 0, 0, 0
        pending = sorted(outcomes, key=lambda x: x[0])
        steps_per_round = int(round(plan.monitor_every / plan.failsafe_every))
        for step in range(int(np.ceil(horizon / plan.failsafe_every))):
            step_end = (step + 1) * plan.failsafe_every
            while pos < len(order) and day_of[order[pos]] < step_end:
                i = int(order[pos])
                pos += 1
                clock[0] = origin + timedelta(days=float(day_of[i]))
                resp = client.post("/v1/returns/score", json=requests[i],
                                   headers={"Idempotency-Key": f"k-{i}"})
                if resp.status_code != 200:
                    continue
                doc = resp.json()
                accepted.add(requests[i]["case_id"])
                audit = any("propensity" in c for c in doc["reasons"])
                scored.append({"day": float(day_of[i]), "route": doc["route"], "code": doc["reason"]["code"],
                               "fraud": bool(truth["is_fraud"][i]), "true_code": codes[i], "audit": audit,
                               "failsafe": any(c.startswith("fail-safe") for c in doc["reasons"]),
                               "inputs_held": any(c.startswith(INPUTS_HOLD) for c in doc["reasons"]),
                               "segment": requests[i]["segment"]})
                if audit:  # the audit sample (or fail-safe hold) is inspected: the whole truth, three days on
                    at = float(day_of[i]) + 3.0
                    pending.append((at, _outcome(i, requests, truth, codes, "audit")))
                    pending.sort(key=lambda x: x[0])
            while pending and pending[0][0] < step_end:
                at, body = pending.pop(0)
                if body["case_id"] not in accepted:
                    continue
                body["occurred_at"] = (origin + timedelta(days=at)).isoformat()
                posted = client.post("/v1/outcomes", json=body)
                if posted.status_code >= 300:
                    refused_outcomes += 1
                    continue
                sent += 1
            as_of = origin + timedelta(days=step_end)
            if (step + 1) % steps_per_round:
                for c in monitor.check_failsafe("default", as_of):
                    events["failsafe"].append({"day": step_end, **c.to_dict()})
                continue
            result = monitor.run("default", as_of)
            perf_alerts = [a for a in result.alerts if a["kind"] == "performance"]
            runs.append({"day": step_end, "alerts": result.alerts, "windows": result.windows})
            for c in result.failsafe:
                events["failsafe"].append({"day": step_end, **c.to_dict()})
            if (events["first_alert_day"] is None and perf_alerts and step_end > plan.shift_day):
                events["first_alert_day"] = step_end
                events["first_alert"] = perf_alerts[0]
            due = events["first_alert_day"] is not None and step_end >= events["first_alert_day"] + plan.retrain_delay
            if due and events["promotion"] is None:
                events["promotion"] = {"day": step_end}
                try:
                    refused, promoted = _retrain_and_promote(settings, engine, as_of, world, quick)
                    events["refused"], events["promotion"] = refused, {"day": step_end, **promoted}
                    if promoted.get("passed"):
                        ctx.registry.reload(force=True)  # the hot swap `POST /v1/models/reload` does
                        events["promotion"]["served"] = ctx.registry.current.versions()
                except Exception as exc:  # noqa: BLE001 - reported in the result, the scenario goes on
                    lifecycle_error = f"{type(exc).__name__}: {exc}"
    metrics = _figures(plan, scored, runs, events, monitor, origin, quick)
    metrics.update({"cases": len(scored), "outcomes_posted": sent, "outcomes_refused": refused_outcomes,
                    "lifecycle_error": lifecycle_error,
                    "seconds": round(time.perf_counter() - started, 1), "alpha": ALPHA,
                    "shift_day": plan.shift_day, "days_run": int(horizon),
                    "world": {"customers": plan.customers, "months": plan.months,
                              "ring_accounts": plan.ring_accounts},
                    "scenario": {"audit_sample_rate": AUDIT_RATE, "monitor_every_days": plan.monitor_every,
                                 "failsafe_check_every_days": plan.failsafe_every,
                                 "retrain_delay_days": plan.retrain_delay, "audit_inspected_after_days": 3.0},
                    "definitions": _DEFINITIONS})
    artifacts = [str(p) for p in _plot(out, metrics, quick)]
    (out / ("evidence-quick.json" if quick else "evidence.json")).write_text(
        json.dumps({"refused": events["refused"], "promotion": events["promotion"], "failsafe": events["failsafe"]},
                   indent=1, default=str))
    engine.dispose()
    return BenchResult("drift-scenario", metrics, TARGETS, artifacts)


def _outcome(i: int, requests: list[dict[str, Any]], truth: dict[str, np.ndarray], codes: list[str],
             tag: str) -> dict[str, Any]:
    """What comes back about case ``i``: a confirmed fraud as a fraud outcome (an inspection that finds one is a
    fraud finding, not a grade), anything else as an inspection confirming the reason and clearing fraud."""
    fraud = bool(truth["is_fraud"][i])
    body: dict[str, Any] = {"outcome_id": f"{tag}-{i}", "case_id": requests[i]["case_id"],
                            "kind": "fraud" if fraud else "inspection", "fraud_confirmed": fraud, "occurred_at": ""}
    if not fraud:
        body["confirmed_reason_code"] = codes[i]
    return body


def _retrain_and_promote(settings: Any, engine: Any, as_of: datetime, world: Any,
                         quick: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The lifecycle half: the served fraud bundle becomes the registered champion; a degraded challenger is
    refused by the gate; the one retrained on matured outcomes is judged and, on a pass, promoted."""
    from returns_triage.training.lifecycle.promote import promote
    from returns_triage.training.lifecycle.registry import materialise, register_bundle
    from returns_triage.training.lifecycle.retrain import retrain

    champion = register_bundle(settings, "fraud", settings.model_dir / "fraud", alias="champion",
                               run_name="fraud served at the start of the scenario")
    materialise(settings, "fraud", str(champion.model_version), alias="champion")
    degraded = _degraded_bundle(settings.home / "degraded-fraud", world)
    register_bundle(settings, "fraud", degraded, alias="challenger", run_name="degraded challenger")
    bad = promote(settings, "fraud", engine=engine, now=as_of)
    refused = {"passed": bad.passed, "reasons": list(bad.reasons),
               "rows": [r.to_dict() if hasattr(r, "to_dict") else str(r) for r in bad.rows]}
    result = retrain(settings, "fraud", engine=engine, now=as_of, quick=quick)
    good = promote(settings, "fraud", engine=engine, now=as_of)
    return refused, {"passed": good.passed, "reasons": list(good.reasons), "challenger": result.bundle_version,
                     "counts": result.counts}


def _degraded_bundle(out_dir: Path, world: Any) -> Path:
    """A fraud model that never learned the contract segment's fraud (its labels shuffled): fine overall, worse on
    one slice — what the gate's per-slice margin exists for."""
    from threadpoolctl import threadpool_limits

    from returns_triage.training.fraud.pipeline import fit_fraud_model, world_cases, write_fraud_bundle

    cases = world_cases(world)
    day = cases.labels["requested_day"]
    train, calib = cases.select(day < 60), cases.select((day >= 60) & (day < 90))
    y = train.labels["is_fraud"].copy()
    contract = np.array([r["segment"] == "contract" for r in train.requests])
    rng = np.random.default_rng(3)
    y[contract] = rng.permutation(y[contract])
    train.labels["is_fraud"] = y
    with threadpool_limits(limits=1):
        trained = fit_fraud_model(train, calib, seed=0, max_iter=60)
    write_fraud_bundle(out_dir, trained, calib.features, lineage={"note": "contract labels shuffled"})
    return out_dir


def _wrong(s: dict[str, Any]) -> bool:
    return bool(s["fraud"] or s["code"] != s["true_code"])


def _window_truth(scored: list[dict[str, Any]], w: int, width: float,
                  segment: str | None = None) -> tuple[float | None, float | None, int, int]:
    rows = [s for s in scored if w * width <= s["day"] < (w + 1) * width and (segment is None
                                                                               or s["segment"] == segment)]
    if not rows:
        return None, None, 0, 0
    auto = [s for s in rows if s["route"] == "auto_approve"]
    wrong = sum(_wrong(s) for s in auto)
    return len(auto) / len(rows), (wrong / len(auto)) if auto else 0.0, len(auto), wrong


def _figures(plan: _Plan, scored: list[dict[str, Any]], runs: list[dict[str, Any]], events: dict[str, Any],
             monitor: Any, origin: datetime, quick: bool) -> dict[str, Any]:
    from returns_triage.evaluation.monitoring.frames import window_frame
    from returns_triage.evaluation.monitoring.performance import RealisedPerformanceCalculator

    width = plan.monitor_every
    n_windows = int(max(s["day"] for s in scored) // width) + 1
    shift_window = plan.shift_day // width
    per_window = []
    for w in range(n_windows):
        st, err, n_auto, wrong = _window_truth(scored, w, width)
        per_window.append({"window": w, "straight_through": st, "true_auto_approval_error": err,
                           "auto_approved": n_auto, "wrong_auto_approvals": wrong,
                           "failsafe_holds": sum(s["failsafe"] for s in scored
                                                 if width * w <= s["day"] < width * (w + 1)),
                           "inputs_holds": sum(s["inputs_held"] for s in scored
                                               if width * w <= s["day"] < width * (w + 1))})
    # What the monitor said when each window closed (estimate) and what it knew at the end (realised).
    final = origin + timedelta(days=max(s["day"] for s in scored) + 1)
    store = monitor.store
    for row in per_window:
        w = row["window"]
        start, end = origin + timedelta(days=width * w), origin + timedelta(days=width * (w + 1))
        closed = next((r for r in runs if r["day"] >= width * (w + 1)), None)
        if closed is not None:
            m = next((x["metrics"] for x in closed["windows"] if x["segment"] == "*" and x["window_start"] == start),
                     None)
            if m is not None:
                row["estimated_reason_accuracy"] = m["estimate"]["estimated_reason_accuracy"]
                row["estimated_auto_approval_error"] = m["estimate"]["estimated_auto_approval_error"]
                row["monitor_auto_approval_error"] = m["performance"]["auto_approval_error"]
                row["input_drift_share"] = (m.get("input_drift") or {}).get("drift_share")
                row["text_embedding_drift"] = (m.get("input_drift") or {}).get("text_embedding_drift")
                row["reason_mix_js"] = m["prediction_drift"]["reason_mix_js"]
        rows = store.decision_rows("default", start, end)
        frame = window_frame(rows, store.labels("default", [r["case_ref"] for r in rows], final))
        realised = RealisedPerformanceCalculator().calculate(frame)
        row["realised_reason_accuracy"] = realised.reason_accuracy
        row["realised_reason_labelled"] = realised.reason_labelled
        row["realised_auto_approval_error_ipw"] = realised.auto_approval_error
        if realised.reason_accuracy is not None and realised.reason_labelled:
            # How far a perfectly calibrated estimate would still land from the realised accuracy: the binomial
            # noise of the window's labelled cases (one standard deviation, in points).
            p = realised.reason_accuracy
            row["realised_reason_accuracy_sd_points"] = 100 * float(np.sqrt(p * (1 - p) / realised.reason_labelled))
    first_alert = events["first_alert_day"]
    windows_to_alert = None if first_alert is None else int((first_alert - 1e-9) // width) - shift_window
    after = [r["true_auto_approval_error"] for r in per_window[shift_window:] if r["true_auto_approval_error"]
             is not None]
    pre = [r for r in per_window[plan.reference_windows:shift_window] if r.get("estimated_reason_accuracy") is not None
           and r["realised_reason_accuracy"] is not None]
    gaps = [abs(r["estimated_reason_accuracy"] - r["realised_reason_accuracy"]) * 100 for r in pre]
    err_gaps = [abs(r["estimated_auto_approval_error"] - r["realised_auto_approval_error_ipw"]) * 100 for r in pre
                if r.get("estimated_auto_approval_error") is not None
                and r["realised_auto_approval_error_ipw"] is not None]
    pre_st = [r["straight_through"] for r in per_window[1:shift_window] if r["straight_through"] is not None]
    post_rows = per_window[shift_window:]
    post_auto = sum(r["auto_approved"] for r in post_rows)
    post_wrong = sum(r["wrong_auto_approvals"] for r in post_rows)
    noise = [r["realised_reason_accuracy_sd_points"] for r in pre if "realised_reason_accuracy_sd_points" in r]
    # The largest gap a perfectly calibrated estimate would still show over these windows, from the binomial noise
    # of each window's realised accuracy alone (Monte Carlo mean of the maximum).
    draws = np.abs(np.random.default_rng(0).normal(0.0, np.asarray(noise or [0.0]), size=(4000, len(noise) or 1)))
    before = [r["true_auto_approval_error"] for r in per_window[:shift_window] if r["auto_approved"]]
    promo = events["promotion"] or {}
    cleared = [f for f in events["failsafe"] if f["action"] == "cleared"]
    post = []
    if promo.get("passed"):
        after_day = max(promo["day"], max((f["day"] for f in cleared), default=promo["day"]))
        post = [s for s in scored if s["day"] >= after_day]
    post_st = (sum(s["route"] == "auto_approve" for s in post) / len(post)) if post else None
    refused = events["refused"]
    # What the per-return check on the vetted inputs costs: the share of returns it held (each would otherwise
    # have been auto-approved or audit-sampled), before the shift (after the reference) and after promotion.
    vetted_pre = [s for s in scored if width * plan.reference_windows <= s["day"] < plan.shift_day]
    publications = [{"day": round((v.published_at - origin).total_seconds() / 86400, 2), "segment": v.segment,
                     "cases": v.cases, "basis": v.basis, "numeric": {k: list(b) for k, b in v.numeric.items()}}
                    for v, _ in reversed(store.vetted_inputs_history("default", limit=1000))]
    return {
        "windows_shift_to_performance_alert": windows_to_alert,
        "max_auto_approval_error_after_shift": max(after) if after else None,
        "windows_after_shift_above_alpha": sum(e > ALPHA for e in after),
        "auto_approval_error_after_shift_pooled": post_wrong / post_auto if post_auto else None,
        "wrong_auto_approvals_after_shift": post_wrong, "auto_approvals_after_shift": post_auto,
        "straight_through_pre_shift": float(np.mean(pre_st)) if pre_st else None,
        "straight_through_after_promotion": post_st,
        "straight_through_gap_after_promotion_points": (abs(float(np.mean(pre_st)) - post_st) * 100
                                                        if post_st is not None and pre_st else None),
        "cbpe_reason_accuracy_max_gap_pre_shift_points": max(gaps) if gaps else None,
        "cbpe_reason_accuracy_mean_gap_pre_shift_points": float(np.mean(gaps)) if gaps else None,
        "cbpe_auto_approval_error_max_gap_pre_shift_points": max(err_gaps) if err_gaps else None,
        "realised_reason_accuracy_sd_pre_shift_points": float(np.mean(noise)) if noise else None,
        "cbpe_max_gap_expected_from_label_noise_points": float(draws.max(axis=1).mean()) if noise else None,
        "max_auto_approval_error_before_shift": max(before) if before else None,
        "windows_before_shift_above_alpha": sum(e > ALPHA for e in before),
        "auto_approval_error_before_shift_pooled": (
            sum(r["wrong_auto_approvals"] for r in per_window[:shift_window])
            / max(1, sum(r["auto_approved"] for r in per_window[:shift_window]))),
        "inputs_held_share_pre_shift": (sum(s["inputs_held"] for s in vetted_pre) / len(vetted_pre)
                                         if vetted_pre else None),
        "inputs_held_share_after_promotion": (sum(s["inputs_held"] for s in post) / len(post)) if post else None,
        "inputs_held_after_shift": sum(s["inputs_held"] for s in scored if s["day"] >= plan.shift_day),
        "inputs_held_frauds_after_shift": sum(s["inputs_held"] and s["fraud"] for s in scored
                                              if s["day"] >= plan.shift_day),
        "vetted_inputs_publications": publications,
        "degraded_promotion_refused": None if refused is None else float(not refused["passed"]),
        "degraded_promotion_evidence": refused,
        "promotion": promo,
        "failsafe_events": [{k: f[k] for k in ("day", "action", "reason")} for f in events["failsafe"]],
        "first_performance_alert_day": first_alert,
        "first_performance_alert": events.get("first_alert"),
        "per_window": per_window,
    }


def _plot(out: Path, metrics: dict[str, Any], quick: bool) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = metrics["per_window"]
    w = [r["window"] for r in rows]

    def series(key: str) -> list[float]:
        return [np.nan if r.get(key) is None else r[key] for r in rows]

    fig, axes = plt.subplots(4, 1, figsize=(9, 12), sharex=True)
    width = metrics["scenario"]["monitor_every_days"]
    shift = metrics["shift_day"] / width
    axes[0].plot(w, series("text_embedding_drift"), "o-", label="text embedding drift (Evidently)")
    axes[0].plot(w, series("input_drift_share"), "s-", label="share of drifted features")
    axes[0].plot(w, series("reason_mix_js"), "^-", label="reason mix JS distance")
    axes[0].set_title("drift per window")
    axes[1].plot(w, series("true_auto_approval_error"), "o-", label="true auto-approval error")
    axes[1].plot(w, series("monitor_auto_approval_error"), "s--", label="monitor: IPW realised when closed")
    axes[1].axhline(metrics["alpha"], color="red", lw=1, label="policy target α")
    axes[1].set_title("performance per window")
    axes[2].plot(w, series("estimated_reason_accuracy"), "o-", label="estimated (CBPE) when the window closed")
    axes[2].plot(w, series("realised_reason_accuracy"), "s-", label="realised later")
    axes[2].set_title("reason accuracy: estimate vs realised")
    axes[3].plot(w, series("straight_through"), "o-", label="straight-through rate")
    axes[3].set_title("straight-through")
    promo = metrics.get("promotion") or {}
    for ax in axes:
        ax.axvline(shift, color="grey", ls=":", label="shift")
        if promo.get("day"):
            ax.axvline(promo["day"] / width, color="green", ls="--", label="retrain + promotion")
        ax.legend(fontsize=7)
    axes[3].set_xlabel(f"window ({width:g} days)")
    fig.tight_layout()
    path = out / ("scenario-quick.png" if quick else "scenario.png")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return [path]

