# make test: from a fresh machine (Python 3.11, pip, root) to a passing test run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint install system-deps demo evaluate-nab clean

# Mosquitto (Debian's package) for the tests that talk to a real broker.
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || ls /usr/sbin/mosquitto 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:
ifeq ($(MOSQUITTO),)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq mosquitto
endif

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[convert,litert,cuda,dev]'
	touch $(STAMP)

install: $(STAMP)

test: system-deps $(STAMP)
	$(PY) -m pytest -q
	$(VENV)/bin/ruff check .

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The headline NAB evaluation (docs/evaluation.md), from scratch: learn from the first 15% of each file only.
NAB ?= ../shared/data/nab-dev
NAB_OUT ?= build/nab
evaluate-nab: $(STAMP)
	$(VENV)/bin/edge-lstm train $(NAB) --out $(NAB_OUT)/nab.keras --head 0.15 --standardise --quiet
	$(PY) bench/nab_calibration.py $(NAB) $(NAB_OUT)/calibration.csv
	$(VENV)/bin/edge-lstm convert $(NAB_OUT)/nab.keras --calibration $(NAB_OUT)/calibration.csv \
		--out $(NAB_OUT)/bundle --force --quiet --check numpy,numba-f32,numba-int8
	$(VENV)/bin/edge-lstm evaluate $(NAB) --windows $(NAB)/combined_windows.json --bundle $(NAB_OUT)/bundle \
		--out $(NAB_OUT)/numba-int8 --backend numba-int8
	$(VENV)/bin/edge-lstm evaluate $(NAB) --windows $(NAB)/combined_windows.json --bundle $(NAB_OUT)/bundle \
		--out $(NAB_OUT)/numba-f32 --backend numba-f32 --no-plots

demo:
	@echo "make demo is coming (see the demo issue): convert and run work today, see README.md"

clean:
	rm -rf $(VENV) build *.egg-info
