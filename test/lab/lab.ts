// The multi-host OVS/OVN lab for node:test tests: a TypeScript API over test/lab/lab.sh.
//
// One lab = N "hosts", each a network namespace with its own ovsdb-server + ovs-vswitchd
// (userspace datapath), an underlay bridge between them (192.168.100.0/24, host K = .K), and
// optionally OVN central (NB/SB/northd at 192.168.100.254 in its own namespace) plus one
// ovn-controller per host. State lives in /tmp/ocn-lab-<id>, namespaces are ocnl<id>-*, nothing
// is created in the root network namespace, and the system OVS / dockerd are never touched.
//
//   const lab = await startLab({ hosts: 3, ovn: true });        // chassis: 'lab' (default)
//   try {
//     const p1 = await lab.hosts[0].startPlugin(['--ovn-nb', lab.nbRemote]);   // real daemon in h1
//     const a = await lab.addNs('a', lab.hosts[0], { cidr: '10.0.0.1/24', ifaceId: 'lsp-a' });
//     await a.exec('ping', ['-c1', '10.0.0.2']);
//   } finally {
//     await lab.destroy();
//   }
//
// chassis: 'external' leaves every OVN key of the Open_vSwitch row (even system-id) to the
// product: run `host.chassisSetup()` (= `ovs-container-network chassis setup` in the host) and
// `lab.startController(host)` (either order; startController waits for the SB registration).
//
// Plugin daemons and dockerd: host.startPlugin() runs the daemon with
// `--plugin-dir <host.dir>/plugins`. startLabDockerd(lab, host) runs a dockerd in the host's
// netns and in a private mount namespace where exactly that directory is /run/docker/plugins,
// so the dockerd discovers the host's daemon as /run/docker/plugins/<name>.sock while the test
// (root mount namespace) talks to the same socket as <host.dir>/plugins/<name>.sock. Passing
// `{ pluginDir: '/run/docker/plugins' }` (the path the dockerd sees) to startPlugin means the
// same directory; any other pluginDir is used as it is (and no lab dockerd will see it).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { crashDockerd, DOCKER_CLI } from '../harness/dockerd';
import { atExit, isAlive, run, runOk, RunOptions, RunResult, tailFile, terminate, waitDead } from '../harness/exec';
import { ensureBusyboxImage } from '../harness/image';
import { repoRoot } from '../harness/paths';
import { Plugin, PluginOptions, pluginBinPath, startPlugin as harnessStartPlugin } from '../harness/plugin';

export const LAB_SH = path.join(repoRoot(), 'test', 'lab', 'lab.sh');
export const UNDERLAY_NET = '192.168.100';
export const CENTRAL_IP = `${UNDERLAY_NET}.254`;
/** The plugin directory as a lab dockerd sees it. */
export const DOCKERD_PLUGIN_DIR = '/run/docker/plugins';
const STATE_PREFIX = '/tmp/ocn-lab-';

export interface LabOptions {
  hosts: number;
  /** ovn-encap-type written in 'lab' chassis mode (default geneve). */
  encap?: 'geneve' | 'vxlan';
  /** Start OVN central; in 'lab' chassis mode also an ovn-controller per host, and wait for the mesh. */
  ovn?: boolean;
  /** 'lab' (default): the lab writes system-id/ovn-remote/ovn-encap-*; 'external': the product does. */
  chassis?: 'lab' | 'external';
  /** 'host' (default): `up` sets external_ids:system-id=hK (as ovs-ctl leaves it on a machine named
   *  hK); 'none': no system-id (NB: every lab host has the machine's one uname hostname). */
  systemId?: 'host' | 'none';
  /** OVN NB as a Raft cluster of this many members in the central namespace (default 1: standalone). */
  nbCluster?: 1 | 3 | 5;
  /** Lab id ([a-z0-9]{1,12}); default: unique per process and call. */
  id?: string;
  /** Namespace prefix; default ocnl<id>. */
  prefix?: string;
}

export interface LabTimings {
  /** `lab.sh up N`: namespaces, OVS per host, underlay. */
  upMs: number;
  /** central + controllers + full tunnel mesh (0 without ovn). */
  ovnMs: number;
  /** destroy(), once it ran. */
  downMs?: number;
}

