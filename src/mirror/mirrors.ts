// Port mirroring: the control API's mirror.create / mirror.delete / mirror.list, the temporary
// mirrors of captures, and the clean-up when a mirrored endpoint goes. Mirrors live in OVSDB
// only (Mirror rows owned by the daemon, their description in external_ids), so they survive a
// daemon restart and list reads them back from there.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import { isIPv4 } from 'node:net';
import type http from 'node:http';
import { JSONRPCErrorCode, JSONRPCErrorException, type JSONRPCServer } from 'json-rpc-2.0';
import type { Db } from '../ovs/db';
import type { Endpoint, NetworkRecord } from '../driver/model';
import { type Registry, uniqueByPrefix } from '../driver/registry';
import type { LinkOps } from '../driver/links';
import { findPort, findInterface } from '../ovs/port';
import { PortRefusedError, waitPortsOpen } from '../ovs/port-ready';
import { bridgeOfPort, findBridge } from '../ovs/bridge';
import type { Logger } from '../util/log';
import {
  type Direction, DIRECTIONS, MirrorError, type MirrorOutput, type MirrorPlan, type MirrorRow, type Selection, MIRROR_KEY,
  captureTapName, createMirrorOps, decodeMirrors, deleteMirrorOps, outputPortName, purgeRevalidators, readMirrorsOps, vethAlias,
} from './ovs-mirror';
import { captureRoute, CAPTURE_PATH } from './capture';

export { MirrorError };

export interface CreateRequest {
  source: { endpoint: string } | { network: string };
  direction: Direction;
  output: MirrorOutput;
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;
const OUTPUT_ACCEPTED = 'accepted: {"type": "interface", "name": NAME} (a host interface, made as a veth pair if missing), {"type": "gre", "remote_ip": IPv4, "key": 0-4294967295} or {"type": "erspan", "remote_ip": IPv4, "key": 0-1023 (the session id)}';

function invalid(field: string, why: string): MirrorError {
  return new MirrorError('INVALID_ARGUMENT', `mirror.create: ${field}: ${why}`, field);
}

/** mirror.create's params, checked: one source, a direction, one output. */
export function parseCreate(params: unknown): CreateRequest {
  if (!params || typeof params !== 'object' || Array.isArray(params)) {
    throw invalid('params', `expected an object like {"endpoint": ID, "direction": "both", "output": {"type": "interface", "name": "mir0"}}, got ${JSON.stringify(params)}`);
  }
  const p = params as Record<string, unknown>;
  const known = new Set(['endpoint', 'network', 'direction', 'output']);
  for (const k of Object.keys(p)) if (!known.has(k)) throw invalid(k, `unknown parameter; accepted: ${[...known].join(', ')}`);
  if ((p.endpoint === undefined) === (p.network === undefined)) throw invalid('endpoint', 'give exactly one source: "endpoint" (an endpoint id or unique prefix) or "network" (a network id or unique prefix)');
  const key = p.endpoint !== undefined ? 'endpoint' : 'network';
  const ref = p[key];
  if (typeof ref !== 'string' || ref.length < 6) throw invalid(key, `${JSON.stringify(ref)} is not an id; accepted: the id or a unique prefix of at least 6 characters`);
  const direction = p.direction ?? 'both';
  if (typeof direction !== 'string' || !DIRECTIONS.includes(direction as Direction)) throw invalid('direction', `${JSON.stringify(direction)}; accepted: "both", "in" (traffic to the container), "out" (traffic from it)`);
  return { source: key === 'endpoint' ? { endpoint: ref } : { network: ref }, direction: direction as Direction, output: parseOutput(p.output) };
}

export function parseOutput(v: unknown): MirrorOutput {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid('output', `${JSON.stringify(v)}; ${OUTPUT_ACCEPTED}`);
  const o = v as Record<string, unknown>;
  if (o.type === 'interface') {
    if (typeof o.name !== 'string' || !IFNAME.test(o.name)) throw invalid('output.name', `${JSON.stringify(o.name)} is not an interface name (1-15 of A-Z a-z 0-9 _ . -)`);
    if (o.name.startsWith('ocm')) throw invalid('output.name', `${o.name}: names starting with "ocm" are the daemon's own`);
    return { type: 'interface', name: o.name };
  }
  if (o.type === 'gre' || o.type === 'erspan') {
    if (typeof o.remote_ip !== 'string' || !isIPv4(o.remote_ip)) throw invalid('output.remote_ip', `${JSON.stringify(o.remote_ip)} is not an IPv4 address (the collector's)`);
    const max = o.type === 'gre' ? 0xffffffff : 1023;
    const key = o.key ?? 0;
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key > max) throw invalid('output.key', `${JSON.stringify(o.key)}; accepted for ${o.type}: an integer 0-${max}`);
    return { type: o.type, remoteIp: o.remote_ip, key };
  }
  throw invalid('output.type', `${JSON.stringify(o.type)}; ${OUTPUT_ACCEPTED}`);
}

