# make test: from a fresh machine (Python 3.11, pip, root) to a passing test run.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint install system-deps demo clean

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

demo:
	@echo "make demo is coming (see the demo issue): convert and run work today, see README.md"

clean:
	rm -rf $(VENV) build *.egg-info
