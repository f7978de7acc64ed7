// Which addresses of the IPAM's pools the network driver accounts for: its networks' gateways and
// aux addresses, its endpoints' addresses, and any endpoint still being created. The IPAM asks
// this before it collects an address nobody released (ipam.collectUnused).
import { bigIntToIp, ipToBigInt } from './cidr';

export interface AddressUsers {
  /** Whether the driver has this network (a pool bound to a network it lost was never released). */
  hasNetwork(networkId: string): boolean;
  /** Whether the network may use this address (canonical text, no prefix length). */
  uses(networkId: string, ip: string): boolean;
}

/** The parts of the driver's state that say which addresses are used (structural, so any backend fits). */
export interface DriverState {
  networks: ReadonlyMap<string, { ipv4: SubnetData[]; ipv6: SubnetData[] }>;
  endpoints: ReadonlyMap<string, { networkId: string; ipv4?: string; ipv6?: string }>;
  /** Endpoint records: one without an endpoint is a creation in flight (its address unknown yet). */
  intents: ReadonlyMap<string, { networkId: string }>;
}

export interface SubnetData {
  Gateway?: string;
  AuxAddresses?: Record<string, string> | null;
}

/** "10.0.0.5/24", "fd00::5" → canonical text, so both sides compare alike; undefined if unparsable. */
export function canonicalIp(text: string | undefined): string | undefined {
  if (!text) return undefined;
  try {
    const { value, v6 } = ipToBigInt(text.split('/')[0]);
    return bigIntToIp(value, v6);
  } catch {
    return undefined;
  }
}

/** A snapshot of the driver's state, taken when the IPAM decides (no await in between). */
export function driverAddressUsers(state: DriverState): AddressUsers {
  const used = new Map<string, Set<string>>();
  const add = (net: string, text: string | undefined): void => {
    const ip = canonicalIp(text);
    if (!ip) return;
    let s = used.get(net);
    if (!s) used.set(net, (s = new Set()));
    s.add(ip);
  };
  for (const [id, net] of state.networks) {
    for (const d of [...net.ipv4, ...net.ipv6]) {
      add(id, d.Gateway);
      for (const aux of Object.values(d.AuxAddresses ?? {})) add(id, aux);
    }
  }
  for (const ep of state.endpoints.values()) {
    add(ep.networkId, ep.ipv4);
    add(ep.networkId, ep.ipv6);
  }
  // An endpoint being created holds an address the driver has not recorded yet: its whole
  // network is left alone until the creation is done.
  const creating = new Set<string>();
  for (const [id, intent] of state.intents) if (!state.endpoints.has(id)) creating.add(intent.networkId);
  return {
    hasNetwork: (id) => state.networks.has(id),
    uses: (id, ip) => creating.has(id) || !!used.get(id)?.has(ip),
  };
}
