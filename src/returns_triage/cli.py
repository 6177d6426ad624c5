"""The `triage` command. Each sub-command imports what it needs when it runs, so `triage serve` never pays for
(or needs) the training libraries."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

__all__ = ["main", "build_parser"]

# Nothing here may download weights or data, and nothing phones home.
for _name, _value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("DO_NOT_TRACK", "true"),
                      ("MLFLOW_DISABLE_TELEMETRY", "true"), ("TOKENIZERS_PARALLELISM", "false")):
    os.environ.setdefault(_name, _value)


def _settings():  # -> Settings
    from returns_triage.settings import Settings

    return Settings.from_env()


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from returns_triage.serving.storage import make_engine, upgrade

    settings = _settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    engine.dispose()
    uvicorn.run("returns_triage.serving.asgi:app_factory", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level=args.log_level, access_log=False)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from returns_triage.serving.storage import make_engine, upgrade
    from returns_triage.serving.storage.migrate import current_revision

    engine = make_engine(_settings().database_url)
    upgrade(engine, args.revision)
    print(f"database at revision {current_revision(engine)}")
    return 0


def cmd_train_default(args: argparse.Namespace) -> int:
    from returns_triage.training.defaults import train_default_bundles

    settings = _settings()
    train_default_bundles(settings, force=args.force, quick=args.quick)
    return 0


def cmd_reason_fit(args: argparse.Namespace) -> int:
    from returns_triage.training.reason.cli import fit_from_csv

    fit_from_csv(args)
    return 0


def cmd_reason_predict(args: argparse.Namespace) -> int:
    from returns_triage.models.reason.batch import predict_csv

    n = predict_csv(Path(args.model), Path(args.input), Path(args.output), text_col=args.text_col,
                    batch_size=args.batch_size)
    print(f"wrote {n} predictions to {args.output}", file=sys.stderr)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from returns_triage.evaluation.benchmarks import available, run_benchmark

    if args.name not in available():
        print(f"unknown benchmark {args.name!r}; available: {', '.join(available())}", file=sys.stderr)
        return 2
    result = run_benchmark(args.name, quick=args.quick)
    if not args.json:
        for t in result.to_dict()["targets"]:
            mark = "met" if t["met"] else "NOT MET"
            print(f"  {t['metric']:<34} {t['value']!s:<22} {t['op']} {t['target']:<10} {mark}")
    print(result.to_json())
    return 0


def cmd_extract(args: argparse.Namespace) -> int:
    import json

    from returns_triage.models.documents import DocumentExtractor
    from returns_triage.training.defaults import train_default_bundles

    settings = _settings()
    bundle = settings.model_dir / "documents"
    if not (bundle / "manifest.json").is_file():
        train_default_bundles(settings, only=("documents",))
    failed = 0
    with DocumentExtractor.load(bundle) as extractor:
        for name in args.files:
            result = extractor.extract_path(Path(name))
            result["file"] = name
            failed += result.get("error") is not None
            if args.json:
                print(json.dumps(result, ensure_ascii=False, default=str))
            else:
                _print_extraction(result)
    return 0 if not args.strict or not failed else 1


def _print_extraction(result: dict) -> None:
    print(f"{result['file']}")
    if result.get("error"):
        print(f"  rejected: {result['error']['code']}: {result['error']['message']}")
        return
    print(f"  {result.get('document_type')} (confidence {result.get('document_confidence', 0):.2f})")
    for name, field in (result.get("fields") or {}).items():
        print(f"  {name:<18} {field.get('value')!s:<36} p={field.get('confidence', 0):.2f} page {field.get('page')}")
    for check in result.get("checks") or []:
        print(f"  check {check.get('name')}: {'ok' if check.get('passed') else 'FAILED'} {check.get('detail') or ''}")


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from returns_triage.serving.service import audit
    from returns_triage.serving.storage import make_engine
    from returns_triage.serving.storage.audit_log import SqlAuditLog

    settings = _settings()
    # Defaults live under TRIAGE_HOME; the checkpoint directory should be copied (or mounted) off the database host.
    key = Path(args.key) if args.key else settings.home / "audit" / "signing-key.pem"
    directory = Path(args.dir) if args.dir else settings.home / "audit" / "checkpoints"
    if args.audit_command == "keygen":
        if key.exists():
            print(f"audit signing key exists at {key}", file=sys.stderr)
            return 0
        signer = audit.generate_signing_key(key)
        print(f"wrote {key} (key id {signer.verifier.key_id}) and {key}.pub", file=sys.stderr)
        return 0
    if args.audit_command == "verify" and args.export:
        result = audit.verify_export(Path(args.export), audit.CheckpointVerifier.from_file(Path(args.public_key
                                                                                             or key)))
    else:
        engine = make_engine(settings.database_url)
        log = SqlAuditLog(engine)
        try:
            if args.audit_command == "checkpoint":
                signer = audit.CheckpointSigner.from_file(key)
                cp = (audit.checkpoint_if_due(log, signer, every=args.every, directory=directory) if args.every
                      else audit.make_checkpoint(log, signer, directory=directory))
                print(json.dumps(cp.to_dict() if cp else None))
                return 0
            if args.audit_command == "export":
                cp, n = audit.export_jsonl(log, Path(args.out))
                print(f"wrote {n} entries to {args.out} (checkpoint at tree size {cp.tree_size})", file=sys.stderr)
                return 0
            key_path = Path(args.public_key) if args.public_key else key
            verifier = audit.CheckpointVerifier.from_file(key_path) if key_path.exists() else None
            extra = audit.external_checkpoints(directory)
            extra += [audit.Checkpoint.from_dict(json.loads(Path(f).read_text())) for f in args.checkpoint]
            if verifier is None:
                print(f"no key at {key_path}: checking the chain only; a truncated tail cannot be detected",
                      file=sys.stderr)
            result = audit.verify_log(log, verifier, extra_checkpoints=extra)
        finally:
            engine.dispose()
    print(json.dumps(result.to_dict()))
    if not result.ok:
        print(f"audit log verification FAILED at entry {result.first_bad_seq}: {result.problem}", file=sys.stderr)
        return 1
    print(f"audit log verified: {result.entries} entries, {result.checkpoints_checked} signed checkpoints",
          file=sys.stderr)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from returns_triage.serving.service.api_keys import create_api_key, key_service

    settings = _settings()
    if args.keys_command == "create":
        token, record = create_api_key(settings, role=args.role, tenant=args.tenant, label=args.label)
        print(f"created key {record.prefix} (role {record.role}, tenant {record.tenant}); it is shown only once:",
              file=sys.stderr)
        print(token)
        return 0
    service, engine = key_service(settings)
    try:
        if args.keys_command == "revoke":
            service.revoke(args.prefix)
            print(f"revoked key {args.prefix}", file=sys.stderr)
            return 0
        for k in service.list(args.tenant):
            state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}"
            print(f"{k.prefix}  {k.tenant:<16} {k.role:<15} {k.created_at:%Y-%m-%d %H:%M}  {state}  {k.label}")
        return 0
    finally:
        engine.dispose()


def cmd_demo(args: argparse.Namespace) -> int:
    from returns_triage.demo import run_demo

    return run_demo(_settings(), host=args.host, port=args.port, keep_serving=args.keep_serving)


def cmd_worker_webhooks(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading

    from returns_triage.serving.storage import make_engine
    from returns_triage.serving.workers.webhooks import DeliveryPolicy, WebhookWorker

    engine = make_engine(_settings().database_url)
    worker = WebhookWorker(engine, policy=DeliveryPolicy(
        max_attempts=args.max_attempts, backoff_base_seconds=args.backoff_base, backoff_cap_seconds=args.backoff_cap,
        timeout_seconds=args.timeout))
    try:
        if args.once:
            r = worker.run_once()
            print(json.dumps({"fanned_out": r.fanned_out, "delivered": r.delivered, "failed": r.failed,
                              "dead": r.dead}))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print("webhook worker running; Ctrl-C to stop", file=sys.stderr)
        worker.run(stop, idle_seconds=args.idle)
        return 0
    finally:
        worker.close()
        engine.dispose()


def cmd_policy(args: argparse.Namespace) -> int:
    from returns_triage.training.policy.cli import run_policy_command

    return run_policy_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="triage", description="Triage of product returns.")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_: str, parent=sub) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=fn)
        return p

    p = add("serve", cmd_serve, "serve the HTTP API with the current settings (TRIAGE_* variables)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--log-level", default="info")

    p = add("demo", cmd_demo, "train the default bundles if absent, start the API, score example returns")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--keep-serving", action="store_true", help="leave the API running after the demo")

    keys = sub.add_parser("keys", help="API keys (hashed at rest; one tenant and one role each)").add_subparsers(
        dest="keys_command", required=True)
    p = add("create", cmd_keys, "create a key and print it, alone on the last line (it is not stored)", keys)
    p.add_argument("--role", required=True,
                   choices=["workflow_engine", "reviewer", "supervisor", "auditor", "data_scientist", "admin"])
    p.add_argument("--tenant", default="default")
    p.add_argument("--label", default="", help="a note for `keys list` (who or what holds the key)")
    p = add("list", cmd_keys, "list keys by prefix: tenant, role, created, revoked", keys)
    p.add_argument("--tenant", default=None)
    p = add("revoke", cmd_keys, "revoke a key by its prefix: its next request is a 401", keys)
    p.add_argument("prefix")

    db = sub.add_parser("db", help="database maintenance").add_subparsers(dest="db_command", required=True)
    p = add("upgrade", cmd_db_upgrade, "apply migrations up to REVISION (default: head)", db)
    p.add_argument("revision", nargs="?", default="head")

    train = sub.add_parser("train", help="train model bundles").add_subparsers(dest="train_command", required=True)
    p = add("default", cmd_train_default, "train the default bundles into TRIAGE_MODEL_DIR", train)
    p.add_argument("--force", action="store_true", help="retrain even if bundles exist")
    p.add_argument("--quick", action="store_true", help="smaller corpora, for tests")

    reason = sub.add_parser("reason", help="the reason classifier").add_subparsers(dest="reason_command",
                                                                                  required=True)
    p = add("fit", cmd_reason_fit, "train a reason-classifier bundle on any labelled CSV", reason)
    p.add_argument("--train", required=True, help="CSV with a text and a label column")
    p.add_argument("--valid", help="optional CSV used to calibrate (otherwise out-of-fold)")
    p.add_argument("--ood-label", help="label of out-of-scope rows: never a class, used to calibrate abstention")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="label")
    p.add_argument("--out", required=True, help="bundle directory to write")
    p.add_argument("--C", type=float, default=10.0, help="inverse L2 strength of the head")
    p.add_argument("--target-accuracy", type=float, default=0.95,
                   help="accuracy the non-abstained predictions must reach on calibration data")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mlflow", action=argparse.BooleanOptionalAction, default=False,
                   help="record the run in MLflow (TRIAGE_MLFLOW_URI) and register the bundle")
    p.add_argument("--no-finetune", action="store_true", help="keep the MiniLM encoder frozen (faster)")
    p.add_argument("--finetune-minutes", type=float, help="wall-time budget of encoder fine-tuning")
    p.add_argument("--no-quantize", action="store_true", help="always serve the fp32 encoder")

    p = add("predict", cmd_reason_predict, "predict a CSV with a bundle: text,label,confidence,abstain", reason)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--text-col", default="text")
    p.add_argument("--batch-size", type=int, default=64)

    p = add("extract", cmd_extract, "extract fields from documents (PDF); one result per file, never a crash")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object per file, per line")
    p.add_argument("--strict", action="store_true", help="exit 1 if any file was rejected")

    audit = sub.add_parser("audit", help="the tamper-evident decision log").add_subparsers(dest="audit_command",
                                                                                         required=True)
    for name, help_ in (("keygen", "create the Ed25519 checkpoint signing key if absent"),
                        ("checkpoint", "sign the current tree head; write it to the database and the checkpoint dir"),
                        ("verify", "recompute the chain from genesis against the signed checkpoints; exit 1 naming "
                                   "the first bad entry"),
                        ("export", "write the entries of the latest checkpoint as JSONL, with OUT.checkpoint.json")):
        p = add(name, cmd_audit, help_, audit)
        p.add_argument("--key", help="private key PEM (default: $TRIAGE_HOME/audit/signing-key.pem)")
        p.add_argument("--dir", help="checkpoint directory (default: $TRIAGE_HOME/audit/checkpoints)")
        if name == "checkpoint":
            p.add_argument("--every", type=int, default=0, help="only if at least N entries since the last one")
        if name == "verify":
            p.add_argument("--public-key", help="public key PEM to trust (default: the --key file's)")
            p.add_argument("--checkpoint", action="append", default=[], help="an extra checkpoint JSON file")
            p.add_argument("--export", help="verify this JSONL export (and its .checkpoint.json) instead of the DB")
        if name == "export":
            p.add_argument("--out", required=True)

    policy = sub.add_parser("policy", help="the routing policy document").add_subparsers(dest="policy_command",
                                                                                       required=True)
    p = add("validate", cmd_policy, "validate a policy file; print its version", policy)
    p.add_argument("file", nargs="?", help="policy YAML (default: the shipped default)")
    for name, help_ in (("calibrate", "choose the gates on labelled history (error among auto-approved <= alpha "
                                      "with prob. >= 1 - delta); write a new policy version and a risk-coverage plot"),
                        ("simulate", "replay labelled history under a candidate policy against the live one")):
        p = add(name, cmd_policy, help_, policy)
        p.add_argument("--policy", help="policy YAML to start from / the candidate (default: the shipped default)")
        p.add_argument("--world-seed", type=int, default=11, help="returns-world simulator seed for the history")
        p.add_argument("--customers", type=int, default=12_000)
        p.add_argument("--quick", action="store_true", help="a small history, for a try-out")
        if name == "calibrate":
            p.add_argument("--out", required=True, help="where to write the calibrated policy YAML")
            p.add_argument("--alpha", type=float, default=0.01)
            p.add_argument("--delta", type=float, default=0.05)
            p.add_argument("--cost-aware", action="store_true", help="per-segment gates minimising expected cost")
            p.add_argument("--review-cost", type=float, default=8.0)
            p.add_argument("--friction-cost", type=float, default=2.0)
            p.add_argument("--wrong-reason-cost", type=float, default=15.0)
            p.add_argument("--reviews-per-day", type=float, default=40.0)
        else:
            p.add_argument("--live", help="the live policy YAML to diff against (default: the shipped default)")

    worker = sub.add_parser("worker", help="background workers").add_subparsers(dest="worker_command",
                                                                                  required=True)
    p = add("webhooks", cmd_worker_webhooks, "deliver webhook events (signed POSTs, retries, dead letters)", worker)
    p.add_argument("--once", action="store_true", help="one round, print its counts as JSON, exit")
    p.add_argument("--idle", type=float, default=1.0, help="seconds to sleep when nothing is due")
    p.add_argument("--max-attempts", type=int, default=12, help="dead-letter after this many failed attempts")
    p.add_argument("--backoff-base", type=float, default=30.0, help="first retry delay, seconds (doubles)")
    p.add_argument("--backoff-cap", type=float, default=6 * 3600.0, help="longest retry delay, seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout per attempt, seconds")

    p = add("bench", cmd_bench, "run one benchmark from evaluation/; the last line printed is JSON")
    p.add_argument("name")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true", help="print only the JSON line")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from returns_triage.errors import TriageError

    try:
        return int(args.func(args) or 0)
    except TriageError as exc:
        print(f"triage: error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
