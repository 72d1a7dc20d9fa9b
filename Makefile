# The two commands a newcomer needs: `make demo` and `make test`. Each creates .venv if missing
# and installs the pinned, tested dependency set (constraints.txt).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_WORKERS ?= 2

.PHONY: demo demo-full test test-all bench bench-venv install clean

$(STAMP): setup.cfg pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev,mujoco]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m jaxrl_suite demo

# The larger demo (three learners, three datasets, the whole default suite; ~10 min).
demo-full: $(STAMP)
	$(BIN)/python -m jaxrl_suite demo --scale=full

PYTEST := $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

# The fast tier (~10 min on 2 cores): every unit test, NumPy reference, error path and plumbing
# test, without the tests marked `slow` (learns-tests at paper defaults, suite builds, the tiny
# studies, MJX-vs-gymnasium agreement; tests/conftest.py says why each is slow).
test: $(STAMP)
	$(PYTEST) -m "not slow" tests

# Every test (~60 min on 2 cores); CI runs this (.ci/run).
test-all: $(STAMP)
	$(PYTEST) tests

# CPU benches (each prints its own table; BUILD_NOTES.md records them). The d3rlpy peer runs
# only when the separate bench venv exists (`make bench-venv`).
bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/transforms_scale.py
	$(BIN)/python bench/collect_throughput.py

# Peer suites in their own venv: torch's CPU build first (a bare `torch` pulls a CUDA build).
bench-venv:
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	.venv-bench/bin/python -m pip install -q torch==2.13.0
	.venv-bench/bin/python -m pip install -q -c bench/constraints-peer.txt d3rlpy mujoco ImageIO

clean:
	rm -rf $(VENV) .venv-bench *.egg-info .pytest_cache
