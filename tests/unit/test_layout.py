"""The layout DESIGN.md fixes: one import root, area folders as namespace portions, every package packaged."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AREAS = ["models", "training", "serving", "datasets", "evaluation"]


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_area_folders_are_namespace_portions_with_py_typed() -> None:
    for area in AREAS:
        assert not (REPO / area / "__init__.py").exists(), f"{area}/__init__.py must not exist"
        assert (REPO / area / "py.typed").is_file(), f"{area}/py.typed is missing"


def test_every_subpackage_is_listed_in_pyproject() -> None:
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = set()
    for area in AREAS:
        on_disk.add(f"returns_triage.{area}")
        for init in (REPO / area).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / area)
            if "__pycache__" in rel.parts:
                continue
            on_disk.add(".".join(["returns_triage", area, *rel.parts]))
    # Sub-packages of the root itself (beside cli.py and settings.py).
    for init in (REPO / "src" / "returns_triage").rglob("__init__.py"):
        rel = init.parent.relative_to(REPO / "src")
        if "__pycache__" not in rel.parts:
            on_disk.add(".".join(rel.parts))
    missing = sorted(on_disk - listed)
    assert not missing, f"packages missing from pyproject.toml [tool.setuptools] packages: {missing}"
    stale = sorted(p for p in listed - on_disk if p != "returns_triage")
    assert not stale, f"pyproject.toml lists packages that do not exist: {stale}"


def test_package_dir_maps_areas_onto_one_root() -> None:
    mapping = _pyproject()["tool"]["setuptools"]["package-dir"]
    for area in AREAS:
        assert mapping[f"returns_triage.{area}"] == area


def test_serving_never_imports_training_side_packages() -> None:
    import subprocess
    import sys

    code = (
        "import sys, returns_triage.serving.api.app, returns_triage.serving.asgi, returns_triage.models.reason;"
        "bad=[m for m in ('torch','sentence_transformers','mlflow','sklearn','evidently','returns_triage.training')"
        " if m in sys.modules]; print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, f"serving imported: {out.stdout.strip()} {out.stderr[-500:]}"