/** A mirror as mirror.list and mirror.create answer it. */
export interface MirrorInfo {
  id: string;
  source: { endpoint: string } | { network: string };
  direction: Direction;
  bridge: string;
  output: { type: 'interface'; name: string } | { type: 'gre' | 'erspan'; remote_ip: string; key: number };
  /** The port on the bridge the frames leave by. */
  port: string;
  temporary?: true;
  /** OVS Mirror statistics (refreshed by ovs-vswitchd every few seconds). */
  statistics: { tx_packets: number; tx_bytes: number };
}

export function mirrorInfo(m: MirrorRow, portName: string | undefined): MirrorInfo {
  const ids = m.ids;
  let output: MirrorInfo['output'] = { type: 'interface', name: '' };
  try {
    const o = JSON.parse(ids[MIRROR_KEY.output] ?? '{}') as MirrorOutput;
    output = o.type === 'interface' ? o : { type: o.type, remote_ip: o.remoteIp, key: o.key };
  } catch {
    // A row someone edited by hand: shown with what is left.
  }
  return {
    id: m.id,
    source: ids[MIRROR_KEY.network] ? { network: ids[MIRROR_KEY.network] } : { endpoint: ids[MIRROR_KEY.endpoint] ?? '' },
    direction: (ids[MIRROR_KEY.direction] as Direction) ?? 'both',
    bridge: m.bridge,
    output,
    port: portName ?? '',
    ...(ids[MIRROR_KEY.temporary] ? { temporary: true as const } : {}),
    statistics: { tx_packets: m.statistics.tx_packets ?? 0, tx_bytes: m.statistics.tx_bytes ?? 0 },
  };
}

export interface MirrorDeps {
  /** The daemon's driver name (owner of the rows). */
  name: string;
  db: Db;
  registry: Pick<Registry, 'networks' | 'endpoints' | 'locks'>;
  links: Pick<LinkOps, 'createVethPair' | 'deleteLink' | 'getLink' | 'listLinks' | 'setUp' | 'setAlias'>;
  /** The local OVSDB remote: ovs-vswitchd's control socket is found beside it. */
  ovsdbRemote: string;
  /** A network's access VLAN on its bridge (undefined: none, an OVN network). */
  accessVlan(net: NetworkRecord): number | undefined;
  log: Logger;
  /** Resolves once the daemon's state is loaded (a capture waits for it). */
  ready?: () => Promise<void>;
  /** How long ovs-vswitchd may take to open an output port (default 10 s). */
  portTimeoutMs?: number;
}

/** What a capture holds while it runs: its mirror and the interface to read. */
export interface CaptureSession {
  id: string;
  endpoint: Endpoint;
  tap: string;
  close(): Promise<void>;
}

export class Mirrors {
  /** Endpoints and networks with a mirror, as of the last read (undefined: not read yet). */
  private mirroredSources?: Set<string>;

