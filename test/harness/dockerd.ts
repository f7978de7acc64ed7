// A private dockerd (20.10) per test: own data root, exec root, socket, containerd and log, in the
// root network namespace, managing iptables like a real host (FORWARD policy DROP).
//
// Facts about running it next to another dockerd on one machine (each seen here):
// - dockerd --bridge=none DELETES an existing docker0 (daemon.removeDefaultBridgeInterface), so it
//   is never used: next to another running dockerd (which owns docker0) we give ours a private
//   default bridge (`-b ocb-<hash>`, 198.18.x.0/24) instead. Alone (CI) it uses docker0.
// - every dockerd that manages iptables flushes the DOCKER, DOCKER-ISOLATION-STAGE-1/2 chains
//   (filter) and DOCKER (nat) and removes the nat PREROUTING/OUTPUT jumps at start-up
//   (bridge driver removeIPChains): the other daemon's rules are gone. We snapshot those chains
//   before starting and put back what the start flushed. (When the OTHER daemon restarts, it
//   flushes ours the same way; we cannot prevent that.)
// - the default IPAM does not look at the host's routes: next to a foreign docker0 on
//   172.17.0.0/16 a `docker network create -d bridge` got 172.17.0.0/16 again. We hand dockerd
//   default-address-pools that leave out every prefix already routed on the host (rotated per
//   engine when others run, so side-by-side engines do not pick the same next prefix).
// - two dockerds starting at the same moment race on `iptables -t nat -N DOCKER` and the loser
//   exits: start-ups are serialized machine-wide by a lock file.
// - with the managed containerd, SIGKILLed dockerd leaves a containerd that dies of SIGPIPE at
//   its next log line and lingers as a zombie; the next dockerd takes the zombie for a live
//   containerd and gives up after 15 s. kill9() therefore kills both; start() drops a pidfile
//   naming a dead/zombie containerd.
// - each dockerd starts its own containerd (state in <exec-root>/containerd, root in
//   <data-root>/containerd): several harness dockerds coexist. Legacy plugin discovery
//   (/run/docker/plugins) and /etc/docker/key.json are shared by all of them.
import { spawn } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { atExit, isAlive, pidsByComm, procCmdline, run, runOk, RunResult, sleep, terminate, waitDead, signal, tailFile } from './exec';
import { deleteRulesFor, mentionsIf, ruleLines, Table, TABLES, tokenize } from './iptables';
import { unixRequest } from './unixhttp';

export const DOCKER_CLI = fs.existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
const BASE_PREFIX = '/tmp/ocnd-';
const STATE = 'state.json';

export interface DockerdOptions {
  /** Base directory /tmp/ocnd-<name> ([A-Za-z0-9_-], at most 40 chars). Default p<pid>n<k>. */
  name?: string;
  /** Let dockerd manage iptables (default true, as on a real host). */
  iptables?: boolean;
  /** Merged into the daemon.json we write (default-address-pools, features, ...). */
  daemonConfig?: Record<string, unknown>;
  /** More dockerd flags. */
  extraArgs?: string[];
  /** dockerd --log-level (default info). */
  logLevel?: string;
  /** How long to wait for the API (default 90 s: slow CI boxes). */
  readyTimeoutMs?: number;
}

export interface DockerRunOptions {
  timeoutMs?: number;
  input?: string | Buffer;
}

