# Two commands do all the set-up on a fresh machine (see README):
#   make run    -> virtual environment, dependencies, then the granularity ablation on a local Ray
#   make test   -> virtual environment, dependencies (+ LaTeX tools when root), then the tests
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
SCRIPT ?= experiments/granularity_ablation.py
PYTEST_ARGS ?=

.PHONY: install run smoke test test-slow system-deps lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: a bare `torch` lets pip fetch a multi-GB CUDA build;
	# on the project's CPU machines this exact release is a local CPU wheel.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python $(SCRIPT) $(ARGS)

smoke: $(STAMP)
	$(BIN)/python $(SCRIPT) --smoke-test $(ARGS)

# pdflatex (booktabs, siunitx) and pdftoppm, for the tests that compile tables.
system-deps:
	@if command -v pdflatex >/dev/null && command -v pdftoppm >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    texlive-latex-base texlive-latex-recommended texlive-science poppler-utils >/dev/null; \
	else echo "note: pdflatex/pdftoppm missing and not root: LaTeX compile tests will skip (they fail on CI)"; fi

test: $(STAMP) system-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The tests marked slow (cluster-level Ray runs, many-table calibrations): not in CI's
# `make test`; run them before closing an issue that touches what they cover.
test-slow: $(STAMP) system-deps
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
