# The two commands a new user needs (see README.md):
#   make pipeline   install into .venv and run the whole DVC pipeline
#   make test       install into .venv and run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Stage commands call `python`: put the venv first so they get its packages.
export PATH := $(abspath $(BIN)):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: install pipeline test lint demo

$(BIN)/dvc: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

install: $(BIN)/dvc

pipeline: install
	$(BIN)/dvc repro

test: install
	$(BIN)/ruff check stages tests
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check stages tests
