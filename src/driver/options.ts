// `docker network create -o key=value` options: parsed once at CreateNetwork into a NetworkSpec,
// every bad value rejected with the option's name and what it accepts.
import { isIPv4 } from 'node:net';
import { InputError } from '../util/errors';
import { NAME_RE } from '../secgroups/model';
import { effectiveQos, isEmptyQos, isQosKey, parseQos, QOS_OPTION_DOCS, type QosSpec } from '../qos/model';

export const MTU_KEY = 'com.docker.network.driver.mtu';
export type Datapath = 'system' | 'netdev';
export type GatewayMode = 'local' | 'external';

export interface OvnOptions {
  /** Logical switch the network is (created if missing, bound if it exists). */
  switch: string;
  /** Logical router connecting the tenant's switches; the gateway is its port. */
  router?: string;
  /** Expected tunnel encapsulation of this chassis (geneve or vxlan). */
  encap?: 'geneve' | 'vxlan';
  dhcp: boolean;
  dns: string[];
  leaseTime: number;
  domain?: string;
  /** The router's way out: gateway chassis, external address and next hop, physical network. */
  gateway?: { chassis: string; externalIp: string; nextHop: string; physnet: string };
}

export interface NetworkOptions {
  ovn?: OvnOptions;
  /** Plain OVS overlay (no OVN): tunnels to the daemon's peers. */
  overlay?: 'vxlan' | 'geneve';
  vni?: number;
  bridge: string;
  /** undefined: detect (system if the kernel has the openvswitch module, netdev otherwise). */
  datapath?: Datapath;
  vlan?: number;
  mtu?: number;
  tenantId?: string;
  externalIds: Record<string, string>;
  gateway: GatewayMode;
  uplink?: string;
  /** Security groups every endpoint of the network is in (names within tenantId). */
  securityGroups?: string[];
  /** IGMP/MLD snooping: multicast only to the ports that joined a group. */
  multicast?: 'snoop' | 'flood';
  /** Rate limits and DSCP of every endpoint (an endpoint's own keys override them). */
  qos?: QosSpec;
}

interface OptionDoc {
  key: string;
  accepts: string;
  help: string;
}

/** The table the README shows; also the list quoted when an unknown option is rejected. */
export const OPTION_DOCS: OptionDoc[] = [
  { key: 'bridge', accepts: 'interface name, 1-15 chars', help: 'OVS bridge of the network, created if missing (default br-int; br-ocn on an OVN chassis, whose integration bridge only ovn.switch networks may use)' },
  { key: 'datapath', accepts: 'system | netdev', help: 'datapath of a bridge the plugin creates (default: system if the kernel has the openvswitch module, netdev otherwise)' },
  { key: 'vlan', accepts: '1-4094', help: 'access VLAN of every port of the network and of its gateway port (default: a free VLAN of its own on the bridge; untagged with an uplink); one network per VLAN and bridge' },
  { key: 'mtu', accepts: '68-65535 (1280+ with IPv6)', help: 'MTU of both veth ends and of the gateway port (default 1500)' },
  { key: MTU_KEY, accepts: 'same as mtu', help: "Docker's own MTU option; Docker does not apply it, the plugin does" },
  { key: 'tenant_id', accepts: 'letters, digits, "_.-", up to 64', help: 'networks of one tenant route to each other, no others do; recorded on every port as external_ids:ocn-tenant' },
  { key: 'external_ids', accepts: 'k1=v1,k2=v2', help: 'extra external_ids recorded on every port and interface of the network (keys ocn-*, ovn-*, xs-*, iface-id, iface-status, attached-mac, vm-id are reserved)' },
  { key: 'gateway', accepts: 'local | external', help: 'local: gateway address on an OVS internal port, NAT egress and published ports; external: L2 only, a router on the uplink' },
  { key: 'uplink', accepts: 'interface name', help: 'physical interface added to the bridge as a trunk port of the VLANs of its networks (needs gateway=external)' },
  { key: 'overlay', accepts: 'vxlan | geneve', help: "plain OVS overlay to the daemon's --peers (no OVN): full mesh of tunnels, the network is a VNI" },
  { key: 'vni', accepts: '1-16777215', help: 'VNI of an overlay network (default: derived from the network id, the same on every host only for swarm networks: give it for local networks)' },
  { key: 'ovn.switch', accepts: 'name, 1-64 chars', help: 'the network is this OVN logical switch, created if missing or bound if it exists (same name on every host = one L2 domain)' },
  { key: 'ovn.router', accepts: 'name, 1-64 chars', help: "OVN logical router connecting the tenant's switches; the gateway address is its port (default: ocn-<tenant_id> when tenant_id is set)" },
  { key: 'ovn.encap', accepts: 'geneve | vxlan', help: "the tunnel type this host's chassis must use; a mismatch with the chassis setup is an error" },
  { key: 'ovn.gateway_chassis', accepts: 'chassis name (system-id)', help: "chassis that hosts the router's gateway port (SNAT egress, published ports); needs ovn.external_ip and ovn.external_gateway" },
  { key: 'ovn.external_ip', accepts: 'IPv4 CIDR', help: "the router's address on the external network (SNAT source, published ports' address)" },
  { key: 'ovn.external_gateway', accepts: 'IPv4 address', help: 'next hop on the external network (the default route of the router)' },
  { key: 'ovn.physnet', accepts: 'name', help: 'localnet network name mapped to a bridge by ovn-bridge-mappings on the gateway chassis (default physnet)' },
  { key: 'security_groups', accepts: 'group names, comma-separated', help: "security groups (of the network's tenant) every endpoint is in: only what their rules allow reaches or leaves it (stateful); an endpoint's --driver-opt security_groups replaces them; none: unfiltered" },
  { key: 'multicast', accepts: 'snoop | flood', help: "snoop: IGMP/MLD snooping, a group's traffic reaches only the ports that joined it (plain networks: the bridge's snooping, shared by the networks on it; OVN: the switch's mcast_snoop); flood (default): to every port" },
  ...QOS_OPTION_DOCS.map((d) => ({ key: d.key, accepts: d.accepts, help: `${d.help}, for every endpoint (an endpoint's --driver-opt ${d.key} overrides it)` })),
  { key: 'dhcp', accepts: 'true | false', help: 'OVN native DHCP on the switch (router, DNS, lease time, domain, MTU)' },
  { key: 'ipam', accepts: 'ovn', help: 'same as dhcp=true: addresses are also served by OVN DHCP' },
  { key: 'dhcp.dns', accepts: 'IPs, comma-separated', help: 'DNS servers handed out by OVN DHCP' },
  { key: 'dhcp.lease_time', accepts: '60-31536000 seconds', help: 'OVN DHCP lease time (default 3600)' },
  { key: 'dhcp.domain', accepts: 'domain name', help: 'domain name handed out by OVN DHCP' },
];

const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const TENANT_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const EXTID_KEY_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const OVN_NAME_RE = /^[A-Za-z0-9_.:-]{1,64}$/;
const DOMAIN_RE = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function ovnName(key: string, v: string): string {
  if (!OVN_NAME_RE.test(v)) throw new InputError(`option ${key}: "${v}" is not valid; accepted: 1-64 characters from A-Z a-z 0-9 _ . : -`);
  return v;
}

function ifname(key: string, v: string): string {
  if (!IFNAME_RE.test(v) || v === '.' || v === '..') {
    throw new InputError(`option ${key}: "${v}" is not a valid interface name (1-15 characters from A-Z a-z 0-9 _ . -)`);
  }
  return v;
}

/** `security_groups=web,db`: group names (their existence is checked where the store is). */
export function groupNames(key: string, v: string): string[] {
  const names = [...new Set(v.split(/[,:]/).map((s) => s.trim()).filter(Boolean))];
  if (!names.length) throw new InputError(`option ${key}: "${v}" names no group; accepted: group names separated by commas or colons (like web,db or web:db)`);
  for (const n of names) if (!NAME_RE.test(n)) throw new InputError(`option ${key}: "${n}" is not a valid group name; accepted: 1-63 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit`);
  return names;
}

function intIn(key: string, v: string, lo: number, hi: number, what: string): number {
  if (!/^\d+$/.test(v.trim()) || Number(v) < lo || Number(v) > hi) throw new InputError(`option ${key}: "${v}" is not valid; accepted: ${what}`);
  return Number(v);
}

function oneOf<T extends string>(key: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v)) throw new InputError(`option ${key}: "${v}" is not valid; accepted: ${allowed.join(' | ')}`);
  return v as T;
}

/** Keys OVS and OVN act on (binding a port to a logical port, faking its state) and our own. */
const RESERVED_EXTID = /^(ocn-|ovn-|xs-|iface-id$|iface-status$|attached-mac$|vm-id$)/;
const RESERVED_EXTID_TEXT = 'ocn-*, ovn-*, xs-*, iface-id, iface-status, attached-mac, vm-id';

function parseExternalIds(v: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = part.indexOf('=');
    const k = eq > 0 ? part.slice(0, eq) : '';
    if (!EXTID_KEY_RE.test(k)) throw new InputError(`option external_ids: "${part}" is not k=v with a key of letters, digits, "_.:-"`);
    if (RESERVED_EXTID.test(k)) throw new InputError(`option external_ids: key "${k}" is reserved (OVS, OVN and the plugin act on ${RESERVED_EXTID_TEXT}); choose another key`);
    const value = part.slice(eq + 1);
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new InputError(`option external_ids: the value of "${k}" (${JSON.stringify(value)}) contains control characters; accepted: printable text`);
    out[k] = value;
  }
  return out;
}

export function parseNetworkOptions(generic: Record<string, unknown> | undefined, ipv6: boolean): NetworkOptions {
  const o: NetworkOptions = { bridge: 'br-int', externalIds: {}, gateway: 'local' };
  let mtu: number | undefined;
  let dockerMtu: number | undefined;
  const ovn: Partial<OvnOptions> & { dhcp?: boolean } = {};
  const gw: { chassis?: string; externalIp?: string; nextHop?: string; physnet?: string } = {};
  let gatewayGiven = false;
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
      case 'gateway': o.gateway = oneOf(key, v, ['local', 'external'] as const); gatewayGiven = true; break;
      case 'overlay': o.overlay = oneOf(key, v, ['vxlan', 'geneve'] as const); break;
      case 'vni': o.vni = intIn(key, v, 1, 16_777_215, '1-16777215'); break;
      case 'ovn.switch': ovn.switch = ovnName(key, v); break;
      case 'ovn.router': ovn.router = ovnName(key, v); break;
      case 'ovn.encap': ovn.encap = oneOf(key, v, ['geneve', 'vxlan'] as const); break;
      case 'ovn.gateway_chassis': gw.chassis = ovnName(key, v); break;
      case 'ovn.external_ip':
        if (!/^[\d.]+\/\d{1,2}$/.test(v) || !isIPv4(v.split('/')[0]) || Number(v.split('/')[1]) > 32) throw new InputError(`option ovn.external_ip: "${v}" is not an IPv4 address with prefix length (like 203.0.113.10/24)`);
        gw.externalIp = v;
        break;
      case 'ovn.external_gateway':
        if (!isIPv4(v)) throw new InputError(`option ovn.external_gateway: "${v}" is not an IPv4 address`);
        gw.nextHop = v;
        break;
      case 'ovn.physnet': gw.physnet = ovnName(key, v); break;
      case 'dhcp': ovn.dhcp = oneOf(key, v, ['true', 'false'] as const) === 'true'; break;
      case 'ipam': oneOf(key, v, ['ovn'] as const); ovn.dhcp = true; break;
      case 'dhcp.dns':
        ovn.dns = v.split(',').map((x) => x.trim()).filter(Boolean);
        for (const d of ovn.dns) if (!isIPv4(d)) throw new InputError(`option dhcp.dns: "${d}" is not an IPv4 address`);
        break;
      case 'dhcp.lease_time': ovn.leaseTime = intIn(key, v, 60, 31_536_000, '60-31536000 seconds'); break;
      case 'dhcp.domain':
        if (!DOMAIN_RE.test(v)) throw new InputError(`option dhcp.domain: "${v}" is not a domain name`);
        ovn.domain = v;
        break;
      case 'uplink': o.uplink = ifname(key, v); break;
      case 'security_groups': o.securityGroups = groupNames(key, v); break;
      case 'multicast': o.multicast = oneOf(key, v, ['snoop', 'flood'] as const); break;
      default:
        if (isQosKey(key)) break; // parsed together below
        throw new InputError(`unknown option "${key}"; known options: ${known.join(', ')}`);
    }
  }
  const qos = parseQos(generic ?? {});
  if (!isEmptyQos(qos)) {
    effectiveQos(qos); // a burst without a rate is refused now, not at the first attach
    o.qos = qos;
  }
  if (mtu !== undefined && dockerMtu !== undefined && mtu !== dockerMtu) {
    throw new InputError(`options mtu=${mtu} and ${MTU_KEY}=${dockerMtu} conflict: give one of them`);
  }
  o.mtu = mtu ?? dockerMtu;
  if (o.uplink && o.gateway === 'local') {
    throw new InputError('options uplink and gateway=local conflict: a network with an uplink is routed outside; add -o gateway=external');
  }
  if (o.uplink && o.uplink === o.bridge) throw new InputError(`options uplink and bridge conflict: both are "${o.uplink}"`);
  if (o.vni !== undefined && !o.overlay) throw new InputError('option vni needs overlay=vxlan|geneve');
  const ovnKeys = Object.keys(generic ?? {}).filter((k) => k.startsWith('ovn.') || k.startsWith('dhcp') || k === 'ipam');
  if (ovnKeys.length && !ovn.switch) throw new InputError(`option ${ovnKeys[0]} needs ovn.switch: it only applies to OVN networks`);
  if (ovn.switch) {
    if (o.vlan !== undefined) throw new InputError('options vlan and ovn.switch conflict: an OVN logical switch is its own L2 domain');
    if (o.overlay) throw new InputError('options overlay and ovn.switch conflict: OVN builds its own tunnels');
    if (o.uplink) throw new InputError('options uplink and ovn.switch conflict: OVN reaches the outside through a gateway router');
    if (gatewayGiven && o.gateway === 'local') throw new InputError('options gateway=local and ovn.switch conflict: the gateway of an OVN network is its logical router port (ovn.router)');
    o.gateway = 'external';
    const gwKeys = [gw.chassis, gw.externalIp, gw.nextHop].filter((x) => x !== undefined).length;
    if (gwKeys > 0 && gwKeys < 3) throw new InputError('options ovn.gateway_chassis, ovn.external_ip and ovn.external_gateway go together: give all three');
    const router = ovn.router ?? (o.tenantId ? `ocn-${o.tenantId}` : undefined);
    if (gwKeys === 3 && !router) throw new InputError('option ovn.gateway_chassis needs a router: give ovn.router or tenant_id');
    o.ovn = {
      switch: ovn.switch,
      router,
      gateway: gwKeys === 3 ? { chassis: gw.chassis!, externalIp: gw.externalIp!, nextHop: gw.nextHop!, physnet: gw.physnet ?? 'physnet' } : undefined,
      encap: ovn.encap,
      dhcp: ovn.dhcp ?? false,
      dns: ovn.dns ?? [],
      leaseTime: ovn.leaseTime ?? 3600,
      domain: ovn.domain,
    };
  }
  return o;
}
