"""The wheel and the serving profile, installed into fresh venvs the way the Dockerfile's runtime stage does."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import venv
import zipfile
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
                   check=True, capture_output=True)
    (whl,) = out.glob("returns_triage-*.whl")
    return whl


def _venv(path: Path) -> Path:
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


def _modules_in(whl: Path) -> list[str]:
    names = []
    with zipfile.ZipFile(whl) as zf:
        for name in zf.namelist():
            if name.startswith("returns_triage/") and name.endswith(".py"):
                if name.endswith("migrations/env.py"):
                    continue  # an Alembic script, run by Alembic, not importable on its own
                mod = name[:-3].replace("/", ".")
                names.append(mod[: -len(".__init__")] if mod.endswith(".__init__") else mod)
    return sorted(names)


def test_wheel_ships_every_module_and_each_imports_from_a_clean_venv(wheel: Path, tmp_path: Path) -> None:
    modules = _modules_in(wheel)
    for area in ("models", "training", "serving", "datasets", "evaluation"):
        assert any(m.startswith(f"returns_triage.{area}.") for m in modules), area
    with zipfile.ZipFile(wheel) as zf:
        assert "returns_triage/serving/storage/migrations/versions/0001_initial.py" in zf.namelist()
        assert any(n.endswith("serving/py.typed") for n in zf.namelist())
    py = _venv(tmp_path / "venv")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    # Third-party dependencies come from the project venv, appended after the clean venv's own site-packages,
    # whose .pth files (the editable install) are not processed: returns_triage resolves to the wheel only.
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "zz_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    code = (
        "import importlib, sys, json\n"
        f"mods = {modules!r}\n"
        "bad = {}\n"
        "for m in mods:\n"
        "    try:\n"
        "        mod = importlib.import_module(m)\n"
        "        assert '/work/main/' not in (mod.__file__ or '') or 'site-packages' in mod.__file__, mod.__file__\n"
        "    except Exception as exc:\n"
        "        bad[m] = repr(exc)\n"
        "import returns_triage.cli as c; print(json.dumps({'bad': bad, 'cli': c.__file__}))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["bad"] == {}
    assert str(tmp_path) in result["cli"]


def test_serving_profile_has_no_training_stack_and_scores_a_return(wheel: Path, tmp_path: Path,
                                                                    model_dir: Path) -> None:
    py = _venv(tmp_path / "serve-venv")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-c", str(REPO / "requirements" / "serving.lock"),
                    str(wheel)], check=True, capture_output=True)
    for forbidden in ("torch", "sentence_transformers", "mlflow", "sklearn", "evidently"):
        probe = subprocess.run([str(py), "-c", f"import {forbidden}"], capture_output=True)
        assert probe.returncode != 0, f"{forbidden} is importable in the serving profile"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "TRIAGE_HOME": str(tmp_path / "home"), "TRIAGE_MODEL_DIR": str(model_dir)}
    triage = py.parent / "triage"
    created = subprocess.run([str(triage), "keys", "create", "--role", "workflow_engine"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    auth = {"Authorization": f"Bearer {created.stdout.strip().splitlines()[-1]}"}
    proc = subprocess.Popen([str(triage), "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                             "warning"], env=env, cwd=tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "server exited"
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "not ready in 60 s"
            time.sleep(0.2)
        body = json.loads((REPO / "examples" / "score-request.json").read_text())
        resp = httpx.post(f"{base}/v1/returns/score", json=body,
                          headers={**auth, "Idempotency-Key": "serving-profile"}, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["reason"]["code"] == "DAMAGED_IN_TRANSIT"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
