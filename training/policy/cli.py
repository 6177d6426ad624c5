"""`triage policy validate|calibrate|simulate` (argument parsing lives in returns_triage.cli)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from returns_triage.serving.domain.policy_document import dump_policy_document, load_policy_document
from returns_triage.serving.domain.policy_routing import DocumentPolicy

__all__ = ["run_policy_command"]


def run_policy_command(args: argparse.Namespace) -> int:
    if args.policy_command == "validate":
        doc = load_policy_document(args.file)
        print(json.dumps({"file": doc.source, "version": doc.version}))
        return 0
    if args.policy_command == "simulate" and getattr(args, "from_db", False):
        return _simulate_stored(args)
    from returns_triage.training.policy.history import REASON_MODEL_NOTE, simulated_history

    policy = DocumentPolicy.from_file(args.policy)
    history = simulated_history(seed=args.world_seed, customers=4_000 if args.quick else args.customers,
                                max_iter=60 if args.quick else 200)
    if args.policy_command == "simulate":
        from returns_triage.training.policy.workflow import simulate

        live = DocumentPolicy.from_file(args.live)
        print(json.dumps({"history": f"simulator seed {args.world_seed}, {len(history)} cases",
                          "model_evidence": REASON_MODEL_NOTE, **simulate(policy, history, live)}))
        return 0
    return _calibrate(args, policy, history)


def _simulate_stored(args: argparse.Namespace) -> int:
    from returns_triage.serving.storage import make_engine
    from returns_triage.settings import Settings
    from returns_triage.training.policy.replay import replay_stored
    from returns_triage.training.policy.stored import load_stored_cases, parse_bound

    settings = Settings.from_env()
    candidate = DocumentPolicy.from_file(args.policy)
    live_file = args.live or (None if settings.policy_file == "default" else settings.policy_file)
    live = DocumentPolicy.from_file(live_file)
    engine = make_engine(settings.database_url)
    try:
        stored = load_stored_cases(engine, since=parse_bound(args.since), until=parse_bound(args.until, end=True),
                                   tenant=args.tenant)
    finally:
        engine.dispose()
    source = {"history": "stored decisions", "database": engine.url.render_as_string(hide_password=True),
              "since": args.since, "until": args.until, "tenant": args.tenant}
    print(json.dumps({**source, **replay_stored(candidate, live, stored)}))
    return 0


def _calibrate(args: argparse.Namespace, policy: DocumentPolicy, history) -> int:  # type: ignore[no-untyped-def]
    import numpy as np

    from returns_triage.training.policy.calibrate import (
        DEFAULT_GUARANTEE,
        DEFAULT_METHOD,
        default_grid,
        evaluate_grid,
        joint_curve,
    )
    from returns_triage.training.policy.history import eligibility
    from returns_triage.training.policy.workflow import calibrated_document, cost_aware_document, plot_risk_coverage

    out = Path(args.out)
    if args.cost_aware:
        document, report = cost_aware_document(policy, history, review_cost=args.review_cost,
                                               friction_cost=args.friction_cost,
                                               wrong_reason_cost=args.wrong_reason_cost,
                                               reviews_per_day=args.reviews_per_day)
    else:
        document, cal = calibrated_document(policy, history, alpha=args.alpha, delta=args.delta,
                                            method=getattr(args, "method", DEFAULT_METHOD),
                                            guarantee=getattr(args, "guarantee", DEFAULT_GUARANTEE))
        report = cal.to_dict()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(dump_policy_document(document.content), encoding="utf-8")
    conf, risk = history.confidence, history.risk
    eligible = eligibility(policy, history)
    app, err = evaluate_grid(conf, risk, eligible, history.error, *default_grid(conf, risk))
    cover, rate = (app / len(history)).ravel(), (err / np.maximum(app, 1)).ravel()
    curves = {"rectangle gates (grid)": (cover, rate),
              "joint error gate": joint_curve(conf, risk, eligible, history.error)}
    plot = plot_risk_coverage(curves, [args.alpha], out.with_suffix(".png"))
    print(json.dumps({"policy": str(out), "version": document.version, "plot": str(plot), "calibration": report}))
    return 0
