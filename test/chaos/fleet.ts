// The chaos scenarios' common ground (issue 11): a real dockerd and the real plugin daemon on lab
// host h1, which runs its own OVS, is an OVN chassis (the lab's NB/SB/northd, ovn-controller) and
// has h2 as its plain-overlay peer. Four networks, two busybox containers on each:
//   vlan  plain VLAN (gateway=external): the gateway is a lab namespace on the same VLAN;
//   gwl   gateway=local, the plugin's IPAM: the gateway is the plugin's internal port;
//   ovl   plain overlay (vxlan): the "gateway" is a namespace on h2, across the tunnel;
//   ovn   OVN switch + tenant router, the plugin's IPAM: the gateway is the router port, and a
//         namespace on h2 is a cross-host peer over OVN's Geneve tunnel.
// assertHealthy() is what every scenario asserts afterwards, as the issue lists it.
// Not like a real host: the daemon runs outside dockerd's mount namespace (its exec root is given
// by the lab path), so it sees a sandbox key as a file but never the netns mounted on it.
import assert from 'node:assert/strict';
import { run, sleep } from '../harness/exec';
import type { Plugin } from '../harness/plugin';
import { BUSYBOX_IMAGE } from '../harness/image';
import { progressNote } from '../harness/progress';
import { Lab, LabDockerd, LabHost, startLab, startLabDockerd } from '../lab/lab';
import { attach, createNetwork, createNetworkDefaultIpam, ovnChassisUp, type Ctr } from '../multihost/attach';
import { addressRecordLeaks, duplicates, endpointInterfaces, endpointLeaks, inBatches, type LeakScope } from './endpoint-leaks';

export const note = progressNote('chaos');

export type NetKind = 'vlan' | 'gateway-local' | 'overlay' | 'ovn';
export const ALL_KINDS: NetKind[] = ['vlan', 'gateway-local', 'overlay', 'ovn'];
export const PLAIN_KINDS: NetKind[] = ['vlan', 'gateway-local', 'overlay'];

export interface FleetNet {
  kind: NetKind;
  /** The docker network's name. */
  name: string;
  /** What its containers must reach as their gateway. */
  gateway: string;
  /** A namespace on h2 its containers must reach (cross-host traffic), when it spans hosts. */
  remote?: string;
  /** Addresses from the plugin's IPAM (whose records the leak check looks at). */
  ownIpam: boolean;
}

export interface Fleet {
  lab: Lab;
  /** h1: the dockerd and the plugin under test. */
  h: LabHost;
  d: LabDockerd;
  p: Plugin;
  /** h2's daemon: the overlay peer and a second OVN chassis. */
  p2: Plugin;
  nets: FleetNet[];
  /** The namespaces on h2 (overlay gateway, OVN peer). */
  remotes: Ctr[];
  /** Addresses h2's daemon holds besides its namespaces' (its OVN network's gateway). */
  remoteHeld: string[];
  /** h1's plugin, dockerd, OVSDB and links, for the leak checks. */
  scope: LeakScope;
  /** The OVN logical switch of the ovn network. */
  ovnSwitch: string;
}

export interface FleetContainer {
  name: string;
  net: FleetNet;
  ip: string;
  endpoint: string;
  /** Host end of its veth (the OVS port). */
  hostIf: string;
}

const OVERLAY_VNI = '6001';

export interface FleetOptions {
  /** OVN NB as a Raft cluster of 3 (default: the lab's standalone NB). */
  nbCluster?: 3;
  /** More flags for both daemons. */
  daemonArgs?: string[];
}

function hostArgs(lab: Lab, self: LabHost, more: string[]): string[] {
  const peers = lab.hosts.filter((x) => x !== self).map((x) => x.ip).join(',');
  return ['--ovn-nb', lab.nbRemote, '--peers', peers, '--underlay-mtu', '1600', ...more];
}

