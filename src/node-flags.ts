// Node/V8 flags the daemon runs with, wherever it is started: bin/ovs-container-network's
// shebang, the systemd unit, the managed plugin's Entrypoint (config.json, Dockerfile) and the
// test harness. test/unit/node-flags.test.ts keeps those in step with this list.
//
// --max-semi-space-size=1: V8's young generation may otherwise grow to 2 x 16 MB during a burst
// of container starts and stay committed. Capped at 1 MB it stays small: idle RSS 62 MB instead
// of 62 or 72 MB (which of the two depended on the start-up's GC timing), 1,000 endpoints 78 MB
// instead of 108-131 MB (both with the idle collection of util/idle-gc.ts). The cost is more
// frequent scavenges: attach throughput at 100 in flight 154-165/s against 152-181/s.
//
// Not --no-opt / --no-sparkplug (V8's interpreter only): they saved 5-6 MB of idle RSS, but made
// CreateNetwork 2.3-2.5x slower (L2 p50 20-22 ms against 8-9 ms, same machine, alternating runs:
// decoding the root row's updates is JavaScript, not native code).
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1'];
