// A Docker Swarm of lab dockerds for node:test tests: N lab hosts (test/lab/lab.ts) with OVS and
// OVN, one dockerd 20.10 per host (own netns, mount namespace, data-root, exec-root, socket,
// pidfile), the managed (v2) plugin built from this tree (plugin/build.sh --no-create) and
// enabled on every node, then `docker swarm init` on node 1 and `docker swarm join` of the others.
//
//   const c = await startSwarmCluster({ nodes: 3 });
//   try { await c.manager.dockerOk(['service', 'create', ...]); } finally { await c.destroy(); }
//
// The chassis: by default the plugin itself sets each host up (OCN_OVN_SB + OCN_ENCAP_IP, what
// a managed-plugin user without the host CLI does); `chassis: 'cli'` runs the product's
// `ovs-container-network chassis setup` in each host instead (lab host.chassisSetup()).
// Every swarm node advertises/listens on its underlay address 192.168.100.K.
import { pluginLogRecords } from '../packaging/common';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, RunResult, waitFor } from '../harness/exec';
import { repoRoot } from '../harness/paths';
import { Lab, LabDockerd, LabFootprint, LabHost, labFootprint, labLeftovers, startLab, startLabDockerd } from '../lab/lab';
import { progressNote, seconds, timed } from '../harness/progress';

/** The v2 plugin reference: the tag is required everywhere (-d, --ipam-driver, plugin set). */
export const PLUGIN = 'ovs-container-network:latest';
/** OCN_NAME of the daemon inside the plugin (default): owner of its OVS rows and records. */
export const OWNER = 'ovs-container-network';
export const IMAGE = 'ocn-busybox:latest';

export const note = progressNote('swarm');
export const sec = (ms: number) => seconds(ms, 1);
export { timed };