/** Builds the fleet (one a test file: a lab of its own). */
export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const t0 = Date.now();
  const lab = await startLab({ hosts: 2, ovn: true, chassis: 'external', nbCluster: opts.nbCluster });
  try {
    const [h, h2] = lab.hosts;
    const [d] = await Promise.all([startLabDockerd(lab, h, { image: true, execRoot: 'lab' }), ovnChassisUp(lab)]);
    const [p, p2] = await Promise.all([
      h.startPlugin(hostArgs(lab, h, opts.daemonArgs ?? []), { pluginDir: '/run/docker/plugins' }),
      h2.startPlugin(hostArgs(lab, h2, opts.daemonArgs ?? [])),
    ]);
    const scope: LeakScope = {
      p,
      docker: (args) => d.docker(args, { timeoutMs: 180_000 }),
      vsctl: (...args) => h.vsctl(...args),
      links: async () => new Set((await h.execOk('ip', ['-o', 'link', 'show'])).stdout.split('\n').map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1]).filter((n): n is string => !!n)),
    };
    const ovnSwitch = `fl${lab.id}`;
    const dk = (args: string[]) => d.dockerOk(args, { timeoutMs: 120_000 });
    await dk(['network', 'create', '-d', p.name, '--subnet', '10.71.0.0/24', '-o', 'bridge=br-fl', '-o', 'vlan=311', '-o', 'gateway=external', 'vlan']);
    await dk(['network', 'create', '-d', p.name, '--ipam-driver', p.name, '--subnet', '10.72.0.0/24', '-o', 'bridge=br-fl', '-o', 'vlan=312', 'gwl']);
    await dk(['network', 'create', '-d', p.name, '--subnet', '10.74.0.0/24', '--ip-range', '10.74.0.0/26', '--gateway', '10.74.0.1', '-o', 'bridge=br-fl', '-o', 'overlay=vxlan', '-o', `vni=${OVERLAY_VNI}`, '-o', 'gateway=external', 'ovl']);
    await dk(['network', 'create', '-d', p.name, '--ipam-driver', p.name, '--subnet', '10.59.0.0/24', '--ip-range', '10.59.0.0/25', '-o', `ovn.switch=${ovnSwitch}`, '-o', `tenant_id=${ovnSwitch}`, 'ovn']);
    // The VLAN network's router: a lab namespace on br-fl, access VLAN 311.
    await lab.addNs('flrt', h, { cidr: '10.71.0.1/24', vlan: 311, bridge: 'br-fl' });
    // h2: the overlay's far end (holds the overlay's gateway address) and an OVN peer.
    const ovl2 = await createNetworkDefaultIpam(p2, '10.74.0.0/24', '10.74.0.1/24', { bridge: 'br-fl', overlay: 'vxlan', vni: OVERLAY_VNI, gateway: 'external' });
    const ovn2 = await createNetwork(p2, '10.59.0.0/24', { 'ovn.switch': ovnSwitch, tenant_id: ovnSwitch }, undefined, '10.59.0.128/25');
    const remotes = [
      await attach(h2, p2, ovl2, `${lab.prefix}-r1`, { address: '10.74.0.1/24', route: false }),
      await attach(h2, p2, ovn2, `${lab.prefix}-r2`),
    ];
    const nets: FleetNet[] = [
      { kind: 'vlan', name: 'vlan', gateway: '10.71.0.1', ownIpam: false },
      { kind: 'gateway-local', name: 'gwl', gateway: '10.72.0.1', ownIpam: true },
      { kind: 'overlay', name: 'ovl', gateway: '10.74.0.1', remote: remotes[0].ip, ownIpam: false },
      { kind: 'ovn', name: 'ovn', gateway: '10.59.0.1', remote: remotes[1].ip, ownIpam: true },
    ];
    const fleet: Fleet = { lab, h, d, p, p2, nets, remotes, remoteHeld: [ovn2.gateway.split('/')[0]], scope, ovnSwitch };
    await Promise.all(nets.flatMap((n) => ['a', 'b'].map((x) => runOn(fleet, `${n.name}-${x}`, n, ['--restart', 'always', '--stop-timeout', '1']))));
    note(`fleet up in ${Date.now() - t0} ms (lab ${lab.id}: ${lab.timings.upMs} ms, OVN ${lab.timings.ovnMs} ms, dockerd ${d.startupMs} ms)`);
    return fleet;
  } catch (e) {
    await lab.destroy().catch(() => undefined);
    throw e;
  }
}

