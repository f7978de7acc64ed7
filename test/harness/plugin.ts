// The project's plugin daemon as a child process of the test, spoken to over its unix socket
// exactly as dockerd does (POST /<Method>, Accept: application/vnd.docker.plugins.v1.2+json,
// no Content-Type, Content-Length: 0 when there is no body).
import { ChildProcess, execFileSync, spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { atExit, isAlive, signal, sleep, waitDead } from './exec';
import { OVSDB_REMOTE } from './ovs';
import { repoRoot } from './paths';
import { unixRequest } from './unixhttp';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';

export const LEGACY_PLUGIN_DIR = '/run/docker/plugins';

export interface PluginOptions {
  /** Driver name (`docker network create -d <name>`); default ocn-test-<random>. */
  name?: string;
  /** Where the socket goes; dockerd only discovers legacy plugins in /run/docker/plugins. */
  pluginDir?: string;
  /** OVSDB remote (default the system OVS, unix:/var/run/openvswitch/db.sock). */
  ovsdb?: string;
  /** More daemon flags, after the standard ones. */
  args?: string[];
  /** Extra environment for the daemon. */
  env?: Record<string, string>;
  /** How long to wait for Plugin.Activate to answer (default 10 s). */
  activateTimeoutMs?: number;
  /** Log level flag value (default debug). */
  logLevel?: string;
  /** Run this script with node instead of <repo>/bin/ovs-container-network (harness self-tests). */
  bin?: string;
  /** Run the daemon inside this network namespace (`ip netns exec <netns> node ...`); the socket
   *  is a path, so the test (root namespace) still reaches it. Default: the test's namespace. */
  netns?: string;
}

export interface CallResult<T> {
  status: number;
  body: T;
}

export interface Plugin {
  readonly name: string;
  /** <pluginDir>/<name>.sock */
  readonly socket: string;
  /** PID of the current daemon process (changes on restart). */
  readonly pid: number;
  /** ms from spawn to the first answer to Plugin.Activate (of the last start). */
  readonly startupMs: number;
  /** The full argv after `node`. */
  readonly argv: string[];
  /** POST /<method> with a JSON body (none when undefined); the answer's JSON (or raw text if not JSON). */
  call<T = unknown>(method: string, body?: unknown, opts?: { timeoutMs?: number }): Promise<CallResult<T>>;
  alive(): boolean;
  /** SIGTERM and wait for the exit (SIGKILL after timeoutMs, default 10 s). */
  stop(opts?: { timeoutMs?: number }): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL and wait. */
  kill9(): Promise<void>;
  /** stop() if running, start again with the same arguments, wait for Plugin.Activate. */
  restart(): Promise<void>;
  /** Everything it wrote to stdout and stderr (pino JSON lines), across restarts. */
  logs(): string;
  /** logs() parsed: the JSON lines only. */
  logRecords(): Record<string, unknown>[];
}

/** <repo>/bin/ovs-container-network (the compiled harness is <repo>/dist/test/harness/plugin.js). */
export function pluginBinPath(): string {
  return path.join(repoRoot(), 'bin', 'ovs-container-network');
}

const PLUGIN_HEADERS = { Accept: 'application/vnd.docker.plugins.v1.2+json', 'User-Agent': 'Go-http-client/1.1' };

/** One plugin-protocol call on any socket, as dockerd makes it. */
export async function pluginCall<T = unknown>(socket: string, method: string, body?: unknown, opts: { timeoutMs?: number } = {}): Promise<CallResult<T>> {
  const payload = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body);
  const r = await unixRequest(socket, 'POST', `/${method.replace(/^\//, '')}`, { body: payload, headers: PLUGIN_HEADERS, timeoutMs: opts.timeoutMs ?? 30_000 });
  let parsed: unknown = r.text;
  if (r.text.trim() !== '') {
    try {
      parsed = JSON.parse(r.text);
    } catch {
      /* leave the raw text */
    }
  }
  return { status: r.status, body: parsed as T };
}

