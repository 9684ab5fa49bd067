# The two commands of the README:  `make reports`  (the main job)  and  `make test`.
# Each creates .venv when missing, installs the pinned requirements and sigkit into it,
# registers the Jupyter kernel "sigkit" inside the venv, then runs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.sigkit-installed

DATA    ?=
PROFILE ?= default
RUN     ?=
PARAMS  ?=
REUSE   ?=
PYTEST_ARGS ?=
# make test spreads the test files over this many processes (pytest-xdist); 1 runs them in one
TEST_WORKERS ?= 2

# The real corpora: the folder SIGKIT_DATA names, else shared/data beside this checkout when it
# exists (the tests, benchmarks and `make pretrained` look there; sigkit itself assumes no place).
SIGKIT_DATA ?= $(wildcard $(abspath $(CURDIR)/../shared/data))
ifneq ($(SIGKIT_DATA),)
export SIGKIT_DATA
endif

.PHONY: reports test test-fast venv bench clean-reports pretrained

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name sigkit --display-name "Python (sigkit)" >/dev/null
	touch $(STAMP)

reports: $(STAMP)
	$(PY) -m sigkit.reports --profile "$(PROFILE)" $(if $(DATA),--data "$(DATA)") $(if $(RUN),--run "$(RUN)") $(if $(PARAMS),--params "$(PARAMS)") $(if $(REUSE),--reuse)

test: $(STAMP)
	$(PY) -m ruff check sigkit tests bench
	$(PY) -m ruff format --check sigkit tests bench
	$(PY) -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# the inner loop: the lint and every test not marked slow (no training, no notebooks, no subprocesses)
test-fast: $(STAMP)
	$(PY) -m ruff check sigkit tests bench
	$(PY) -m pytest -m "not slow" -q $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) $(PYTEST_ARGS)

# the shipped tower again, from the corpora DATA names (comma-separated; never the transfer test set)
pretrained: $(STAMP)
	$(PY) -m sigkit.shipped.build --data "$(DATA)"

bench: $(STAMP)
	$(PY) bench/preprocess.py
