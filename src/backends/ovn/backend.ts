// OVN networks: a logical switch (bound by name across hosts) on OVN's integration bridge, a
// logical port per endpoint, publications as VIPs on the tenant router's load balancers.
import type { Operation } from '../../ovsdb/types';
import type { Db } from '../../ovs/db';
import { externalIds } from '../../ovs/db';
import { findBridge } from '../../ovs/bridge';
import { portRefusal, PortRefusedError } from '../../ovs/port-ready';
import type { Row } from '../../ovsdb/types';
import { lspName } from '../../ovn/logical-switch-port';
import type { PublishedPort } from '../../net/firewall';
import type { IPAMData } from '../../protocol/network';
import { InputError } from '../../util/errors';
import type { Logger } from '../../util/log';
import type { Endpoint, NetworkRecord } from '../../driver/model';
import type { KnownState, NetworkBackend, PlanContext, PortPlan } from '../backend';
import type { NetworkInfra } from '../bridge/infra';
import { resolveDatapath } from '../bridge/infra';
import type { OvnNetworks } from './ovn-network';

export interface OvnDeps {
  /** This host's OVSDB (where ovn-controller reports a port installed). */
  db: Db;
  ovn: OvnNetworks;
  infra: NetworkInfra;
  log: Logger;
  /** The plugin's name, for the error telling which IPAM driver to use. */
  name: string;
  /** Whether an address space is this plugin's IPAM (addresses unique across hosts). */
  isOurSpace: (space: string) => boolean;
  /** Whether OVN NB is connected now. */
  nbOnline: () => boolean;
  /** How long Join waits for ovn-controller to install an OVN port. */
  portTimeoutMs?: number;
}

export class OvnBackend implements NetworkBackend {
  readonly kind = 'ovn';

  constructor(private readonly d: OvnDeps) {}

  /** An OVN network needs this host set up as a chassis, and addresses unique across hosts. */
  plan(rec: NetworkRecord, ctx: PlanContext): void {
    const opts = rec.options;
    this.checkAddressing(rec.ipv4);
    const integration = ctx.host['ovn-bridge'] || 'br-int';
    if (opts.bridge === 'br-int') opts.bridge = integration;
    if (!findBridge(this.d.db, opts.bridge)) {
      throw new InputError(`bridge ${opts.bridge} does not exist: set this host up as an OVN chassis first (ovs-container-network chassis setup --ovn-sb ... --encap-ip ...) and start ovn-controller`);
    }
    const encap = ctx.host['ovn-encap-type'];
    if (opts.ovn!.encap && encap && !encap.split(',').includes(opts.ovn!.encap)) {
      throw new InputError(`option ovn.encap=${opts.ovn!.encap} conflicts with this chassis' ovn-encap-type ${encap}`);
    }
    rec.datapath = resolveDatapath(this.d.db, opts.bridge, opts.datapath);
  }

  private checkAddressing(ipv4: IPAMData[]): void {
    const name = this.d.name;
    for (const d of ipv4) {
      if (!this.d.isOurSpace(d.AddressSpace) && d.Pool !== '0.0.0.0/0') {
        throw new InputError(`ovn.switch networks span hosts: create them with --ipam-driver ${name} (as a managed plugin: its name with the tag, like ${name}:latest; Docker's default IPAM allocates per host and would hand the same address out on two hosts), or with --ipam-driver null when a DHCP server on the segment assigns addresses`);
      }
    }
  }

  async create(rec: NetworkRecord): Promise<Operation[]> {
    await this.d.ovn.bind(rec);
    try {
      return await this.d.infra.planCreate(rec);
    } catch (err) {
      await this.d.ovn.unbind(rec).catch(() => undefined);
      throw err;
    }
  }

  abandon(rec: NetworkRecord): Promise<void> {
    return this.d.ovn.unbind(rec);
  }

  async finish(): Promise<void> {
    // The switch was bound before the local transaction; ovn-controller does the rest.
  }

  sharedAddresses(rec: NetworkRecord) {
    return this.d.ovn.book(rec);
  }

