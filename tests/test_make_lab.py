"""`make lab`, the README's first command, as a learner runs it: start it, open the URL it prints, stop it.

The server runs with its own HOME and Jupyter folders on a free port; the test reads the printed link,
checks that its token is the server's (lesson 00 served with HTTP 200, no redirect to a login page)
and that the token is not on any command line (`ps` shows those to every local user), then stops
the whole process group.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kit.paths import ROOT

VENV = Path(sys.prefix)
STAMP = VENV / ".kit-installed"
pytestmark = [
    pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make"),
    pytest.mark.skipif(not (VENV / "bin" / "jupyter").exists(), reason="needs JupyterLab in this venv (make setup)"),
    pytest.mark.skipif(sys.platform == "win32", reason="make lab runs under WSL2 on Windows"),
]
LESSON = "notebooks/00_start_here.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a wrong token redirects to /login: surface that as an HTTPError instead


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.build_opener(_NoRedirect).open(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def _read_url(proc, log: Path, deadline: float) -> str:
    """The link `make lab` prints (its first line with a token), read from its log as it grows."""
    while time.monotonic() < deadline and proc.poll() is None:
        m = re.search(r"(http://\S+token=\S+)", log.read_text())
        if m:
            return m.group(1)
        time.sleep(0.2)
    pytest.fail(f"make lab printed no URL with a token; its output:\n{log.read_text()}")


def _stop(proc) -> None:
    """Stop make, JupyterLab and any kernel: the whole process group, politely first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def test_make_lab_prints_a_url_that_opens_lesson_00(tmp_path):
    port, home = _free_port(), tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), BROWSER="true",  # no browser to open here
               JUPYTER_CONFIG_DIR=str(home / "jcfg"), JUPYTER_DATA_DIR=str(home / "jdata"),
               JUPYTER_RUNTIME_DIR=str(home / "jrun"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), KIT_PROGRESS=str(home / "progress.json"))
    for var in ("TOKEN", "JUPYTER_TOKEN", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        env.pop(var, None)
    # -o: take the installed venv as up to date (make test has just set it up; this tests the lab recipe)
    cmd = ["make", "--no-print-directory", "-o", str(STAMP), "lab", f"VENV={VENV}", f"PORT={port}", "HOST=127.0.0.1"]
    log = tmp_path / "make-lab.log"
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # a file, not a pipe: nobody has to keep draining it
    try:
        url = _read_url(proc, log, time.monotonic() + 60)
        assert url.startswith(f"http://127.0.0.1:{port}/") and LESSON in url, url
        token = url.split("token=", 1)[1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(240):  # JupyterLab takes a few seconds to listen (longer on a busy machine)
            if proc.poll() is not None:
                pytest.fail(f"make lab exited with {proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab never listened on its port")

        status, page = _get(url)
        assert status == 200, f"the printed URL gave HTTP {status}: its token is not the server's"
        assert b"JupyterLab" in page
        status, _ = _get(f"{base}/api/contents/{LESSON}?content=0&token={token}")
        assert status == 200, f"lesson 00 is not served (HTTP {status})"
        status, _ = _get(f"{base}/api/contents/{LESSON}?content=0&token={'0' * len(token)}")
        assert status == 403, "a wrong token should be refused"

        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert token not in ps, "the lab token is on a command line, where every local user can read it"
    finally:
        _stop(proc)
    assert proc.poll() is not None, "make lab did not stop"
