// What the daemon knows of its networks and endpoints. The driver changes it; the firewall (its
// rule set) and the overlay mesh (its VNIs) only read it. Built first, so the daemon's wiring
// has no cycle: registry, then the components reading it, then the backends, then the driver.
import type { FirewallState } from '../net/firewall';
import type { Endpoint, EndpointIntent, NetworkRecord } from './model';
import { KeyedMutex } from '../util/keyed-mutex';

/**
 * The one item whose id starts with `prefix` (ids as `docker network inspect` shortens them),
 * or how many matched: 0 (none) or more than 1 (give more of the id).
 */
export function uniqueByPrefix<T extends { id: string }>(items: Iterable<T>, prefix: string): T | number {
  let found: T | undefined;
  let count = 0;
  for (const item of items) if (item.id.startsWith(prefix)) { found = item; count++; }
  return count === 1 ? found! : count;
}

export class Registry {
  readonly networks = new Map<string, NetworkRecord>();
  readonly endpoints = new Map<string, Endpoint>();
  /** Every endpoint's durable record, including creations that never finished (see model.ts). */
  readonly intents = new Map<string, EndpointIntent>();
  /** Requests and background work on one network (`net:<id>`) or endpoint (`ep:<id>`) take turns. */
  readonly locks = new KeyedMutex();

  /** The firewall's rule set: networks with a gateway port, and the ports their endpoints publish on this host. */
  firewallState(): FirewallState {
    const s: FirewallState = { v4: { networks: [], ports: [] }, v6: { networks: [], ports: [] } };
    for (const n of this.networks.values()) {
      if (!n.gatewayPort) continue;
      const v4 = n.ipv4.filter((d) => d.Gateway).map((d) => d.Pool);
      const v6 = n.ipv6.filter((d) => d.Gateway).map((d) => d.Pool);
      const net = { id: n.id, gateway: n.gatewayPort, tenant: n.options.tenantId };
      if (v4.length) s.v4.networks.push({ ...net, subnets: v4 });
      if (v6.length) s.v6.networks.push({ ...net, subnets: v6 });
    }
    // Only a network with a gateway port publishes on this host (an OVN network publishes on its
    // router, a gateway=external one not at all).
    for (const ep of this.endpoints.values()) {
      if (!this.networks.get(ep.networkId)?.gatewayPort) continue;
      for (const p of ep.ports) (p.containerIp.includes(':') ? s.v6 : s.v4).ports.push(p);
    }
    return s;
  }
}
