# poller: `make help` lists the targets.
SHELL := /bin/bash
# Debian's python3 by default: snmpsim and snmpd fixtures must be able to read the venv.
PYTHON ?= $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= config/demo.toml

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create the virtualenv with poller and its test tools

.PHONY: agents
agents: ## install net-snmp's snmpd and tools, and systemd-analyze, when missing (Debian)
	@command -v snmpd >/dev/null && command -v snmpbulkwalk >/dev/null && command -v systemd-analyze >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq snmpd snmp systemd; }

.PHONY: rrd-system
rrd-system: ## install librrd from Debian when missing: librrd-dev, rrdtool, rrdcached, pkg-config
	@{ command -v rrdtool && command -v rrdcached && command -v pkg-config && dpkg -s librrd-dev; } >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librrd-dev rrdtool rrdcached pkg-config; }

.PHONY: history-deps
history-deps: venv rrd-system ## install librrd (Debian) and its Python binding (.[history]) into the venv
	@$(PY) -c 'import rrdtool' 2>/dev/null || $(PY) -m pip install -q -e '.[test,history]'

.PHONY: web-deps
web-deps: history-deps ## install what `poller web` and its browser tests need: Debian chromium, .[web,history]
	@command -v chromium >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@$(PY) -c 'import aiohttp, pygal, rrdtool' 2>/dev/null || $(PY) -m pip install -q -e '.[test,web,history]'

.PHONY: run
run: venv web-deps ## poll a simulated fleet on 127.0.0.1 (snmpsim + config/demo.toml) with history and `poller web`; Ctrl-C stops
	$(PY) -m tools.demo --config $(CONFIG)

.PHONY: lint
lint: venv ## ruff check and mypy --strict on poller and tools, with pyproject.toml's settings
	$(VENV)/bin/ruff check poller tests tools
	$(VENV)/bin/mypy poller tools

$(VENV)/.cluster-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test,cluster]'
	touch $@

.PHONY: cluster-deps
cluster-deps: $(VENV)/.cluster-installed ## install redis-server (Debian) when missing, and the cluster extra (redis)
	@command -v redis-server >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

.PHONY: bench-cluster
bench-cluster: venv agents cluster-deps ## three hosts on one Redis: takeover over repeated kills, Redis cost at 10,000 devices (CLUSTER_*)
	$(PY) -m tools.bench.cluster

.PHONY: test
test: venv agents history-deps web-deps cluster-deps lint ## lint, then the whole test suite (installs what it needs: snmpd, librrd, rrdcached, chromium, redis)
	$(PY) -m pytest -q tests/unit tests/integration

.PHONY: check
check: venv ## validate $(CONFIG) and summarize it
	$(VENV)/bin/poller check --config $(CONFIG)

.PHONY: mib-table
mib-table: venv ## regenerate poller/mib/standard.json (the offline standard-MIB names) from its sources
	$(PY) tools/mibgen/gen_mib_table.py

$(VENV)/.bench-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

.PHONY: bench-tools
bench-tools: agents $(VENV)/.bench-installed ## install the benchmark's peers: snmp_exporter (Debian), gufo_snmp, aiosnmp (PyPI)
	@command -v prometheus-snmp-exporter >/dev/null || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-snmp-exporter; }

.PHONY: bench
bench: bench-peers bench-usm bench-scale ## the whole benchmark: peers, SNMPv3 cost, 100/1,000/10,000 devices (~35 min)

.PHONY: bench-peers
bench-peers: venv bench-tools ## CPU per varbind: the daemon vs snmp_exporter, snmpbulkwalk, gufo_snmp... (BENCH_DEVICES, BENCH_SECONDS)
	$(PY) -m tools.bench.run

.PHONY: bench-workers
bench-workers: venv agents ## benchmark: the same fleet with workers = 1 and 2 (BENCH_ROUNDS, BENCH_HEAVY=400/4)
	$(PY) -m tools.bench.workers

.PHONY: bench-usm
bench-usm: venv agents ## CPU per varbind of SNMPv3 (authNoPriv, authPriv) next to v2c, same snmpd and walk
	$(PY) -m tools.bench.v3_cost

.PHONY: bench-scale
bench-scale: venv agents ## 100, 1,000 and 10,000 simulated devices (SCALE_SIZES, SCALE_SECONDS; ~20 min)
	$(PY) -m tools.bench.scale

.PHONY: bench-history
bench-history: venv agents web-deps ## history's cost: writer CPU per row, daemon CPU on vs off, 1,000 devices x 50 rows, page times (HISTORY_*)
	$(PY) -m tools.bench.history

.PHONY: soak
soak: venv agents ## soak: SOAK_DEVICES (2,000) healthy+hostile devices for SOAK_SECONDS (1,800) under loss, SIGHUPs, a SIGKILL, output faults (root)
	@command -v nft >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables; }
	$(PY) -m tools.soak

PREFIX ?= /opt/poller
CONFDIR ?= /etc/poller
UNITDIR ?= /etc/systemd/system

.PHONY: install
install: rrd-system ## install into $(PREFIX) (its own venv, with history and web), the units, a `poller` user, an example config if none
	$(PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/pip install -q --upgrade pip
	$(PREFIX)/bin/pip install -q '.[history,web]'
	install -D -m 644 systemd/poller.service $(UNITDIR)/poller.service
	install -D -m 644 systemd/poller-web.service $(UNITDIR)/poller-web.service
	install -D -m 644 README.md $(PREFIX)/README.md
	install -D -m 644 -t $(PREFIX)/docs docs/*.md
	id -u poller >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin poller
	test -e $(CONFDIR)/poller.toml || install -D -m 640 -g poller config/poller.example.toml $(CONFDIR)/poller.toml
	@echo "installed; edit $(CONFDIR)/poller.toml, then: systemctl daemon-reload && systemctl enable --now poller"
	@echo "graphs ([history] in the file): systemctl enable --now poller-web (docs/history.md)"

.PHONY: clean
clean: ## remove the venv, demo records and benchmark output
	rm -rf $(VENV) var bench-out .pytest_cache
