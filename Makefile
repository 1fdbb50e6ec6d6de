# Every install and run step of the project lives here; docker/ and .ci/run call these targets.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOG    ?= shipper/samples/exim_mainlog

.PHONY: install run test lint bench clean opensearch opensearch-stop native native-test

# The editable install builds the native module too (maturin, the root build backend, puts
# shipper/_native.abi3.so beside the package), so its sources are the stamp's too: after a change to any of
# them the next target reinstalls (cargo rebuilds what changed) and no test runs a stale module.
NATIVE_SRC := native/Cargo.toml native/Cargo.lock \
	$(shell find native/binding native/exim-log -path '*/target' -prune -o -type f -print 2>/dev/null) \
	$(wildcard shipper/exim/data/*.json)

$(STAMP): pyproject.toml $(NATIVE_SRC)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	CARGO_BUILD_JOBS=$(CARGO_JOBS) $(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## A self-contained runtime for a server or an image: the package (not editable, its index templates and
## saved objects inside it as package data) and its dependencies, no dev tools, in a venv at $(RUNTIME).
## It installs a built wheel (`make wheel`, here or on a build machine: dist/), so the server needs no Rust;
## by default the one in dist/ for this machine's architecture, or WHEEL=path. docker/Dockerfile runs this.
RUNTIME ?= /opt/exim-shipper
WHEEL   ?= $(wildcard dist/exim_shipper-*_$(shell uname -m).whl)
.PHONY: install-runtime wheel
install-runtime:
	$(if $(filter 1,$(words $(WHEEL))),,$(error install-runtime: want one wheel, found "$(WHEEL)": \
		run make wheel, or give WHEEL=path))
	$(PYTHON) -m venv $(RUNTIME)
	$(RUNTIME)/bin/pip install --quiet --no-cache-dir --upgrade pip
	$(RUNTIME)/bin/pip install --quiet --no-cache-dir $(WHEEL)

## The release wheel for servers without Rust, the native module inside, into dist/: manylinux2014 (glibc
## 2.17 or later, every distribution with a Python 3.11), linked by zig (pip's ziglang) against that glibc
## whatever this machine's is; maturin checks the module's symbols against the tag. Its own venv and cargo
## target directory, so neither the dev install nor its build cache is touched.
## WHEEL_TARGET=aarch64-unknown-linux-gnu cross-builds the aarch64 wheel (with that target's std from
## `rustup target add`); WHEEL_COMPAT=manylinux_2_28 a wheel for glibc 2.28 and later. docs/deploy.md.
WHEEL_VENV   ?= .venv-wheel
WHEEL_COMPAT ?= manylinux2014
WHEEL_TARGET ?=
wheel:
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install --quiet 'maturin>=1.9,<2' 'ziglang==0.17.1'
	PATH="$(abspath $(WHEEL_VENV))/bin:$$PATH" CARGO_BUILD_JOBS=$(CARGO_JOBS) CARGO_TARGET_DIR=native/target/wheel \
		maturin build --release --zig --compatibility $(WHEEL_COMPAT) \
		$(if $(WHEEL_TARGET),--target $(WHEEL_TARGET)) --out dist

## The main job: ship a log (default: the bundled sample) into OpenSearch: EXIM_SHIPPER_OPENSEARCH_URL if set,
## else a local single-node OpenSearch started here (fetched from Maven Central on first use). The launcher's
## stdout is only the URL (Maven's output goes to stderr); setup installs the templates the shippers need.
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

## The crate is checked first; the install built its module, so the tests comparing it with the Python path run.
test: install lint native-test
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check shipper tests bench tools
	$(BIN)/ruff format --check shipper tests bench tools
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/parse_speed.py
	$(BIN)/python bench/backfill_vs_bulk.py
	$(BIN)/python bench/tail_latency.py

## The native core (native/, Rust) is built by the install above; `make native` is that step alone.
CARGO_JOBS ?= 1
# rustup finds its toolchains under $$HOME/.rustup: with HOME pointed at an empty directory (a fresh-machine
# check, a sandboxed account) fall back to the account's own home, as Java does for user.home. Crates still
# download into the empty $$HOME/.cargo. Exported, so pip's build of the package finds them as cargo does.
ifeq ($(RUSTUP_HOME),)
ifeq ($(wildcard $(HOME)/.rustup/toolchains/*),)
ACCOUNT_RUSTUP := $(shell getent passwd "$$(id -u)" | cut -d: -f6)/.rustup
ifneq ($(wildcard $(ACCOUNT_RUSTUP)/toolchains/*),)
export RUSTUP_HOME := $(ACCOUNT_RUSTUP)
endif
endif
endif
native: $(STAMP)

## The crate's own checks: format, clippy with warnings as errors, cargo test (unit, Python-equality, proptest).
native-test:
	cd native && cargo fmt --all --check
	cd native && CARGO_BUILD_JOBS=$(CARGO_JOBS) cargo clippy --all-targets -- -D warnings
	cd native && CARGO_BUILD_JOBS=$(CARGO_JOBS) cargo test

clean:
	rm -rf $(VENV) $(WHEEL_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis bench/out shipper/_native.abi3.so
