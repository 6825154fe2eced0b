# homecrew — two commands: `make install`, then `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: install test lint lock bench-venv

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

# The LiteLLM proxy for bench/gateway.py, in a venv of its own (not the CI lock, not .venv):
# the `bench` extra's pin from pyproject.toml. Then: .venv/bin/python bench/gateway.py
# --litellm-python .venv-bench/bin/python
BENCH_VENV ?= .venv-bench
bench-venv:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", \
	    "rb"))["project"]["optional-dependencies"]["bench"], sep="\n")' > $(BENCH_VENV)/bench.txt
	$(BENCH_VENV)/bin/python -m pip install --quiet -r $(BENCH_VENV)/bench.txt
