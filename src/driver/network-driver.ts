// The NetworkDriver: Docker's calls mapped onto OVS ports, veths and firewall state.
// Every handler is idempotent (dockerd re-sends a request after a dropped connection) and
// undoes what it did when it fails, so a failed request leaves nothing behind.
import type * as P from '../protocol/network';
import type { PublishedPort } from '../net/firewall';
import { chainNames, type Firewall } from '../net/firewall';
import { boundPorts, dnatPorts, portKey } from '../net/host-ports';
import type { Ipam } from '../ipam/ipam';
import type { KvStore } from '../state/kv';
import type { Logger } from '../util/log';
import type { Operation } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { localOwner } from '../model/owner-ids';
import { findBridge } from '../ovs/bridge';
import { addPortOps, undoAddPortOps, deletePortOps, interfacesOwnedBy, setInterfaceExternalIdsOps } from '../ovs/port';
import { vethNames } from '../netlink/names';
import { ConflictError, InputError } from '../util/errors';
import { OvsdbConnectionError } from '../ovsdb/errors';
import type { KeyedMutex } from '../util/keyed-mutex';
import type { LinkOps } from './links';
import { DEFAULT_MTU, EP, Endpoint, EndpointIntent, NetworkRecord, endpointFromIds, endpointIntentPrefix, endpointToIds } from './model';
import { macFor, normaliseMac } from './mac';
import { parseNetworkOptions } from './options';
import { publishedPorts } from './ports';
import { parseCidr } from '../ipam/cidr';
import type { Backends, KnownState } from '../backends/backend';
import type { Registry } from './registry';
import type { PooledPort, PortPool } from '../pool/port-pool';
import type { SecurityGroups } from '../secgroups/service';
import type { MirrorComponents } from '../mirror/mirrors';
import type { QosService } from '../qos/service';

export interface DriverDeps {
  name: string;
  scope: 'local' | 'global';
  db: Db;
  links: LinkOps;
  kv: KvStore;
  ipam: Ipam;
  firewall: Firewall;
  log: Logger;
  /** The networks and endpoints this driver keeps (others read them). */
  registry: Registry;
  /** What each kind of network builds: chosen per network from its record. */
  backends: Backends;
  /** Warm ports per network (none: every endpoint gets a port made for it). */
  pool?: PortPool;
  /** The host's OVS settings (the root row's external_ids: ovn-bridge, ovn-encap-type...), read now. */
  hostSettings?: () => Promise<Readonly<Record<string, string>>>;
  /** Which security groups a network's or endpoint's option names (checked to exist). */
  securityGroups?: Pick<SecurityGroups, 'forEndpoint' | 'checkNetwork'>;
  /** Mirrors whose source goes with an endpoint or network. */
  mirrors?: Pick<MirrorComponents, 'forgetEndpoint' | 'forgetNetwork'>;
  /** An endpoint's own QoS keys from its options (checked with the network's). */
  qos?: Pick<QosService, 'forEndpoint'>;
}

const GENERIC = 'com.docker.network.generic';
/** Marks a host-side veth with the daemon that made it, so start-up GC only sweeps its own. */
export const vethAlias = (driver: string) => `ocn:${driver}`;
const ok = (): P.Empty => ({});
const short = (id: string) => id.slice(0, 12);

export class OvsNetworkDriver implements P.NetworkDriver {
  readonly networks: Map<string, NetworkRecord>;
  readonly endpoints: Map<string, Endpoint>;
  /** Every endpoint's durable record, including creations that never finished (see model.ts). */
  readonly intents: Map<string, EndpointIntent>;
  private readonly lock: KeyedMutex;
  /** Networks being created: their VLANs are taken already. */
  private readonly creating = new Map<string, NetworkRecord>();
  private readonly netPrefix: string;
  /** Veth deletions run after the answer (the kernel takes ~20 ms per veth). */
  private readonly pendingLinkDeletes = new Set<Promise<unknown>>();

  get name(): string {
    return this.d.name;
  }

  constructor(private readonly d: DriverDeps) {
    ({ networks: this.networks, endpoints: this.endpoints, intents: this.intents, locks: this.lock } = d.registry);
    this.netPrefix = `ocn.${d.name}.net.`;
  }

