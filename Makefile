# Every install and run step of the project lives here; docker/ and .ci/run call these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    ?= shipper/samples/exim_mainlog

.PHONY: install run test lint bench clean opensearch opensearch-stop

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## A self-contained runtime for a server or an image: the package (not editable) and its dependencies,
## no dev tools, in a venv at $(RUNTIME), with the data folders beside it in $(RUNTIME)/share/exim-shipper/,
## where the package looks for them (EXIM_SHIPPER_TEMPLATES / EXIM_SHIPPER_SAVED_OBJECTS override).
## docker/Dockerfile runs exactly this.
RUNTIME ?= /opt/exim-shipper
.PHONY: install-runtime
install-runtime:
	$(PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/pip install --quiet --no-cache-dir --upgrade pip
	$(RUNTIME)/bin/pip install --quiet --no-cache-dir .
	rm -rf $(RUNTIME)/share/exim-shipper
	mkdir -p $(RUNTIME)/share/exim-shipper
	cp -R index_templates $(RUNTIME)/share/exim-shipper/index_templates
	cp -R kibana $(RUNTIME)/share/exim-shipper/kibana

## The main job: ship a log (default: the bundled sample) into OpenSearch: EXIM_SHIPPER_OPENSEARCH_URL if set,
## else a local single-node OpenSearch started here (fetched from Maven Central on first use).
run: install
	@url="$${EXIM_SHIPPER_OPENSEARCH_URL:-$$($(BIN)/python tools/local_opensearch.py start)}" && \
	echo "shipping $(LOG) into $$url" && \
	$(BIN)/exim-shipper setup --opensearch-url "$$url" && \
	$(BIN)/exim-shipper backfill $(LOG) --opensearch-url "$$url"

## A local OpenSearch on 127.0.0.1:9200 for development (stop it with `make opensearch-stop`).
opensearch:
	$(PYTHON) tools/local_opensearch.py start

opensearch-stop:
	$(PYTHON) tools/local_opensearch.py stop

test: install lint
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check shipper tests bench tools
	$(BIN)/ruff format --check shipper tests bench tools
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/parse_speed.py
	$(BIN)/python bench/pipeline_speed.py
	$(BIN)/python bench/ship_speed.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out