export interface SwarmNode {
  /** h1, h2, ...: also the docker node's hostname. */
  readonly name: string;
  readonly host: LabHost;
  readonly d: LabDockerd;
  /** 64-hex id of the managed plugin on this node (its socket dir below /run/docker/plugins). */
  pluginId: string;
  docker(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** Throws on a non-zero exit; returns trimmed stdout. */
  dockerOk(args: string[], timeoutMs?: number): Promise<string>;
}

export interface ClusterTimings {
  labMs: number;
  dockerdMs: number;
  pluginBuildMs: number;
  pluginInstallMs: number;
  chassisMs: number;
  swarmMs: number;
  totalMs: number;
}

export interface SwarmCluster {
  readonly lab: Lab;
  readonly nodes: SwarmNode[];
  readonly manager: SwarmNode;
  readonly timings: ClusterTimings;
  /** The plugin directory (config.json + rootfs) the nodes were given. */
  readonly pluginDir: string;
  node(name: string): SwarmNode;
  /** disable on every node, `docker plugin set` KEY=VALUE..., enable, then wait until the
   *  managers' view of every node lists the plugin again (the swarm scheduler filters on it). */
  reconfigurePlugin(settings: string[]): Promise<void>;
  /** Every node's description (as the manager sees it) lists the plugin as network + IPAM driver. */
  waitPluginAdvertised(timeoutMs?: number): Promise<number>;
  /** Best effort: services, containers, networks, plugins, then the lab. Idempotent. */
  destroy(): Promise<void>;
  /** What the lab consists of, for leftovers() after destroy(). */
  footprint(): Promise<LabFootprint>;
  /** Everything left after destroy() ([] = clean), plugin cgroups included. */
  leftovers(fp: LabFootprint): Promise<string[]>;
}

export interface ClusterOptions {
  nodes?: number;
  /** OCN_SCOPE at enable time (default local). */
  scope?: 'local' | 'global';
  /** Who writes the OVN chassis keys: the plugin at enable (default) or the host CLI. */
  chassis?: 'plugin' | 'cli';
  logLevel?: string;
  /** A ready plugin dir (config.json + rootfs/); default: plugin/build.sh --no-create into a temp dir
   *  (env OCN_SWARM_PLUGIN_DIR gives one too). */
  pluginDir?: string;
}

// ------------------------------------------------------------------ the plugin directory

/** plugin/build.sh --no-create into a fresh temp dir (the rootfs from this host's Node runtime). */
export async function buildPluginDir(): Promise<{ dir: string; ms: number; cleanup: () => void }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-swarm-plugin-'));
  const t0 = Date.now();
  const r = await run(path.join(repoRoot(), 'plugin', 'build.sh'), ['--no-create'], { env: { PLUGIN_BUILD_DIR: dir }, timeoutMs: 600_000 });
  if (r.code !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`plugin/build.sh --no-create failed (exit ${r.code}): ${(r.stderr.trim() || r.stdout.trim()).slice(-3000)}`);
  }
  return { dir, ms: Date.now() - t0, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

// ------------------------------------------------------------------ bring-up

class Node implements SwarmNode {
  pluginId = '';
  constructor(readonly host: LabHost, readonly d: LabDockerd) {}
  get name(): string {
    return this.host.name;
  }
  docker(args: string[], timeoutMs = 120_000): Promise<RunResult> {
    return this.d.docker(args, { timeoutMs });
  }
  async dockerOk(args: string[], timeoutMs = 120_000): Promise<string> {
    return (await this.d.dockerOk(args, { timeoutMs })).stdout.trim();
  }
}

export async function startSwarmCluster(opts: ClusterOptions = {}): Promise<SwarmCluster> {
  const n = opts.nodes ?? 3;
  const chassis = opts.chassis ?? (process.env.OCN_SWARM_CHASSIS === 'cli' ? 'cli' : 'plugin');
  const t0 = Date.now();
  const timings: ClusterTimings = { labMs: 0, dockerdMs: 0, pluginBuildMs: 0, pluginInstallMs: 0, chassisMs: 0, swarmMs: 0, totalMs: 0 };

  // the plugin rootfs builds while the lab comes up (it needs no lab)
  const given = opts.pluginDir ?? process.env.OCN_SWARM_PLUGIN_DIR;
  const building = given
    ? Promise.resolve({ dir: given, ms: 0, cleanup: () => undefined })
    : buildPluginDir();
  building.catch(() => undefined);

  let lab: Lab | undefined;
  let cleanupBuild: () => void = () => undefined;
  try {
    let t = Date.now();
    lab = await startLab({ hosts: n, ovn: true, chassis: 'external' });
    timings.labMs = Date.now() - t;
    const L = lab;

    t = Date.now();
    const dockerds = await Promise.all(L.hosts.map((h) => startLabDockerd(L, h, { image: true })));
    timings.dockerdMs = Date.now() - t;
    const nodes = dockerds.map((d, i) => new Node(L.hosts[i], d));

    const built = await building;
    cleanupBuild = built.cleanup;
    timings.pluginBuildMs = built.ms;
    if (!fs.existsSync(path.join(built.dir, 'config.json')) || !fs.existsSync(path.join(built.dir, 'rootfs'))) {
      throw new Error(`${built.dir} is not a plugin directory (config.json + rootfs/)`);
    }

    // chassis through the CLI first (ovn-controller waits for the keys either way)
    t = Date.now();
    if (chassis === 'cli') await Promise.all(L.hosts.map((h) => h.chassisSetup()));

    // the managed plugin on every node: create (the CLI tars the dir client-side), set, enable
    const ti = Date.now();
    await Promise.all(nodes.map(async (node) => {
      const tc0 = Date.now();
      await node.dockerOk(['plugin', 'create', PLUGIN, built.dir], 300_000);
      const createMs = Date.now() - tc0;
      const settings = [
        `ovs-run.source=${node.host.dir}`,
        `OCN_OVN_NB=${L.nbRemote}`,
        `OCN_SCOPE=${opts.scope ?? 'local'}`,
        `OCN_LOG_LEVEL=${opts.logLevel ?? 'debug'}`,
      ];
      if (chassis === 'plugin') settings.push(`OCN_OVN_SB=${L.sbRemote}`, `OCN_ENCAP_IP=${node.host.ip}`);
      await node.dockerOk(['plugin', 'set', PLUGIN, ...settings]);
      const te0 = Date.now();
      await node.dockerOk(['plugin', 'enable', PLUGIN]);
      node.pluginId = await node.dockerOk(['plugin', 'inspect', '-f', '{{.Id}}', PLUGIN]);
      note(`${node.name}: docker plugin create ${sec(createMs)}, enable ${sec(Date.now() - te0)}`);
    }));
    timings.pluginInstallMs = Date.now() - ti;

    const tc = Date.now();
    await Promise.all(L.hosts.map((h) => L.startController(h)));
    await L.waitTunnels();
    timings.chassisMs = Date.now() - tc + (ti - t); // + the CLI setup, if any

    // the swarm: plugins are enabled first, so every node joins already advertising them
    t = Date.now();
    const [m, ...workers] = nodes;
    await m.dockerOk(['swarm', 'init', '--advertise-addr', m.host.ip, '--listen-addr', `${m.host.ip}:2377`, '--data-path-addr', m.host.ip]);
    const token = await m.dockerOk(['swarm', 'join-token', '-q', 'worker']);
    await Promise.all(workers.map((w) =>
      w.dockerOk(['swarm', 'join', '--token', token, '--advertise-addr', w.host.ip, '--listen-addr', `${w.host.ip}:2377`, '--data-path-addr', w.host.ip, `${m.host.ip}:2377`])));
    await waitFor(async () => {
      const out = await m.dockerOk(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.Availability}}']);
      const ready = out.split('\n').filter((l) => / Ready Active$/.test(l)).length;
      return ready === n;
    }, { timeoutMs: 60_000, intervalMs: 200, what: `${n} swarm nodes Ready` });
    const cluster = new Cluster(L, nodes, timings, built.dir, cleanupBuild);
    await cluster.waitPluginAdvertised();
    timings.swarmMs = Date.now() - t;
    timings.totalMs = Date.now() - t0;
    return cluster;
  } catch (e) {
    await lab?.destroy().catch(() => undefined);
    await building.then((b) => (given ? undefined : b.cleanup())).catch(() => undefined);
    throw e;
  }
}