  private intentKey(endpointId: string): string {
    return endpointIntentPrefix(this.d.name) + endpointId;
  }

  /** Operations deleting these endpoints' records, for start-up's transaction. */
  recordDeleteOps(endpointIds: string[]): Operation[] {
    return this.d.kv.ops({ del: endpointIds.map((id) => this.intentKey(id)) });
  }

  /** Rebuilds networks (kv records) and endpoints (owned Interface rows) from OVSDB. */
  load(): void {
    this.networks.clear();
    this.endpoints.clear();
    this.intents.clear();
    for (const [, v] of this.d.kv.load(endpointIntentPrefix(this.d.name))) {
      const intent = JSON.parse(v) as EndpointIntent;
      this.intents.set(intent.id, intent);
    }
    for (const [, v] of this.d.kv.load(this.netPrefix)) {
      const rec = JSON.parse(v) as NetworkRecord;
      this.networks.set(rec.id, rec);
    }
    for (const row of interfacesOwnedBy(this.d.db, this.d.name, 'endpoint')) {
      const ep = endpointFromIds(row.name, row.external_ids);
      if (ep) this.endpoints.set(ep.id, ep);
    }
  }

  async getCapabilities(): Promise<P.CapabilitiesResponse> {
    // Connectivity is global: an OVN network spans hosts even when Docker's view of it is local.
    return { Scope: this.d.scope, ConnectivityScope: 'global' };
  }

  async gwAllocCheck(): Promise<P.GwAllocCheckResponse> {
    return {};
  }

  private network(id: string, method: string): NetworkRecord {
    const n = this.networks.get(id);
    if (!n) throw new InputError(`${method}: network ${short(id)} is not known to this plugin (was it created with another driver name?)`);
    return n;
  }

  async createNetwork(req: P.CreateNetworkRequest): Promise<P.Empty> {
    this.d.ipam.endReplay();
    return this.lock.run(`net:${req.NetworkID}`, async () => {
      if (this.networks.has(req.NetworkID)) return ok();
      const options = req.Options ?? {};
      const generic = options[GENERIC];
      if (generic !== undefined && generic !== null && (typeof generic !== 'object' || Array.isArray(generic))) {
        throw new InputError(`CreateNetwork: ${GENERIC} must be an object of string options`);
      }
      const ipv6 = options['com.docker.network.enable_ipv6'] === true;
      const opts = parseNetworkOptions(generic as Record<string, unknown> | undefined, ipv6);
      const bridgeGiven = (generic as Record<string, unknown> | undefined)?.bridge !== undefined;
      await this.d.securityGroups?.checkNetwork({ options: opts });
      const ipv4 = req.IPv4Data ?? [];
      const ipv6Data = req.IPv6Data ?? [];
      for (const d of [...ipv4, ...ipv6Data]) {
        parseCidr(d.Pool, 'subnet');
        if (d.Gateway) parseCidr(d.Gateway, 'gateway');
      }
      const host = (await this.d.hostSettings?.()) ?? {};
      const rec: NetworkRecord = {
        id: req.NetworkID,
        options: opts,
        datapath: 'netdev', // the backend's plan resolves it
        mtu: opts.mtu ?? DEFAULT_MTU,
        internal: options['com.docker.network.internal'] === true,
        ipv4, ipv6: ipv6Data,
        createdBridge: false,
        createdUplink: false,
      };
      // Unique choices (a VLAN) are made here and held (this.creating) before the first await,
      // so concurrent creates never pick the same one.
      this.d.backends.of(rec).plan(rec, { host, bridgeGiven, others: [...this.networks.values(), ...this.creating.values()] });
      if (ipv6Data.length && rec.mtu < 1280) throw new InputError(`option mtu: ${rec.mtu} is below 1280, the IPv6 minimum`);
      this.creating.set(rec.id, rec);
      try {
        await this.createNetworkRecorded(rec);
      } finally {
        this.creating.delete(rec.id);
      }
      this.d.log.info({ network: short(rec.id), bridge: opts.bridge, datapath: rec.datapath, vlan: opts.vlan, mtu: rec.mtu, overlay: rec.overlay, gateway: rec.gatewayPort ?? 'none' }, 'network created');
      return ok();
    });
  }