export interface LabHost {
  /** h1, h2, ... */
  readonly name: string;
  readonly index: number;
  /** Its network namespace (<prefix>-hK). */
  readonly ns: string;
  /** Underlay address 192.168.100.K (on br-phy); also the tunnel endpoint. */
  readonly ip: string;
  /** /tmp/ocn-lab-<id>/hK: OVS rundir (db.sock, br-int.mgmt, logs, pidfiles). */
  readonly dir: string;
  /** unix:<dir>/db.sock */
  readonly ovsdbRemote: string;
  /** <dir>/plugins: where host.startPlugin() puts the socket; /run/docker/plugins for the host's lab dockerd. */
  readonly pluginDir: string;
  /** Environment that points OVS/OVN tools at this host (OVS_RUNDIR=<dir>, ...). */
  readonly ovsEnv: Record<string, string>;
  /** ovs-vsctl on this host's OVSDB; throws on failure, returns trimmed stdout. */
  vsctl(...args: string[]): Promise<string>;
  /** ovs-ofctl with OVS_RUNDIR set (so `dump-flows br-int` reaches this host's br-int). */
  ofctl(...args: string[]): Promise<string>;
  /** ovs-appctl to this host's ovs-vswitchd. */
  appctl(...args: string[]): Promise<string>;
  /** ovs-appctl to this host's ovn-controller. */
  ctlAppctl(...args: string[]): Promise<string>;
  /** Runs a command inside the host's namespace; never throws on exit status. */
  exec(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  execOk(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  /** external_ids:system-id of the host's Open_vSwitch row (undefined when unset). */
  systemId(): Promise<string | undefined>;
  /** `node <repo>/bin/ovs-container-network ARGS` inside the host's namespace. */
  cli(args: string[], opts?: RunOptions): Promise<RunResult>;
  /** `ovs-container-network chassis setup --ovsdb <ovsdbRemote> --ovn-sb <lab.sbRemote> --encap-ip <ip>
   *  --encap <lab.encap> [extra]` inside the host; throws unless it exits 0; returns its stdout. */
  chassisSetup(extra?: string[]): Promise<string>;
  /**
   * The REAL daemon inside the host's namespace: `node <repo>/bin/ovs-container-network daemon
   * --name ocn-<labid>-<host> --plugin-dir <host dir>/plugins --ovsdb unix:<dir>/db.sock
   * --log-level debug ...args`. Stopped by lab.destroy() if still running.
   */
  startPlugin(args?: string[], opts?: Omit<PluginOptions, 'args' | 'ovsdb' | 'netns'>): Promise<Plugin>;
}

export interface LabNsOptions {
  /** Address on eth0 (e.g. 10.0.0.1/24); none by default. */
  cidr?: string;
  mac?: string;
  /** external_ids:iface-id of the OVS port (the OVN logical switch port it binds). */
  ifaceId?: string;
  vlan?: number;
  gw?: string;
  mtu?: number;
  /** Bridge of the host (default br-int). */
  bridge?: string;
}

/** A plain "container": a namespace, with eth0 <-> ve-<name> on a host's bridge when it has a host. */
export interface LabNs {
  readonly name: string;
  readonly ns: string;
  readonly host?: LabHost;
  /** ve-<name> in the host's namespace (an OVS port of the bridge), when attached. */
  readonly hostIf?: string;
  exec(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  execOk(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  /** busybox ping -c COUNT -W 2 target; true iff all answered. */
  ping(target: string, count?: number): Promise<boolean>;
  destroy(): Promise<void>;
}

export interface Lab {
  readonly id: string;
  readonly prefix: string;
  /** /tmp/ocn-lab-<id> */
  readonly dir: string;
  readonly encap: 'geneve' | 'vxlan';
  readonly chassis: 'lab' | 'external';
  readonly hosts: LabHost[];
  /** tcp:192.168.100.254:6641 (reachable from the hosts' namespaces, not from the root one); with
   *  nbCluster, every member's, comma-separated. */
  readonly nbRemote: string;
  /** The NB ovsdb-server(s): one, or the Raft members (central-up starts any that is not running). */
  readonly nbMembers: NbMember[];
  /** Index of the member that is the Raft leader now (waits for an election). */
  nbLeader(timeoutMs?: number): Promise<number>;
  readonly sbRemote: string;
  /** unix:/tmp/ocn-lab-<id>/central/ovnnb_db.sock (reachable from anywhere on the machine). */
  readonly nbUnix: string;
  readonly sbUnix: string;
  readonly centralNs: string;
  readonly underlayNs: string;
  readonly timings: LabTimings;
  host(h: HostRef): LabHost;
  /** ovn-nbctl on the NB unix socket; throws on failure, returns trimmed stdout. */
  nbctl(...args: string[]): Promise<string>;
  sbctl(...args: string[]): Promise<string>;
  /** OVN central (idempotent; startLab({ ovn: true }) did it already). */
  startCentral(): Promise<void>;
  /** Starts the host's ovn-controller; with wait (default) resolves once its chassis is in the SB
   *  (in 'external' mode that needs the product's chassis setup, before or meanwhile). Returns the
   *  chassis name ('' without wait). */
  startController(host: HostRef, opts?: { wait?: boolean; timeoutMs?: number }): Promise<string>;
  stopController(host: HostRef): Promise<void>;
  /** Every running ovn-controller has tunnels to all other chassis and OVN flows; then nbctl --wait=hv sync. */
  waitTunnels(timeoutMs?: number): Promise<void>;
  /** A plain namespace <prefix>-<name> (name: 1-12 of [a-z0-9_-]); attached to host's br-int when host is given. */
  addNs(name: string, host?: HostRef, opts?: LabNsOptions): Promise<LabNs>;
  /** lab.sh ARGS for this lab (anything not wrapped here: trace, ctl-appctl, status, ...). */
  sh(args: string[], opts?: RunOptions): Promise<string>;
  status(): Promise<string>;
  /** Stops the dockerds, then the plugins started through the lab, then `lab.sh down`. Idempotent. */
  destroy(): Promise<void>;
}

export type HostRef = LabHost | string | number;

export interface NbMember {
  tcpRemote: string;
  unixRemote: string;
  pidFile: string;
  /** Its unixctl socket (ovs-appctl -t). */
  ctl: string;
}

export interface LabDockerd {
  readonly host: LabHost;
  /** Path of its API socket (<host dir>/docker/docker.sock). */
  readonly sock: string;
  /** unix://<sock> */
  readonly hostUrl: string;
  readonly pid: number;
  /** /run/docker/plugins as this dockerd sees it = host.pluginDir. */
  readonly pluginDir: string;
  readonly logFile: string;
  readonly startupMs: number;
  docker(args: string[], opts?: { timeoutMs?: number; input?: string | Buffer }): Promise<RunResult>;
  dockerOk(args: string[], opts?: { timeoutMs?: number; input?: string | Buffer }): Promise<RunResult>;
  /** Runs a command in the dockerd's network + mount + UTS namespaces (nsenter). */
  nsExec(cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  logs(maxBytes?: number): string;
  alive(): boolean;
  /** SIGKILL of dockerd and its managed containerd (a crash); containers and shims live on. */
  kill9(): Promise<void>;
  /** SIGTERM of dockerd (it stops its containers) unless it is dead already, then a new start. */
  restart(): Promise<void>;
  /** Kills its containers, stops it and everything it started (containerd, shims). Idempotent. */
  stop(): Promise<void>;
}

// ------------------------------------------------------------------ lab.sh

function labEnv(id: string, extra: Record<string, string> = {}): Record<string, string> {
  return { LAB_ID: id, ...extra };
}

async function labSh(id: string, args: string[], opts: RunOptions = {}, extraEnv: Record<string, string> = {}): Promise<string> {
  const r = await run('bash', [LAB_SH, ...args], { timeoutMs: 180_000, ...opts, env: { ...labEnv(id, extraEnv), ...opts.env } });
  if (r.code !== 0) {
    throw new Error(`lab.sh ${args.join(' ')} (lab ${id}) failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}):\n${(r.stderr.trim() || r.stdout.trim()).slice(-4000)}`);
  }
  return r.stdout.trim();
}

function labDownSync(id: string): void {
  spawnSync('bash', [LAB_SH, 'down'], { env: { ...process.env, LAB_ID: id }, stdio: 'ignore', timeout: 120_000 });
}

/** Tears down labs (of any process using this API) whose owner process is gone. */
export async function sweepStaleLabs(): Promise<string[]> {
  const swept: string[] = [];
  for (const e of fs.readdirSync('/tmp')) {
    if (!e.startsWith('ocn-lab-')) continue;
    const id = e.slice('ocn-lab-'.length);
    if (!/^[a-z0-9]{1,12}$/.test(id)) continue;
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join('/tmp', e, 'owner'), 'utf8').trim());
    } catch {
      continue; // not started through this API (someone's manual lab): never ours to judge
    }
    if (!owner || owner === process.pid || isAlive(owner)) continue;
    await labSh(id, ['down']).catch(() => undefined);
    swept.push(id);
  }
  return swept;
}

const liveLabs = new Map<string, LabImpl>();
let exitHooked = false;
let counter = 0;

function newId(): string {
  return `${process.pid.toString(36)}${(++counter).toString(36)}`.slice(-12);
}

// ------------------------------------------------------------------ implementation

class HostImpl implements LabHost {
  readonly ns: string;
  readonly ip: string;
  readonly dir: string;
  readonly ovsdbRemote: string;
  readonly pluginDir: string;
  readonly ovsEnv: Record<string, string>;

  constructor(private readonly lab: LabImpl, readonly index: number) {
    this.ns = `${lab.prefix}-h${index}`;
    this.ip = `${UNDERLAY_NET}.${index}`;
    this.dir = path.join(lab.dir, `h${index}`);
    this.ovsdbRemote = `unix:${this.dir}/db.sock`;
    this.pluginDir = path.join(this.dir, 'plugins');
    const d = this.dir;
    this.ovsEnv = {
      OVS_RUNDIR: d, OVS_DBDIR: d, OVS_LOGDIR: d, OVS_SYSCONFDIR: `${d}/etc`,
      OVN_RUNDIR: d, OVN_LOGDIR: d, OVN_DBDIR: d, OVN_SYSCONFDIR: `${d}/etc`,
    };
  }

  get name(): string {
    return `h${this.index}`;
  }

  async vsctl(...args: string[]): Promise<string> {
    return (await runOk('ovs-vsctl', [`--db=${this.ovsdbRemote}`, '--timeout=30', ...args], { env: this.ovsEnv, timeoutMs: 60_000 })).stdout.trim();
  }

  async ofctl(...args: string[]): Promise<string> {
    return (await runOk('ovs-ofctl', args, { env: this.ovsEnv, timeoutMs: 60_000 })).stdout.trim();
  }

  async appctl(...args: string[]): Promise<string> {
    return (await runOk('ovs-appctl', ['-t', path.join(this.dir, 'ovs-vswitchd.ctl'), ...args], { timeoutMs: 60_000 })).stdout.trim();
  }

  async ctlAppctl(...args: string[]): Promise<string> {
    return this.lab.sh(['ctl-appctl', this.name, ...args]);
  }

  exec(cmd: string, args: string[] = [], opts?: RunOptions): Promise<RunResult> {
    return run('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  execOk(cmd: string, args: string[] = [], opts?: RunOptions): Promise<RunResult> {
    return runOk('ip', ['netns', 'exec', this.ns, cmd, ...args], opts);
  }

  async systemId(): Promise<string | undefined> {
    const v = await this.vsctl('--if-exists', 'get', 'Open_vSwitch', '.', 'external_ids:system-id');
    return v.replace(/^"|"$/g, '') || undefined;
  }

  cli(args: string[], opts?: RunOptions): Promise<RunResult> {
    return this.exec(process.execPath, [pluginBinPath(), ...args], { timeoutMs: 60_000, ...opts });
  }

  async chassisSetup(extra: string[] = []): Promise<string> {
    const args = ['chassis', 'setup', '--ovsdb', this.ovsdbRemote, '--ovn-sb', this.lab.sbRemote, '--encap-ip', this.ip, '--encap', this.lab.encap, ...extra];
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`chassis setup on ${this.name} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout.trim();
  }

  async startPlugin(args: string[] = [], opts: Omit<PluginOptions, 'args' | 'ovsdb' | 'netns'> = {}): Promise<Plugin> {
    const pluginDir = !opts.pluginDir || path.resolve(opts.pluginDir) === DOCKERD_PLUGIN_DIR ? this.pluginDir : opts.pluginDir;
    fs.mkdirSync(pluginDir, { recursive: true });
    const p = await harnessStartPlugin({
      ...opts,
      name: opts.name ?? `ocn-${this.lab.id}-${this.name}`,
      pluginDir,
      ovsdb: this.ovsdbRemote,
      netns: this.ns,
      args,
    });
    this.lab.plugins.add(p);
    return p;
  }
}

class LabImpl implements Lab {
  readonly dir: string;
  readonly hosts: LabHost[] = [];
  readonly nbRemote: string;
  readonly nbMembers: NbMember[] = [];
  readonly sbRemote = `tcp:${CENTRAL_IP}:6642`;
  readonly nbUnix: string;
  readonly sbUnix: string;
  readonly centralNs: string;
  readonly underlayNs: string;
  readonly timings: LabTimings = { upMs: 0, ovnMs: 0 };
  readonly plugins = new Set<Plugin>();
  readonly dockerds = new Set<LabDockerdImpl>();
  private destroyed?: Promise<void>;

  constructor(
    readonly id: string,
    readonly prefix: string,
    readonly encap: 'geneve' | 'vxlan',
    readonly chassis: 'lab' | 'external',
    readonly systemIdMode: 'host' | 'none',
    private readonly nbCluster: number,
    n: number,
  ) {
    this.dir = STATE_PREFIX + id;
    for (let k = 0; k < nbCluster; k++) {
      const stem = path.join(this.dir, 'central', k ? `ovnnb_db-${k}` : 'ovnnb_db');
      this.nbMembers.push({ tcpRemote: `tcp:${CENTRAL_IP}:${6641 + 10 * k}`, unixRemote: `unix:${stem}.sock`, pidFile: `${stem}.pid`, ctl: `${stem}.ctl` });
    }
    this.nbRemote = this.nbMembers.map((m) => m.tcpRemote).join(',');
    this.nbUnix = this.nbMembers.map((m) => m.unixRemote).join(',');
    this.sbUnix = `unix:${this.dir}/central/ovnsb_db.sock`;
    this.centralNs = `${prefix}-c`;
    this.underlayNs = `${prefix}-ul`;
    for (let i = 1; i <= n; i++) this.hosts.push(new HostImpl(this, i));
  }

  sh(args: string[], opts?: RunOptions): Promise<string> {
    return labSh(this.id, args, opts, { LAB_PREFIX: this.prefix, LAB_ENCAP: this.encap, LAB_CHASSIS: this.chassis, LAB_SYSTEM_ID: this.systemIdMode, LAB_NB_CLUSTER: String(this.nbCluster), LAB_OWNER_PID: String(process.pid) });
  }

  host(h: HostRef): LabHost {
    if (typeof h === 'object') return h;
    const i = typeof h === 'number' ? h : Number(String(h).replace(`${this.prefix}-`, '').replace(/^h/, ''));
    const host = this.hosts[i - 1];
    if (!host) throw new Error(`lab ${this.id} has no host ${String(h)}`);
    return host;
  }

  async nbLeader(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const [k, m] of this.nbMembers.entries()) {
        const r = await run('ovs-appctl', ['-t', m.ctl, 'cluster/status', 'OVN_Northbound'], { timeoutMs: 5000 });
        if (r.code === 0 && /^Role: leader$/m.test(r.stdout)) return k;
      }
      if (Date.now() > deadline) throw new Error(`lab ${this.id}: no NB member is the leader after ${timeoutMs} ms`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  async nbctl(...args: string[]): Promise<string> {
    return (await runOk('ovn-nbctl', [`--db=${this.nbUnix}`, '--timeout=30', ...args], { timeoutMs: 60_000 })).stdout.trim();
  }

  async sbctl(...args: string[]): Promise<string> {
    return (await runOk('ovn-sbctl', [`--db=${this.sbUnix}`, '--timeout=30', ...args], { timeoutMs: 60_000 })).stdout.trim();
  }

  async startCentral(): Promise<void> {
    await this.sh(['central-up']);
  }

  async startController(h: HostRef, opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<string> {
    const host = this.host(h);
    await this.sh(['controller-up', host.name]);
    if (opts.wait === false) return '';
    const s = Math.ceil((opts.timeoutMs ?? 30_000) / 1000);
    return this.sh(['wait-chassis', host.name, String(s)], { timeoutMs: (s + 30) * 1000 });
  }

  async stopController(h: HostRef): Promise<void> {
    await this.sh(['controller-down', this.host(h).name]);
  }

  async waitTunnels(timeoutMs = 60_000): Promise<void> {
    const s = Math.ceil(timeoutMs / 1000);
    await this.sh(['wait-tunnels', String(s)], { timeoutMs: (2 * s + 30) * 1000 });
  }

  async addNs(name: string, h?: HostRef, o: LabNsOptions = {}): Promise<LabNs> {
    if (!/^[a-z0-9][a-z0-9_-]{0,11}$/.test(name) || /^(h\d+|ul|c)$/.test(name)) throw new Error(`bad lab namespace name ${JSON.stringify(name)} (1-12 of [a-z0-9_-], not hK/ul/c)`);
    const host = h === undefined ? undefined : this.host(h);
    const ns = `${this.prefix}-${name}`;
    if (host) {
      const kv: string[] = [];
      if (o.mac) kv.push(`mac=${o.mac}`);
      if (o.ifaceId) kv.push(`iface_id=${o.ifaceId}`);
      if (o.vlan !== undefined) kv.push(`vlan=${o.vlan}`);
      if (o.gw) kv.push(`gw=${o.gw}`);
      if (o.mtu !== undefined) kv.push(`mtu=${o.mtu}`);
      if (o.bridge) kv.push(`br=${o.bridge}`);
      await this.sh(['ctr-add', host.name, name, o.cidr ?? '-', ...kv]);
    } else {
      await this.sh(['ns-add', name]);
      if (o.cidr) throw new Error('addNs: cidr needs a host (a namespace without one has no eth0)');
    }
    const exec = (cmd: string, args: string[] = [], opts?: RunOptions) => run('ip', ['netns', 'exec', ns, cmd, ...args], opts);
    return {
      name,
      ns,
      host,
      hostIf: host ? `ve-${name}` : undefined,
      exec,
      execOk: (cmd, args = [], opts) => runOk('ip', ['netns', 'exec', ns, cmd, ...args], opts),
      ping: async (target, count = 1) => {
        const r = await exec('busybox', ['ping', '-c', String(count), '-W', '2', target], { timeoutMs: 10_000 + count * 2000 });
        return r.code === 0 && new RegExp(`${count} packets received`).test(r.stdout);
      },
      destroy: async () => {
        await this.sh([host ? 'ctr-del' : 'ns-del', name]);
      },
    };
  }

  status(): Promise<string> {
    return this.sh(['status']);
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      const t0 = Date.now();
      // dockerds first: their containers leave their networks while the plugins still answer
      await Promise.all([...this.dockerds].map((d) => d.stop().catch(() => undefined)));
      await Promise.all([...this.plugins].map((p) => p.stop({ timeoutMs: 5000 }).catch(() => undefined)));
      await this.sh(['down']);
      liveLabs.delete(this.id);
      this.timings.downMs = Date.now() - t0;
    })();
    return this.destroyed;
  }
}

/**
 * Brings up a lab: `hosts` hosts with OVS (userspace datapath), br-phy on the underlay, br-int;
 * with `ovn`, OVN central and (chassis 'lab') an ovn-controller per host with the full tunnel
 * mesh up. Always destroy() it (an exit hook runs `lab.sh down` for forgotten ones; the next
 * startLab sweeps labs whose owner process died).
 */
export async function startLab(opts: LabOptions): Promise<Lab> {
  if (process.getuid && process.getuid() !== 0) throw new Error('the lab must run as root');
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > 200) throw new Error(`hosts must be 1..200, not ${opts.hosts}`);
  await sweepStaleLabs();
  const id = opts.id ?? newId();
  if (!/^[a-z0-9]{1,12}$/.test(id)) throw new Error(`bad lab id ${JSON.stringify(id)}`);
  const dir = STATE_PREFIX + id;
  if (fs.existsSync(dir)) {
    let owner = 0;
    try {
      owner = Number(fs.readFileSync(path.join(dir, 'owner'), 'utf8').trim());
    } catch {
      /* none */
    }
    if (owner && owner !== process.pid && isAlive(owner)) throw new Error(`lab ${id} is in use by pid ${owner}`);
    await labSh(id, ['down']);
  }
  const lab = new LabImpl(id, opts.prefix ?? `ocnl${id}`, opts.encap ?? 'geneve', opts.chassis ?? 'lab', opts.systemId ?? 'host', opts.nbCluster ?? 1, opts.hosts);
  if (!exitHooked) {
    exitHooked = true;
    atExit(() => {
      for (const id of [...liveLabs.keys()]) labDownSync(id);
    });
  }
  liveLabs.set(id, lab);
  try {
    let t = Date.now();
    await lab.sh(['up', String(opts.hosts)]);
    lab.timings.upMs = Date.now() - t;
    if (opts.ovn) {
      t = Date.now();
      if (lab.chassis === 'lab') await lab.sh(['ovn-up'], { timeoutMs: 240_000 });
      else await lab.startCentral();
      lab.timings.ovnMs = Date.now() - t;
    }
  } catch (e) {
    await lab.destroy().catch(() => undefined);
    throw e;
  }
  return lab;
}

// ------------------------------------------------------------------ dockerd inside a lab host

class LabDockerdImpl implements LabDockerd {
  readonly sock: string;
  readonly hostUrl: string;
  readonly pluginDir = DOCKERD_PLUGIN_DIR;
  readonly logFile: string;
  pid = 0;
  startupMs = 0;
  private stopped?: Promise<void>;

  constructor(private readonly lab: LabImpl, readonly host: LabHost, private readonly execRoot: 'docker' | 'lab') {
    this.sock = path.join(host.dir, 'docker', 'docker.sock');
    this.hostUrl = `unix://${this.sock}`;
    this.logFile = path.join(host.dir, 'docker', 'dockerd.log');
  }

  async start(): Promise<void> {
    const t0 = Date.now();
    await this.lab.sh(['dockerd-up', this.host.name], { timeoutMs: 120_000, env: this.execRoot === 'lab' ? { LAB_DOCKERD_EXEC_ROOT: 'lab' } : {} });
    this.startupMs = Date.now() - t0;
    this.pid = Number(fs.readFileSync(path.join(this.host.dir, 'docker', 'dockerd.pid'), 'utf8').trim());
  }

  docker(args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): Promise<RunResult> {
    return run(DOCKER_CLI, ['-H', this.hostUrl, ...args], {
      timeoutMs: opts.timeoutMs ?? 120_000,
      input: opts.input,
      unsetEnv: ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH'],
    });
  }

  async dockerOk(args: string[], opts?: { timeoutMs?: number; input?: string | Buffer }): Promise<RunResult> {
    const r = await this.docker(args, opts);
    if (r.code !== 0) throw new Error(`docker (${this.host.name}) ${args.join(' ')} failed (${r.timedOut ? 'timed out' : `exit ${r.code}`}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r;
  }

  nsExec(cmd: string, args: string[] = [], opts?: RunOptions): Promise<RunResult> {
    return run('nsenter', ['-t', String(this.pid), '-m', '-n', '-u', cmd, ...args], opts);
  }

  logs(maxBytes = 8000): string {
    return tailFile(this.logFile, maxBytes);
  }

  alive(): boolean {
    return isAlive(this.pid);
  }

  private containerdPid(): number | undefined {
    try {
      const p = Number(fs.readFileSync(path.join(this.host.dir, 'docker', 'exec', 'containerd', 'containerd.pid'), 'utf8').trim());
      return p > 0 && isAlive(p) ? p : undefined;
    } catch {
      return undefined;
    }
  }

  async kill9(): Promise<void> {
    await crashDockerd(this.pid, this.containerdPid());
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error(`dockerd of ${this.host.name} was stopped for good`);
    const c = this.containerdPid();
    if (this.alive()) await terminate(this.pid, 45_000);
    if (c && !(await waitDead(c, 10_000))) await terminate(c, 5000);
    await this.start();
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      if (fs.existsSync(this.lab.dir)) await this.lab.sh(['dockerd-down', this.host.name], { timeoutMs: 120_000 });
      this.lab.dockerds.delete(this);
    })();
    return this.stopped;
  }
}

/**
 * A dockerd 20.10 inside a lab host: the host's netns, a private mount namespace in which
 * /run/docker (exec root), /etc/docker, /run/containerd, /var/lib/docker and /run/openvswitch
 * (= the host's OVS dir) are private, and /run/docker/plugins is the host's pluginDir (where
 * host.startPlugin() puts the daemon's socket). --iptables=false --bridge=none, API socket
 * <host dir>/docker/docker.sock, containers in cgroup /<prefix>-hK. With `image` (default false)
 * the busybox test image (harness/image.ts, ocn-busybox:latest) is imported. `execRoot: 'lab'`
 * gives dockerd its exec root by the lab path (<host dir>/docker/exec) instead of /run/docker, so
 * the sandbox keys it sends (<exec root>/netns/<id>) exist for the host's plugin daemon too.
 */
export async function startLabDockerd(lab: Lab, h: HostRef, opts: { image?: boolean; execRoot?: 'docker' | 'lab' } = {}): Promise<LabDockerd> {
  const impl = lab as LabImpl;
  const d = new LabDockerdImpl(impl, impl.host(h), opts.execRoot ?? 'docker');
  impl.dockerds.add(d);
  try {
    await d.start();
    if (opts.image) await ensureBusyboxImage(d);
  } catch (e) {
    await d.stop().catch(() => undefined);
    throw e;
  }
  return d;
}

// ------------------------------------------------------------------ leak checks

export interface LabFootprint {
  /** The lab's namespaces at the time. */
  netns: string[];
  /** Every process in them. */
  pids: number[];
  /** name + MAC of every link in them (a link that leaked into the root namespace keeps its MAC). */
  links: { ns: string; name: string; mac: string }[];
}

/** What the lab consists of right now (take it just before destroy(), hand it to labLeftovers). */
export async function labFootprint(lab: Lab): Promise<LabFootprint> {
  const all = (await runOk('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean);
  const netns = all.filter((n) => n.startsWith(`${lab.prefix}-`));
  const fp: LabFootprint = { netns, pids: [], links: [] };
  for (const ns of netns) {
    fp.pids.push(...(await run('ip', ['netns', 'pids', ns])).stdout.split(/\s+/).filter(Boolean).map(Number));
    const r = await run('ip', ['-n', ns, '-j', 'link', 'show']);
    for (const l of JSON.parse(r.stdout || '[]') as { ifname: string; address?: string; link_type?: string }[]) {
      if (l.link_type === 'loopback' || !l.address) continue;
      fp.links.push({ ns, name: l.ifname, mac: l.address });
    }
  }
  return fp;
}

/**
 * Everything of the lab still there after destroy(), as readable problems ([] = clean): its
 * namespaces, live processes (of the footprint, or naming the lab dir on their command line),
 * its state dir, container cgroups, and links in the root namespace that are one of the lab's links
 * (same MAC, and same name or dev<N>) or are named like one (ul-*, ve-*).
 */
export async function labLeftovers(lab: Lab, fp: LabFootprint): Promise<string[]> {
  const problems: string[] = [];
  const nsNow = (await runOk('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(/\s+/)[0]).filter(Boolean);
  for (const ns of nsNow.filter((n) => n.startsWith(`${lab.prefix}-`))) problems.push(`netns ${ns} still exists`);
  for (const p of fp.pids) if (isAlive(p)) problems.push(`process ${p} still alive: ${procCmdlineOf(p)}`);
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid || !isAlive(Number(d))) continue;
    const cmd = procCmdlineOf(Number(d));
    if (cmd.includes(`${lab.dir}/`)) problems.push(`process ${d} names the lab dir: ${cmd}`);
  }
  if (fs.existsSync(lab.dir)) problems.push(`${lab.dir} still exists`);
  for (const c of fs.readdirSync('/sys/fs/cgroup')) {
    try {
      for (const e of fs.readdirSync(`/sys/fs/cgroup/${c}`)) if (e.startsWith(`${lab.prefix}-`)) problems.push(`cgroup /sys/fs/cgroup/${c}/${e} left`);
    } catch {
      /* not a directory */
    }
  }
  const macs = new Map(fp.links.map((l) => [l.mac, l]));
  const root = JSON.parse((await runOk('ip', ['-j', 'link', 'show'])).stdout || '[]') as { ifname: string; address?: string }[];
  for (const l of root) {
    const m = l.address ? macs.get(l.address) : undefined;
    // a device the kernel moves out of a dying netns keeps its MAC, and its name unless taken (then dev<N>)
    if (m && (m.name === l.ifname || /^dev\d+$/.test(l.ifname))) problems.push(`root namespace link ${l.ifname} is ${m.ns}/${m.name} (MAC ${l.address})`);
    else if (/^(ul-|ve-)/.test(l.ifname)) problems.push(`root namespace link ${l.ifname} looks like a lab link`);
  }
  return problems;
}

function procCmdlineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}
