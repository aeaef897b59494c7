# `make run` and `make test` set everything up on a fresh clone, then do their job.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3

.PHONY: run test lint format bench qemu-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/sis check

test: $(STAMP)
	@scripts/test-deps
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Debian packages for driving a real Linux kernel under QEMU, and Prometheus (server and
# promtool) for the metrics tests (needs root).
qemu-deps:
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends qemu-system-x86 linux-image-amd64 busybox-static prometheus

clean:
	rm -rf $(VENV) build dist .pytest_cache
