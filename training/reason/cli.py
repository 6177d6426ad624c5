"""`triage reason fit`: read any labelled CSV and write a bundle."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from returns_triage.errors import InvalidInput
from returns_triage.training.reason.finetune import FinetuneConfig
from returns_triage.training.reason.pipeline import ReasonTrainingData, fit_reason_bundle

__all__ = ["read_labelled_csv", "fit_from_csv", "default_finetune_config"]


def default_finetune_config() -> FinetuneConfig:
    """What `reason fit` runs by default: fine-tuning capped so a BANKING77-sized fit stays under 30 min."""
    return FinetuneConfig()


def read_labelled_csv(path: Path, text_col: str, label_col: str) -> ReasonTrainingData:
    csv.field_size_limit(10_000_000)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in (text_col, label_col) if c not in (reader.fieldnames or [])]
        if missing:
            raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}; found {reader.fieldnames}")
        texts, labels = [], []
        for row in reader:
            text = (row[text_col] or "").strip()
            label = (row[label_col] or "").strip()
            # A row without a label teaches nothing; a row without text cannot be embedded.
            if text and label:
                texts.append(text)
                labels.append(label)
    if not texts:
        raise InvalidInput(f"{path}: no rows with text")
    return ReasonTrainingData(texts, labels)


def fit_from_csv(args: argparse.Namespace) -> None:
    from returns_triage.settings import Settings

    train = read_labelled_csv(Path(args.train), args.text_col, args.label_col)
    valid = read_labelled_csv(Path(args.valid), args.text_col, args.label_col) if args.valid else None
    # Flags the parser may not define yet default to the full pipeline without tracking.
    finetune = None if getattr(args, "no_finetune", False) else default_finetune_config()
    budget = getattr(args, "finetune_minutes", None)
    if finetune is not None and budget is not None:
        finetune = FinetuneConfig(budget_minutes=float(budget))
    tracker = None
    if getattr(args, "mlflow", False):
        from returns_triage.training.tracking import ReasonRunTracker

        tracker = ReasonRunTracker(Settings.from_env(), run_name=Path(args.out).name)
    manifest = fit_reason_bundle(
        train, Path(args.out), valid=valid, ood_label=args.ood_label, cache_dir=Path("var") / "cache",
        C=args.C, target_selective_accuracy=args.target_accuracy, seed=args.seed, finetune=finetune,
        quantize=not getattr(args, "no_quantize", False), cascade=not getattr(args, "no_cascade", False),
        tracking=tracker,
    )
    print(f"bundle {manifest.version}: {len(manifest.labels)} labels, written to {args.out}", file=sys.stderr)
    if tracker is not None and tracker.last is not None:
        print(f"mlflow run {tracker.last.run_id}: registered {tracker.last.model_name} "
              f"version {tracker.last.model_version}", file=sys.stderr)
