# Two commands do all set-up on a fresh machine:
#   make demo   create .venv, install the kit, run its main job on the embedded default data
#   make test   install if needed, run the whole test suite
#   make lint   ruff, mypy (strict on starter/ and the grader), the grader's layers (tools/check_layers.py)
# Real course data: point DLCI_DATA at a folder holding BSDS300/ and MNIST/ (see docs/students/README.md).

PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.dlci-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-hub test-paths lint bench clean

$(STAMP): pyproject.toml $(wildcard autograder/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,hub]' $(if $(wildcard autograder/pyproject.toml),-e ./autograder)
	touch $(STAMP)

install: $(STAMP)

# The main job: the imaging demo, then an instructor's grading run on a generated sample class
# (release the notebooks, grade every submission, write grades.csv and feedback, print the table).
DEMO_TASKS ?= task1 task2 task3
# The sample class's two endless loops each cost one cell timeout. `dlci grade` prints the
# slowest cell that ran to its end and the timeout's margin over it: 4.7-5.2 s in CI's demo on
# 2 cores (Task 2's training on the embedded default), so 20 s leaves honest work about 4x that
# (real classes keep the default, 300 s).
DEMO_CELL_TIMEOUT ?= 20
demo: install
	$(VENV)/bin/dlci demo --out demo_output
	$(VENV)/bin/dlci release --check
	$(VENV)/bin/dlci sample-class demo_output/sample_class --tasks $(DEMO_TASKS)
	$(VENV)/bin/dlci grade demo_output/sample_class --course demo_output/course --tasks $(DEMO_TASKS) \
		--cell-timeout $(DEMO_CELL_TIMEOUT) \
		--csv demo_output/grades.csv --expected demo_output/sample_class/expected.csv
	$(VENV)/bin/dlci feedback --course demo_output/course
	$(VENV)/bin/dlci report --course demo_output/course --csv demo_output/grades.csv \
		--out demo_output/report
	$(if $(filter task1,$(DEMO_TASKS)),$(VENV)/bin/dlci regrade test_linear_hidden \
		--course demo_output/course --dry-run --quiet)
	@echo "make demo: figures and tables in demo_output/, grades in demo_output/grades.csv," \
		"the class report in demo_output/report/report.html," \
		"feedback in demo_output/course/feedback/"

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-hub: install
	$(PY) -m pytest -m hub $(PYTEST_ARGS)

# The whole sample class and adversarial suite on every grading path (dlci grade, a loopback Dask
# cluster, the Gradescope zips); `make test` grades the path-dependent part of it (about 17 min
# more on 2 cores than CI can carry: tests/conftest.py, PATHS_SUITE_VAR).
test-paths: install
	DLCI_PATHS_SUITE=full $(PY) -m pytest tests/test_grading_paths.py $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) tools/check_layers.py

# Every benchmark, each writing its section of docs/maintainers/figures.md (the file the docs
# quote figures from): a few hours on 2 cores. One or a few: make bench BENCH_ARGS="grading notebooks";
# the short training run: BENCH_ARGS=--quick.
BENCH_ARGS ?=
bench: install
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo_output .pytest_cache
