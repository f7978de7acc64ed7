# The README's two commands are `make run` and `make test`.
SHELL := /bin/bash
NODE_TEST := node --test --test-reporter=spec
ARGS ?=

.PHONY: run build setup test test-unit test-integration test-e2e test-chaos bench bench-multihost clean model

setup:
	./scripts/setup.sh

build:
	npx tsc -p tsconfig.json

run: setup
	exec ./bin/ovs-container-network daemon $(ARGS)

# The whole suite, group by group (scripts/test.sh): unit tests first (seconds), then real
# OVS/netlink, then end to end under a real dockerd, the lab, packaging and swarm.
test:
	OCN_TEST_DEPS=1 ./scripts/setup.sh
	./scripts/test.sh

test-unit: build
	$(NODE_TEST) dist/test/unit/

# The chaos scenarios in full (make test runs them reduced to fit CI's time), with their table.
test-chaos: build
	OCN_CHAOS_FULL=1 ./scripts/test.sh chaos

bench: build
	node dist/bench/run.js

# Only the cross-host data path section of the suite (OVN Geneve/VXLAN, plain overlays; the lab).
bench-multihost: build
	node dist/bench/run.js --only multihost

clean:
	rm -rf dist

# The typed row model from the installed schemas (checked in; a unit test says when it is stale).
VSWITCH_SCHEMA ?= /usr/share/openvswitch/vswitch.ovsschema
OVN_NB_SCHEMA ?= /usr/share/ovn/ovn-nb.ovsschema
model: build
	node dist/scripts/gen-ovsdb-model.js $(VSWITCH_SCHEMA) src/model/vswitch.ts
	node dist/scripts/gen-ovsdb-model.js $(OVN_NB_SCHEMA) src/model/ovn-nb.ts

# ---------------------------------------------------------------- packaging
# Managed (v2) plugin: plugin/build/{config.json,rootfs/} then `docker plugin create`.
#   make plugin [PLUGIN_NAME=ovs-container-network] [DOCKER_HOST=unix:///path/docker.sock]
#               [ROOTFS_FROM=host|dockerfile]
PLUGIN_NAME ?= ovs-container-network
ROOTFS_FROM ?= host
# Host install of the legacy-socket daemon as a systemd service (DESTDIR for staged installs).
PREFIX ?= /usr/local
DESTDIR ?=
SYSTEMD_UNIT_DIR ?= /etc/systemd/system

.PHONY: plugin install uninstall

plugin: build
	PLUGIN_NAME='$(PLUGIN_NAME)' ROOTFS_FROM='$(ROOTFS_FROM)' $(if $(DOCKER_HOST),DOCKER_HOST='$(DOCKER_HOST)') ./plugin/build.sh

install: build
	DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' SYSTEMD_UNIT_DIR='$(SYSTEMD_UNIT_DIR)' ./packaging/install.sh install

uninstall:
	DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' SYSTEMD_UNIT_DIR='$(SYSTEMD_UNIT_DIR)' ./packaging/install.sh uninstall