  constructor(private readonly d: MirrorDeps) {}

  async create(params: unknown): Promise<MirrorInfo> {
    const req = parseCreate(params);
    if ('endpoint' in req.source) {
      const ep = this.endpoint(req.source.endpoint);
      return this.d.registry.locks.run(`ep:${ep.id}`, () => this.make(req, ep, {}));
    }
    const net = this.network(req.source.network);
    return this.d.registry.locks.run(`net:${net.id}`, () => this.make(req, net, {}));
  }

  async delete(params: unknown): Promise<{ deleted: string }> {
    const id = params && typeof params === 'object' ? (params as { id?: unknown }).id : undefined;
    if (typeof id !== 'string' || !id) throw new MirrorError('INVALID_ARGUMENT', `mirror.delete: id: ${JSON.stringify(id)}; accepted: {"id": MIRROR-ID} (mirror.list shows them)`, 'id');
    const m = (await this.read()).find((x) => x.id === id);
    if (!m) throw new MirrorError('MIRROR_NOT_FOUND', `mirror.delete: id: no mirror ${id} on this host (mirror.list shows them)`, 'id');
    await this.remove([m]);
    return { deleted: id };
  }

  async list(): Promise<MirrorInfo[]> {
    const rows = await this.read();
    return rows.map((m) => mirrorInfo(m, this.portName(m.outputPort)));
  }

  /**
   * Removes the mirrors of an endpoint that is going (the driver calls it when it deletes the
   * endpoint, under the endpoint's lock). Returns the mirror ids removed.
   */
  forgetEndpoint(endpointId: string): Promise<string[]> {
    return this.forget(MIRROR_KEY.endpoint, endpointId);
  }

  /**
   * Removes the mirrors of a network that is going (the driver calls it when it deletes the
   * network, before its bridge may go): the veths made for them would be left otherwise.
   */
  forgetNetwork(networkId: string): Promise<string[]> {
    return this.forget(MIRROR_KEY.network, networkId);
  }

  private async forget(key: string, sourceId: string): Promise<string[]> {
    // Most endpoints and networks have no mirror: known from the last read, their delete costs nothing here.
    if (this.mirroredSources && !this.mirroredSources.has(sourceId)) return [];
    const mine = (await this.read()).filter((m) => m.ids[key] === sourceId);
    await this.remove(mine);
    return mine.map((m) => m.id);
  }

  /**
   * After start-up's reconcile: capture mirrors a crash left, mirrors of endpoints that are gone,
   * and mirror veths nothing refers to any more.
   */
  async reconcile(): Promise<void> {
    const rows = await this.read();
    const stale = rows.filter((m) => m.ids[MIRROR_KEY.temporary] || (m.ids[MIRROR_KEY.endpoint] && !this.d.registry.endpoints.has(m.ids[MIRROR_KEY.endpoint])) || (m.ids[MIRROR_KEY.network] && !this.d.registry.networks.has(m.ids[MIRROR_KEY.network])));
    await this.remove(stale);
    if (stale.length) this.d.log.info({ mirrors: stale.map((m) => m.id) }, 'stale mirrors removed');
    const kept = rows.filter((m) => !stale.includes(m));
    const links = await this.d.links.listLinks();
    const present = new Set(links.map((l) => l.name));
    const alias = vethAlias(this.d.name);
    const wanted = new Set<string>();
    for (const m of kept) {
      const veth = m.ids[MIRROR_KEY.veth];
      if (!veth) continue;
      wanted.add(veth).add(outputPortName(m.id));
      // OVSDB outlives a reboot, veths do not: the mirror's output is made again.
      if (!present.has(veth)) {
        await this.makeVeth(veth, outputPortName(m.id), this.mtuOf(m)).then(() => this.d.log.info({ mirror: m.id, link: veth }, 'mirror veth made again'), (err: unknown) => this.d.log.warn({ mirror: m.id, link: veth, err: String(err) }, 'mirror veth not made again'));
      }
    }
    for (const l of links) if (l.alias === alias && !wanted.has(l.name)) await this.d.links.deleteLink(l.name).catch(() => false);
  }