export async function destroyFleet(fleet: Fleet | undefined): Promise<void> {
  if (!fleet) return;
  for (const r of fleet.remotes) await run('ip', ['netns', 'del', r.ns]);
  await fleet.lab.destroy();
}

export function netOf(fleet: Fleet, kind: NetKind): FleetNet {
  return fleet.nets.find((n) => n.kind === kind)!;
}

/** `docker run -d --name NAME --network NET [args] busybox sleep 1d`, failing loudly. */
export async function runOn(fleet: Fleet, name: string, net: FleetNet, args: string[] = []): Promise<void> {
  await fleet.d.dockerOk(['run', '-d', '--name', name, '--network', net.name, ...args, BUSYBOX_IMAGE, 'sleep', '1d'], { timeoutMs: 180_000 });
}

/** The running containers on the fleet's networks, as dockerd sees them. */
export async function fleetContainers(fleet: Fleet, kinds: NetKind[] = ALL_KINDS): Promise<FleetContainer[]> {
  const ids = (await fleet.d.docker(['ps', '-q', '--no-trunc'])).stdout.split(/\s+/).filter(Boolean);
  if (!ids.length) return [];
  const r = await fleet.d.docker(['inspect', '-f', '{{.Name}}|{{json .NetworkSettings.Networks}}', ...ids]);
  // Endpoint ports by endpoint id (a warm pooled port's name is not derived from the id).
  const portOf = new Map((await endpointInterfaces(fleet.scope)).map((r) => [r.endpoint, r.name]));
  const out: FleetContainer[] = [];
  for (const line of r.stdout.split('\n').filter(Boolean)) {
    const sep = line.indexOf('|');
    const networks = JSON.parse(line.slice(sep + 1)) as Record<string, { EndpointID: string; IPAddress: string }>;
    for (const [name, s] of Object.entries(networks)) {
      const net = fleet.nets.find((n) => n.name === name);
      if (!net || !kinds.includes(net.kind)) continue;
      out.push({ name: line.slice(1, sep), net, ip: s.IPAddress, endpoint: s.EndpointID, hostIf: portOf.get(s.EndpointID) ?? `ocnh${s.EndpointID.slice(0, 11)}` });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** Every container port of the plugin: veth name -> "ofport/kernel ifindex" (what "not recreated" compares). */
export async function portSnapshot(fleet: Fleet): Promise<Map<string, string>> {
  const idx = new Map<string, string>();
  for (const l of (await fleet.h.execOk('ip', ['-o', 'link', 'show'])).stdout.split('\n')) {
    const m = /^(\d+):\s+([^:@\s]+)/.exec(l);
    if (m) idx.set(m[2], m[1]);
  }
  const snap = new Map<string, string>();
  for (const r of await endpointInterfaces(fleet.scope)) snap.set(r.name, `${r.ofport}/${idx.get(r.name) ?? 'no link'}`);
  return snap;
}

/** Pings `target` from `container` until one answer or the deadline: the ms it took, or undefined. */
export async function reaches(fleet: Fleet, container: string, target: string, ms = 10_000): Promise<number | undefined> {
  const started = Date.now();
  do {
    const r = await fleet.d.docker(['exec', container, 'ping', '-c', '1', '-W', '1', target], { timeoutMs: 5_000 });
    if (r.code === 0) return Date.now() - started;
  } while (Date.now() - started < ms);
  return undefined;
}

/** Logical ports of ours whose endpoint nobody has, and address reservations on the switch nobody holds. */
async function nbLeaks(fleet: Fleet, owned: Set<string>, held: Set<string>): Promise<string[]> {
  const leaks: string[] = [];
  const lsps = JSON.parse(await fleet.lab.nbctl('--format=json', '--columns=name,external_ids', 'list', 'Logical_Switch_Port')) as { data: [string, [string, [string, string][]]][] };
  for (const [name, ids] of lsps.data) {
    const ep = Object.fromEntries(ids[1])['ocn-endpoint'];
    if (ep && !owned.has(ep)) leaks.push(`logical port ${name}`);
  }
  const ls = JSON.parse(await fleet.lab.nbctl('--format=json', '--columns=external_ids', 'find', 'Logical_Switch', `name=${fleet.ovnSwitch}`)) as { data: [[string, [string, string][]]][] };
  for (const [k] of ls.data[0]?.[0][1] ?? []) if (k.startsWith('ocn-ip-') && !held.has(k.slice(7))) leaks.push(`reservation ${k.slice(7)}`);
  return leaks;
}

export interface Health {
  /** Running containers checked. */
  containers: number;
  /** The slowest first answer among all (container, target) pairs, ms. */
  reachMs: number;
  /** When the last of those answered (or gave up). */
  reachedAt: number;
  unreachable: string[];
  /** New containers started (one per network checked). */
  started: number;
  notStarted: string[];
  duplicateIps: string[];
  leaks: string[];
  /** Ports of `before` whose ofport or veth ifindex changed while their container kept running. */
  recreated: string[];
}

export interface HealthOptions {
  /** portSnapshot() before the fault: no running container's port may differ from it. */
  before?: Map<string, string>;
  /** The networks checked (default all four); leaks in NB are looked at when 'ovn' is among them. */
  kinds?: NetKind[];
  /** Whether to start a new container on each network (default true). */
  newContainers?: boolean;
  /** Whether to look for leaks (default true). */
  leaks?: boolean;
  /** How long veths of removed containers may take to go (default 15 s). */
  leakWaitMs?: number;
}

/** Everything the issue asks after a fault, as figures and problems (see assertHealthy). */
export async function checkHealth(fleet: Fleet, opts: HealthOptions = {}): Promise<Health> {
  const kinds = opts.kinds ?? ALL_KINDS;
  const live = await fleetContainers(fleet, kinds);
  const h: Health = { containers: live.length, reachMs: 0, reachedAt: 0, unreachable: [], started: 0, notStarted: [], duplicateIps: [], leaks: [], recreated: [] };

  // Every running container reaches a peer on its network, its gateway and its remote peer.
  const pairs = live.flatMap((c) => {
    const same = live.filter((o) => o.net === c.net);
    const peer = same[(same.indexOf(c) + 1) % same.length];
    return [peer !== c ? peer.ip : undefined, c.net.gateway, c.net.remote].filter((t, i, a): t is string => !!t && a.indexOf(t) === i).map((t) => ({ c, t }));
  });
  for (const [i, ms] of (await inBatches(pairs, 6, ({ c, t }) => reaches(fleet, c.name, t))).entries()) {
    if (ms === undefined) h.unreachable.push(`${pairs[i].c.name} (${pairs[i].c.ip || 'no address'}) -> ${pairs[i].t}`);
    else h.reachMs = Math.max(h.reachMs, ms);
  }

  h.reachedAt = Date.now();
  if (opts.before) h.recreated = await recreatedSince(fleet, opts.before, live);
  h.duplicateIps = duplicates([...live.map((c) => c.ip).filter(Boolean), ...fleet.remotes.map((r) => r.ip)]);

  // A new container starts on each network, reaches its gateway and is reached by an old one.
  if (opts.newContainers !== false) {
    const fresh = fleet.nets.filter((n) => kinds.includes(n.kind)).map((n) => ({ n, name: `${n.name}-new${Date.now().toString(36)}` }));
    await Promise.all(fresh.map(async ({ n, name }) => {
      const r = await fleet.d.docker(['run', '-d', '--name', name, '--network', n.name, BUSYBOX_IMAGE, 'sleep', '1d'], { timeoutMs: 180_000 });
      if (r.code !== 0) return void h.notStarted.push(`${n.name}: ${r.stderr.trim().split('\n').pop()}`);
      h.started++;
      const ip = (await fleet.d.dockerOk(['inspect', '-f', `{{(index .NetworkSettings.Networks "${n.name}").IPAddress}}`, name])).stdout.trim();
      if ((await reaches(fleet, name, n.gateway)) === undefined) h.unreachable.push(`new ${name} -> gateway ${n.gateway}`);
      const old = live.find((c) => c.net === n);
      if (old && (await reaches(fleet, old.name, ip)) === undefined) h.unreachable.push(`${old.name} -> new ${name} (${ip})`);
      if (live.some((c) => c.ip === ip)) h.duplicateIps.push(ip);
    }));
    await fleet.d.docker(['rm', '-f', ...fresh.map((f) => f.name)], { timeoutMs: 120_000 });
  }

  // Nothing left that no container owns (veths of removed containers go just after their
  // DeleteEndpoint answer: they get a moment).
  const leakWait = Date.now() + (opts.leakWaitMs ?? 15_000);
  for (; opts.leaks !== false; ) {
    h.leaks = await leaksNow(fleet, kinds.includes('ovn'));
    if (!h.leaks.length || Date.now() > leakWait) break;
    await sleep(500);
  }
  return h;
}

/**
 * Running containers whose port differs from `before` (ofport or veth ifindex: recreated), or
 * that have no port at all.
 */
export async function recreatedSince(fleet: Fleet, before: Map<string, string>, live?: FleetContainer[]): Promise<string[]> {
  const now = await portSnapshot(fleet);
  const out: string[] = [];
  for (const c of live ?? (await fleetContainers(fleet))) {
    const was = before.get(c.hostIf);
    if (!now.has(c.hostIf)) out.push(`${c.name} ${c.hostIf} has no port`);
    else if (was !== undefined && now.get(c.hostIf) !== was) out.push(`${c.name} ${c.hostIf} ${was} -> ${now.get(c.hostIf)}`);
  }
  return out;
}

/** Every kind of leak the fleet can have, at this moment. */
export async function leaksNow(fleet: Fleet, nb = true): Promise<string[]> {
  const all = await fleetContainers(fleet);
  const held = new Set([...all.map((c) => c.ip), ...fleet.nets.map((n) => n.gateway), ...fleet.remotes.map((r) => r.ip), ...fleet.remoteHeld]);
  const owned = new Set([...all.map((c) => c.endpoint), ...fleet.remotes.map((r) => r.endpointId)]);
  return [
    ...(await endpointLeaks(fleet.scope)),
    ...(await addressRecordLeaks(fleet.scope, held)),
    ...(nb ? await nbLeaks(fleet, owned, held) : []),
  ];
}

/** The problems of a health check, one line each ([] = healthy). */
export function problemsOf(h: Health): string[] {
  const few = (what: string, l: string[]) => (l.length ? [`${what}: ${l.slice(0, 6).join(', ')}${l.length > 6 ? ` (+${l.length - 6})` : ''}`] : []);
  return [...few('unreachable', h.unreachable), ...few('not started', h.notStarted), ...few('duplicate addresses', h.duplicateIps), ...few('left behind', h.leaks), ...few('ports recreated', h.recreated)];
}

/** checkHealth, then `report` (the scenario's chaos line, printed even on failure), then asserts. */
export async function assertHealthy(fleet: Fleet, opts: HealthOptions & { report?: (h: Health) => void } = {}): Promise<Health> {
  const h = await checkHealth(fleet, opts);
  opts.report?.(h);
  assert.deepEqual(problemsOf(h), [], 'the fleet is healthy after the fault');
  return h;
}

/** The fleet figures every chaos line carries. */
export function healthFigures(h: Health): string {
  return `containers ${h.containers} | unreachable ${h.unreachable.length} | new containers ${h.started}/${h.started + h.notStarted.length} | reach ${h.reachMs} ms`;
}
