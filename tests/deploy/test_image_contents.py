"""What the image installs works without the source tree.

No container engine here, so this does what the Dockerfile's build stage does, minus Docker:
copy exactly the paths the Dockerfile COPYs, build the wheel `pip install .` would install,
unpack it away from the repository and run the inferload commands the deployments run from it
(the dependencies come from the project venv).  A package or data file missing from pyproject's
packages, or a path missing from the Dockerfile's COPY lines, fails here."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.deploy.support import ROOT


def _copied_paths() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    build_stage = re.split(r"^FROM ", text, flags=re.M)[1]
    paths: list[str] = []
    for line in re.findall(r"^COPY (?!--from)(.+)$", build_stage, re.M):
        paths += line.split()[:-1]
    return paths


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ctx = tmp_path_factory.mktemp("context")
    for rel in _copied_paths():
        src = ROOT / rel
        assert src.exists(), f"Dockerfile copies {rel}, which does not exist"
        if src.is_dir():
            shutil.copytree(src, ctx / rel, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, ctx / rel)
    wheels = tmp_path_factory.mktemp("wheels")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "--disable-pip-version-check", "-w", str(wheels), str(ctx)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    (wheel,) = wheels.glob("inferload-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    return site


def _run(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    return subprocess.run([sys.executable, "-c", "import sys; from loadgen.cli import main; sys.exit(main())", *args],
                          cwd=site.parent, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_every_source_package_is_in_the_image(installed: Path) -> None:
    for init in ROOT.glob("*/__init__.py"):
        pkg = init.parent.name
        if pkg in ("tests", "bench", "k8s"):
            continue
        assert (installed / pkg / "__init__.py").is_file(), f"package {pkg} is not installed in the image"


def test_the_commands_the_deployments_run_work_from_the_installed_code(installed: Path) -> None:
    out = _run(installed, "validate", str(ROOT / "examples" / "compose.yaml"))
    assert out.returncode == 0, out.stderr
    for cmd in (["run", "--help"], ["worker", "--help"], ["sim", "--help"], ["collect", "gpu", "--help"],
                ["collect", "server", "--help"], ["deploy-env", "--help"]):
        out = _run(installed, *cmd)
        assert out.returncode == 0, f"{cmd}: {out.stderr}"
    assert _run(installed, "--version").returncode == 0


def test_the_probe_really_imports_the_installed_copy(installed: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(installed), "PYTHONSAFEPATH": "1"}
    out = subprocess.run([sys.executable, "-c", "import loadgen, gpusim, collectors, userinput, dashboards; "
                          "print(*(m.__file__ for m in (loadgen, gpusim, collectors, userinput, dashboards)))"],
                         cwd=installed.parent, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    for f in out.stdout.split():
        assert Path(f).resolve().is_relative_to(installed.resolve()), f
