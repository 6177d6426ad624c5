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

    from returns_triage.serving.storage.revision import at_head

    cores = os.cpu_count() or 1
    if not os.environ.get("TRIAGE_REASON_BATCH_RUNNERS"):
        # One encoder call per core in all, each single-threaded: measured on 2 cores, one worker running two calls
        # at once scored ~20 % more returns per second than one call on two threads, at less CPU per return than
        # two workers (`triage bench load` compares the layouts).
        os.environ["TRIAGE_REASON_BATCH_RUNNERS"] = str(max(1, cores // args.workers))
    settings = _settings()
    calls = args.workers * (settings.reason_batch_runners if settings.reason_batching else 1)
    if calls > 1 and not os.environ.get("TRIAGE_ENCODER_THREADS"):
        # Each worker process runs its own encoder, each with its own concurrent calls: share the cores out instead
        # of running calls × cores threads. The workers read the variable when they build their settings.
        os.environ["TRIAGE_ENCODER_THREADS"] = str(max(1, cores // calls))
    narrowed = int(os.environ.get("TRIAGE_ENCODER_THREADS") or 0)
    if 0 < narrowed < cores and not os.environ.get("TRIAGE_ENCODER_WIDE_THREADS"):
        # A lone request (nothing queued, no other call running in its worker) is encoded on every core: measured at
        # half the peak load, two workers' p99 fell from 27-30 ms to 23-24 ms, the peak unchanged; the second session
        # costs ~60 MB per worker.
        os.environ["TRIAGE_ENCODER_WIDE_THREADS"] = str(cores)
    if not at_head(settings.database_url):
        # The workers start only once the database is migrated; when it already is, this process never imports
        # SQLAlchemy (start-up to ready is a target: ≤ 2 s, issue 10).
        from returns_triage.serving.storage import make_engine, upgrade

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
                parquet = args.format == "parquet" or (args.format is None and args.out.endswith(".parquet"))
                cp, n = (audit.export_parquet if parquet else audit.export_jsonl)(log, Path(args.out))
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


def cmd_audit_replay(args: argparse.Namespace) -> int:
    import json

    from returns_triage.errors import ModelUnavailable, NotFound
    from returns_triage.serving.service.replay import replay_decision
    from returns_triage.serving.storage import make_engine

    settings = _settings()
    roots = [Path(m) for m in args.models] + [settings.model_dir, settings.model_store_dir]
    engine = make_engine(settings.database_url)
    try:
        result = replay_decision(engine, args.decision_id, model_roots=roots, policy_file=args.policy)
    except (ModelUnavailable, NotFound) as exc:
        print(f"triage: cannot replay: {exc.message}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        what = (f"under policy {result.replay_policy_version} instead of {result.recorded_policy_version}"
                if result.what_if else f"with policy {result.replay_policy_version} and bundles "
                f"{', '.join(f'{k}={v}' for k, v in result.bundles.items())}")
        print(f"decision {result.decision_id} replayed {what}")
        if result.identical:
            print("identical: route, review, reasons, explanation, reason and risk")
        for diff in result.differences:
            print(f"- {diff['field']}: recorded {json.dumps(diff['recorded'], default=str)}")
            print(f"+ {diff['field']}: replayed {json.dumps(diff['replayed'], default=str)}")
    if result.what_if:
        return 0  # a what-if reports what the other policy decides; differing is its answer, not a failure
    return 0 if result.identical else 1


def cmd_audit_list(args: argparse.Namespace) -> int:
    import json

    from returns_triage.serving.storage import make_engine
    from returns_triage.serving.storage.audit_log import SqlAuditLog

    engine = make_engine(_settings().database_url)
    try:
        entries = SqlAuditLog(engine).find(tenant=args.tenant, kind=args.kind, subject_id=args.subject,
                                           after_seq=args.after_seq, limit=args.limit)
    finally:
        engine.dispose()
    for entry in entries:
        print(json.dumps(entry.to_dict(), ensure_ascii=False, separators=(",", ":")))
    return 0


def cmd_audit_prove(args: argparse.Namespace) -> int:
    import json

    from returns_triage.serving.service import audit
    from returns_triage.serving.storage import make_engine
    from returns_triage.serving.storage.audit_log import SqlAuditLog

    if args.seq is None and args.old is None:
        print("triage: give --old N [--new M] (consistency) or --seq N (inclusion)", file=sys.stderr)
        return 2
    engine = make_engine(_settings().database_url)
    try:
        log = SqlAuditLog(engine)
        if args.seq is not None:
            print(json.dumps(audit.entry_proof(log, args.seq)))
        else:
            print(json.dumps(audit.consistency_between(log, args.old, args.new)))
    finally:
        engine.dispose()
    return 0


def cmd_worker_audit(args: argparse.Namespace) -> int:
    import json
    import signal
    import threading

    from returns_triage.serving.service.audit import CheckpointSigner
    from returns_triage.serving.storage import make_engine
    from returns_triage.serving.workers.audit import AuditCheckpointWorker, CheckpointSchedule

    settings = _settings()
    key = Path(args.key) if args.key else settings.home / "audit" / "signing-key.pem"
    directory = Path(args.dir) if args.dir else settings.home / "audit" / "checkpoints"
    engine = make_engine(settings.database_url)
    worker = AuditCheckpointWorker(engine, CheckpointSigner.from_file(key), directory=directory,
                                   schedule=CheckpointSchedule(every=args.every, max_age_seconds=args.max_age))
    try:
        if args.once:
            cp = worker.run_once()
            print(json.dumps(cp.to_dict() if cp else None))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        print("audit checkpoint worker running; Ctrl-C to stop", file=sys.stderr)
        worker.run(stop, idle_seconds=args.idle)
        return 0
    finally:
        engine.dispose()


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


def cmd_score_batch(args: argparse.Namespace) -> int:
    import json

    from returns_triage.batch import encoder_layout, score_batch
    from returns_triage.serving.domain.policy import DocumentPolicy
    from returns_triage.serving.service.models import load_models

    settings = _settings()
    policy = DocumentPolicy.from_file(None if settings.policy_file == "default" else settings.policy_file)
    streams, threads = encoder_layout(os.cpu_count() or 1, args.encoder_streams)
    models = load_models(settings.model_dir, encoder_threads=settings.encoder_threads or threads)
    if not settings.reason_cascade:
        # TRIAGE_REASON_CASCADE=off: every text takes the full model path, as in the API.
        models = models.full_model_path()
    try:
        summary = score_batch(Path(args.input), Path(args.output), models=models, policy=policy, tenant=args.tenant,
                              batch_size=args.batch_size, encoder_batch_size=args.encoder_batch_size,
                              encoder_streams=streams, resume=args.resume, progress=not args.no_progress,
                              max_rows=args.max_rows)
    finally:
        models.close()
    print(json.dumps(summary.to_dict()))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    """One monitoring round (`triage monitor`) or the scheduled worker (`triage worker monitor`)."""
    import json
    import logging
    import signal
    import threading
    from datetime import datetime

    from returns_triage.evaluation.monitoring.worker import MonitorWorker, build_monitor
    from returns_triage.serving.storage import make_engine, upgrade

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        monitor = build_monitor(settings, engine, input_drift=not args.no_input_drift)
        worker = MonitorWorker(monitor, interval_seconds=getattr(args, "interval", None)
                               or settings.monitor_interval_seconds)
        if getattr(args, "worker_command", None) == "monitor" and not args.once:
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            print(f"monitor worker running every {worker.interval_seconds:g} s; Ctrl-C to stop", file=sys.stderr)
            worker.run(stop)
            return 0
        as_of = datetime.fromisoformat(args.as_of) if getattr(args, "as_of", None) else None
        runs = ([monitor.run(args.tenant, as_of)] if getattr(args, "tenant", None) else worker.run_once(as_of))
        if getattr(args, "json", False):
            print(json.dumps([r.to_dict() for r in runs], default=str))
        else:
            for run in runs:
                print(f"tenant {run.tenant}: {len(run.windows)} windows up to {run.as_of:%Y-%m-%d %H:%M}")
                for a in run.alerts[:10]:
                    print(f"  [{a['kind']}] impact {a['impact']:.1f}: {a['message']}")
                for c in run.failsafe:
                    print(f"  fail-safe {c.action} ({c.state.segment}): {c.reason}")
        print(json.dumps({"tenants": len(runs), "windows": sum(len(r.windows) for r in runs),
                          "alerts": sum(len(r.alerts) for r in runs),
                          "failsafe_changes": sum(len(r.failsafe) for r in runs)}))
        return 0
    finally:
        engine.dispose()


def cmd_policy(args: argparse.Namespace) -> int:
    from returns_triage.training.policy.cli import run_policy_command

    return run_policy_command(args)


def _add_lifecycle(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from returns_triage.training.lifecycle.cli import add_lifecycle_commands

    add_lifecycle_commands(sub)


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
    p.add_argument("--no-cascade", action="store_true",
                   help="no cheap first stage in the bundle: every text goes through the encoder")

    p = add("predict", cmd_reason_predict, "predict a CSV with a bundle: text,label,confidence,abstain", reason)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--text-col", default="text")
    p.add_argument("--batch-size", type=int, default=64)

    p = add("score-batch", cmd_score_batch, "score a file of returns (.csv, .jsonl, .parquet) on the full model path "
            "into one decision or error per row; streaming and resumable")
    p.add_argument("--input", required=True, help="score requests, one per row (CSV: nested fields as OBJECT.FIELD)")
    p.add_argument("--output", required=True, help="decisions, one per input row; format by extension")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUTPUT.progress.json")
    p.add_argument("--batch-size", type=int, default=512, help="rows read, scored and written together")
    p.add_argument("--encoder-batch-size", type=int, default=64, help="texts per reason-encoder call")
    p.add_argument("--encoder-streams", type=int, default=0,
                   help="reason-encoder calls at once (0: one per core, each single-threaded); keep it when resuming")
    p.add_argument("--tenant", default="default", help="the tenant the returns belong to (audit sampling is keyed on it)")
    p.add_argument("--max-rows", type=int, help="stop after this many rows (continue later with --resume)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    p = add("extract", cmd_extract,
            "extract fields from documents (PDF; PNG, JPEG and scanned PDFs by OCR); one result per file, never a crash")
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
            p.add_argument("--out", required=True, help="file to write; a .parquet name writes Parquet")
            p.add_argument("--format", choices=["jsonl", "parquet"], help="default: from the --out suffix")
    p = add("replay", cmd_audit_replay, "re-run a decision with its recorded input, bundles and policy; exit 0 if "
            "identical, 1 with the differences, 2 if a recorded bundle or policy is not available", audit)
    p.add_argument("decision_id")
    p.add_argument("--policy", help="route the recorded evidence by this policy YAML instead (what-if; exit 0)")
    p.add_argument("--models", action="append", default=[],
                   help="another folder holding bundles (searched before TRIAGE_MODEL_DIR and the model store)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    from returns_triage.serving.domain.audit import ENTRY_KINDS

    p = add("list", cmd_audit_list, "print a tenant's entries oldest first, one JSON object a line", audit)
    p.add_argument("--tenant", default="default")
    p.add_argument("--kind", choices=ENTRY_KINDS)
    p.add_argument("--subject", help="only entries about this subject (a decision id lists what was done about it)")
    p.add_argument("--after-seq", type=int, default=0, help="page: entries after this seq")
    p.add_argument("--limit", type=int, default=100)
    p = add("prove", cmd_audit_prove, "print a consistency proof between two signed checkpoints, or an entry's "
            "inclusion proof (JSON)", audit)
    p.add_argument("--old", type=int, help="tree size of the older checkpoint")
    p.add_argument("--new", type=int, help="tree size of the newer checkpoint (default: the latest)")
    p.add_argument("--seq", type=int, help="an entry: its inclusion proof in the latest checkpoint instead")

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
            p.add_argument("--method", choices=("joint", "rectangle"), default="joint",
                           help="joint: one gate on the estimated error 1 - p_reason*(1 - p_fraud) (default; "
                                "certifies more in `triage bench policy`); rectangle: reason and risk gates")
            p.add_argument("--guarantee", choices=("realised", "risk"), default="realised",
                           help="realised (default): the error counted among a batch of auto-approvals as large as "
                                "the history stays <= alpha with prob. >= 1 - delta; risk: the expected error does")
            p.add_argument("--cost-aware", action="store_true", help="per-segment gates minimising expected cost")
            p.add_argument("--review-cost", type=float, default=8.0)
            p.add_argument("--friction-cost", type=float, default=2.0)
            p.add_argument("--wrong-reason-cost", type=float, default=15.0)
            p.add_argument("--reviews-per-day", type=float, default=40.0)
        else:
            p.add_argument("--live", help="the live policy YAML to diff against (default: the shipped default; "
                                          "with --from-db, TRIAGE_POLICY_FILE)")
            p.add_argument("--from-db", action="store_true",
                           help="replay the decisions and outcomes stored in TRIAGE_DATABASE_URL instead of "
                                "simulator history")
            p.add_argument("--since", help="with --from-db: decisions from this date (YYYY-MM-DD) or time on")
            p.add_argument("--until", help="with --from-db: decisions up to this date (inclusive) or time")
            p.add_argument("--tenant", help="with --from-db: one tenant's decisions only (default: all)")

    worker = sub.add_parser("worker", help="background workers").add_subparsers(dest="worker_command",
                                                                                  required=True)
    p = add("audit", cmd_worker_audit, "sign audit checkpoints every N entries or when the last is T seconds old",
            worker)
    p.add_argument("--every", type=int, default=1000, help="sign once this many entries are unsealed")
    p.add_argument("--max-age", type=float, default=60.0, help="sign any unsealed entry once the last checkpoint "
                   "is this many seconds old (0 = only by count)")
    p.add_argument("--idle", type=float, default=1.0, help="seconds between checks")
    p.add_argument("--once", action="store_true", help="one check; print the new checkpoint (or null) and exit")
    p.add_argument("--key", help="private key PEM (default: $TRIAGE_HOME/audit/signing-key.pem)")
    p.add_argument("--dir", help="checkpoint directory (default: $TRIAGE_HOME/audit/checkpoints)")
    p = add("monitor", cmd_monitor, "run `triage monitor` for every tenant every TRIAGE_MONITOR_INTERVAL_SECONDS",
            worker)
    p.add_argument("--once", action="store_true", help="one round, print its counts as JSON, exit")
    p.add_argument("--interval", type=float, help="seconds between rounds (default: TRIAGE_MONITOR_INTERVAL_SECONDS)")
    p.add_argument("--no-input-drift", action="store_true", help="skip the Evidently drift reports")
    p = add("webhooks", cmd_worker_webhooks, "deliver webhook events (signed POSTs, retries, dead letters)", worker)
    p.add_argument("--once", action="store_true", help="one round, print its counts as JSON, exit")
    p.add_argument("--idle", type=float, default=1.0, help="seconds to sleep when nothing is due")
    p.add_argument("--max-attempts", type=int, default=12, help="dead-letter after this many failed attempts")
    p.add_argument("--backoff-base", type=float, default=30.0, help="first retry delay, seconds (doubles)")
    p.add_argument("--backoff-cap", type=float, default=6 * 3600.0, help="longest retry delay, seconds")
    p.add_argument("--timeout", type=float, default=10.0, help="HTTP timeout per attempt, seconds")

    # Model lifecycle: retrain, promote, shadow report, models (training/lifecycle/cli.py; imported lazily there).
    _add_lifecycle(sub)

    p = add("monitor", cmd_monitor, "drift, outcome-tied performance and estimated performance per window and "
            "segment; stores results, reports and alerts, and opens or clears the routing fail-safe")
    p.add_argument("--as-of", help="ISO time the round is computed at (labels known by then); default: now")
    p.add_argument("--tenant", help="one tenant only (default: every tenant with decisions)")
    p.add_argument("--no-input-drift", action="store_true", help="skip the Evidently drift reports")
    p.add_argument("--json", action="store_true", help="print every window's figures as JSON")

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