  /** A capture's mirror: to a veth made for it, whose other end the caller reads. */
  async openCapture(endpointRef: string): Promise<CaptureSession> {
    const ep = this.endpoint(endpointRef, 'endpoint');
    const id = newId();
    const tap = captureTapName(id);
    await this.d.registry.locks.run(`ep:${ep.id}`, () => this.make({ source: { endpoint: ep.id }, direction: 'both', output: { type: 'interface', name: tap } }, ep, { temporary: true, id }));
    let closed: Promise<void> | undefined;
    const close = (): Promise<void> => (closed ??= this.read().then((rows) => this.remove(rows.filter((m) => m.id === id))));
    return { id, endpoint: ep, tap, close };
  }

  private async make(req: CreateRequest, source: Endpoint | NetworkRecord, opts: { temporary?: boolean; id?: string }): Promise<MirrorInfo> {
    const isEp = 'hostIf' in source;
    const net = isEp ? this.d.registry.networks.get(source.networkId) : source;
    if (!net) throw new MirrorError('NETWORK_NOT_FOUND', `mirror.create: endpoint ${source.id.slice(0, 12)}: its network is not known on this host`, 'endpoint');
    const access = this.d.accessVlan(net);
    let selection: Selection;
    let bridgeUuid: string;
    if (isEp) {
      const port = findPort(this.d.db, source.hostIf);
      const bridge = port && bridgeOfPort(this.d.db, port._uuid);
      if (!port || !bridge) throw new MirrorError('ENDPOINT_NOT_FOUND', `mirror.create: endpoint: ${source.id.slice(0, 12)} has no port ${source.hostIf} on a bridge`, 'endpoint');
      selection = { ports: [port._uuid], direction: req.direction };
      bridgeUuid = bridge._uuid;
    } else {
      // A network shares its bridge with others, each on its VLAN: every frame of that VLAN,
      // from any port, endpoints attached later included. A frame between two containers of
      // the network is both "in" and "out", so only "both" means something here.
      if (access === undefined) throw new MirrorError('UNSUPPORTED', `mirror.create: network: ${source.id.slice(0, 12)} is an OVN network, which has no VLAN of its own on ${source.options.bridge}; mirror its endpoints instead ({"endpoint": ID})`, 'network');
      if (req.direction !== 'both') throw invalid('direction', `"${req.direction}" applies to an endpoint; a network source takes every frame of the network's VLAN: "both"`);
      const bridge = findBridge(this.d.db, source.options.bridge);
      if (!bridge) throw new MirrorError('NETWORK_NOT_FOUND', `mirror.create: network: bridge ${source.options.bridge} of ${source.id.slice(0, 12)} is not in OVSDB`, 'network');
      selection = { vlan: access };
      bridgeUuid = bridge._uuid;
    }
    const id = opts.id ?? newId();
    const portName = await this.prepareOutput(req.output, id, net.mtu);
    const plan: MirrorPlan = {
      id, bridgeUuid, selection, output: req.output, portName, access,
      ids: {
        [isEp ? MIRROR_KEY.endpoint : MIRROR_KEY.network]: source.id,
        [MIRROR_KEY.direction]: req.direction,
        [MIRROR_KEY.output]: JSON.stringify(req.output),
        ...(portName === outputPortName(id) && req.output.type === 'interface' ? { [MIRROR_KEY.veth]: req.output.name } : {}),
        ...(opts.temporary ? { [MIRROR_KEY.temporary]: 'true' } : {}),
      },
    };
    const madeVeth = plan.ids[MIRROR_KEY.veth];
    try {
      await this.d.db.transact(createMirrorOps(this.d.name, plan));
      this.mirroredSources?.add(source.id);
    } catch (err) {
      if (madeVeth) await this.d.links.deleteLink(madeVeth).catch(() => false);
      throw err;
    }
    try {
      await waitPortsOpen(this.d.db, [portName], this.d.portTimeoutMs ?? 10_000);
    } catch (err) {
      const rows = (await this.read()).filter((m) => m.id === id);
      await this.remove(rows);
      const why = err instanceof PortRefusedError ? err.reason : String(err);
      throw new MirrorError('OUTPUT_REFUSED', `mirror.create: output: Open vSwitch refused port ${portName} (${why})`, 'output');
    }
    await this.purge();
    this.d.log.info({ mirror: id, source: plan.ids, bridge: bridgeUuid }, 'mirror created');
    const rows = await this.read();
    const m = rows.find((x) => x.id === id);
    return m ? mirrorInfo(m, portName) : mirrorInfo({ uuid: '', id, bridgeUuid, bridge: '', ids: plan.ids, statistics: {} }, portName);
  }

