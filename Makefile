# Two entry points for a new user; both set the environment up first (idempotent).
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: setup demo test test-fast data clean-demo
setup:
	@bash tools/setup_env.sh

# Train the demo detector on the embedded data, evaluate it, draw predictions and curves.
demo: setup
	$(PY) tools/demo.py

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS)

# Unit tests only (no end-to-end training runs).
test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

data: setup
	$(PY) tools/misc/generate_data.py all