export interface Dockerd {
  readonly name: string;
  readonly baseDir: string;
  /** Path of the API socket. */
  readonly sock: string;
  /** `unix://<sock>` (for -H / DOCKER_HOST). */
  readonly host: string;
  /** PID of the current dockerd process (changes on restart). */
  readonly pid: number;
  /** The built-in bridge driver's default bridge: docker0, or our private one next to a foreign dockerd. */
  readonly defaultBridge: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logFile: string;
  /** How long the last (re)start took until the API answered, in ms. */
  readonly startupMs: number;
  /** /usr/bin/docker -H unix://<sock> ARGS; never throws on non-zero exit (default timeout 120 s). */
  docker(args: string[], opts?: DockerRunOptions): Promise<RunResult>;
  /** Like docker() but throws with stderr unless the CLI exits 0. */
  dockerOk(args: string[], opts?: DockerRunOptions): Promise<RunResult>;
  alive(): boolean;
  /** SIGTERM, wait (SIGKILL after timeoutMs, default 45 s); also waits for its containerd to exit. */
  stop(opts?: { timeoutMs?: number }): Promise<void>;
  /** SIGKILL dockerd and its managed containerd (which would die of SIGPIPE at its next log line
   *  anyway); shims and container processes survive, as in a real crash. */
  kill9(): Promise<void>;
  /** stop() if running, then start again with the same directories and flags; waits for the API. */
  restart(): Promise<void>;
  /** The last `maxBytes` of its log (default 8000). */
  logs(maxBytes?: number): string;
  /** Stops it, kills leftovers (containerd, shims, container processes), deletes its bridges and
   *  their iptables rules, unmounts everything below its base dir and removes the dir. Idempotent. */
  cleanup(): Promise<void>;
}

interface State {
  name: string;
  ownerPid: number;
  pid?: number;
  privateBridge?: string;
}

// ------------------------------------------------------------------ installation check

