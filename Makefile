# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_TEST := $(VENV)/.installed-test
STAMP_DEMO := $(VENV)/.installed-demo

.PHONY: test demo lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo,local,dev]'
	touch $@ $(STAMP_DEMO)

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo,local]'
	touch $@

test: $(STAMP_TEST)
	$(BIN)/ruff check engine demo bench tests
	$(BIN)/mypy engine
	$(BIN)/python -m pytest -q

demo: $(STAMP_DEMO)
	$(BIN)/python -m demo $(ARGS)

bench: $(STAMP_TEST)
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