class Cluster implements SwarmCluster {
  private destroyed?: Promise<void>;
  constructor(
    readonly lab: Lab,
    readonly nodes: SwarmNode[],
    readonly timings: ClusterTimings,
    readonly pluginDir: string,
    private readonly cleanupBuild: () => void,
  ) {}

  get manager(): SwarmNode {
    return this.nodes[0];
  }

  node(name: string): SwarmNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no swarm node ${name}`);
    return n;
  }

  async waitPluginAdvertised(timeoutMs = 60_000): Promise<number> {
    const t0 = Date.now();
    await waitFor(async () => {
      for (const n of this.nodes) {
        const plugins = JSON.parse(await this.manager.dockerOk(['node', 'inspect', n.name, '-f', '{{json .Description.Engine.Plugins}}'])) as { Type: string; Name: string }[];
        const has = (type: string) => plugins.some((p) => p.Type.toLowerCase() === type && p.Name === PLUGIN);
        if (!has('network') || !has('ipamdriver')) return false;
      }
      return true;
    }, { timeoutMs, intervalMs: 500, what: `every node's description to list ${PLUGIN} (swarm agents refresh it every 20 s)` });
    return Date.now() - t0;
  }

  async reconfigurePlugin(settings: string[]): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      await n.dockerOk(['plugin', 'disable', PLUGIN]);
      await n.dockerOk(['plugin', 'set', PLUGIN, ...settings]);
      await n.dockerOk(['plugin', 'enable', PLUGIN]);
    }));
  }

  footprint(): Promise<LabFootprint> {
    return labFootprint(this.lab);
  }

  async leftovers(fp: LabFootprint): Promise<string[]> {
    const problems = await labLeftovers(this.lab, fp);
    // a managed plugin runs in cgroup /<plugin id> (not below the dockerd's --cgroup-parent)
    for (const n of this.nodes) {
      if (!n.pluginId) continue;
      const dirs = [`/sys/fs/cgroup/${n.pluginId}`, ...fs.readdirSync('/sys/fs/cgroup').map((c) => `/sys/fs/cgroup/${c}/${n.pluginId}`)];
      for (const d of dirs) if (fs.existsSync(d)) problems.push(`plugin cgroup ${d} left`);
    }
    return problems;
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      const alive = this.nodes.filter((n) => n.d.alive());
      const m = alive.find((n) => n === this.manager);
      if (m) {
        const svcs = (await m.docker(['service', 'ls', '-q'], 20_000)).stdout.split(/\s+/).filter(Boolean);
        if (svcs.length) await m.docker(['service', 'rm', ...svcs], 30_000);
      }
      await Promise.all(alive.map(async (n) => {
        const ids = (await n.docker(['ps', '-aq'], 20_000)).stdout.split(/\s+/).filter(Boolean);
        if (ids.length) await n.docker(['rm', '-f', ...ids], 60_000);
      }));
      if (m) {
        const nets = (await m.docker(['network', 'ls', '-q', '--filter', `driver=${PLUGIN}`], 20_000)).stdout.split(/\s+/).filter(Boolean);
        for (const id of nets) await m.docker(['network', 'rm', id], 30_000);
      }
      // disabled through dockerd, the plugin processes end and their cgroups go with them (a
      // plugin killed with the lab would leave /sys/fs/cgroup/*/<plugin id>). No `swarm leave`:
      // it took 5.5 s and the data-root goes with the lab anyway.
      let t = Date.now();
      await Promise.all(alive.map((n) => n.docker(['plugin', 'disable', '-f', PLUGIN], 30_000)));
      const leaveMs = Date.now() - t;
      t = Date.now();
      await Promise.all(this.nodes.map((n) => n.d.stop().catch(() => undefined)));
      const stopMs = Date.now() - t;
      t = Date.now();
      await this.lab.destroy();
      note(`destroy: plugin disable ${sec(leaveMs)}, dockerds stopped ${sec(stopMs)}, lab down ${sec(Date.now() - t)}`);
      this.cleanupBuild();
    })();
    return this.destroyed;
  }
}