  /** Builds what a validated network record describes, or nothing when a step fails. */
  private async createNetworkRecorded(rec: NetworkRecord): Promise<void> {
    const backend = this.d.backends.of(rec);
    const ops = await backend.create(rec);
    // The rules' iptables-restore (the longest step, ≈ 6 ms of its own) starts with the
    // transaction and runs on while ovs-vswitchd creates the gateway device; it needs only the
    // record in this.networks.
    this.networks.set(rec.id, rec);
    const rules = rec.gatewayPort ? this.d.firewall.apply() : undefined;
    try {
      await this.d.db.transact([...ops, ...this.d.kv.ops({ set: { [this.netPrefix + rec.id]: JSON.stringify(rec) } })]);
    } catch (err) {
      this.networks.delete(rec.id);
      void rules?.catch(() => undefined); // superseded: the next load is the set without it
      if (err instanceof OvsdbConnectionError && (await this.undoCreateOfUnknownOutcome(rec))) throw err;
      const undo = (what: string) => (e: unknown) => this.d.log.warn({ network: short(rec.id), err: String(e) }, `${what} not undone`);
      if (rules) await this.d.firewall.apply().catch(undo('firewall rules'));
      await backend.abandon(rec).catch(undo(`${backend.kind} part`));
      throw err;
    }
    try {
      await Promise.all([backend.finish(rec), rules]);
      const shared = backend.sharedAddresses(rec);
      for (const d of [...rec.ipv4, ...rec.ipv6]) {
        if (this.d.ipam.isOurSpace(d.AddressSpace)) await this.d.ipam.bindNetwork(d.AddressSpace, d.Pool, rec.id, shared);
      }
    } catch (err) {
      // Settle the rules' load before the rollback reloads them.
      await rules?.catch(() => undefined);
      this.d.log.warn({ network: short(rec.id), err: String(err) }, 'network create failed, rolling back');
      await this.removeNetwork(rec);
      throw err;
    }
  }

  /**
   * The connection died before the create's reply: it may have committed (rows and record), so
   * once an answered transaction shows the cache has caught up, the network is removed as a
   * delete would. False when that could not be done either (the caller then undoes what it can).
   */
  private async undoCreateOfUnknownOutcome(rec: NetworkRecord): Promise<boolean> {
    try {
      // ovsdb-server sends a commit's monitor updates before its reply: after any answered
      // transaction the cache holds every earlier commit of ours.
      await this.d.db.transact([]);
      this.networks.set(rec.id, rec);
      await this.removeNetwork(rec);
      return true;
    } catch (e) {
      this.networks.delete(rec.id);
      this.d.log.warn({ network: short(rec.id), err: String(e) }, 'a create whose outcome is unknown could not be undone: its record may stay until a retry of the create or a delete');
      return false;
    }
  }

  private async removeNetwork(rec: NetworkRecord): Promise<void> {
    const others = [...this.networks.values()].filter((n) => n.id !== rec.id);
    const stale = [...this.endpoints.values()].filter((e) => e.networkId === rec.id);
    const pooled = this.d.pool?.retire(rec.id);
    const ops = [
      ...stale.flatMap((e) => deletePortOps(this.d.db, e.hostIf)),
      ...(pooled?.ops ?? []),
      ...this.d.backends.of(rec).teardownOps(rec, others),
      ...this.d.kv.ops({ del: [this.netPrefix + rec.id, ...stale.map((e) => this.intentKey(e.id))] }),
    ];
    this.networks.delete(rec.id);
    for (const e of stale) {
      this.endpoints.delete(e.id);
      this.intents.delete(e.id);
    }
    // The rules go first, before the rows: rules left for a subnet that is gone are harmless and
    // dropped by the next load, so a failure to unload them does not stop the delete.
    const rules = rec.gatewayPort !== undefined || stale.some((e) => e.ports.length > 0);
    const reload = () => this.d.firewall.apply().catch((err) => this.d.log.warn({ network: short(rec.id), err: String(err) }, 'firewall rules not reloaded'));
    if (rules) await reload();
    try {
      await this.d.db.transact(ops);
    } catch (err) {
      this.networks.set(rec.id, rec);
      for (const e of stale) this.endpoints.set(e.id, e);
      for (const e of stale) this.intents.set(e.id, { id: e.id, networkId: e.networkId, hostIf: e.hostIf, peerIf: e.peerIf });
      if (rules) await reload();
      throw err;
    }
    for (const e of stale) this.deleteLinkLater(e.hostIf);
    pooled?.done();
    await this.d.backends.of(rec).afterTeardown(rec, stale);
  }

