# The two commands: `make run` starts the demo gateway, `make test` type-checks, then runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers: the tests mostly wait (ptys, HTTP, child processes), so more of them than cores
TEST_WORKERS ?= 4

.PHONY: run test install clean

$(BIN)/smsgw: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/smsgw

run: install
	$(BIN)/smsgw demo

# Bytecode is cached (__pycache__/, ignored by git) even where PYTHONDONTWRITEBYTECODE is set: every worker, and every
# `smsgw` a test starts, would otherwise compile the gateway and rewrite the tests again (3.5 s of CPU a worker).
test: install
	$(BIN)/mypy
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache
