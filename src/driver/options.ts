// `docker network create -o key=value` options: parsed once at CreateNetwork into a NetworkSpec,
// every bad value rejected with the option's name and what it accepts.
import { InputError } from '../util/errors';

export const MTU_KEY = 'com.docker.network.driver.mtu';
export type Datapath = 'system' | 'netdev';
export type GatewayMode = 'local' | 'external';

export interface NetworkOptions {
  bridge: string;
  /** undefined: detect (system if the kernel has the openvswitch module, netdev otherwise). */
  datapath?: Datapath;
  vlan?: number;
  mtu?: number;
  tenantId?: string;
  externalIds: Record<string, string>;
  gateway: GatewayMode;
  uplink?: string;
}

interface OptionDoc {
  key: string;
  accepts: string;
  help: string;
}

/** The table the README shows; also the list quoted when an unknown option is rejected. */
export const OPTION_DOCS: OptionDoc[] = [
  { key: 'bridge', accepts: 'interface name, 1-15 chars', help: 'OVS bridge of the network (default br-int), created if missing' },
  { key: 'datapath', accepts: 'system | netdev', help: 'datapath of a bridge the plugin creates (default: system if the kernel has the openvswitch module, netdev otherwise)' },
  { key: 'vlan', accepts: '1-4094', help: 'access VLAN tag of every port of the network (and of its gateway port)' },
  { key: 'mtu', accepts: '68-65535 (1280+ with IPv6)', help: 'MTU of both veth ends and of the gateway port (default 1500)' },
  { key: MTU_KEY, accepts: 'same as mtu', help: "Docker's own MTU option; Docker does not apply it, the plugin does" },
  { key: 'tenant_id', accepts: 'letters, digits, "_.-", up to 64', help: 'recorded on every port as external_ids:ocn-tenant' },
  { key: 'external_ids', accepts: 'k1=v1,k2=v2', help: 'extra external_ids recorded on every port and interface of the network' },
  { key: 'gateway', accepts: 'local | external', help: 'local: gateway address on an OVS internal port, NAT egress and published ports; external: L2 only, a router on the uplink' },
  { key: 'uplink', accepts: 'interface name', help: 'physical interface added to the bridge as a trunk port (needs gateway=external)' },
];

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const TENANT_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const EXTID_KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

function ifname(key: string, v: string): string {
  if (!IFNAME_RE.test(v) || v === '.' || v === '..') {
    throw new InputError(`option ${key}: "${v}" is not a valid interface name (1-15 characters from A-Z a-z 0-9 _ . -)`);
  }
  return v;
}

function intIn(key: string, v: string, lo: number, hi: number, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < lo || Number(v) > hi) throw new InputError(`option ${key}: "${v}" is not valid; accepted: ${what}`);
  return Number(v);
}

function oneOf<T extends string>(key: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new InputError(`option ${key}: "${v}" is not valid; accepted: ${allowed.join(' | ')}`);
  return v as T;
}

function parseExternalIds(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq) : '';
    if (!EXTID_KEY_RE.test(k)) throw new InputError(`option external_ids: "${part}" is not k=v with a key of letters, digits, "_.:-"`);
    if (k.startsWith('ocn-')) throw new InputError(`option external_ids: key "${k}" is reserved (ocn-* keys are written by the plugin)`);
    out[k] = part.slice(eq + 1);
  }
  return out;
}

export function parseNetworkOptions(generic: Record<string, unknown> | undefined, ipv6: boolean): NetworkOptions {
  const o: NetworkOptions = { bridge: 'br-int', externalIds: {}, gateway: 'local' };
  let mtu: number | undefined;
  let dockerMtu: number | undefined;
  const known = OPTION_DOCS.map((d) => d.key);
  for (const [key, raw] of Object.entries(generic ?? {})) {
    if (typeof raw !== 'string') throw new InputError(`option ${key}: value must be a string`);
    const v = raw.trim();
    const mtuRange = `68-65535${ipv6 ? ' (1280 or more on an IPv6 network)' : ''}`;
    switch (key) {
      case 'bridge': o.bridge = ifname(key, v); break;
      case 'datapath': o.datapath = oneOf(key, v, ['system', 'netdev'] as const); break;
      case 'vlan': o.vlan = intIn(key, v, 1, 4094, '1-4094'); break;
      case 'mtu': mtu = intIn(key, v, ipv6 ? 1280 : 68, 65535, mtuRange); break;
      case MTU_KEY: dockerMtu = intIn(key, v, ipv6 ? 1280 : 68, 65535, mtuRange); break;
      case 'tenant_id':
        if (!TENANT_RE.test(v)) throw new InputError(`option tenant_id: "${v}" is not valid; accepted: 1-64 characters from A-Z a-z 0-9 _ . -`);
        o.tenantId = v;
        break;
      case 'external_ids': o.externalIds = parseExternalIds(v); break;
      case 'gateway': o.gateway = oneOf(key, v, ['local', 'external'] as const); break;
      case 'uplink': o.uplink = ifname(key, v); break;
      default:
        throw new InputError(`unknown option "${key}"; known options: ${known.join(', ')}`);
    }
  }
  if (mtu !== undefined && dockerMtu !== undefined && mtu !== dockerMtu) {
    throw new InputError(`options mtu=${mtu} and ${MTU_KEY}=${dockerMtu} conflict: give one of them`);
  }
  o.mtu = mtu ?? dockerMtu;
  if (o.uplink && o.gateway === 'local') {
    throw new InputError('options uplink and gateway=local conflict: a network with an uplink is routed outside; add -o gateway=external');
  }
  if (o.uplink && o.uplink === o.bridge) throw new InputError(`options uplink and bridge conflict: both are "${o.uplink}"`);
  return o;
}
