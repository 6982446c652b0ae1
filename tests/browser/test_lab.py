"""Lesson 00 in a real browser: JupyterLab in headless Chromium, driven by Playwright.

Starts JupyterLab on 127.0.0.1 with a token and its own HOME, opens lesson 00, runs all cells,
checks that the live training plot appears and that moving the ipywidgets slider changes its
output, saves a screenshot under build/browser/, and stops every process it started.
`make test` and `make browser-test` install Debian's chromium first; without it this test is skipped.
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from kit.paths import BUILD, ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                 reason="needs Debian's chromium: make chromium (apt-get install chromium)")]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    port, token = _free_port(), secrets.token_hex(12)
    home = tmp_path / "home"
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    env = dict(os.environ, HOME=str(home), KIT_PROFILE="smoke", JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), KIT_PROGRESS=str(home / "progress.json"))
    env.pop("KIT_HEADLESS", None)  # the live plot must redraw as a learner would see it
    served = tmp_path / "course"     # a copy, so that JupyterLab's autosave never touches the repository
    shutil.copytree(ROOT / "notebooks", served / "notebooks")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--allow-root",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={served}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"), start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        yield url, token
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)


def _wait_for_idle_kernel(page, seconds: int = 120):
    """Wait until the status bar says the notebook's kernel is up and idle (the toolbar's execution
    indicator says "idle" before any kernel exists, and Run All then only asks which kernel to use)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        dialog = page.get_by_role("dialog").filter(has_text="Select Kernel")
        if dialog.count():
            dialog.get_by_role("button", name="Select", exact=True).click()
        if any("ipykernel" in t and "Idle" in t for t in page.locator(".jp-StatusBar-TextItem").all_text_contents()):
            return
        page.wait_for_timeout(1000)
    status = page.locator(".jp-StatusBar-TextItem").all_text_contents()
    pytest.fail(f"no idle kernel after {seconds} s; status bar: {status}")


def test_lesson00_runs_in_a_real_browser(lab):
    from playwright.sync_api import sync_playwright

    url, token = lab
    shots = BUILD / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{url}/lab/tree/notebooks/00_start_here.ipynb?reset&token={token}")
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
            _wait_for_idle_kernel(page)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            done = page.locator(".jp-OutputArea-output", has_text="✓ lesson 00 claims hold")
            try:
                done.wait_for(state="attached", timeout=900_000)    # off-screen cells count as hidden
            except Exception:
                page.screenshot(path=str(shots / "lesson00-failed.png"))
                raise

            training = page.locator(".jp-CodeCell", has_text="history = train.fit(model")
            assert training.locator(".jp-OutputArea-output img").count() >= 1, "the live training plot is missing"

            widget = page.locator(".jp-CodeCell", has_text="widgets.interactive(")
            widget.scroll_into_view_if_needed()
            widget.locator(".jp-OutputArea-output img").last.wait_for(state="attached", timeout=120_000)
            before = widget.locator(".jp-OutputArea-output img").last.get_attribute("src")
            readout = widget.locator(".widget-readout").last              # the width slider's value box
            readout.click()
            readout.press("Control+A")
            readout.type("24")
            readout.press("Enter")
            page.wait_for_function(
                "([sel, old]) => { const imgs = document.querySelectorAll(sel);"
                " return imgs.length && imgs[imgs.length - 1].src !== old; }",
                arg=[".jp-CodeCell .widget-output img, .jp-CodeCell .jupyter-widgets-output-area img", before],
                timeout=120_000)
            page.screenshot(path=str(shots / "lesson00.png"), full_page=False)

            # The concept diagram: JupyterLab draws the ```mermaid fence as a figure holding the SVG as an image
            # (@jupyterlab/mermaid's makeMermaidFigure); a diagram it cannot parse gets jp-mod-warning instead.
            diagram = page.locator(".jp-MarkdownCell", has_text="The picture")
            diagram.scroll_into_view_if_needed()
            diagram.locator(".jp-RenderedMermaid img[src^='data:image/svg+xml']").first.wait_for(
                state="attached", timeout=60_000)
            assert diagram.locator(".jp-RenderedMermaid.jp-mod-warning").count() == 0, "the Mermaid diagram failed"

            # A quiz question: pick an answer, press Check, and the explanation appears.
            question = page.locator(".jp-CodeCell", has_text='quiz.show("00")').locator(".widget-vbox").nth(1)
            question.scroll_into_view_if_needed()
            question.locator("input[type=radio]").nth(1).check()
            question.get_by_role("button", name="Check").click()
            question.get_by_text("right", exact=False).first.wait_for(timeout=30_000)
            page.screenshot(path=str(shots / "lesson00-quiz.png"), full_page=False)
        finally:
            browser.close()
