# The README's two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP_TEST := $(VENV)/.installed-test
STAMP_DEMO := $(VENV)/.installed-demo
# The embedded model's runtime, pinned in pyproject.toml's `local` extra.
LLAMA_CPP  := $(shell sed -n 's/^ *"\(llama-cpp-python==[^"]*\)",*$$/\1/p' pyproject.toml | head -n 1)

.PHONY: test demo lint typecheck pytest bench clean llama-cpp chromium

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama-cpp-python ships no wheel for most machines: pip compiles llama.cpp (~5 minutes, once).
# Say so, and let pip show the compiler's progress, instead of a silent --quiet install.
llama-cpp: | $(BIN)/python
	@if ! $(BIN)/python -c 'import llama_cpp' 2>/dev/null; then \
	  echo ""; \
	  echo ">>> Building llama.cpp from source for the embedded model ($(LLAMA_CPP))."; \
	  echo ">>> This happens once and takes about 5 minutes; compiler progress follows."; \
	  echo ""; \
	  $(BIN)/python -m pip install --verbose '$(LLAMA_CPP)' || exit 1; \
	  echo ">>> llama.cpp built."; \
	fi

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(MAKE) --no-print-directory llama-cpp
	$(BIN)/python -m pip install --quiet -e '.[demo,local,dev]'
	touch $@ $(STAMP_DEMO)

$(STAMP_DEMO): pyproject.toml | $(BIN)/python
	$(MAKE) --no-print-directory llama-cpp
	$(BIN)/python -m pip install --quiet -e '.[demo,local]'
	touch $@

# The studio page's browser test drives Debian's chromium (Playwright cannot download its own
# browser). Installed with apt when missing; without root the test says it is skipped.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo ">>> Installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo ">>> chromium could not be installed; the browser test will be skipped"; \
	  else \
	    echo ">>> No /usr/bin/chromium and no root to install it; the browser test will be skipped"; \
	  fi; \
	fi

test: $(STAMP_TEST) chromium
	$(BIN)/ruff check engine demo bench tests
	$(BIN)/ruff format --check engine demo bench tests
	$(BIN)/mypy --strict engine
	$(BIN)/python -m pytest -q

demo: $(STAMP_DEMO)
	$(BIN)/python -m demo $(ARGS)

bench: $(STAMP_TEST)
	for b in bench/*.py; do $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