  /**
   * The port the mirror outputs to. An interface that exists is used as it is (and left when the
   * mirror goes); a missing one is made as a veth pair: NAME for the user (tcpdump -i NAME), its
   * peer on the bridge, both up.
   */
  private async prepareOutput(out: MirrorOutput, id: string, mtu: number): Promise<string> {
    if (out.type !== 'interface') return outputPortName(id);
    if (findPort(this.d.db, out.name) || findInterface(this.d.db, out.name)) {
      throw new MirrorError('OUTPUT_IN_USE', `mirror.create: output.name: ${out.name} is already a port of Open vSwitch; give a host interface that is not, or a new name (made as a veth pair)`, 'output.name');
    }
    if (await this.d.links.getLink(out.name)) return out.name;
    const peer = outputPortName(id);
    await this.makeVeth(out.name, peer, mtu);
    return peer;
  }

  /** A veth pair for an output, both ends up and marked as the daemon's, without IPv6 of its own. */
  private async makeVeth(name: string, peer: string, mtu: number): Promise<void> {
    await this.d.links.createVethPair({ name, peerName: peer, mtu });
    try {
      await this.d.links.setUp(peer);
      // Only what OVS sends should appear on it: no router solicitations or DAD of its own.
      for (const l of [name, peer]) {
        try { fs.writeFileSync(`/proc/sys/net/ipv6/conf/${l}/disable_ipv6`, '1'); } catch { /* no IPv6 on this host */ }
      }
      const alias = vethAlias(this.d.name);
      await this.d.links.setAlias(name, alias);
      await this.d.links.setAlias(peer, alias);
    } catch (err) {
      await this.d.links.deleteLink(name).catch(() => false);
      throw err;
    }
  }

  private mtuOf(m: MirrorRow): number {
    const ep = this.d.registry.endpoints.get(m.ids[MIRROR_KEY.endpoint] ?? '');
    return this.d.registry.networks.get(ep?.networkId ?? m.ids[MIRROR_KEY.network] ?? '')?.mtu ?? 1500;
  }

  private async remove(rows: MirrorRow[]): Promise<void> {
    if (!rows.length) return;
    await this.d.db.transact(rows.flatMap((m) => deleteMirrorOps(m)));
    for (const m of rows) {
      const veth = m.ids[MIRROR_KEY.veth];
      if (veth) await this.d.links.deleteLink(veth).catch((err: unknown) => this.d.log.warn({ mirror: m.id, link: veth, err: String(err) }, 'mirror veth not deleted'));
    }
    await this.purge();
    this.d.log.info({ mirrors: rows.map((m) => m.id) }, 'mirrors deleted');
  }

  private async read(): Promise<MirrorRow[]> {
    const rows = decodeMirrors(await this.d.db.transact(readMirrorsOps(this.d.name)));
    this.mirroredSources = new Set(rows.map((m) => m.ids[MIRROR_KEY.endpoint] ?? m.ids[MIRROR_KEY.network]).filter((e): e is string => !!e));
    return rows;
  }

