# homecrew — two commands: `make install`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install test lint lock

install:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .

lint:
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports  # the layers and no-cycle contracts in pyproject.toml

test: lint
	$(BIN)/pytest

# Re-pin after changing pyproject.toml dependencies (needs `pip install uv`).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --universal \
	    --python-version 3.11 -o requirements.lock
