# Every install and run step of the project lives here; docker/ and .ci/run call these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    ?= shipper/samples/exim_mainlog

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job. Until shipping lands it parses a log (default: the bundled sample) into JSON events.
run: install
	$(BIN)/exim-shipper parse $(LOG) > /dev/null

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check shipper tests bench tools
	$(BIN)/ruff format --check shipper tests bench tools
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/parse_speed.py
	$(BIN)/python bench/pipeline_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out
