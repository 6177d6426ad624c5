"""`triage retrain`, `triage promote`, `triage shadow report` and `triage models …`: argument handling only."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from returns_triage.settings import Settings

__all__ = ["run_retrain", "run_promote", "run_shadow_report", "run_models", "add_lifecycle_commands"]


def _when(raw: str | None) -> datetime | None:
    if not raw:
        return None
    value = datetime.fromisoformat(raw)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def run_retrain(args: argparse.Namespace) -> int:
    from returns_triage.training.lifecycle.retrain import retrain

    result = retrain(Settings.from_env(), args.family, now=_when(args.now), since=_when(args.since),
                     tenant=args.tenant, quick=args.quick, recent_weight=args.recent_weight,
                     base=not args.no_base, min_cases=args.min_cases)
    print(f"registered {args.family} version {result.model_version} as challenger "
          f"(bundle {result.bundle_version}, run {result.run_id})", file=sys.stderr)
    print(json.dumps(result.to_dict()))
    return 0


def run_promote(args: argparse.Namespace) -> int:
    from returns_triage.training.lifecycle.promote import promote

    result = promote(Settings.from_env(), args.family, margin=args.margin, min_gain=args.min_gain,
                     now=_when(args.now), outcome_days=args.outcome_days, tenant=args.tenant, dry_run=args.dry_run)
    if result.rows:
        print(result.table())
    for reason in result.reasons:
        print(f"  - {reason}")
    verdict = "PROMOTED" if result.passed and not args.dry_run else ("PASSED (dry run)" if result.passed
                                                                     else "REFUSED")
    print(f"{verdict}: {args.family} challenger v{result.challenger_version} vs champion "
          f"v{result.champion_version} (margin {args.margin}); evidence in MLflow run {result.gate_run_id}")
    if args.json:
        print(json.dumps(result.to_dict()))
    return 0 if result.passed else 1


def run_shadow_report(args: argparse.Namespace) -> int:
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.training.lifecycle.shadow_report import shadow_report

    engine = make_engine(Settings.from_env().database_url)
    try:
        upgrade(engine)
        report = shadow_report(engine, since=_when(args.since), tenant=args.tenant, family=args.family,
                               now=_when(args.now))
    finally:
        engine.dispose()
    print(report.table())
    if args.json:
        print(json.dumps(report.to_dict()))
    return 0


def run_models(args: argparse.Namespace) -> int:
    from returns_triage.serving.service.model_registry import FAMILIES, LocalModelStore
    from returns_triage.training import tracking
    from returns_triage.training.lifecycle.registry import materialise
    from returns_triage.training.lifecycle.tracked import register_default_bundles

    settings = Settings.from_env()
    if args.models_command == "register-defaults":
        print(json.dumps(register_default_bundles(settings, quick=args.quick)))
        return 0
    if args.models_command == "materialise":
        pointer = materialise(settings, args.family, args.version, alias=args.alias)
        print(json.dumps(pointer.to_dict()))
        return 0
    store = LocalModelStore(settings.model_store_dir)
    for family in FAMILIES:
        local = {a: (p.version if (p := store.alias(family, a)) else None) for a in ("champion", "challenger")}
        registry = {a: tracking.alias_version(settings, family, a) for a in ("champion", "challenger")}
        print(f"{family:<12} registry champion={registry['champion']} challenger={registry['challenger']}   "
              f"local store champion={local['champion']} challenger={local['challenger']}")
    return 0


def add_lifecycle_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the lifecycle sub-commands to the `triage` parser."""
    families = ["fraud", "reason"]
    p = sub.add_parser("retrain", help="train a challenger from matured outcomes and reviewer corrections",
                       description="Build the training set from matured outcomes and reviewer corrections "
                       "(TRIAGE_DATABASE_URL), train, log to MLflow (TRIAGE_MLFLOW_URI) with lineage to the "
                       "decisions used, and register the bundle as `challenger`.")
    p.set_defaults(func=run_retrain)
    p.add_argument("family", choices=families)
    p.add_argument("--now", help="ISO time deciding which cases have matured (default: now)")
    p.add_argument("--since", help="only decisions from this ISO time on")
    p.add_argument("--tenant")
    p.add_argument("--quick", action="store_true", help="a smaller base world, for a try-out")
    p.add_argument("--recent-weight", type=float, default=3.0, help="weight of a matured case vs a base one")
    p.add_argument("--no-base", action="store_true", help="learn from the database's cases only")
    p.add_argument("--min-cases", type=int, default=20)

    p = sub.add_parser("promote", help="promote the challenger when it beats the champion (exit 1 when refused)",
                       description="Gate: the challenger must not lose on the fixed holdout nor on recent matured "
                       "outcomes, and no slice (facility, segment, channel, reason) may be worse by more than "
                       "--margin. Prints the evidence, logs it to MLflow, moves `champion` and materialises the "
                       "bundle into the local model store on a pass.")
    p.set_defaults(func=run_promote)
    p.add_argument("family", choices=families)
    p.add_argument("--margin", type=float, default=0.03, help="largest drop allowed in any slice's metric")
    p.add_argument("--min-gain", type=float, default=0.0, help="headline gain required over the champion")
    p.add_argument("--outcome-days", type=float, default=90.0, help="how far back recent outcomes go")
    p.add_argument("--now", help="ISO time deciding which cases have matured (default: now)")
    p.add_argument("--tenant")
    p.add_argument("--dry-run", action="store_true", help="judge and log, move nothing")
    p.add_argument("--json", action="store_true", help="also print the evidence as JSON")

    shadow = sub.add_parser("shadow", help="the challenger's shadow scoring").add_subparsers(
        dest="shadow_command", required=True)
    p = shadow.add_parser("report", help="agreement and outcome-based performance of champion and challenger")
    p.set_defaults(func=run_shadow_report)
    p.add_argument("--family", choices=families)
    p.add_argument("--since")
    p.add_argument("--now")
    p.add_argument("--tenant")
    p.add_argument("--json", action="store_true")

    models = sub.add_parser("models", help="registered bundles and the local model store").add_subparsers(
        dest="models_command", required=True)
    p = models.add_parser("list", help="aliases in the MLflow registry and in the local model store")
    p.set_defaults(func=run_models)
    p = models.add_parser("register-defaults", help="train the fraud and documents bundles with MLflow tracking, "
                          "register them, and make them champion where a family has none")
    p.set_defaults(func=run_models)
    p.add_argument("--quick", action="store_true")
    p = models.add_parser("materialise", help="copy a registered version into the local model store under an alias")
    p.set_defaults(func=run_models)
    p.add_argument("family")
    p.add_argument("version")
    p.add_argument("--alias", default="champion")