  private async purge(): Promise<void> {
    await purgeRevalidators(this.d.ovsdbRemote).catch((err: unknown) => this.d.log.warn({ err: String(err) }, 'revalidator purge failed: traffic already flowing is mirrored (or no longer) once its datapath flows idle out'));
  }

  private portName(uuid: string | undefined): string | undefined {
    if (!uuid) return undefined;
    for (const p of this.d.db.rows('Port')) if (p._uuid === uuid) return String(p.name);
    return undefined;
  }

  /** An endpoint by id or unique prefix. */
  endpoint(ref: string, field = 'endpoint'): Endpoint {
    const ep = uniqueByPrefix(this.d.registry.endpoints.values(), ref);
    if (typeof ep === 'number') throw new MirrorError('ENDPOINT_NOT_FOUND', `${field}: ${ref}: ${ep ? `${ep} endpoints start with it; give more of the id` : 'no such endpoint on this host (endpoints.list shows them)'}`, field);
    return ep;
  }

  private network(ref: string): NetworkRecord {
    const net = uniqueByPrefix(this.d.registry.networks.values(), ref);
    if (typeof net === 'number') throw new MirrorError('NETWORK_NOT_FOUND', `network: ${ref}: ${net ? `${net} networks start with it; give more of the id` : 'no such network on this host (networks.list shows them)'}`, 'network');
    return net;
  }
}

const newId = (): string => crypto.randomBytes(4).toString('hex');

/** JSON-RPC application error: the request was valid but cannot be done (not found, in use). */
const APP_ERROR = -32000;

/** A mirror error as JSON-RPC error: InvalidParams for bad input, the code and field as data. */
function mirrorMethod<T>(fn: (params: unknown) => Promise<T>): (params: unknown) => Promise<T> {
  return async (params) => {
    try {
      return await fn(params);
    } catch (err) {
      if (!(err instanceof MirrorError)) throw err;
      throw new JSONRPCErrorException(err.message, err.code === 'INVALID_ARGUMENT' ? JSONRPCErrorCode.InvalidParams : APP_ERROR, { code: err.code, ...(err.field ? { field: err.field } : {}) });
    }
  };
}

export function registerMirrorMethods(rpc: JSONRPCServer, mirrors: Mirrors): void {
  rpc.addMethod('mirror.create', mirrorMethod((p) => mirrors.create(p)));
  rpc.addMethod('mirror.delete', mirrorMethod((p) => mirrors.delete(p)));
  rpc.addMethod('mirror.list', mirrorMethod(() => mirrors.list()));
}

export interface MirrorComponents {
  service: Mirrors;
  /** For ControlDeps.methods. */
  methods: (rpc: JSONRPCServer) => void;
  /** For PluginServerOptions.routes: the capture stream. */
  routes: Record<string, (req: http.IncomingMessage, res: http.ServerResponse) => void>;
  /** The driver calls it when it deletes an endpoint. */
  forgetEndpoint(endpointId: string): Promise<string[]>;
  /** The driver calls it when it deletes a network (before the bridge may go). */
  forgetNetwork(networkId: string): Promise<string[]>;
  /** After start-up's reconcile: leftovers of a crash, output veths a reboot took. */
  reconcile(): Promise<void>;
  /** At the daemon's stop, before the server closes: ends the running captures (their mirrors go). */
  stopCaptures(): Promise<void>;
}

export function composeMirrors(deps: MirrorDeps): MirrorComponents {
  const service = new Mirrors(deps);
  const capture = captureRoute({ mirrors: service, log: deps.log, ready: deps.ready });
  return {
    service,
    methods: (rpc) => registerMirrorMethods(rpc, service),
    routes: { [CAPTURE_PATH]: capture.handle },
    forgetEndpoint: (id) => service.forgetEndpoint(id),
    forgetNetwork: (id) => service.forgetNetwork(id),
    reconcile: () => service.reconcile(),
    stopCaptures: () => capture.stopAll(),
  };
}
