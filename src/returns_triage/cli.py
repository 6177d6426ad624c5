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


def cmd_demo(args: argparse.Namespace) -> int:
    from returns_triage.demo import run_demo

    return run_demo(_settings(), host=args.host, port=args.port, keep_serving=args.keep_serving)


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

    p = add("predict", cmd_reason_predict, "predict a CSV with a bundle: text,label,confidence,abstain", reason)
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--text-col", default="text")
    p.add_argument("--batch-size", type=int, default=64)

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