function onPath(bin: string): boolean {
  return (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin')
    .split(':')
    .concat(['/usr/sbin', '/usr/bin', '/sbin', '/bin'])
    .some((d) => {
      try {
        fs.accessSync(path.join(d, bin), fs.constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** Throws a clear error unless dockerd, containerd, runc and the docker CLI are installed. */
export async function ensureDockerInstalled(): Promise<void> {
  const missing = ['dockerd', 'containerd', 'runc', 'iptables'].filter((b) => !onPath(b));
  if (!fs.existsSync('/usr/bin/docker') && !onPath('docker')) missing.push('docker (CLI)');
  if (missing.length) throw new Error(`Docker engine not installed (missing: ${missing.join(', ')}): apt-get install docker.io iptables`);
  if (process.getuid && process.getuid() !== 0) throw new Error('the Docker harness must run as root');
}

// ------------------------------------------------------------------ small helpers

const linkExists = (name: string) => fs.existsSync(`/sys/class/net/${name}`);
const isBridge = (name: string) => fs.existsSync(`/sys/class/net/${name}/bridge`);

function ip4ToInt(a: string): number {
  const p = a.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
function parseCidr(c: string): [number, number] {
  const [a, l] = c.split('/');
  return [ip4ToInt(a), l === undefined ? 32 : Number(l)];
}
function overlaps(a: string, b: string): boolean {
  const [na, la] = parseCidr(a);
  const [nb, lb] = parseCidr(b);
  const l = Math.min(la, lb);
  const mask = l === 0 ? 0 : (0xffffffff << (32 - l)) >>> 0;
  return ((na & mask) >>> 0) === ((nb & mask) >>> 0);
}

/** IPv4 prefixes routed in the root namespace's main table (default route left out). */
async function routedPrefixes(): Promise<string[]> {
  const r = await runOk('ip', ['-j', '-4', 'route', 'show']);
  return (JSON.parse(r.stdout || '[]') as { dst: string }[]).map((x) => x.dst).filter((d) => d && d !== 'default' && /^\d/.test(d));
}

/** Docker's default local pools minus everything already routed on the host. */
async function freeAddressPools(): Promise<{ base: string; size: number }[]> {
  const used = await routedPrefixes();
  const pools: { base: string; size: number }[] = [];
  for (let i = 17; i <= 31; i++) pools.push({ base: `172.${i}.0.0/16`, size: 16 });
  for (let i = 0; i < 256; i += 16) pools.push({ base: `192.168.${i}.0/20`, size: 20 });
  return pools.filter((p) => !used.some((u) => overlaps(p.base, u)));
}

// ------------------------------------------------------------------ foreign dockerd rules

/** The lines a starting dockerd flushes: DOCKER* chains, and the nat PREROUTING/OUTPUT jumps to DOCKER. */
function flushable(table: Table, line: string): boolean {
  const t = tokenize(line);
  const chain = t[1];
  if (chain === 'DOCKER' || (table === 'filter' && (chain === 'DOCKER-ISOLATION-STAGE-1' || chain === 'DOCKER-ISOLATION-STAGE-2'))) return true;
  if (table === 'nat' && (chain === 'PREROUTING' || chain === 'OUTPUT')) {
    const j = t.indexOf('-j');
    return j >= 0 && t[j + 1] === 'DOCKER';
  }
  return false;
}

type RuleSnapshot = Record<Table, string[]>;

async function snapshotFlushable(): Promise<RuleSnapshot> {
  const [filter, nat] = await Promise.all([ruleLines('filter'), ruleLines('nat')]);
  return { filter: filter.filter((l) => flushable('filter', l)), nat: nat.filter((l) => flushable('nat', l)), mangle: [], raw: [] };
}

/** Puts back the foreign rules our dockerd's start-up flushed (original order, before the RETURNs). */
async function restoreFlushed(before: RuleSnapshot, ours: Set<string>): Promise<number> {
  let restored = 0;
  for (const table of TABLES) {
    const now = new Set(await ruleLines(table));
    const missing = before[table].filter((l) => !now.has(l) && !mentionsIf(l, ours));
    for (const l of missing.slice().reverse()) {
      const t = tokenize(l);
      const chain = t[1];
      const spec = t.slice(2);
      const args = chain === 'PREROUTING' || chain === 'OUTPUT' ? ['-t', table, '-A', chain, ...spec] : ['-t', table, '-I', chain, '1', ...spec];
      if ((await run('iptables', ['-w', ...args])).code === 0) restored++;
    }
  }
  return restored;
}

// ------------------------------------------------------------------ cleanup of one base dir

/** Bridges the engine created for its networks, read from its network store (works when it is dead). */
function bridgesOf(base: string): Set<string> {
  const names = new Set<string>();
  const db = path.join(base, 'data', 'network', 'files', 'local-kv.db');
  let s: string;
  try {
    s = fs.readFileSync(db).toString('latin1');
  } catch {
    return names;
  }
  for (const m of s.matchAll(/docker\/network\/v1\.0\/network\/([0-9a-f]{64})/g)) names.add(`br-${m[1].slice(0, 12)}`);
  for (const m of s.matchAll(/com\.docker\.network\.bridge\.name\\*":\\*"([A-Za-z0-9_.-]{1,15})\\*"/g)) names.add(m[1]);
  names.delete('docker0'); // shared with any other engine: never ours to delete
  return new Set([...names].filter((n) => linkExists(n) && isBridge(n)));
}

/** Processes started by this engine: anything naming the base dir on its command line
 *  (containerd, shims), and container processes whose root filesystem lives in its data root. */
function leftoverPids(base: string): number[] {
  const out: number[] = [];
  const needle = base + '/';
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid || !isAlive(pid)) continue;
    if (procCmdline(pid).some((a) => a.includes(needle))) {
      out.push(pid);
      continue;
    }
    try {
      const mi = fs.readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
      const rootLine = mi.split('\n').find((l) => l.split(' ')[4] === '/');
      if (rootLine && rootLine.includes(needle)) out.push(pid);
    } catch {
      /* gone */
    }
  }
  return out;
}

async function unmountBelow(base: string): Promise<void> {
  const r = await run('findmnt', ['-rn', '-o', 'TARGET']);
  const targets = r.stdout
    .split('\n')
    .map((t) => t.replace(/\\x([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))))
    .filter((t) => t.startsWith(base + '/'))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) await run('umount', ['-l', t]);
}

async function cleanupBase(base: string, st: State | undefined): Promise<void> {
  const pid = st?.pid;
  if (pid && isAlive(pid) && procCmdline(pid).some((a) => a.includes(base + '/'))) {
    // SIGKILL the containers first: a daemon shutdown gives each one its stop timeout (10 s
    // for a `sleep` as PID 1, which ignores SIGTERM), far too slow for a test teardown.
    const cli = (args: string[], timeoutMs: number) =>
      run(DOCKER_CLI, ['-H', `unix://${base}/docker.sock`, ...args], { timeoutMs, unsetEnv: ['DOCKER_HOST', 'DOCKER_CONTEXT'] });
    const ids = (await cli(['ps', '-q'], 10_000)).stdout.split(/\s+/).filter(Boolean);
    if (ids.length) await cli(['kill', ...ids], 20_000);
    await terminate(pid, 20_000);
  }
  const bridges = bridgesOf(base);
  if (st?.privateBridge && linkExists(st.privateBridge)) bridges.add(st.privateBridge);
  const left = leftoverPids(base);
  for (const p of left) signal(p, 'SIGKILL');
  await Promise.all(left.map((p) => waitDead(p, 5000)));
  for (const b of bridges) await run('ip', ['link', 'del', b]);
  await deleteRulesFor(bridges);
  await unmountBelow(base);
  for (let i = 0; ; i++) {
    try {
      fs.rmSync(base, { recursive: true, force: true });
      return;
    } catch (e) {
      if (i >= 5) throw e;
      await sleep(300);
      await unmountBelow(base);
    }
  }
}

function readState(base: string): State | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(base, STATE), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

/** Cleans up the base dirs of harness dockerds whose test process is gone. Called by startDockerd. */
export async function sweepStaleDockerds(): Promise<string[]> {
  const swept: string[] = [];
  for (const e of fs.readdirSync('/tmp')) {
    const base = `/tmp/${e}`;
    if (!base.startsWith(BASE_PREFIX)) continue;
    const st = readState(base);
    if (!st) continue; // not (yet) ours to judge
    if (st.ownerPid === process.pid || isAlive(st.ownerPid)) continue;
    await cleanupBase(base, st);
    swept.push(base);
  }
  return swept;
}

// ------------------------------------------------------------------ start-up lock

const LOCK = '/tmp/ocnd.start.lock';

/**
 * Machine-wide lock around a dockerd start-up: two engines starting at once race on creating the
 * DOCKER chains (seen: `iptables -t nat -N DOCKER: File exists`, the loser exits), and the
 * snapshot/restore of foreign rules must not interleave. The lock file holds the owner's PID; a
 * dead owner's lock is taken over.
 */
async function withStartLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = 0;
      try {
        owner = Number(fs.readFileSync(LOCK, 'utf8').trim());
      } catch {
        continue; // released meanwhile
      }
      if (owner && owner !== process.pid && !isAlive(owner)) {
        fs.rmSync(LOCK, { force: true }); // its owner died holding it
        continue;
      }
      if (Date.now() > deadline) throw new Error(`dockerd start lock ${LOCK} held by pid ${owner} for too long`);
      await sleep(50);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(LOCK, { force: true });
  }
}

// ------------------------------------------------------------------ the daemon

const live = new Set<DockerdImpl>();
let exitHook = false;
let counter = 0;

class DockerdImpl implements Dockerd {
  readonly baseDir: string;
  readonly sock: string;
  readonly host: string;
  readonly dataRoot: string;
  readonly execRoot: string;
  readonly logFile: string;
  pid = 0;
  startupMs = 0;
  defaultBridge = 'docker0';
  private privateBridge?: string;
  private args: string[] = [];
  private cleaned = false;

  constructor(readonly name: string, private readonly opts: DockerdOptions) {
    this.baseDir = BASE_PREFIX + name;
    this.sock = path.join(this.baseDir, 'docker.sock');
    this.host = `unix://${this.sock}`;
    this.dataRoot = path.join(this.baseDir, 'data');
    this.execRoot = path.join(this.baseDir, 'exec');
    this.logFile = path.join(this.baseDir, 'dockerd.log');
  }

  private writeState(): void {
    const st: State = { name: this.name, ownerPid: process.pid, pid: this.pid || undefined, privateBridge: this.privateBridge };
    fs.writeFileSync(path.join(this.baseDir, STATE), JSON.stringify(st));
  }

  async init(): Promise<void> {
    fs.mkdirSync(this.baseDir, { recursive: true, mode: 0o711 });
    this.writeState();
    const foreign = pidsByComm('dockerd').length > 0;
    if (foreign) {
      // another engine owns docker0 (even if someone deleted the link meanwhile): our default
      // bridge network gets a bridge of its own
      this.privateBridge = `ocb-${crypto.createHash('sha1').update(this.name).digest('hex').slice(0, 8)}`;
      this.writeState();
      await run('ip', ['link', 'del', this.privateBridge]);
      const used = await routedPrefixes();
      const h = parseInt(crypto.createHash('sha1').update(this.name).digest('hex').slice(0, 4), 16);
      let subnet: string | undefined;
      for (let i = 0; i < 512 && !subnet; i++) {
        const n = (h + i) % 512;
        const c = `198.${18 + (n >> 8)}.${n & 255}.0/24`;
        if (!used.some((u) => overlaps(c, u))) subnet = c;
      }
      if (!subnet) throw new Error('no free /24 in 198.18.0.0/15 for the private default bridge');
      await runOk('ip', ['link', 'add', this.privateBridge, 'type', 'bridge']);
      await runOk('ip', ['addr', 'add', subnet.replace(/\.0\/24$/, '.1/24'), 'dev', this.privateBridge]);
      await runOk('ip', ['link', 'set', this.privateBridge, 'up']);
      this.defaultBridge = this.privateBridge;
    }
    let pools = await freeAddressPools();
    if (foreign && pools.length) {
      // engines running side by side each start at a different pool, so that networks created
      // without --subnet at about the same time do not get the same prefix
      const k = parseInt(crypto.createHash('sha1').update(this.name).digest('hex').slice(0, 6), 16) % pools.length;
      pools = [...pools.slice(k), ...pools.slice(0, k)];
    }
    const config = { 'default-address-pools': pools, ...this.opts.daemonConfig };
    fs.writeFileSync(path.join(this.baseDir, 'daemon.json'), JSON.stringify(config, null, 1));
    this.args = [
      '--config-file', path.join(this.baseDir, 'daemon.json'),
      '--data-root', this.dataRoot,
      '--exec-root', this.execRoot,
      '--pidfile', path.join(this.baseDir, 'dockerd.pid'),
      '-H', this.host,
      '--log-level', this.opts.logLevel ?? 'info',
      ...(this.privateBridge ? [`--bridge=${this.privateBridge}`] : []),
      ...(this.opts.iptables === false ? ['--iptables=false'] : []),
      ...(this.opts.extraArgs ?? []),
    ];
  }

  start(): Promise<void> {
    return withStartLock(() => this.startLocked());
  }

  private async startLocked(): Promise<void> {
    // dockerd reuses the containerd named in <exec-root>/containerd/containerd.pid if kill(pid, 0)
    // succeeds, which it does on a zombie (PID 1 here reaps orphans lazily): it then waits 15 s
    // for a socket nobody serves and exits. A pidfile naming a dead or zombie process goes.
    const ctrdPidfile = path.join(this.execRoot, 'containerd', 'containerd.pid');
    if (fs.existsSync(ctrdPidfile) && !this.containerdPid()) fs.rmSync(ctrdPidfile, { force: true });
    const preserve = this.opts.iptables !== false && pidsByComm('dockerd').some((p) => p !== this.pid);
    const before = preserve ? await snapshotFlushable() : undefined;
    const t0 = Date.now();
    fs.appendFileSync(this.logFile, `\n==== harness: starting dockerd ${this.args.join(' ')} at ${new Date().toISOString()}\n`);
    const fd = fs.openSync(this.logFile, 'a');
    let exited = false;
    try {
      const child = spawn('dockerd', this.args, {
        detached: true,
        stdio: ['ignore', fd, fd],
      });
      child.on('error', () => (exited = true));
      child.on('exit', () => (exited = true));
      child.unref();
      if (!child.pid) throw new Error('could not spawn dockerd');
      this.pid = child.pid;
    } finally {
      fs.closeSync(fd);
    }
    this.writeState();
    const deadline = t0 + (this.opts.readyTimeoutMs ?? 90_000);
    for (;;) {
      try {
        const r = await unixRequest(this.sock, 'GET', '/_ping', { timeoutMs: 5000 });
        if (r.status === 200) break;
      } catch {
        /* not yet */
      }
      if (exited || !isAlive(this.pid)) throw new Error(`dockerd ${this.name} exited during start-up; log tail:\n${this.logs(3000)}`);
      if (Date.now() > deadline) {
        await terminate(this.pid, 5000);
        throw new Error(`dockerd ${this.name} did not answer on ${this.sock} within ${this.opts.readyTimeoutMs ?? 90_000} ms; log tail:\n${this.logs(3000)}`);
      }
      await sleep(Date.now() - t0 < 3000 ? 50 : 250);
    }
    this.startupMs = Date.now() - t0;
    if (before) {
      const n = await restoreFlushed(before, new Set([this.defaultBridge, ...bridgesOf(this.baseDir)]));
      if (n) fs.appendFileSync(this.logFile, `==== harness: put back ${n} iptables rules of another dockerd that start-up flushed\n`);
    }
  }

  docker(args: string[], opts: DockerRunOptions = {}): Promise<RunResult> {
    return run(DOCKER_CLI, ['-H', this.host, ...args], {
      timeoutMs: opts.timeoutMs ?? 120_000,
      input: opts.input,
      unsetEnv: ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'],
    });
  }

  async dockerOk(args: string[], opts?: DockerRunOptions): Promise<RunResult> {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  alive(): boolean {
    return isAlive(this.pid);
  }

  private containerdPid(): number | undefined {
    try {
      const p = Number(fs.readFileSync(path.join(this.execRoot, 'containerd', 'containerd.pid'), 'utf8').trim());
      return p > 0 && isAlive(p) && procCmdline(p).some((a) => a.includes(this.baseDir + '/')) ? p : undefined;
    } catch {
      return undefined;
    }
  }

  async stop(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (this.pid && isAlive(this.pid)) await terminate(this.pid, opts.timeoutMs ?? 45_000);
    const c = this.containerdPid();
    if (c && !(await waitDead(c, 10_000))) await terminate(c, 5000);
  }

  async kill9(): Promise<void> {
    await crashDockerd(this.pid, this.containerdPid());
  }

  async restart(): Promise<void> {
    if (this.cleaned) throw new Error(`dockerd ${this.name} was cleaned up`);
    await this.stop();
    await this.start();
  }

  logs(maxBytes = 8000): string {
    return tailFile(this.logFile, maxBytes);
  }

  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    live.delete(this);
    await cleanupBase(this.baseDir, { name: this.name, ownerPid: process.pid, pid: this.pid, privateBridge: this.privateBridge });
  }
}

/**
 * SIGKILL of a dockerd and of its managed containerd. The containerd logs into a pipe to dockerd:
 * with dockerd gone it dies of SIGPIPE at its next log line, at some random later moment. Make
 * that deterministic: it goes now. Shims and container processes live on; the next containerd
 * re-attaches to them.
 */
export async function crashDockerd(pid: number, containerd: number | undefined): Promise<void> {
  for (const p of [pid, containerd]) {
    if (!p || !isAlive(p)) continue;
    signal(p, 'SIGKILL');
    await waitDead(p, 10_000);
  }
}

/**
 * Starts a private dockerd under /tmp/ocnd-<name> and waits until its API answers. Always call
 * cleanup() when done (an exit hook SIGTERMs forgotten ones; the next startDockerd sweeps their dirs).
 */
export async function startDockerd(opts: DockerdOptions = {}): Promise<Dockerd> {
  await ensureDockerInstalled();
  const name = opts.name ?? `p${process.pid}n${++counter}`;
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(name)) throw new Error(`bad dockerd name ${JSON.stringify(name)}`);
  await sweepStaleDockerds();
  const base = BASE_PREFIX + name;
  if (fs.existsSync(base)) {
    const st = readState(base);
    if (st && (st.ownerPid === process.pid || isAlive(st.ownerPid))) throw new Error(`dockerd ${name} is in use (by pid ${st.ownerPid})`);
    await cleanupBase(base, st);
  }
  if (!exitHook) {
    exitHook = true;
    // a forgotten engine is told to shut down; the next startDockerd sweeps its directory
    atExit(() => {
      for (const d of live) if (d.pid && isAlive(d.pid)) signal(d.pid, 'SIGTERM');
    });
  }
  const d = new DockerdImpl(name, opts);
  live.add(d);
  try {
    await d.init();
    await d.start();
  } catch (e) {
    await d.cleanup().catch(() => undefined);
    throw e;
  }
  return d;
}
