# make test: from a fresh machine (Python 3.11, pip, root) to a passing test run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint install system-deps demo demo-bundle evaluate evaluate-nab evaluate-machines clean soak fuzz \
	test-aarch64

# Mosquitto and RabbitMQ (Debian's packages) for the tests that talk to a real broker; the tests start private
# instances of both on loopback ports (the packages' own services are not needed).
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || ls /usr/sbin/mosquitto 2>/dev/null)
RABBITMQ := $(shell ls /usr/lib/rabbitmq/bin/rabbitmq-server /usr/sbin/rabbitmq-server 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SYSTEM_PACKAGES := $(if $(MOSQUITTO),,mosquitto) $(if $(RABBITMQ),,rabbitmq-server)

system-deps:
ifneq ($(strip $(SYSTEM_PACKAGES)),)
	@echo "installing $(strip $(SYSTEM_PACKAGES)) (apt)..."
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(SYSTEM_PACKAGES)
endif

# $(call venv_install,EXTRAS,STAMP): the venv with this package (editable) and EXTRAS installed.
define venv_install
	@echo "installing edge-lstm with [$(1)] into $(VENV) (pip; a minute or two the first time)..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(1)]'
	touch $(2)
endef

TEST_EXTRAS := convert,litert,cuda,dev,demo,amqp
$(STAMP): pyproject.toml
	$(call venv_install,$(TEST_EXTRAS),$(STAMP))

install: $(STAMP)

test: system-deps $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .

# The compiled kernels on aarch64 (a Pi 5's Cortex-A76) under qemu-user: Debian's arm64 Python and the aarch64 wheels
# of this venv's NumPy and Numba in build/aarch64 (tools/aarch64_env.sh; root and the package registries), then
# tests/runtime/test_aarch64.py (skipped by `make test` where this has not been built). About 3 minutes.
AARCH64 ?= build/aarch64
test-aarch64: $(STAMP)
	sh tools/aarch64_env.sh $(AARCH64) $(PY)
	EDGE_LSTM_AARCH64=$(AARCH64) $(PY) -m pytest -q tests/runtime/test_aarch64.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The headline evaluation (docs/evaluation.md): every labelled set in ../shared/data (nab-dev, smap, ucr-dev), each
# trained from scratch on the rows its protocol allows (probation.json, else NAB's first 15%, at most 750 rows),
# converted and replayed through numba-int8 and numba-f32 with the daemon's defaults, for three seeds; one table in
# $(EVALUATE_OUT)/table.md. About 15 minutes on 2 cores.
EVALUATE_OUT ?= build/evaluate
EVALUATE_SETS ?= nab-dev,smap,ucr-dev
EVALUATE_SEEDS ?= 0,1,2
evaluate: $(STAMP)
	$(PY) tools/evaluate_sets.py --sets $(EVALUATE_SETS) --seeds $(EVALUATE_SEEDS) --out $(EVALUATE_OUT)

# One set, one seed, with the plots: NAB's development files by default.
NAB ?= ../shared/data/nab-dev
NAB_OUT ?= build/nab
NAB_SEED ?= 0
evaluate-nab: $(STAMP)
	$(VENV)/bin/edge-lstm train $(NAB) --out $(NAB_OUT)/nab.keras --head probation --standardise --difference --quiet \
		--seed $(NAB_SEED)
	$(VENV)/bin/edge-lstm convert $(NAB_OUT)/nab.keras --out $(NAB_OUT)/bundle --force --quiet \
		--check numpy,numba-f32,numba-int8
	$(VENV)/bin/edge-lstm evaluate $(NAB) --windows $(NAB)/combined_windows.json --bundle $(NAB_OUT)/bundle \
		--out $(NAB_OUT)/numba-int8 --backend numba-int8 --standardise probation

# The simulated machines (docs/evaluation.md, "Simulated machines"): each scenario exported with its exact
# labels, replayed through the demo's bundle with the load channel named; summaries in $(MACHINES_OUT)/*/results.
MACHINES ?= pump-cavitation sensor-faults bearing-wear
MACHINES_OUT ?= build/machines
evaluate-machines: $(STAMP)
	for s in $(MACHINES); do \
		$(VENV)/bin/edge-lstm sim export $$s --out $(MACHINES_OUT)/$$s/data && \
		$(VENV)/bin/edge-lstm evaluate $(MACHINES_OUT)/$$s/data --windows $(MACHINES_OUT)/$$s/data/labels.json \
			--bundle edge_lstm/demo/bundle --out $(MACHINES_OUT)/$$s/results \
			--set context=motor_current --no-plots --quiet || exit 1; \
	done
	$(PY) tools/machines_summary.py $(foreach s,$(MACHINES),$(MACHINES_OUT)/$(s)/results/summary.json)

# make demo: no TensorFlow, no apt: the runtime, the simulator and the demo extra (amqtt, rich, matplotlib).
DEMO_STAMP := $(VENV)/.demo-installed
DEMO_ARGS ?=
$(DEMO_STAMP): pyproject.toml
	$(call venv_install,demo,$(DEMO_STAMP))

demo: $(DEMO_STAMP)
	$(VENV)/bin/edge-lstm demo $(DEMO_ARGS)

# The demo's pretrained bundle (edge_lstm/demo/bundle), reproducibly: healthy simulated machines ->
# train (each stream scaled by its first 120 samples, as the demo serves it; the budget it was built with) -> convert.
DEMO_BUILD ?= build/demo
demo-bundle: $(STAMP)
	$(VENV)/bin/edge-lstm sim export demo-train --out $(DEMO_BUILD)/train
	$(VENV)/bin/edge-lstm train $(DEMO_BUILD)/train --out $(DEMO_BUILD)/model.keras --standardise 120 --difference --quiet \
		--epochs 50 --max-sequences 1000
	$(VENV)/bin/edge-lstm convert $(DEMO_BUILD)/model.keras --out edge_lstm/demo/bundle --force --quiet \
		--check numpy,numba-f32,numba-int8

clean:
	rm -rf $(VENV) build *.egg-info

# The soak (docs/benchmarks.md, "Soak"): the daemon for SOAK_MINUTES under steady traffic with malformed
# payloads mixed in; its RSS over time in build/soak/soak.json.
SOAK_MINUTES ?= 60
soak: $(STAMP) system-deps
	$(PY) benchmarks/soak.py --minutes $(SOAK_MINUTES) --out build/soak

# The structure-aware fuzz (tests/serve/test_fuzz.py) at full size: FUZZ_EXAMPLES cases in all, shared among the
# properties (payloads 60%, a worker pass 20%, configuration 10%, topics 10%); CI runs 300.
FUZZ_EXAMPLES ?= 1000000
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -q tests/serve/test_fuzz.py --hypothesis-show-statistics