const running = new Set<ChildProcess>();
/** Driver names of daemons started on the system OVS: their records go when the test process ends. */
const onSystemOvs = new Set<string>();
atExit(() => {
  for (const c of running) if (c.pid && isAlive(c.pid)) c.kill('SIGKILL');
  forgetRecords(onSystemOvs);
  forgetVeths(onSystemOvs);
});

/**
 * Removes the host-namespace veths these drivers made (their alias names the driver): a daemon
 * killed before it deleted its veths (a warm pool's, an endpoint's) leaves them to nobody, since
 * only a daemon of the same name would sweep them at its next start.
 */
function forgetVeths(names: Set<string>): void {
  if (!names.size) return;
  const aliases = new Set([...names].map((n) => `ocn:${n}`));
  try {
    for (const dev of fs.readdirSync('/sys/class/net')) {
      if (!/^ocn[hcg]/.test(dev)) continue;
      let alias = '';
      try {
        alias = fs.readFileSync(`/sys/class/net/${dev}/ifalias`, 'utf8').trim();
      } catch {
        continue;
      }
      if (!aliases.has(alias)) continue;
      try {
        execFileSync('ip', ['link', 'del', dev], { stdio: 'ignore' });
      } catch {
        // Deleted with its peer meanwhile.
      }
    }
  } catch {
    // Gone meanwhile, or no permission: nothing more to do.
  }
}

/**
 * Removes the kv records (`ocn.<name>.*` in the root row's external_ids) of these drivers from the
 * system OVS: a test that does not delete its networks must not leave them to every later daemon
 * (each commit to the root row carries the whole map: 258 stale networks made CreateNetwork 2x slower).
 */
