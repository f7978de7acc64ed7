// What differs between the kinds of network, behind one interface: a plain OVS bridge network
// (VLAN on a bridge, maybe a local gateway), a plain overlay (the same plus a VNI on the tunnel
// mesh) and an OVN logical switch. The driver keeps Docker's semantics (validation, idempotency,
// locks, records, answers) and asks the network's backend, chosen once from its kind, for the rest.
import type { Operation } from '../ovsdb/types';
import type { Endpoint, NetworkRecord } from '../driver/model';
import type { NetworkOptions } from '../driver/options';
import type { PublishedPort } from '../net/firewall';
import type { SharedAddresses } from '../ipam/ipam';
import { InputError } from '../util/errors';

export type NetworkKind = 'bridge' | 'overlay' | 'ovn';

/** A network's kind follows from its options, so a record loaded from OVSDB finds its backend again. */
export function kindOf(options: Pick<NetworkOptions, 'ovn' | 'overlay'>): NetworkKind {
  if (options.ovn) return 'ovn';
  if (options.overlay) return 'overlay';
  return 'bridge';
}

export interface PlanContext {
  /** The host's OVS settings (the root row's external_ids), read for this create. */
  host: Readonly<Record<string, string>>;
  /** Whether -o bridge was given (the option's default is not a choice). */
  bridgeGiven: boolean;
  /** Every network recorded or being created: what the new one must not collide with. */
  others: readonly NetworkRecord[];
}

/** How an endpoint's OVS port is made. */
export interface PortPlan {
  /** Access VLAN of the port; none on OVN's integration bridge. */
  access?: number;
  /** external_ids beside the endpoint's own (OVN: the iface-id binding it to its logical port). */
  externalIds: Record<string, string>;
}

export interface NetworkBackend {
  readonly kind: NetworkKind;
  /**
   * Completes a new network's record (bridge, datapath, MTU, VLAN, VNI) and checks it against the
   * host and `others`. Synchronous on purpose: a unique choice (a VLAN) is held by the caller
   * before anything awaits.
   */
  plan(rec: NetworkRecord, ctx: PlanContext): void;
  /** Swarm managers: options every node gets with the network (chosen once, the same everywhere). */
  allocate?(opts: NetworkOptions): Record<string, string>;
  /** Makes what lives outside this host's OVSDB and returns the local operations; leaves nothing when it throws. */
  create(rec: NetworkRecord): Promise<Operation[]>;
  /** Undoes create's outside part when the local transaction failed. */
  abandon(rec: NetworkRecord): Promise<void>;
  /** After the local transaction: device settings and flows. */
  finish(rec: NetworkRecord): Promise<void>;
  /** Addresses shared with other hosts (an OVN switch's reservations), if the network spans hosts. */
  sharedAddresses(rec: NetworkRecord): SharedAddresses | undefined;
  /** Local operations removing the network's infrastructure; `others` keep what they share. */
  teardownOps(rec: NetworkRecord, others: NetworkRecord[]): Operation[];
  /** After the delete's local transaction: the outside part, for the network and its endpoints. */
  afterTeardown(rec: NetworkRecord, endpoints: Endpoint[]): Promise<void>;
  /** The access VLAN of the network's ports (undefined: untagged, on OVN's bridge); pooled ports are made with it. */
  portAccess(net: NetworkRecord): number | undefined;
  /** Before the endpoint's port is added: its outside part, and how the port is made. */
  attach(net: NetworkRecord, ep: Endpoint): Promise<PortPlan>;
  /** After the endpoint's port is gone (or attach's undo). */
  detach(net: NetworkRecord, ep: Endpoint): Promise<void>;
  /** Join waits here until the port forwards (bounded). */
  portReady(net: NetworkRecord, ep: Endpoint): Promise<void>;
  /** Where published ports live: this host's iptables ('host'), the fabric, or nowhere. */
  publishing(net: NetworkRecord): 'host' | 'fabric' | undefined;
  /** Changes an endpoint's publications; `record` writes them to its port, in the order the backend needs. */
  publish(net: NetworkRecord, before: PublishedPort[], after: PublishedPort[], record: () => Promise<void>): Promise<void>;
  /** Whether the backend's outside components answer now (a pass skips what would only time out). */
  reachable(): boolean;
  /** Re-applies what OVS or OVN may have lost for the network; never touches an endpoint's port. */
  heal(net: NetworkRecord): Promise<void>;
  /** Re-applies what an endpoint needs outside its port (OVN: its logical port). */
  healEndpoint?(net: NetworkRecord, ep: Endpoint): Promise<void>;
  /** Once a pass: state the kind keeps for the whole host (the tunnel mesh, NB leftovers). */
  healHost?(known: KnownState): Promise<void>;
}

/** What the driver has, in flight included, for collecting what nothing owns. */
export interface KnownState {
  networkIds: ReadonlySet<string>;
  endpoints: readonly Endpoint[];
  endpointIds: ReadonlySet<string>;
}

/** The backends of the kinds this daemon serves, chosen per network. */
export class Backends {
  /** `missing`: why a kind this daemon does not serve is refused (which flag it needs). */
  constructor(private readonly byKind: Partial<Record<NetworkKind, NetworkBackend>>, private readonly missing: Partial<Record<NetworkKind, string>>) {}

  /** The backend of a network, or a clear error when this daemon does not serve its kind. */
  of(net: Pick<NetworkRecord, 'options'>): NetworkBackend {
    const kind = kindOf(net.options);
    const b = this.byKind[kind];
    if (!b) throw new InputError(this.missing[kind] ?? `networks of kind ${kind} are not served by this daemon`);
    return b;
  }

  /** The backend of a network, or undefined when this daemon does not serve its kind. */
  find(net: Pick<NetworkRecord, 'options'>): NetworkBackend | undefined {
    return this.byKind[kindOf(net.options)];
  }

  /** Each reachable backend's host-wide heal; one that fails is reported and does not stop the others. */
  async healHosts(known: () => KnownState, failed: (b: NetworkBackend, err: unknown) => void): Promise<void> {
    for (const b of this.all()) {
      if (b.healHost && b.reachable()) await b.healHost(known()).catch((err: unknown) => failed(b, err));
    }
  }

  all(): NetworkBackend[] {
    return Object.values(this.byKind).filter((b): b is NetworkBackend => !!b);
  }
}
