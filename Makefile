# `make run` and `make test` set everything up on a fresh clone, then do their job.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3

.PHONY: run test lint format bench qemu-deps clean selftest soak fuzz

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dask]'
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

# Every readiness job against the clean reference kernel and each planted bug: the detection
# matrix (exit 0 only when every bug is caught by the job meant for it, with no false alarm).
selftest: $(STAMP)
	$(VENV)/bin/sis selftest --out sis-out/selftest

# A 10-minute soak of the reference kernel (report in sis-out/soak/soak-report.html).
soak: $(STAMP)
	$(VENV)/bin/sis soak --duration 10m --interval 5s --out sis-out/soak

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Debian packages for driving real Linux kernels under QEMU (x86_64, aarch64 from
# qemu-system-arm, riscv64 from qemu-system-misc), U-Boot for the firmware-shell example,
# what builds arm64/riscv64 images from Debian's packages (dpkg-deb, depmod: dpkg, kmod), and
# Prometheus (server and promtool) for the metrics tests, strace and iproute2 for the Dask
# cluster tests (a loopback-only network namespace, its sockets traced) (needs root).
qemu-deps:
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-system-arm qemu-system-misc u-boot-qemu linux-image-amd64 linux-headers-amd64 gcc make gcc-12-aarch64-linux-gnu libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross busybox-static kmod dpkg prometheus strace iproute2

clean:
	rm -rf $(VENV) build dist .pytest_cache

# Five minutes of syscall fuzzing of the reference kernel: corpus, crashes, stats in sis-out/fuzz.
fuzz: $(STAMP)
	$(VENV)/bin/sis fuzz --target sis --duration 300 --out sis-out/fuzz
