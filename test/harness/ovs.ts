// The system Open vSwitch (the one the plugin talks to in tests): /var/run/openvswitch/db.sock.
import * as fs from 'fs';
import { run, runOk, RunResult } from './exec';

export const OVS_RUNDIR = '/var/run/openvswitch';
export const OVSDB_SOCK = `${OVS_RUNDIR}/db.sock`;
/** The OVSDB remote to hand to the plugin (`--ovsdb`). */
export const OVSDB_REMOTE = `unix:${OVSDB_SOCK}`;
const OVS_CTL = '/usr/share/openvswitch/scripts/ovs-ctl';

async function ovsAnswers(): Promise<boolean> {
  return (await run('ovs-vsctl', ['--timeout=5', 'show'], { timeoutMs: 15_000 })).code === 0;
}

let ensured: Promise<void> | undefined;

/**
 * Makes sure the system OVS answers on its db socket, starting it (ovsdb-server + ovs-vswitchd,
 * userspace datapath only where there is no kernel module) if it does not.
 */
export function ensureSystemOvs(): Promise<void> {
  ensured ??= (async () => {
    if (await ovsAnswers()) return;
    if (!fs.existsSync(OVS_CTL)) throw new Error(`Open vSwitch is not installed (${OVS_CTL} missing): apt-get install openvswitch-switch`);
    const r = await run(OVS_CTL, ['--no-monitor', '--system-id=random', 'start'], { timeoutMs: 120_000 });
    for (let i = 0; i < 50; i++) {
      if (await ovsAnswers()) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    throw new Error(`OVS did not come up (ovs-ctl exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  })();
  ensured.catch(() => (ensured = undefined));
  return ensured;
}

/** `ovs-vsctl --timeout=10 ARGS...` on the system OVS; throws on failure, returns trimmed stdout. */
export async function vsctl(...args: string[]): Promise<string> {
  return (await runOk('ovs-vsctl', ['--timeout=10', ...args], { timeoutMs: 30_000 })).stdout.trim();
}

/**
 * The OVS port of an endpoint, found by its record (a port from the warm pool has a name of its
 * own, not one derived from the endpoint id). `vs` runs ovs-vsctl (default: the system OVS).
 */
export async function endpointPort(endpointId: string, vs: (...args: string[]) => Promise<string> = vsctl): Promise<string> {
  const name = (await vs('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-endpoint=${endpointId}`, 'external_ids:ocn-owner-type=endpoint')).trim();
  if (!name || /\s/.test(name)) throw new Error(`endpoint ${endpointId.slice(0, 12)}: expected one OVS port, found ${JSON.stringify(name)}`);
  return name;
}

/** Like vsctl() but returns the full result instead of throwing. */
export function vsctlRun(...args: string[]): Promise<RunResult> {
  return run('ovs-vsctl', ['--timeout=10', ...args], { timeoutMs: 30_000 });
}

/** True iff the openvswitch kernel module is loaded (else bridges need datapath_type=netdev). */
export function kernelHasOvsModule(): boolean {
  return fs.existsSync('/sys/module/openvswitch');
}

/** The datapath_type bridges must use on this machine. */
export function bridgeDatapathType(): 'system' | 'netdev' {
  return kernelHasOvsModule() ? 'system' : 'netdev';
}
