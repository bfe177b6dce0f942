# Two commands matter on a fresh machine (see README):
#   make up    set everything up and run the local platform in the foreground
#   make test  set everything up and run every check and test
# Everything else here is a step of those two.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
BUF := node_modules/.bin/buf
PY := .venv/bin/python
BIN := .venv/bin
export UV_PYTHON := python3.11
export UV_LINK_MODE := copy
# The project's pinned Node (the npm package `node`, see package.json) and its tools come first for
# every recipe: jsii (CDK synth in the tests), the cdk CLI and the IAM simulator run on it, not the machine's.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup lock up test lint proto proto-check buf typecheck pytest fuzz bench bench-burst bench-govsync bench-lake bench-edge bench-cpu capacity bundle clean

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# requirements.lock pins every package with hashes and names no index (uv.lock would record the
# registry's addresses, so it stays local and untracked). `make lock` refreshes it after a pyproject change.
.venv/.synced: $(UV) requirements.lock
	test -x .venv/bin/python || $(UV) venv --quiet .venv
	$(UV) pip sync --quiet --python .venv/bin/python requirements.lock
	touch $@

# After requirements.lock, each service's own lock (services/<name>/requirements.lock): its dependency
# closure at the root lock's versions and hashes, the root lock minus its -e lines being the constraints.
# The workspace packages are installed from source, so they are resolved locally and not pinned.
# --no-annotate: the annotations would name the constraints' temporary file.
lock: $(UV)
	$(UV) pip compile --quiet requirements.in --generate-hashes --python-version 3.11 --no-header -o requirements.lock
	for project in services/*/pyproject.toml; do \
	  $(UV) pip compile --quiet $$project build-requirements.in -c <(grep -v '^-e ' requirements.lock) --generate-hashes \
	    --python-version 3.11 --no-annotate --custom-compile-command 'make lock' \
	    --no-emit-package luca-proto --no-emit-package luca-kernel --no-emit-package luca-platform \
	    -o $$(dirname $$project)/requirements.lock; \
	done

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: .venv/.synced node_modules/.installed

up: setup
	$(BIN)/luca up

proto: setup
	$(PY) scripts/gen_proto.py

proto-check: setup
	$(PY) scripts/gen_proto.py --check

buf: setup
	cd proto && ../$(BUF) lint
	cd proto && ../$(BUF) format --diff --exit-code
	BUF=$(CURDIR)/$(BUF) scripts/buf_breaking.sh .

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: setup
	$(BIN)/mypy libs/kernel/src libs/platform/src libs/testing/src services/grading/src services/ingest/src services/govsync/src services/analytics/src services/edge/src infra/src scripts bench

pytest: setup
	$(BIN)/pytest

test: setup proto-check buf lint typecheck pytest

# Schemathesis through the local gateway as every caller, all checks, many cases (prints the count).
fuzz: setup
	$(PY) -m bench.fuzz --max-examples 40

bench: setup
	$(PY) -m bench.interactive

# The burst path twice: three schools whose recesses overlap by a quarter (bench/out/burst.*), then
# 50 schools' recess at once (bench/out/burst-50.*), each against its naive baseline.
bench-burst: setup
	$(PY) -m bench.burst
	$(PY) -m bench.burst --schools 50 --overlap 1 --students 60 --name burst-50
	$(PY) -m bench.burst_cpu

bench-govsync: setup
	$(PY) -m bench.govsync

bench-lake: setup
	$(PY) -m bench.lake

bench-edge: setup
	$(PY) -m bench.authorizer

# The grading service's requests/s per vCPU (pinned to one core, fake store, telemetry on, RS256
# tokens), printed beside the bare framework serving the same routes.
bench-cpu: setup
	$(PY) -m bench.capacity.cpu --baseline

# Capacity and cost: measure every path on the local platform (bench/out/capacity-measured.json),
# then model the three shipped scenarios (bench/out/capacity.json and capacity.png).
capacity: setup
	$(PY) -m bench.capacity all

# The Lambda zips the CDK app deploys as they are, one per service: the grade processor
# (dist/ingest-lambda.zip), the government sync's functions (dist/govsync-lambda.zip) and the lake's
# enrichment function (dist/analytics-lambda.zip), each at the versions its service's lock pins.
bundle: setup
	$(PY) -m luca_infra.bundle ingest govsync analytics

clean:
	rm -rf .venv $(TOOLS) node_modules infra/cdk.out .luca bench/out dist