  teardownOps(rec: NetworkRecord, others: NetworkRecord[]): Operation[] {
    return this.d.infra.planDelete(rec, others);
  }

  async afterTeardown(rec: NetworkRecord, endpoints: Endpoint[]): Promise<void> {
    for (const e of endpoints) await this.d.ovn.deletePort(e.id);
    await this.d.ovn.unbind(rec);
  }

  portAccess(): undefined {
    return undefined;
  }

  async attach(net: NetworkRecord, ep: Endpoint): Promise<PortPlan> {
    await this.d.ovn.addPort(net, ep);
    return { externalIds: { 'iface-id': lspName(ep.id) } };
  }

  detach(_net: NetworkRecord, ep: Endpoint): Promise<void> {
    return this.d.ovn.deletePort(ep.id);
  }

  /** The port is really up once ovn-controller has installed its flows (ovn-installed). */
  async portReady(_net: NetworkRecord, ep: Endpoint): Promise<void> {
    const timeout = this.d.portTimeoutMs ?? 10_000;
    const started = Date.now();
    const installed = (r: Row): true | undefined => {
      if (r.name !== ep.hostIf) return undefined;
      const refused = portRefusal(r);
      if (refused) throw refused;
      return externalIds(r)['ovn-installed'] === 'true' ? true : undefined;
    };
    try {
      await this.d.db.waitFor('Interface', installed, timeout);
      this.d.log.debug({ endpoint: ep.id.slice(0, 12), ms: Date.now() - started }, 'ovn port installed');
    } catch (err) {
      if (err instanceof PortRefusedError) throw new Error(`Join: endpoint ${ep.id.slice(0, 12)}: ${err.message}`);
      // Three components stand between the logical port and its flows; say which can be checked.
      const nb = this.d.nbOnline() ? '' : ' OVN NB is not reachable from this daemon right now;';
      throw new Error(`Join: OVN did not install port ${lspName(ep.id)} within ${timeout} ms:${nb} ovn-northd must turn it into a port binding (is it running and connected to the NB and SB leaders?) and ovn-controller on this host must install it (is it running and connected to the Southbound database?)`);
    }
  }

  /** On the router's external address, not on this host. */
  publishing(): 'fabric' {
    return 'fabric';
  }

  /** VIPs first (all or nothing); if the port's record then fails, they go back to what they were. */
  async publish(net: NetworkRecord, before: PublishedPort[], after: PublishedPort[], record: () => Promise<void>): Promise<void> {
    await this.d.ovn.publish(net, before, after);
    try {
      await record();
    } catch (err) {
      await this.d.ovn.publish(net, after, before).catch((e) => this.d.log.warn({ network: net.id.slice(0, 12), err: String(e) }, 'published ports not restored in OVN'));
      throw err;
    }
  }

  reachable(): boolean {
    return this.d.nbOnline();
  }

  /** The switch binding again when NB lost it (a restored or recreated NB database). */
  async heal(net: NetworkRecord): Promise<void> {
    if (this.d.ovn.bound(net)) return;
    this.d.log.info({ network: net.id.slice(0, 12), switch: net.options.ovn!.switch }, 'OVN switch or its reference missing in NB: binding again');
    await this.d.ovn.bind(net);
    await this.d.ovn.reReserve(net, net.ipv4.find((d) => d.Gateway)?.Gateway, 'gw');
  }

  /** A logical port (and address reservation) NB lost: ovn-controller binds it to the endpoint's unchanged OVS port again. */
  async healEndpoint(net: NetworkRecord, ep: Endpoint): Promise<void> {
    await this.d.ovn.reReserve(net, ep.ipv4, 'ep');
    await this.d.ovn.addPort(net, ep);
    await this.d.ovn.healGroups(net, ep);
    await this.d.ovn.setQos(net, ep); // plans nothing when NB has the rows already
  }

  /** What an interrupted request or a crash left in NB for this host. */
  async healHost(known: KnownState): Promise<void> {
    await this.d.ovn.collectLeftovers(known);
  }
}
