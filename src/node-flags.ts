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
// --no-opt --no-sparkplug: V8 runs the daemon's code in its interpreter only, without its baseline
// (Sparkplug) or optimizing (TurboFan) compiler. The daemon's time goes to the kernel, OVSDB and
// JSON (native code), so the compilers bought nothing measurable: daemon CPU per attach+detach
// 9.8-10.1 ms against 11.1 ms with them (same run, interleaved). What they cost is memory: the
// compiled code, and the compilers' own pages of the node binary that a process touches once it
// uses them. Idle RSS 55-56 MB instead of 61-62 MB; 74 MB instead of 84 MB after 165 attaches.
export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--no-opt', '--no-sparkplug'];
