# funnelkit: every target sets up .venv itself, so a fresh clone needs only
# Python >= 3.11, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help venv report test test-fast docs lint typecheck format lab sample bench clean

help:
	@echo "make report   render the weekly report on the bundled sample into reports/"
	@echo "make test     run the whole test suite (unit, property, notebook, CLI, browser)"
	@echo "make lab      open JupyterLab on notebooks/"
	@echo "make docs     build the documentation site into site/ (strict, offline)"
	@echo "make lint | typecheck | format | sample | bench | clean"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	$(BIN)/python -m ipykernel install --prefix $(VENV) --name python3 >/dev/null
	touch $(STAMP)

venv: $(STAMP)

report: $(STAMP)
	$(BIN)/funnelkit report --events data/sample/events.csv --contacts data/sample/contacts.csv --out reports

test: $(STAMP)
	$(BIN)/python -m tests.setup_browser
	$(BIN)/python -m tests.setup_java
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)
	$(BIN)/python -m pytest --nbval-lax notebooks/ -p no:randomly $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow and not browser" $(PYTEST_ARGS)

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check funnelkit tests benchmarks
	$(BIN)/ruff format --check funnelkit tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format funnelkit tests benchmarks
	$(BIN)/ruff check --fix funnelkit tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

sample: $(STAMP)
	$(BIN)/funnelkit sample --out data/sample --contacts 5000 --seed 7

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_classify.py
	$(BIN)/python benchmarks/bench_funnel.py
	$(BIN)/python benchmarks/bench_user_path.py

clean:
	rm -rf $(VENV) reports site build/docs-notebooks build/mkdocs-jupyter .pytest_cache .mypy_cache .ruff_cache
