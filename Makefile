# `make run` and `make test` set everything up on a fresh clone, then do their job.
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PYTHON  ?= python3

LOCK    := requirements.lock
# The container image: `make image` builds it with ENGINE (podman, or docker) FROM BASE (named
# in full: podman refuses a short name it would have to guess the registry of).
ENGINE  ?= podman
BASE    ?= docker.io/library/debian:bookworm
IMAGE   ?= localhost/sis
TAG     ?= latest
ARCHES  ?= amd64 arm64
# Wheels carry the last commit's time, so two builds of one commit are byte-identical.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)

.PHONY: run test lint format bench qemu-deps clean selftest selftest-linux soak fuzz install lock docs \
	workflows-check container-test wheel image image-push image-manifest

# Exactly the locked versions (every file checked against its hash): the runtime, test and
# dask dependencies; then SIS itself, editable, built by the locked hatchling.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r $(LOCK)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock from pyproject.toml's ranges (newest versions that fit), in a venv of its own
# so pip-tools never lands in .venv. Commit the result.
lock:
	$(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" build/lock-venv/bin/pip-compile --quiet --upgrade \
	  --generate-hashes --strip-extras --extra test --extra dask --no-emit-find-links \
	  --no-emit-index-url --output-file $(LOCK) pyproject.toml

run: $(STAMP)
	$(VENV)/bin/sis check

test: $(STAMP)
	@scripts/test-deps
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/pytest
	@if command -v buildah >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  $(MAKE) --no-print-directory container-test; \
	else echo "make test: container test skipped (needs root and buildah: sudo make qemu-deps)"; fi

# The wheel in dist/, built from this checkout (its commit recorded, see hatch_build.py).
wheel: $(STAMP)
	rm -rf dist
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(VENV)/bin/hatchling build -t wheel -d dist

# The image: Debian, QEMU, SIS from the lock file and the wheel, the built-in images baked in.
image: wheel
	$(ENGINE) build --build-arg BASE=$(BASE) -f Containerfile -t $(IMAGE):$(TAG) .

# Push IMAGE:TAG (REGISTRY_USER and REGISTRY_PASSWORD log in to IMAGE's registry when set).
image-push:
	@if [ -n "$${REGISTRY_USER:-}" ]; then printf '%s' "$$REGISTRY_PASSWORD" | \
	  $(ENGINE) login --username "$$REGISTRY_USER" --password-stdin $(firstword $(subst /, ,$(IMAGE))); fi
	$(ENGINE) push $(IMAGE):$(TAG)

# One multi-arch IMAGE:TAG from the pushed IMAGE:TAG-ARCH of each of ARCHES (podman).
image-manifest:
	@if [ -n "$${REGISTRY_USER:-}" ]; then printf '%s' "$$REGISTRY_PASSWORD" | \
	  podman login --username "$$REGISTRY_USER" --password-stdin $(firstword $(subst /, ,$(IMAGE))); fi
	podman manifest create $(IMAGE):$(TAG)
	for arch in $(ARCHES); do podman manifest add $(IMAGE):$(TAG) docker://$(IMAGE):$(TAG)-$$arch; done
	podman manifest push --all $(IMAGE):$(TAG) docker://$(IMAGE):$(TAG)

# The documentation, built the way the docs test builds it (site in build/site).
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir build/site

# The workflows and compose.yaml against their schemas, and the workflows' security audit,
# all offline (the tests in tests/unit/test_workflows.py run the same).
workflows-check: $(STAMP)
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml
	$(VENV)/bin/check-jsonschema --builtin-schema vendor.compose-spec compose.yaml
	$(VENV)/bin/zizmor --offline --no-progress .github/workflows

# Build the container from a Debian base made here (debootstrap, no registry) and run
# `sis check` on the reference kernel and on linux-busybox inside it (needs root and buildah;
# ~3 minutes and ~1.2 GB of disk on a first run).
container-test: $(STAMP)
	SIS_CONTAINER_TEST=1 $(VENV)/bin/pytest -p no:cacheprovider -q tests/container

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: $(STAMP)
	$(VENV)/bin/ruff format src tests benchmarks

# Every readiness job against the clean reference kernel and each planted bug: the detection
# matrix (exit 0 only when every bug is caught by the job meant for it, with no false alarm).
selftest: $(STAMP)
	$(VENV)/bin/sis selftest --out sis-out/selftest

# The same for a real Linux guest (needs `sis image build linux-busybox`): the crash-point
# experiment and a power cut against the clean guest, ext4 mounted nobarrier, and a workload
# that acknowledges before its fsync returns. 6 cells, 40-60 s on 2 busy cores under TCG.
selftest-linux: $(STAMP)
	$(VENV)/bin/sis selftest --target linux-busybox --out sis-out/selftest-linux

# A 10-minute soak of the reference kernel (report in sis-out/soak/soak-report.html).
soak: $(STAMP)
	$(VENV)/bin/sis soak --duration 10m --interval 5s --out sis-out/soak

bench: $(STAMP)
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b; done

# Debian packages for driving real Linux kernels under QEMU (x86_64, aarch64 from
# qemu-system-arm, riscv64 from qemu-system-misc), U-Boot for the firmware-shell example,
# what builds arm64/riscv64 images from Debian's packages (dpkg-deb, depmod: dpkg, kmod), and
# Prometheus (server and promtool) for the metrics tests, buildah, podman, debootstrap and runc
# for the container test, strace and iproute2 for the Dask cluster tests (a loopback-only
# network namespace, its sockets traced) (needs root).
qemu-deps:
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends qemu-system-x86 qemu-system-arm qemu-system-misc e2fsprogs u-boot-qemu linux-image-amd64 linux-headers-amd64 gcc make gcc-12-aarch64-linux-gnu libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-riscv64-linux-gnu libc6-dev-riscv64-cross busybox-static kmod dpkg prometheus buildah podman debootstrap runc strace iproute2

clean:
	rm -rf $(VENV) build dist .pytest_cache

# Five minutes of syscall fuzzing of the reference kernel: corpus, crashes, stats in sis-out/fuzz.
fuzz: $(STAMP)
	$(VENV)/bin/sis fuzz --target sis --duration 300 --out sis-out/fuzz