function forgetRecords(names: Set<string>): void {
  if (!names.size) return;
  try {
    const ids = execFileSync('ovs-vsctl', ['--timeout=5', 'get', 'Open_vSwitch', '.', 'external_ids'], { encoding: 'utf8' });
    const keys = [...ids.matchAll(/(?:^\{|, )"?(ocn\.[^"=]+)"?=/g)].map((m) => m[1]).filter((k) => [...names].some((n) => k.startsWith(`ocn.${n}.`)));
    for (let i = 0; i < keys.length; i += 200) execFileSync('ovs-vsctl', ['--timeout=5', 'remove', 'Open_vSwitch', '.', 'external_ids', ...keys.slice(i, i + 200).map((k) => `"${k}"`)]);
  } catch {
    // No system OVS (a lab-only test run): nothing to forget.
  }
}

class PluginImpl implements Plugin {
  readonly socket: string;
  readonly argv: string[];
  pid = 0;
  startupMs = 0;
  private child?: ChildProcess;
  private exit?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private out = '';
  private readonly env: NodeJS.ProcessEnv;

  constructor(readonly name: string, private readonly opts: PluginOptions) {
    const dir = opts.pluginDir ?? LEGACY_PLUGIN_DIR;
    this.socket = path.join(dir, `${name}.sock`);
    this.argv = [
      opts.bin ?? pluginBinPath(),
      'daemon',
      '--name', name,
      '--plugin-dir', dir,
      '--ovsdb', opts.ovsdb ?? OVSDB_REMOTE,
      '--log-level', opts.logLevel ?? 'debug',
      ...(opts.args ?? []),
    ];
    this.env = { ...process.env, ...opts.env };
  }

  async start(): Promise<void> {
    fs.mkdirSync(path.dirname(this.socket), { recursive: true });
    const t0 = process.hrtime.bigint();
    if (!this.opts.ovsdb && !this.opts.netns) onSystemOvs.add(this.name);
    // `ip netns exec` execs the command (no fork), so child.pid is still the daemon's PID
    const child = this.opts.netns
      ? spawn('ip', ['netns', 'exec', this.opts.netns, process.execPath, ...DAEMON_NODE_FLAGS, ...this.argv], { stdio: ['ignore', 'pipe', 'pipe'], env: this.env })
      : spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...this.argv], { stdio: ['ignore', 'pipe', 'pipe'], env: this.env });
    if (!child.pid) throw new Error(`could not spawn the plugin daemon (${this.argv[0]})`);
    this.child = child;
    this.pid = child.pid;
    running.add(child);
    this.out += this.out ? `\n---- harness: restarted (pid ${child.pid}) ----\n` : '';
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.out += d.toString()));
    this.exit = new Promise((resolve) => {
      child.on('exit', (code, sig) => {
        running.delete(child);
        resolve({ code, signal: sig });
      });
    });
    // A forgotten plugin must not keep the test process alive: the exit hook kills it.
    child.unref();
    (child.stdout as unknown as { unref(): void }).unref();
    (child.stderr as unknown as { unref(): void }).unref();

    let exited = false;
    void this.exit.then(() => (exited = true));
    const timeout = this.opts.activateTimeoutMs ?? 10_000;
    const deadline = Date.now() + timeout;
    let last = '';
    for (;;) {
      if (exited) {
        await sleep(50); // let the last of stderr arrive
        throw new Error(`plugin ${this.name} exited before answering Plugin.Activate:\n${this.out.slice(-4000)}`);
      }
      try {
        const r = await pluginCall(this.socket, 'Plugin.Activate', undefined, { timeoutMs: 2000 });
        if (r.status === 200) break;
        last = `status ${r.status}: ${JSON.stringify(r.body)}`;
      } catch (e) {
        last = (e as Error).message;
      }
      if (Date.now() > deadline) {
        await this.kill9();
        throw new Error(`plugin ${this.name} did not answer Plugin.Activate on ${this.socket} within ${timeout} ms (last: ${last}); its output:\n${this.out.slice(-4000)}`);
      }
      await sleep(20);
    }
    this.startupMs = Number(process.hrtime.bigint() - t0) / 1e6;
  }

  call<T = unknown>(method: string, body?: unknown, opts?: { timeoutMs?: number }): Promise<CallResult<T>> {
    return pluginCall<T>(this.socket, method, body, opts);
  }

  alive(): boolean {
    return isAlive(this.pid);
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.child;
    if (!child || !this.exit) return { code: null, signal: null };
    child.ref(); // keep the event loop alive while we wait for it
    let timer: NodeJS.Timeout | undefined;
    if (isAlive(this.pid)) {
      const pid = this.pid;
      signal(pid, 'SIGTERM');
      timer = setTimeout(() => signal(pid, 'SIGKILL'), opts.timeoutMs ?? 10_000);
    }
    const r = await this.exit;
    clearTimeout(timer);
    child.unref();
    return r;
  }

  async kill9(): Promise<void> {
    if (!this.child || !this.exit) return;
    this.child.ref();
    signal(this.pid, 'SIGKILL');
    await Promise.race([this.exit, waitDead(this.pid, 10_000)]);
    this.child.unref();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  logs(): string {
    return this.out;
  }

  logRecords(): Record<string, unknown>[] {
    const recs: Record<string, unknown>[] = [];
    for (const l of this.out.split('\n')) {
      if (!l.startsWith('{')) continue;
      try {
        recs.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* not a log record */
      }
    }
    return recs;
  }
}

/**
 * Spawns `node <repo>/bin/ovs-container-network daemon --name N --plugin-dir D --ovsdb R
 * --log-level debug [args]` and waits until its socket answers Plugin.Activate (polled every
 * 20 ms). Throws with the daemon's output if it exits or does not answer in time.
 */
export async function startPlugin(opts: PluginOptions = {}): Promise<Plugin> {
  const name = opts.name ?? `ocn-test-${crypto.randomBytes(4).toString('hex')}`;
  const p = new PluginImpl(name, opts);
  await p.start();
  return p;
}
