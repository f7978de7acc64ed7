// Shared pieces of the packaging tests: the managed (v2) plugin as a private dockerd runs it
// (its PID, its socket, its log lines), free subnets on a shared machine, progress notes.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Dockerd } from '../harness/dockerd';
import { isAlive, procCmdline, run } from '../harness/exec';
import { repoRoot } from '../harness/paths';
import { progressNote, seconds, timed } from '../harness/progress';

export const note = progressNote('packaging');
export const sec = (ms: number) => seconds(ms, 2);
export { timed };

export const REPO = () => repoRoot();
export const rand = (n = 3) => crypto.randomBytes(n).toString('hex');

// ---------------------------------------------------------------- managed plugin on a dockerd

/** Where dockerd (20.10, Linux) puts every managed plugin's socket dir: fixed, not below --exec-root. */
export const PLUGIN_EXEC_ROOT = '/run/docker/plugins';

/** config.json as committed (the manifest `make plugin` copies). */
export interface PluginConfig {
  Entrypoint: string[];
  Interface: { Types: string[]; Socket: string };
  Network: { Type: string };
  Linux: { Capabilities: string[] };
  Mounts: { Name: string; Source: string; Destination: string; Type: string; Options: string[]; Settable: string[] }[];
  Env: { Name: string; Value: string | null; Settable: string[] }[];
  Args: { Name: string; Value: string[]; Settable: string[] };
}

export function readConfigJson(): PluginConfig {
  return JSON.parse(fs.readFileSync(path.join(repoRoot(), 'config.json'), 'utf8')) as PluginConfig;
}

/** The host-side socket dockerd dials: /run/docker/plugins/<id>/<Interface.Socket>. */
export function hostSocket(id: string, socket: string): string {
  return path.join(PLUGIN_EXEC_ROOT, id, socket);
}

/**
 * PID (in the root PID namespace) of a running managed plugin: containerd's task dir of the
 * `plugins.moby` namespace has init.pid; runc's state.json as a fallback. undefined when it is
 * not running.
 */
export function pluginPid(d: Dockerd, id: string): number | undefined {
  const candidates: (() => number)[] = [
    () => Number(fs.readFileSync(path.join(d.execRoot, 'containerd', 'daemon', 'io.containerd.runtime.v2.task', 'plugins.moby', id, 'init.pid'), 'utf8').trim()),
    () => (JSON.parse(fs.readFileSync(path.join(d.execRoot, 'runtime-runc', 'plugins.moby', id, 'state.json'), 'utf8')) as { init_process_pid: number }).init_process_pid,
  ];
  for (const c of candidates) {
    try {
      const pid = c();
      if (pid > 0 && isAlive(pid) && procCmdline(pid).some((a) => a.endsWith('plugin-entrypoint.js'))) return pid;
    } catch {
      /* not there */
    }
  }
  return undefined;
}

/**
 * The plugin's own log records (pino JSON lines) from the dockerd log, where dockerd copies the
 * plugin's stderr as `level=error msg="<quoted line>" plugin=<id>`. From byte `from` on.
 */
export function pluginLogRecords(d: { logFile: string }, id: string, from = 0): Record<string, unknown>[] {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(d.logFile);
  } catch {
    return [];
  }
  const out: Record<string, unknown>[] = [];
  const re = new RegExp(`msg="((?:[^"\\\\]|\\\\.)*)" plugin=${id}`);
  for (const line of buf.subarray(from).toString('utf8').split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    try {
      const text = JSON.parse(`"${m[1]}"`) as string;
      if (text.startsWith('{')) out.push(JSON.parse(text) as Record<string, unknown>);
    } catch {
      /* not one of our JSON lines */
    }
  }
  return out;
}

export function logSize(d: Dockerd): number {
  try {
    return fs.statSync(d.logFile).size;
  } catch {
    return 0;
  }
}

// ---------------------------------------------------------------- addresses

function ip4ToInt(a: string): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
function overlaps(a: string, b: string): boolean {
  const [na, la] = a.split('/');
  const [nb, lb] = b.split('/');
  const l = Math.min(Number(la ?? 32), Number(lb ?? 32));
  const mask = l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0;
  return ((ip4ToInt(na) & mask) >>> 0) === ((ip4ToInt(nb) & mask) >>> 0);
}

/** `n` /24s in 10.224.0.0/11 that no host route covers (random start: tests run side by side). */
export async function freeSubnets(n: number): Promise<string[]> {
  const r = await run('ip', ['-j', '-4', 'route', 'show', 'table', 'all']);
  const used = (JSON.parse(r.stdout || '[]') as { dst: string }[]).map((x) => x.dst).filter((x) => x && /^\d/.test(x));
  const out: string[] = [];
  const start = crypto.randomInt(0, 8192);
  for (let i = 0; i < 8192 && out.length < n; i++) {
    const k = (start + i) % 8192;
    const c = `10.${224 + (k >> 8)}.${k & 255}.0/24`;
    if (!used.some((u) => overlaps(c, u.includes('/') ? u : `${u}/32`))) out.push(c);
  }
  if (out.length < n) throw new Error('no free /24 in 10.224.0.0/11');
  return out;
}

/** The address with host part `host` in a /24. */
export const addr = (subnet: string, host: number) => subnet.replace(/\.0\/24$/, `.${host}`);

/** This host's source address towards the outside (for DNAT checks), if it has a default route. */
export async function hostAddress(): Promise<string | undefined> {
  const r = await run('ip', ['-j', '-4', 'route', 'get', '192.0.2.123']);
  try {
    return (JSON.parse(r.stdout) as { prefsrc?: string }[])[0]?.prefsrc;
  } catch {
    return undefined;
  }
}

/** When a process started (epoch ms, 10 ms resolution): /proc/<pid>/stat starttime against /proc/uptime. */
export function procStartEpochMs(pid: number): number {
  const now = Date.now();
  const uptimeMs = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from #3 (state) on
  const startTicks = Number(fields[19]); // #22 starttime, in clock ticks (USER_HZ = 100 on Linux)
  return now - (uptimeMs - startTicks * 10);
}