  async deleteNetwork(req: P.NetworkIdRequest): Promise<P.Empty> {
    return this.lock.run(`net:${req.NetworkID}`, async () => {
      const rec = this.networks.get(req.NetworkID);
      if (rec) {
        await this.d.mirrors?.forgetNetwork(rec.id).catch((err) => this.d.log.warn({ network: short(rec.id), err: String(err) }, 'mirrors of the network not removed'));
        await this.removeNetwork(rec);
        this.d.log.info({ network: short(rec.id) }, 'network deleted');
      }
      return ok();
    });
  }

  /** Swarm managers: what we return here is what every node gets as CreateNetwork options. */
  async allocateNetwork(req: P.AllocateNetworkRequest): Promise<P.AllocateNetworkResponse> {
    const opts = parseNetworkOptions(req.Options ?? {}, (req.IPv6Data ?? []).length > 0);
    const chosen = this.d.backends.of({ options: opts }).allocate?.(opts) ?? {};
    return { Options: { ...(req.Options ?? {}), ...chosen } };
  }

  async freeNetwork(): Promise<P.Empty> {
    return ok();
  }

  async createEndpoint(req: P.CreateEndpointRequest): Promise<P.CreateEndpointResponse> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const net = this.network(req.NetworkID, 'CreateEndpoint');
      const existing = this.endpoints.get(req.EndpointID);
      if (existing) return this.createEndpointAnswer(existing);
      const iface = req.Interface ?? { Address: '', AddressIPv6: '', MacAddress: '' };
      const ipv4 = iface.Address || undefined;
      const ipv6 = iface.AddressIPv6 || undefined;
      if (ipv4) parseCidr(ipv4, 'address');
      if (ipv6) parseCidr(ipv6, 'IPv6 address');
      const macGenerated = !iface.MacAddress;
      const mac = macGenerated ? macFor(ipv4, ipv6, req.EndpointID) : normaliseMac(iface.MacAddress);
      const names = vethNames(req.EndpointID);
      const securityGroups = await this.d.securityGroups?.forEndpoint(net, req.Options?.security_groups);
      const qos = this.d.qos?.forEndpoint(net, req.Options);
      const ep: Endpoint = { id: req.EndpointID, networkId: net.id, hostIf: names.host, peerIf: names.container, mac, ipv4, ipv6, macGenerated, ports: [], securityGroups, qos };
      const bridge = findBridge(this.d.db, net.options.bridge);
      if (!bridge) throw new InputError(`CreateEndpoint: bridge ${net.options.bridge} of network ${short(net.id)} no longer exists; remove and recreate the network`);
      const pooled = await this.d.pool?.takeOrWait(net);
      if (!pooled || !(await this.createOnPooledPort(net, ep, pooled))) await this.createOnNewPort(net, ep, bridge._uuid);
      this.endpoints.set(ep.id, ep);
      this.d.pool?.attached(net.id);
      return this.createEndpointAnswer(ep);
    });
  }

  /**
   * An endpoint on a port of the network's pool: the container end gets the endpoint's MAC, then
   * one transaction records the endpoint and takes the port (nothing for ovs-vswitchd to do).
   * False when the port turned out not to be free after all (it is dropped; the caller makes a
   * new one); any other failure is undone and thrown.
   */
  private async createOnPooledPort(net: NetworkRecord, ep: Endpoint, pooled: PooledPort): Promise<boolean> {
    const backend = this.d.backends.of(net);
    const pool = this.d.pool!;
    ep.hostIf = pooled.host;
    ep.peerIf = pooled.peer;
    const intent: EndpointIntent = { id: ep.id, networkId: net.id, hostIf: ep.hostIf, peerIf: ep.peerIf };
    const key = this.intentKey(ep.id);
    let ops: Operation[];
    try {
      const [port] = await Promise.all([backend.attach(net, ep), this.d.links.setMac(pooled.peer, ep.mac)]);
      ops = pool.takeOps(pooled, localOwner(this.d.name, 'endpoint', { ...endpointToIds(ep, net), ...port.externalIds }));
    } catch (err) {
      // Nothing of the port was written: it stays in the pool (a refused request changes nothing).
      pool.giveBack(net.id, pooled);
      await backend.detach(net, ep).catch(() => undefined);
      throw err;
    }
    try {
      await this.d.kv.commit({ set: { [key]: JSON.stringify(intent) } }, ops);
      this.intents.set(ep.id, intent);
      return true;
    } catch (err) {
      if (!(err instanceof OvsdbConnectionError)) {
        // Refused as a whole (the port is no longer a free pooled port): nothing was written.
        this.d.log.warn({ endpoint: short(ep.id), port: pooled.host, err: String(err) }, 'pooled port could not be taken: making a new one');
        pool.discard(pooled);
        const names = vethNames(ep.id);
        ep.hostIf = names.host;
        ep.peerIf = names.container;
        return false;
      }
      // The outcome is unknown: record and port go together, as after a new port's failure.
      await backend.detach(net, ep).catch(() => undefined);
      await this.d.kv.commit({ del: [key] }, deletePortOps(this.d.db, pooled.host)).then(() => this.intents.delete(ep.id), () => undefined);
      await this.d.links.deleteLink(pooled.host).catch(() => undefined);
      throw err;
    }
  }

  /** An endpoint on a veth pair and port made for it (no pool, or the pool is empty). */
  private async createOnNewPort(net: NetworkRecord, ep: Endpoint, bridgeUuid: string): Promise<void> {
    const veth = { name: ep.hostIf, peerName: ep.peerIf, mtu: net.mtu, peerMac: ep.mac, noArp: true };
    // The record goes first: whatever a kill leaves from here on, start-up knows it is ours.
    const intent: EndpointIntent = { id: ep.id, networkId: net.id, hostIf: ep.hostIf, peerIf: ep.peerIf };
    const key = this.intentKey(ep.id);
    await this.d.kv.commit({ set: { [key]: JSON.stringify(intent) } });
    this.intents.set(ep.id, intent);
    const backend = this.d.backends.of(net);
    let undoPort: Operation[] = [];
    try {
      try {
        await this.d.links.createVethPair(veth);
      } catch (err) {
        if ((err as { code?: string }).code !== 'EEXIST') throw err;
        // A link with this endpoint's name can only be a leftover of an earlier attempt: no
        // live container can own it, since Docker has not got the endpoint yet.
        await this.d.links.deleteLink(ep.hostIf);
        await this.d.links.deleteLink(ep.peerIf);
        await this.d.links.createVethPair(veth);
      }
      const port = await backend.attach(net, ep);
      const ids = localOwner(this.d.name, 'endpoint', { ...endpointToIds(ep, net), ...port.externalIds });
      const addPort = async () => {
        const results = await this.d.db.transact(addPortOps(bridgeUuid, { name: ep.hostIf, type: '', access: port.access, externalIds: ids }));
        undoPort = undoAddPortOps(bridgeUuid, results);
      };
      // The userspace datapath reads what the container sends from the host end's socket as is:
      // the container end must not leave checksums to a NIC. The host end only carries frames
      // ovs-vswitchd writes whole, so its offloads do not matter.
      // The alias names this daemon for people reading `ip link` (the kernel applies no alias
      // given at creation); start-up goes by the endpoint's record.
      await Promise.all([
        addPort(),
        net.datapath === 'netdev' ? this.d.links.disableTxChecksum(ep.peerIf) : undefined,
        this.d.links.setAlias(ep.hostIf, vethAlias(this.d.name)),
      ]);
    } catch (err) {
      await this.d.links.deleteLink(ep.hostIf).catch(() => undefined);
      await backend.detach(net, ep).catch(() => undefined);
      // Record and port go together; if this fails too, start-up finds the record and finishes the undo.
      await this.d.kv.commit({ del: [key] }, undoPort).then(() => this.intents.delete(ep.id), () => undefined);
      throw err;
    }
  }

  /** Only values Docker did not set may be returned (it rejects even an identical echo). */
  private createEndpointAnswer(ep: Endpoint): P.CreateEndpointResponse {
    return ep.macGenerated ? { Interface: { MacAddress: ep.mac } } : {};
  }

  async endpointOperInfo(req: P.EndpointIdRequest): Promise<P.EndpointOperInfoResponse> {
    const ep = this.endpoints.get(req.EndpointID);
    if (!ep) return { Value: {} };
    return { Value: { 'ocn.port': ep.hostIf, 'ocn.mac': ep.mac, 'ocn.published': ep.ports } };
  }

  async deleteEndpoint(req: P.EndpointIdRequest): Promise<P.Empty> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const ep = this.endpoints.get(req.EndpointID);
      if (ep) await this.removeEndpoint(ep);
      return ok();
    });
  }

  /** Port and record in one transaction, then the veth and what the backend has outside. */
  private async removeEndpoint(ep: Endpoint): Promise<void> {
    await this.d.mirrors?.forgetEndpoint(ep.id).catch((err) => this.d.log.warn({ endpoint: short(ep.id), err: String(err) }, 'mirrors of the endpoint not removed'));
    await this.d.kv.commit({ del: [this.intentKey(ep.id)] }, deletePortOps(this.d.db, ep.hostIf));
    this.endpoints.delete(ep.id);
    this.intents.delete(ep.id);
    this.deleteLinkLater(ep.hostIf);
    const net = this.networks.get(ep.networkId);
    if (net) await this.d.backends.of(net).detach(net, ep);
  }

  /**
   * Start-up's later look at an endpoint it could not judge at once: under the endpoint's lock
   * (so no Join runs meanwhile), `unused` decides again and the endpoint goes if it says why.
   */
  async removeIfUnused(id: string, unused: (ep: Endpoint) => Promise<string | undefined>): Promise<string | undefined> {
    return this.lock.run(`ep:${id}`, async () => {
      const ep = this.endpoints.get(id);
      const why = ep ? await unused(ep) : undefined;
      if (ep && why) await this.removeEndpoint(ep);
      return why;
    });
  }

  private deleteLinkLater(name: string): void {
    const p = this.d.links.deleteLink(name).catch((err) => this.d.log.warn({ link: name, err: String(err) }, 'veth delete failed'));
    this.pendingLinkDeletes.add(p);
    void p.finally(() => this.pendingLinkDeletes.delete(p));
  }

  /** Runs fn serialised with create/delete of the network (the self-healing loop uses it). */
  underNetworkLock<T>(networkId: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.run(`net:${networkId}`, fn);
  }

  async drain(): Promise<void> {
    await Promise.all([...this.pendingLinkDeletes]);
  }

  async join(req: P.JoinRequest): Promise<P.JoinResponse> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const net = this.network(req.NetworkID, 'Join');
      const ep = this.endpoints.get(req.EndpointID);
      if (!ep) throw new InputError(`Join: endpoint ${short(req.EndpointID)} does not exist`);
      const pending: Promise<unknown>[] = [this.d.backends.of(net).portReady(net, ep)];
      if (req.SandboxKey && ep.sandbox !== req.SandboxKey) {
        ep.sandbox = req.SandboxKey;
        pending.push(this.d.db.transact(setInterfaceExternalIdsOps(this.d.db, ep.hostIf, { [EP.sandbox]: req.SandboxKey })));
      }
      await Promise.all(pending);
      const res: P.JoinResponse = { InterfaceName: { SrcName: ep.peerIf, DstPrefix: 'eth' }, DisableGatewayService: true };
      if (!net.internal) {
        const gw4 = net.ipv4.find((d) => d.Gateway)?.Gateway;
        const gw6 = net.ipv6.find((d) => d.Gateway)?.Gateway;
        if (gw4 && ep.ipv4) res.Gateway = gw4.split('/')[0];
        if (gw6 && ep.ipv6) res.GatewayIPv6 = gw6.split('/')[0];
      }
      return res;
    });
  }

  async leave(): Promise<P.Empty> {
    return ok();
  }

  async discoverNew(): Promise<P.Empty> {
    return ok();
  }

  async discoverDelete(): Promise<P.Empty> {
    return ok();
  }

  async programExternalConnectivity(req: P.ProgramExternalConnectivityRequest): Promise<P.Empty> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const net = this.network(req.NetworkID, 'ProgramExternalConnectivity');
      const ep = this.endpoints.get(req.EndpointID);
      const where = this.d.backends.of(net).publishing(net);
      if (!ep || !where) return ok();
      const raw = req.Options?.['com.docker.network.portmap'];
      if (!ep.ports.length && (raw === undefined || raw === null || (Array.isArray(raw) && !raw.length))) return ok();
      // One publication at a time: the check that a host port is free and its record are one step.
      await this.lock.run('published-ports', async () => {
        const ours = new Map<string, Endpoint>();
        for (const other of this.endpoints.values()) if (other.id !== ep.id) for (const p of other.ports) ours.set(portKey(p), other);
        // Publications in the fabric (an OVN router's address) take no port of this host.
        const host = where === 'host' ? await this.hostPortsTaken() : new Set<string>();
        const addrs = [ep.ipv4, ep.ipv6].filter((a): a is string => !!a);
        const ports = publishedPorts(raw, addrs, new Set([...ours.keys(), ...host]));
        for (const p of ports) {
          const key = portKey(p);
          const holder = ours.get(key);
          if (holder) throw new ConflictError(`ProgramExternalConnectivity: host port ${key} is already allocated: endpoint ${short(holder.id)} of network ${short(holder.networkId)} publishes it`);
          if (host.has(key)) throw new ConflictError(`ProgramExternalConnectivity: host port ${key} is already allocated on this host (a process listens on it, or another network publishes it)`);
        }
        if (ports.length || ep.ports.length) await this.setPorts(ep, ports);
      });
      return ok();
    });
  }

  /** Host ports that a publication must not take over: listeners and others' DNAT rules. */
  private async hostPortsTaken(): Promise<Set<string>> {
    const own = chainNames(this.d.name).dnat;
    const [v4, v6] = await Promise.all([dnatPorts(own, false), dnatPorts(own, true)]);
    return new Set([...boundPorts(), ...v4, ...v6]);
  }

  async revokeExternalConnectivity(req: P.EndpointIdRequest): Promise<P.Empty> {
    return this.lock.run(`ep:${req.EndpointID}`, async () => {
      const ep = this.endpoints.get(req.EndpointID);
      if (ep && ep.ports.length) await this.setPorts(ep, []);
      return ok();
    });
  }

  private async setPorts(ep: Endpoint, ports: PublishedPort[]): Promise<void> {
    const before = ep.ports;
    const net = this.networks.get(ep.networkId);
    ep.ports = ports;
    const record = async (): Promise<void> => {
      await this.d.db.transact(setInterfaceExternalIdsOps(this.d.db, ep.hostIf, { [EP.ports]: JSON.stringify(ports) }));
    };
    try {
      await (net ? this.d.backends.of(net).publish(net, before, ports, record) : record());
    } catch (err) {
      ep.ports = before;
      throw err;
    }
  }

  /** What the driver has, requests in flight included: what a collection of leftovers must keep. */
  known(): KnownState {
    return {
      networkIds: new Set([...this.networks.keys(), ...this.creating.keys()]),
      endpoints: [...this.endpoints.values()],
      endpointIds: new Set([...this.endpoints.keys(), ...this.intents.keys()]),
    };
  }

  /**
   * Re-applies a network's state (what OVS or OVN lost), under the network's lock, then each of
   * its endpoints' outside part under the endpoint's lock (so no request races it); the
   * endpoints' ports themselves are never touched.
   */
  async healNetwork(id: string): Promise<void> {
    const healed = await this.lock.run(`net:${id}`, async () => {
      const net = this.networks.get(id);
      const backend = net && this.d.backends.find(net);
      if (!net || !backend?.reachable()) return undefined; // deleted meanwhile, or its component is down
      await backend.heal(net);
      return { net, backend };
    });
    if (!healed?.backend.healEndpoint) return;
    const { net, backend } = healed;
    for (const ep of [...this.endpoints.values()].filter((e) => e.networkId === id)) {
      await this.lock.run(`ep:${ep.id}`, async () => {
        if (this.endpoints.get(ep.id) !== ep || this.networks.get(id) !== net) return;
        await backend.healEndpoint!(net, ep);
      });
    }
  }
}
