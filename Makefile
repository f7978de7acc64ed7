# The README's two commands are `make run` and `make test`.
SHELL := /bin/bash
NODE_TEST := node --test --test-reporter=spec
ARGS ?=

.PHONY: run build setup test test-unit test-integration test-e2e bench clean

setup:
	./scripts/setup.sh

build:
	npx tsc -p tsconfig.json

run: setup
	exec ./bin/ovs-container-network daemon $(ARGS)

# Unit tests first (seconds), then real OVS/netlink, then end to end under a real dockerd.
test:
	OCN_TEST_DEPS=1 ./scripts/setup.sh
	$(NODE_TEST) dist/test/unit/ dist/test/ovsdb/ dist/test/netlink/
	$(NODE_TEST) --test-concurrency=1 dist/test/integration/ dist/test/harness/
	$(NODE_TEST) --test-concurrency=1 dist/test/e2e/
	$(NODE_TEST) --test-concurrency=1 dist/test/lab/ dist/test/multihost/

test-unit: build
	$(NODE_TEST) dist/test/unit/

bench: build
	node dist/bench/run.js

clean:
	rm -rf dist
