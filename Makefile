# Two commands set everything up on a fresh machine: `make train` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install train test test-fast lint format clean bench

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes or the venv is missing.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e '.[dev]'
	touch $(STAMP)

train: install
	$(VENV)/bin/cyclegan-train $(ARGS)
	@echo "The commands (cyclegan-train, -eval, -translate, -export, -data) are in $(VENV)/bin:"
	@echo "  source $(VENV)/bin/activate   puts them on your PATH in this shell,"
	@echo "  or call them by path:         $(VENV)/bin/cyclegan-train --help"

# The whole suite, as CI runs it (about 16 minutes on 2 cores); it ends with the 20 slowest tests,
# so the log shows where the time goes.
test: install
	$(PY) -m pytest --durations=20 $(PYTEST_ARGS)

# Everything but the tests marked slow (CLI subprocesses, DDP, the notebook): about 90 s.
test-fast: install
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# CPU speed of a training step (fp32 vs what trainer=fast can pick on this CPU: bf16-mixed where
# it has bf16 instructions, compile, channels_last) appended to benchmarks/RESULTS.md with the top
# operators, each configuration's losses checked against fp32's in the same run (WRONG when they
# do not track): 10-15 minutes on 2 cores; run it on a quiet machine.
bench: install
	bash benchmarks/run_cpu_bench.sh

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
