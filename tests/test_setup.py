"""The set-up's promises, kept in one place each: supported Python, complete constraints, torch's CPU build."""
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from kit import cli
from kit.paths import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_supported_python_is_said_the_same_everywhere(capsys, monkeypatch):
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Python 3.11 or newer" in readme and "3.10" not in readme
    monkeypatch.setattr(sys, "version_info", (3, 10, 14))
    code = cli.main(["doctor"])
    monkeypatch.undo()
    out = capsys.readouterr().out
    assert re.search(r"^python .*✗ .*3\.11", out, re.M) and code == 1, out


def _pins(path):
    pins = {}
    for line in (ROOT / path).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.split(";")[0].strip()
    return pins


def test_constraints_pin_everything_the_kit_needs_for_every_supported_python():
    """pip resolves fast only when constraints.txt pins the whole graph (a stale or missing pin made pip 26
    backtrack into CUDA builds of torch until 'resolution-too-deep'), with versions that install on every
    Python that requires-python allows (soupsieve 4.1.2 needs 3.11.5, Debian 12 ships 3.11.2)."""
    pins = _pins("constraints.txt")
    models = set(_pins("requirements-models.txt"))
    oldest = Version(PYPROJECT["project"]["requires-python"].removeprefix(">=") + ".0")
    todo, seen, problems = [("ml-trends-kit", ("dev",))], set(), []
    while todo:
        name, extras = todo.pop()
        key = (canonicalize_name(name), extras)
        if key in seen or key[0] in models:
            continue
        seen.add(key)
        dist = importlib.metadata.distribution(name)
        if key[0] not in ("ml-trends-kit", "torch"):
            if pins.get(key[0]) is None:
                problems.append(f"{name} is not pinned in constraints.txt")
            elif pins[key[0]] != dist.version:
                problems.append(f"{name} {dist.version} installed, {pins[key[0]]} pinned (run make setup)")
            needs = dist.metadata.get("Requires-Python")
            if needs and oldest not in SpecifierSet(needs):
                problems.append(f"{name} {dist.version} needs Python {needs}, but requires-python allows {oldest}")
        if key[0] == "torch":
            continue  # its CUDA libraries are the build's business (TORCH_INDEX in the Makefile)
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras or ("",)):
                todo.append((req.name, tuple(sorted(req.extras))))
    assert not problems, "\n".join(problems)


def _dry_setup(tmp_path, path_dirs=(), **make_vars):
    """The commands `make setup` would run, with pip replaced by echo (nothing is installed)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    if not (venv / "bin" / "python").exists():
        (venv / "bin" / "python").symlink_to(sys.executable)
    env = dict(os.environ, PATH=os.pathsep.join([*map(str, path_dirs), os.environ["PATH"]]))
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TORCH_INDEX"):
        env.pop(var, None)
    args = [f"{k}={v}" for k, v in {"VENV": venv, "PIP": "echo PIP", "PYTHON": sys.executable, **make_vars}.items()]
    out = subprocess.run(["make", "--no-print-directory", "-B", str(venv / ".kit-installed"), *args], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith(("PIP", "torch:"))]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_setup_upgrades_pip_and_takes_torch_from_the_cpu_index_without_an_nvidia_gpu(tmp_path):
    http = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0", "-d", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = re.search(r"port (\d+)", http.stdout.readline()).group(1)
        reachable = f"http://127.0.0.1:{port}"
        lines = _dry_setup(tmp_path, TORCH_INDEX=reachable)
        assert lines[0] == "PIP install -q --upgrade pip", lines  # first, before anything resolves
        assert f"PIP install -q --index-url {reachable} torch==2.13.0" in lines
        assert any("-c constraints.txt -e .[dev] torch==2.13.0" in line for line in lines)
    finally:
        http.terminate()
        http.wait()
    start = time.monotonic()  # an index that cannot be reached: plain index, at once
    lines = _dry_setup(tmp_path, TORCH_INDEX="http://127.0.0.1:9")
    assert time.monotonic() - start < 30
    assert any(line.startswith("torch: http://127.0.0.1:9 is unreachable") for line in lines)
    assert "PIP install -q torch==2.13.0" in lines


@pytest.mark.skipif(shutil.which("make") is None or sys.platform != "linux", reason="GNU make on Linux")
def test_the_cpu_index_is_the_default_on_linux_unless_nvidia_smi_is_there(tmp_path):
    default = subprocess.run(["make", "-s", "-f", "Makefile", "-f", "-", "show"], cwd=ROOT, capture_output=True,
                             text=True, input="show:\n\t@echo $(TORCH_INDEX)\n", env=_no_make_env()).stdout.strip()
    gpu_bin = tmp_path / "gpu-bin"
    gpu_bin.mkdir()
    (gpu_bin / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (gpu_bin / "nvidia-smi").chmod(0o755)
    env = _no_make_env()
    env["PATH"] = f"{gpu_bin}{os.pathsep}{env['PATH']}"
    with_gpu = subprocess.run(["make", "-s", "-f", "Makefile", "-f", "-", "show"], cwd=ROOT, capture_output=True,
                              text=True, input="show:\n\t@echo $(TORCH_INDEX)\n", env=env).stdout.strip()
    if shutil.which("nvidia-smi"):
        assert default == ""
    else:
        assert default == "https://download.pytorch.org/whl/cpu"
    assert with_gpu == ""


def _no_make_env():
    env = dict(os.environ)
    for var in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TORCH_INDEX"):
        env.pop(var, None)
    return env