// ------------------------------------------------------------------ what the plugin left where

/**
 * OVS interfaces the plugin owns on a host (the brief's `find Interface external_ids:ocn-owner=...`):
 * its endpoints' ports, or with 'any' also the warm pool's and gateways (what a network's delete removes).
 */
export async function ownedInterfaces(host: LabHost, type: 'endpoint' | 'any' = 'endpoint'): Promise<string[]> {
  const only = type === 'endpoint' ? ['external_ids:ocn-owner-type=endpoint'] : [];
  return (await host.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${OWNER}`, ...only)).split(/\s+/).filter(Boolean).sort();
}

/** The plugin's durable records on a host (Open_vSwitch external_ids ocn.<OWNER>.*), key -> value. */
export async function records(host: LabHost): Promise<Map<string, string>> {
  const out = await host.vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
  const m = ovsdbMap((JSON.parse(out) as { data: unknown[][] }).data[0][0]);
  const prefix = `ocn.${OWNER}.`;
  return new Map([...m].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
}

/** Short forms of the records: net:<id12>, pool:<space>/<cidr>, addr:<space>/<cidr>|<ip>=<role>. */
export async function recordSummary(host: LabHost): Promise<string[]> {
  const out: string[] = [];
  for (const [k, v] of await records(host)) {
    if (k.startsWith('net.')) out.push(`net:${k.slice(4, 16)}`);
    else if (k.startsWith('pool.')) out.push(`pool:${k.slice(5)}`);
    else if (k.startsWith('addr.')) out.push(`addr:${k.slice(5)}=${v}`);
    else out.push(k);
  }
  return out.sort();
}

export interface NbSwitch {
  uuid: string;
  name: string;
  externalIds: Map<string, string>;
  ports: string[];
}

export interface NbPort {
  uuid: string;
  name: string;
  addresses: string[];
  externalIds: Map<string, string>;
}

export async function nbSwitches(lab: Lab): Promise<NbSwitch[]> {
  const out = JSON.parse(await lab.nbctl('--format=json', '--columns=_uuid,name,external_ids,ports', 'list', 'Logical_Switch')) as { data: unknown[][] };
  return out.data.map((r) => ({ uuid: ovsdbAtom(r[0]), name: ovsdbAtom(r[1]), externalIds: ovsdbMap(r[2]), ports: ovsdbSet(r[3]) }));
}

export async function nbSwitch(lab: Lab, name: string): Promise<NbSwitch | undefined> {
  return (await nbSwitches(lab)).find((s) => s.name === name);
}

export async function nbPorts(lab: Lab): Promise<NbPort[]> {
  const out = JSON.parse(await lab.nbctl('--format=json', '--columns=_uuid,name,addresses,external_ids', 'list', 'Logical_Switch_Port')) as { data: unknown[][] };
  return out.data.map((r) => ({ uuid: ovsdbAtom(r[0]), name: ovsdbAtom(r[1]), addresses: ovsdbSet(r[2]), externalIds: ovsdbMap(r[3]) }));
}

/** The logical ports of one switch. */
export async function nbSwitchPorts(lab: Lab, name: string): Promise<NbPort[]> {
  const ls = await nbSwitch(lab, name);
  if (!ls) return [];
  const uuids = new Set(ls.ports);
  return (await nbPorts(lab)).filter((p) => uuids.has(p.uuid));
}

/** Logical port name -> the chassis (name) the SB has it bound on. */
export async function portBindings(lab: Lab): Promise<Map<string, string>> {
  const ch = JSON.parse(await lab.sbctl('--format=json', '--columns=_uuid,name', 'list', 'Chassis')) as { data: unknown[][] };
  const names = new Map(ch.data.map((r) => [ovsdbAtom(r[0]), ovsdbAtom(r[1])]));
  const pb = JSON.parse(await lab.sbctl('--format=json', '--columns=logical_port,chassis', 'list', 'Port_Binding')) as { data: unknown[][] };
  const out = new Map<string, string>();
  for (const r of pb.data) {
    const c = ovsdbSet(r[1])[0];
    if (c) out.set(ovsdbAtom(r[0]), names.get(c) ?? c);
  }
  return out;
}

// OVSDB JSON values as the ovs/ovn tools print them: atom | ["uuid",u] | ["set",[..]] | ["map",[[k,v]..]]
function ovsdbAtom(v: unknown): string {
  if (Array.isArray(v) && (v[0] === 'uuid' || v[0] === 'named-uuid')) return String(v[1]);
  return String(v);
}
function ovsdbSet(v: unknown): string[] {
  if (Array.isArray(v) && v[0] === 'set') return (v[1] as unknown[]).map(ovsdbAtom);
  return [ovsdbAtom(v)];
}
function ovsdbMap(v: unknown): Map<string, string> {
  if (!Array.isArray(v) || v[0] !== 'map') return new Map();
  return new Map((v[1] as unknown[][]).map(([k, x]) => [ovsdbAtom(k), ovsdbAtom(x)]));
}

// ------------------------------------------------------------------ the plugin's own log

/** The plugin's JSON log records from a node's dockerd log (dockerd copies the plugin's stderr as
 *  `level=error msg="<quoted line>" plugin=<id>`), from byte `from` on. */
export function pluginLog(node: SwarmNode, from = 0): Record<string, unknown>[] {
  return pluginLogRecords(node.d, node.pluginId, from);
}

export function logSize(node: SwarmNode): number {
  try {
    return fs.statSync(node.d.logFile).size;
  } catch {
    return 0;
  }
}

