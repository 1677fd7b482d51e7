# splitrx — one Makefile for everything a user runs. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-splitrx
# Parallel pytest workers (the machine has 2 cores).
JOBS ?= 2
# Extra pytest arguments, e.g. make test ARGS='-k pcie'.
ARGS ?=
# make sim WAVES=1 asks tb.sim for an FST trace. WAVES stays out of the recipes' environment:
# cocotb's runner reads WAVES itself and would add tracing to builds cached as untraced.
unexport WAVES

.PHONY: help sim test test-long lint regs clean clean-venv toolchain waves bench guest-deps \
	guest-image synth ci

help:
	@echo "make sim        run the default scenario and print a report (sets up .venv first)"
	@echo "                WAVES=1: also write an FST trace (build/sim/last-sim/dump.fst)"
	@echo "                SCENARIO=two-guests-host|hostile|jumbo-mergeable|fuzz|one-guest-full|"
	@echo "                         split-xsk|four-guests-host"
	@echo "                PCAP=in.pcap replays a capture; PCAP_OUT=dir per-owner captures"
	@echo "                DUMP=dir guest RAM images + manifest.json; SIM_ARGS='--frames N'"
	@echo "                GUEST=linux: a real Linux guest in QEMU (make guest-deps guest-image"
	@echo "                first), GUEST_MAC=02:00:00:00:00:01 its MAC; PLACEMENT=split-hole,"
	@echo "                MRG=0 (no mergeable buffers), MTU=9000, CSUM=1 (GUEST_CSUM),"
	@echo "                GUESTS=2 (a second guest and the host's queue) (docs/guest.md)"
	@echo "make guest-deps Debian packages for the real Linux guest: qemu-system-x86, busybox-static,"
	@echo "                cpio (needs root; quick when installed)"
	@echo "make guest-image  the guest's kernel, virtio modules, initramfs in build/guest (docs/guest.md)"
	@echo "make waves      open the last WAVES=1 trace in GTKWave, signals grouped per stage"
	@echo "make test       pytest: pure-Python tests and cocotb/Verilator tests"
	@echo "make test-long  also the long scenarios marked 'slow'"
	@echo "make bench      line rate per size and mode, latency, PCIe requests, simulator speed:"
	@echo "                report + plots in build/bench (docs/bench.md); QUICK=1: a subset"
	@echo "make lint       verilator --lint-only -Wall per module, strict slang elaboration, ruff, mypy"
	@echo "make synth      UltraScale+ synthesis per module and of the whole design: resources,"
	@echo "                logic levels, worst paths; fails over synth/budget.json (docs/synth.md)"
	@echo "make ci         everything CI runs: guest-deps, guest-image, lint, synth, test (the"
	@echo "                real-guest test required)"
	@echo "make regs       regenerate register block, Python offsets, SV packages, C headers, docs"
	@echo "make clean      remove build/ (simulator builds and runs)"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "splitrx: $(PYTHON) not found; install Python 3.11+"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e .
	@touch $@

toolchain: $(STAMP)
	@$(PY) -m tb.runner.build

sim: toolchain
	$(PY) -m tb.sim $(if $(filter-out 0,$(WAVES)),--waves) $(if $(SCENARIO),--scenario $(SCENARIO)) \
		$(if $(GUEST),--guest $(GUEST)) $(if $(GUEST_MAC),--guest-mac $(GUEST_MAC)) \
		$(if $(PLACEMENT),--placement $(PLACEMENT)) $(if $(filter 0 off no,$(MRG)),--no-mergeable) \
		$(if $(MTU),--mtu $(MTU)) $(if $(filter-out 0,$(CSUM)),--guest-csum) \
		$(if $(filter 2,$(GUESTS)),--second-guest) \
		$(if $(PCAP),--pcap $(PCAP)) $(if $(PCAP_OUT),--pcap-out $(PCAP_OUT)) \
		$(if $(DUMP),--dump $(DUMP)) $(SIM_ARGS)

guest-deps:
	@$(PYTHON) -m tools.guest_image --deps

guest-image:
	@$(PYTHON) -m tools.guest_image

waves: $(STAMP)
	@$(PY) -m tools.waves

bench: toolchain
	$(PY) -m tb.bench $(if $(filter-out 0,$(QUICK)),--quick) $(BENCH_ARGS)

test: toolchain
	$(PY) -m pytest -n $(JOBS) -m "not slow" $(ARGS)

test-long: toolchain
	$(PY) -m pytest -n $(JOBS) $(ARGS)

lint: toolchain
	$(PY) -m tools.lint

synth: $(STAMP)
	$(PY) -m tools.synth $(SYNTH_ARGS)

# What CI runs (.ci/run): the real guest's packages and image, lint (fast), synthesis and its
# budgets, then the tests, where the real-guest test must run (skipping it is a failure).
ci: guest-deps guest-image lint synth
	SPLITRX_REQUIRE_GUEST=1 $(MAKE) test

regs: $(STAMP)
	$(PY) -m tools.gen

clean:
	rm -rf build

clean-venv:
	rm -rf $(VENV)
