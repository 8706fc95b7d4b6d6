# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install the kit, run its main job on the embedded default data
#   make test   install if needed, run the whole test suite
# Real course data: point DLCI_DATA at a folder holding BSDS300/ and MNIST/ (see README).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.dlci-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-hub lint bench clean

$(STAMP): pyproject.toml $(wildcard autograder/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[hub]' $(if $(wildcard autograder/pyproject.toml),-e ./autograder)
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/dlci demo --out demo_output

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-hub: install
	$(PY) -m pytest -m hub $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m bench

clean:
	rm -rf $(VENV) demo_output .pytest_cache
