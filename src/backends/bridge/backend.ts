// Plain OVS networks: a VLAN of their own on a bridge, an optional uplink trunk, and with
// gateway=local an internal port holding the gateway addresses, NAT and published ports in
// this host's iptables.
import type { Operation } from '../../ovsdb/types';
import type { Db } from '../../ovs/db';
import type { Firewall, PublishedPort } from '../../net/firewall';
import { PortRefusedError, waitPortsOpen } from '../../ovs/port-ready';
import type { Logger } from '../../util/log';
import type { Endpoint, NetworkRecord } from '../../driver/model';
import type { NetworkBackend, PlanContext, PortPlan } from '../backend';
import { NetworkInfra, resolveDatapath } from './infra';
import { plainNetworkBridge } from './plain-bridge';
import { assignVlan, vlanOf } from './vlans';

export interface BridgeDeps {
  db: Db;
  infra: NetworkInfra;
  firewall: Firewall;
  log: Logger;
  /** How long Join waits for ovs-vswitchd to report the port working. */
  portReadyTimeoutMs?: number;
  /** Security groups' conntrack flows, rendered again as endpoints come and go. */
  sg?: { joined(net: NetworkRecord, ep: Endpoint): Promise<void>; left(net: NetworkRecord): Promise<void> };
  /** Endpoints' QoS (meters, flows, HTB rows): in place before the security-group flows naming the meter. */
  qos?: { joined(net: NetworkRecord, ep: Endpoint): Promise<void>; left(ep: Endpoint): Promise<void> };
}

export class BridgeBackend implements NetworkBackend {
  readonly kind: 'bridge' | 'overlay' = 'bridge';

  constructor(protected readonly d: BridgeDeps) {}

  plan(rec: NetworkRecord, ctx: PlanContext): void {
    rec.options.bridge = plainNetworkBridge(ctx.bridgeGiven ? rec.options.bridge : undefined, ctx.host);
    rec.datapath = resolveDatapath(this.d.db, rec.options.bridge, rec.options.datapath);
    assignVlan(rec, ctx.others);
  }

  create(rec: NetworkRecord): Promise<Operation[]> {
    return this.d.infra.planCreate(rec);
  }

  async abandon(): Promise<void> {
    // Nothing outside this host's OVSDB.
  }

  finish(rec: NetworkRecord): Promise<void> {
    return this.d.infra.configureGateway(rec);
  }

  sharedAddresses(): undefined {
    return undefined;
  }

  teardownOps(rec: NetworkRecord, others: NetworkRecord[]): Operation[] {
    return this.d.infra.planDelete(rec, others);
  }

  async afterTeardown(rec: NetworkRecord): Promise<void> {
    // Nothing outside this host's OVSDB; the bridge's security group flows lose the network.
    await this.d.sg?.left(rec);
  }

  portAccess(net: NetworkRecord): number {
    return vlanOf(net);
  }

  async attach(net: NetworkRecord): Promise<PortPlan> {
    return { access: this.portAccess(net), externalIds: {} };
  }

  async detach(net: NetworkRecord, ep: Endpoint): Promise<void> {
    // Its DNAT rules go with it (the firewall's state is built from the endpoints that remain),
    // and its address with the remote groups it was in.
    if (ep.ports.length) await this.d.firewall.apply();
    await this.d.sg?.left(net);
    await this.d.qos?.left(ep);
  }

  /**
   * Waits (bounded) until ovs-vswitchd has opened the port, so the container starts connected.
   * A port OVS refused fails the Join at once with OVS's reason; a slow ovs-vswitchd only warns.
   */
  async portReady(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const timeout = this.d.portReadyTimeoutMs ?? 2000;
    try {
      await waitPortsOpen(this.d.db, [ep.hostIf], timeout);
    } catch (err) {
      if (err instanceof PortRefusedError) throw new Error(`Join: endpoint ${ep.id.slice(0, 12)}: ${err.message}`);
      this.d.log.warn({ endpoint: ep.id.slice(0, 12), port: ep.hostIf }, `port not reported ready by ovs-vswitchd within ${timeout} ms`);
    }
    // A filtered container must not run one moment unfiltered: its flows are in before Join answers.
    await this.d.qos?.joined(net, ep);
    await this.d.sg?.joined(net, ep);
  }

  publishing(net: NetworkRecord): 'host' | undefined {
    return net.gatewayPort ? 'host' : undefined;
  }

  async publish(_net: NetworkRecord, _before: PublishedPort[], _after: PublishedPort[], record: () => Promise<void>): Promise<void> {
    await record();
    await this.d.firewall.apply();
  }

  reachable(): boolean {
    return true;
  }

  /** The gateway port (re-made if its row is gone) with its addresses, MTU and link up. */
  async heal(net: NetworkRecord): Promise<void> {
    const snoop = this.d.infra.restoreSnoopingOps(net);
    if (snoop.length) {
      this.d.log.info({ network: net.id.slice(0, 12), bridge: net.options.bridge }, 'multicast snooping off on the bridge: turning it on again');
      await this.d.db.transact(snoop);
    }
    if (!net.gatewayPort) return;
    const ops = this.d.infra.restoreGatewayOps(net);
    if (ops.length) {
      this.d.log.info({ network: net.id.slice(0, 12), port: net.gatewayPort }, 'gateway port row missing: adding it again');
      await this.d.db.transact(ops);
    }
    await this.d.infra.configureGateway(net);
  }
}
