// Shared pieces of the chaos scenarios: restarting a lab host's OVS daemons by PID, snapshots of
// a lab host's container ports (to prove none was recreated), the tunnel bridge's flows and OVS
// interfaces to compare before/after, and the summary line each scenario prints.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LabHost } from '../lab/lab';
import type { Plugin } from '../harness/plugin';

const pidOf = (h: LabHost, daemon: string): number => Number(fs.readFileSync(path.join(h.dir, `${daemon}.pid`), 'utf8').trim());

/** kill -9 of a lab host's ovs-vswitchd or ovsdb-server (its own, never the system's). */
export async function killOvsDaemon(h: LabHost, daemon: 'ovs-vswitchd' | 'ovsdb-server'): Promise<void> {
  const pid = pidOf(h, daemon);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100; i++) {
    try { process.kill(pid, 0); } catch { return; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${daemon} ${pid} did not die`);
}

/** Starts the daemon again exactly as test/lab/lab.sh does. */
export async function startOvsDaemon(h: LabHost, daemon: 'ovs-vswitchd' | 'ovsdb-server'): Promise<void> {
  const d = h.dir;
  const env = Object.entries(h.ovsEnv).map(([k, v]) => `${k}=${v}`);
  const common = [`--pidfile=${d}/${daemon}.pid`, `--unixctl=${d}/${daemon}.ctl`, `--log-file=${d}/${daemon}.log`, '-vconsole:off', '-vfile:info', '--detach', '--no-chdir'];
  const args = daemon === 'ovs-vswitchd'
    ? [`unix:${d}/db.sock`, '--disable-system', ...common]
    : [`${d}/conf.db`, `--remote=punix:${d}/db.sock`, '--remote=db:Open_vSwitch,Open_vSwitch,manager_options', ...common];
  await h.execOk('env', [...env, daemon, ...args]);
}

/** Container-side ports (veths) with their ofport and kernel ifindex. */
export async function containerPorts(h: LabHost): Promise<Map<string, string>> {
  const out = await h.vsctl('--format=csv', '--no-headings', '--columns=name,type,ofport,ifindex', 'list', 'Interface');
  const m = new Map<string, string>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [name, type, ofport, ifindex] = line.split(',').map((s) => s.replace(/"/g, ''));
    if (type === '' && !name.startsWith('br-') && name !== 'eth0') m.set(name, `${ofport}/${ifindex}`);
  }
  return m;
}

/** Every Interface row: more after healing than before is a leak. */
export async function interfaceNames(h: LabHost): Promise<string[]> {
  // Not the warm port pool's free ports: the daemon adds those in the background by design.
  const pool = new Set((await h.vsctl('--bare', '--columns=name', 'find', 'Interface', 'external_ids:ocn-owner-type=pool')).split(/\s+/).filter(Boolean));
  return (await h.vsctl('--format=csv', '--no-headings', '--columns=name', 'list', 'Interface')).split('\n').filter((n) => n && !pool.has(n)).sort();
}

/** Ports whose ofport or ifindex changed (or vanished): recreated by someone. */
export function recreated(before: Map<string, string>, after: Map<string, string>): string[] {
  return [...before].filter(([n, v]) => after.get(n) !== v).map(([n, v]) => `${n} ${v} -> ${after.get(n) ?? 'gone'}`);
}

/** dump-flows without counters and ages, sorted: comparable before/after. */
export function normalFlows(dump: string): string[] {
  return dump.split('\n').filter((l) => l.includes('actions='))
    .map((l) => l.replace(/\s*(cookie|duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]*,?/g, '').trim()).sort();
}

export async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await check()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${ms} ms`);
}

/** The scenario's line for the table; `more` (e.g. fleet.ts healthFigures) is appended. */
export function chaosLine(scenario: string, f: { healMs: number | string; leaks: number | string; duplicateIps?: number; recreatedPorts: number | string }, more = ''): void {
  console.log(`# chaos | ${scenario} | time to heal ${typeof f.healMs === 'number' ? `${f.healMs} ms` : f.healMs} | leaks ${f.leaks} | duplicate IPs ${f.duplicateIps ?? 0} | recreated ports ${f.recreatedPorts}${more ? ` | ${more}` : ''}`);
}

/** A request that must fail while a component is down: its answer time and error text. */
export async function failingCall(p: Plugin, method: string, body: unknown): Promise<{ ms: number; err: string }> {
  const t0 = Date.now();
  const r = await p.call<{ Err?: string }>(method, body, { timeoutMs: 60_000 });
  if (r.status === 200) throw new Error(`${method} succeeded while it should have failed`);
  return { ms: Date.now() - t0, err: r.body.Err ?? JSON.stringify(r.body) };
}

/** Retries fn (which throws until the component is back) and returns how long that took. */
export async function untilWorks<T>(what: string, ms: number, fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < ms) {
    try {
      return { ms: Date.now() - t0, value: await fn() };
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`${what}: not within ${ms} ms (last: ${String(last)})`);
}
