# The two commands: `make run` starts the demo gateway, `make test` type-checks, then runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers: the tests mostly wait (ptys, HTTP, child processes), so more of them than cores
TEST_WORKERS ?= 4

# the demo's port and data directory: a second demo beside the first is `make run PORT=8081 VAR=var2`
PORT ?= 8080
VAR ?= var

.PHONY: run test install install-test translations dist deb clean

# `make run` needs the gateway only; `make test` adds the test tools (Playwright, schemathesis, Gammu's peers)
$(BIN)/smsgw: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.test-deps: $(BIN)/smsgw
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/smsgw

install-test: $(VENV)/.test-deps

run: install
	$(BIN)/smsgw demo --port $(PORT) --var $(VAR)

# Bytecode is cached (__pycache__/, ignored by git) even where PYTHONDONTWRITEBYTECODE is set: every worker, and every
# `smsgw` a test starts, would otherwise compile the gateway and rewrite the tests again (3.5 s of CPU a worker).
test: install-test
	$(BIN)/mypy
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal

# the pages' message catalogues (web/i18n.py): gather every text into messages.pot, add the new ones to each
# language's messages.po (translate them there: tests/web/test_i18n.py fails on any left empty), compile the .mo files
translations: install-test
	$(BIN)/pybabel extract -F babel.cfg -k _l -k said -o web/translations/messages.pot --no-location --sort-output \
		--omit-header --no-wrap .
	$(BIN)/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching \
		--no-wrap --ignore-obsolete
	$(BIN)/pybabel compile -d web/translations --statistics

# the release's sdist and wheel under dist/ (`pip install dist/smsgw-*.whl` then `smsgw demo`)
dist: install
	$(BIN)/pip install --quiet build
	$(BIN)/python -m build --outdir dist . >/dev/null
	@ls dist

# the Debian package under dist/: smsgw_<version>_<ARCH>.deb (amd64 or arm64), every dependency inside as a wheel
# for that architecture, so `apt install ./dist/smsgw_*.deb` needs no network (docs/install.md). Needs dpkg-deb.
ARCH ?= amd64
deb: install
	$(BIN)/python systemd/deb/build.py --arch $(ARCH) --out dist

clean:
	rm -rf $(VENV) var dist build .pytest_cache .mypy_cache
