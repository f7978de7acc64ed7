// Security groups on a plain OVS bridge as OpenFlow + conntrack (modelled on Neutron's
// openvswitch firewall). Pure rendering: the whole set of our flows for one bridge, every flow
// with SG_COOKIE, to be swapped in atomically (ovs-firewall.ts). The bridge's own
// `priority=0 actions=NORMAL` in table 0 stays as it is; only networks with at least one filtered
// endpoint are diverted into our tables, so a bridge without such networks gets no flow at all.
//
// Registers: reg3 flags (FLOOD_FLAG: stateless delivery of a flooded frame; RETAG_FLAG: the frame
// came tagged from a trunk, put the tag back before NORMAL), reg5 the OpenFlow port whose policy
// applies (the sender on egress, the receiver on ingress), reg6 the conntrack zone (one per
// network; also names the network inside our tables), reg7 the policy (a distinct set of groups).
//
// table 0  classify: a filtered port's untagged frames -> EGRESS (its tagged ones are dropped:
//          no bypass of the access port); the network's other access ports (untagged or
//          priority-tagged) and its trunks (dl_vlan, tag stripped) -> SWITCH. Tagged frames of
//          the network from unlisted ports that aim at a filtered MAC or IP multicast are dropped.
// EGRESS   anti-spoofing (MAC, source address): ARP, DHCP client, ND/MLD -> NORMAL; DHCP server
//          replies, RA, redirects dropped; other IP -> ct(zone) -> EGRESS_RULES; the rest dropped.
// EGRESS_RULES  invalid dropped; replies and related accepted; original-direction packets (new or
//          established) must match an egress rule of the policy -> EGRESS_COMMIT.
// EGRESS_COMMIT  commits new connections in the zone -> SWITCH.
// SWITCH   to a filtered member's MAC -> INGRESS of that member; IP multicast/broadcast (except
//          DHCP and ND/MLD) -> FLOOD; anything else -> NORMAL_OUT.
// FLOOD    explicit flood of the network: its unfiltered access ports, each filtered member
//          through its ingress rules (stateless, in a clone), its trunks (tag pushed back).
// NORMAL_OUT  the tag back on frames that came from a trunk, then NORMAL.
// INGRESS  ARP, ND/MLD, DHCP replies -> the port; IP -> ct(zone) unless the sender's egress
//          already tracked it in the same zone -> INGRESS_RULES; the rest dropped.
// INGRESS_RULES  invalid dropped; replies and related delivered; otherwise an ingress rule of
//          the receiver's policy must match -> INGRESS_COMMIT.
// INGRESS_COMMIT commits new connections (not flooded frames) and outputs to reg5.
//
// Rules are evaluated for every original-direction packet, not only the first, so removing a
// rule or a remote group member also stops the connections it allowed.
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import { SecurityGroup, SgMember, SgRule, sgKey } from './model';

/** Every flow of ours carries this cookie ("ocnsg\0\0\0"), and nothing else of ours exists. */
export const SG_COOKIE = '0x6f636e7367000000';

export const SG_TABLES = {
  egress: 60,
  egressRules: 61,
  egressCommit: 62,
  switch: 64,
  flood: 65,
  normalOut: 66,
  ingress: 70,
  ingressRules: 71,
  ingressCommit: 72,
} as const;

/** What table 0 does first with a port's frames (src/qos): police them, mark their IP DSCP. */
export interface PortQos {
  /** OpenFlow meter (of this bridge, existing) every frame from the port goes through. */
  meter?: number;
  /** DSCP (0-63) set on the port's IPv4 and IPv6 packets. */
  dscp?: number;
}

export interface SgPortMember extends SgMember, PortQos {
  /** OpenFlow port number of the member's OVS port; members without a valid one are skipped. */
  ofport: number;
}

export interface SgNetworkInput {
  networkId: string;
  /** Access VLAN of the network on this bridge (0: untagged on trunks). */
  vlan: number;
  /** Endpoints of the network on this bridge; groups=[] are unfiltered. */
  members: SgPortMember[];
  /** Other access ports of this VLAN (the gateway's internal port...). */
  otherPorts: number[];
  /** Trunk ports carrying this VLAN (uplinks, patch ports to the tunnel bridge). */
  trunkPorts?: number[];
}

export interface BridgeSgInput {
  bridge: string;
  /** Every network of the bridge may be given; only those with a filtered member produce flows. */
  networks: SgNetworkInput[];
  /** Groups by sgKey(tenant, name). */
  groups: ReadonlyMap<string, SecurityGroup>;
  /** Current addresses of the members of a group (by sgKey), wherever they are. */
  groupAddresses(key: string): { ipv4: string[]; ipv6: string[] };
}

const T = SG_TABLES;
const REG_FLAGS = 'reg3';
const REG_PORT = 'reg5';
const REG_ZONE = 'reg6';
const REG_POLICY = 'reg7';
const FLOOD_FLAG = 0x1;
const RETAG_FLAG = 0x2;
const ZONE = 'zone=NXM_NX_REG6[0..15]';
const TO_PORT = 'output:NXM_NX_REG5[0..15]';
const MULTICAST = 'dl_dst=01:00:00:00:00:00/01:00:00:00:00:00';
const UNTAGGED = 'vlan_tci=0x0000/0x1fff';
const PRIORITY_TAGGED = 'vlan_tci=0x1000/0x1fff';
/** ICMPv6 a filtered endpoint may always send: RS, NS, NA, MLD reports/done (not RA, not redirects). */
const ND_EGRESS = [133, 135, 136, 131, 132, 143];
/** ICMPv6 it may always receive: MLD query/report/done, RA, NS, NA. */
const ND_INGRESS = [130, 131, 132, 134, 135, 136, 143];
/** Multicast ICMPv6 left to NORMAL's flood (every member accepts it anyway). */
const ND_FLOOD = [...new Set([...ND_EGRESS, ...ND_INGRESS])].sort((a, b) => a - b);

function flow(table: number, priority: number, match: string, actions: string): string {
  return `cookie=${SG_COOKIE},table=${table},priority=${priority}${match ? `,${match}` : ''},actions=${actions}`;
}

const resubmit = (table: number) => `resubmit(,${table})`;
const setReg = (reg: string, v: number) => `set_field:${v}->${reg}`;

// ---------------------------------------------------------------- helpers with their own tests

/**
 * A table-0 entry flow of a port with its QoS applied first: the meter (an instruction, so it
 * leads), and with a DSCP, IPv4 and IPv6 variants one priority above that also set it (OVS
 * refuses set_field ip_dscp without an IP match). Without QoS: the plain flow.
 */
export function qosEntryFlows(qos: PortQos, priority: number, match: string, actions: string, build: (priority: number, match: string, actions: string) => string): string[] {
  if (qos.meter !== undefined && !(Number.isInteger(qos.meter) && qos.meter >= 1 && qos.meter <= 0xffff0000)) throw new RangeError(`meter ${qos.meter} is not within 1-${0xffff0000}`);
  if (qos.dscp !== undefined && !(Number.isInteger(qos.dscp) && qos.dscp >= 0 && qos.dscp <= 63)) throw new RangeError(`DSCP ${qos.dscp} is not within 0-63`);
  const meter = qos.meter !== undefined ? `meter:${qos.meter},` : '';
  const out = [build(priority, match, `${meter}${actions}`)];
  if (qos.dscp !== undefined) for (const l3 of ['ip', 'ipv6']) out.push(build(priority + 1, `${l3}${match ? `,${match}` : ''}`, `${meter}set_field:${qos.dscp}->ip_dscp,${actions}`));
  return out;
}

export interface PortMask {
  value: number;
  mask: number;
}

/**
 * The fewest value/mask pairs that cover exactly [from, to] (16-bit ports): the largest aligned
 * power-of-two block that fits, again and again.
 */
export function portRangeMasks(from: number, to: number): PortMask[] {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to > 0xffff || from > to) throw new RangeError(`port range ${from}-${to} is not within 0-65535`);
  const out: PortMask[] = [];
  let p = from;
  while (p <= to) {
    let size = 1;
    while (size < 0x10000 && p % (size * 2) === 0 && p + size * 2 - 1 <= to) size *= 2;
    out.push({ value: p, mask: 0xffff & ~(size - 1) });
    p += size;
  }
  return out;
}

/** `tp_dst` matches for a rule's port range; [''] when every port is allowed. */
export function tpDstMatches(ports?: readonly [number, number]): string[] {
  if (!ports || (ports[0] <= 1 && ports[1] >= 0xffff)) return [''];
  const hex = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;
  return portRangeMasks(ports[0], ports[1]).map(({ value, mask }) => (mask === 0xffff ? `tp_dst=${value}` : `tp_dst=${hex(value)}/${hex(mask)}`));
}

const ZONE_BASE = 4096;
const ZONE_SPAN = 0x10000 - ZONE_BASE; // 61440 = 2^12 * 3 * 5
const ZONE_STRIDE = 7919; // a prime, so coprime with ZONE_SPAN

/**
 * The conntrack zone of network (bridge, vlan). Zones are shared by every bridge of the (userspace)
 * datapath. Zones 0-4095 are left alone: 0 is the default zone and ovn-controller hands out zones
 * counting up from 1. Within one bridge the mapping vlan -> zone is a bijection (stride coprime
 * with the span), so networks of a bridge never share a zone; a bridge's offset is a hash of its
 * name, so two bridges collide only when the difference of their offsets happens to equal
 * stride x (difference of two VLANs in use), about (2n-1)/61440 for n VLANs on each.
 */
export function zoneFor(bridge: string, vlan: number): number {
  if (!Number.isInteger(vlan) || vlan < 0 || vlan > 4095) throw new RangeError(`VLAN ${vlan} is not within 0-4095`);
  const offset = createHash('sha256').update(bridge).digest().readUInt32BE(0) % ZONE_SPAN;
  return ZONE_BASE + ((vlan * ZONE_STRIDE + offset) % ZONE_SPAN);
}

// ---------------------------------------------------------------- rules

interface Remote {
  v6: boolean;
  /** Address or CIDR as OVS takes it; undefined: any address of the family. */
  addr?: string;
}

function cidrRemote(cidr: string): Remote | undefined {
  try {
    const [addr, len] = ipaddr.parseCIDR(cidr);
    const v6 = addr.kind() === 'ipv6';
    if (len === 0) return { v6 };
    // The network address, as OVS stores it: two spellings of one match would be one flow.
    const net = v6 ? ipaddr.IPv6.networkAddressFromCIDR(cidr) : ipaddr.IPv4.networkAddressFromCIDR(cidr);
    return { v6, addr: len === (v6 ? 128 : 32) ? net.toString() : `${net.toString()}/${len}` };
  } catch {
    return undefined; // the model checks CIDRs; an unparsable one allows nothing
  }
}

function hostRemotes(addrs: readonly string[], v6: boolean): Remote[] {
  const out: Remote[] = [];
  for (const a of addrs) {
    if (!ipaddr.isValid(a)) continue;
    const parsed = ipaddr.parse(a);
    if ((parsed.kind() === 'ipv6') === v6) out.push({ v6, addr: parsed.toString() });
  }
  return out;
}

const PROTO_TOKEN: Record<SgRule['protocol'], [v4: string, v6: string]> = {
  tcp: ['tcp', 'tcp6'],
  udp: ['udp', 'udp6'],
  icmp: ['icmp', 'icmp6'],
  all: ['ip', 'ipv6'],
};

/** The matches (without the policy register) of one rule; the remote is the source on ingress, the destination on egress. */
function ruleMatches(rule: SgRule, ingress: boolean, owner: SecurityGroup, input: BridgeSgInput): string[] {
  let remotes: Remote[];
  if ('cidr' in rule.remote) {
    const r = cidrRemote(rule.remote.cidr);
    remotes = r ? [r] : [];
  } else {
    const { ipv4, ipv6 } = input.groupAddresses(sgKey(owner.tenant, rule.remote.group));
    remotes = [...hostRemotes(ipv4, false), ...hostRemotes(ipv6, true)];
  }
  const ports = rule.protocol === 'tcp' || rule.protocol === 'udp' ? tpDstMatches(rule.ports) : [''];
  const out: string[] = [];
  for (const r of remotes) {
    const field = r.v6 ? (ingress ? 'ipv6_src' : 'ipv6_dst') : ingress ? 'nw_src' : 'nw_dst';
    const base = [PROTO_TOKEN[rule.protocol][r.v6 ? 1 : 0], ...(r.addr ? [`${field}=${r.addr}`] : [])];
    for (const p of ports) out.push([...base, ...(p ? [p] : [])].join(','));
  }
  return out;
}

/** A member's policy: its sorted group keys, or DENY_ALL when one of them is unknown (fail closed). */
const DENY_ALL = '!deny-all';
function policyKey(m: SgMember, groups: ReadonlyMap<string, SecurityGroup>): string {
  const keys = [...new Set(m.groups)].sort();
  return keys.every((k) => groups.has(k)) ? keys.join('\n') : DENY_ALL;
}

function policyFlows(key: string, id: number, input: BridgeSgInput): string[] {
  if (key === DENY_ALL) return [];
  const out: string[] = [];
  for (const g of key.split('\n').map((k) => input.groups.get(k)!)) {
    for (const r of g.ingress) for (const m of ruleMatches(r, true, g, input)) out.push(flow(T.ingressRules, 50, `${REG_POLICY}=${id},${m}`, resubmit(T.ingressCommit)));
    for (const r of g.egress) for (const m of ruleMatches(r, false, g, input)) out.push(flow(T.egressRules, 50, `${REG_POLICY}=${id},${m}`, resubmit(T.egressCommit)));
  }
  return out;
}

// ---------------------------------------------------------------- per network and per member

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;
const validPort = (p: number) => Number.isInteger(p) && p >= 1 && p <= 0xfeff;

function checkMember(bridge: string, m: SgPortMember): void {
  const what = `security groups on bridge ${bridge}: endpoint ${m.endpointId.slice(0, 12)} (port ${m.port})`;
  if (!MAC_RE.test(m.mac)) throw new Error(`${what}: MAC ${JSON.stringify(m.mac)} is not valid`);
  if (m.ipv4 !== undefined && !ipaddr.IPv4.isValidFourPartDecimal(m.ipv4)) throw new Error(`${what}: IPv4 ${JSON.stringify(m.ipv4)} is not valid`);
  if (m.ipv6 !== undefined && !(ipaddr.isValid(m.ipv6) && ipaddr.parse(m.ipv6).kind() === 'ipv6')) throw new Error(`${what}: IPv6 ${JSON.stringify(m.ipv6)} is not valid`);
}

/** Table EGRESS for one filtered member: only its own MAC and addresses get in. */
function memberEgressFlows(m: SgPortMember): string[] {
  const src = `in_port=${m.ofport},dl_src=${m.mac}`;
  const ct = `ct(table=${T.egressRules},${ZONE})`;
  const out: string[] = [];
  for (const spa of [...(m.ipv4 ? [m.ipv4] : []), '0.0.0.0']) out.push(flow(T.egress, 100, `arp,${src},arp_sha=${m.mac},arp_spa=${spa}`, 'NORMAL'));
  for (const ip of [...(m.ipv4 ? [m.ipv4] : []), '0.0.0.0']) out.push(flow(T.egress, 95, `udp,${src},nw_src=${ip},tp_src=68,tp_dst=67`, 'NORMAL'));
  out.push(flow(T.egress, 95, `udp6,${src},ipv6_src=fe80::/10,tp_src=546,tp_dst=547`, 'NORMAL'));
  for (const type of ND_EGRESS) out.push(flow(T.egress, 95, `icmp6,${src},icmp_type=${type}`, 'NORMAL'));
  if (m.ipv4) out.push(flow(T.egress, 80, `ip,${src},nw_src=${m.ipv4}`, ct));
  for (const ip6 of [...(m.ipv6 ? [ipaddr.parse(m.ipv6).toString()] : []), 'fe80::/10']) out.push(flow(T.egress, 80, `ipv6,${src},ipv6_src=${ip6}`, ct));
  return out;
}

function networkFlows(input: BridgeSgInput, net: SgNetworkInput, policyOf: (m: SgPortMember) => number): string[] {
  const zone = zoneFor(input.bridge, net.vlan);
  const members = net.members.filter((m) => validPort(m.ofport));
  const filtered = members.filter((m) => m.groups.length > 0);
  const plainAccess = [...members.filter((m) => m.groups.length === 0).map((m) => m.ofport), ...net.otherPorts.filter(validPort)];
  // Unfiltered members enter through our table 0 too: their QoS must come along (src/qos).
  const qosOf = new Map(members.filter((m) => m.groups.length === 0).map((m) => [m.ofport, m] as const));
  const entry = (priority: number, match: string, actions: string) => flow(0, priority, match, actions);
  const trunks = (net.trunkPorts ?? []).filter(validPort);
  const tagged = net.vlan > 0;
  const toSwitch = `${setReg(REG_ZONE, zone)},${resubmit(T.switch)}`;
  const out: string[] = [];

  for (const m of filtered) {
    const enter = [setReg(REG_PORT, m.ofport), setReg(REG_ZONE, zone), setReg(REG_POLICY, policyOf(m)), resubmit(T.egress)].join(',');
    out.push(...qosEntryFlows(m, 110, `in_port=${m.ofport},${UNTAGGED}`, enter, entry));
    out.push(flow(0, 105, `in_port=${m.ofport}`, 'drop'));
    out.push(...memberEgressFlows(m));
    out.push(flow(T.switch, 100, `${REG_ZONE}=${zone},dl_dst=${m.mac}`, [setReg(REG_PORT, m.ofport), setReg(REG_POLICY, policyOf(m)), resubmit(T.ingress)].join(',')));
  }
  // Priority-tagged frames (VID 0) are accepted by access ports too: strip them, or they'd bypass.
  const untaggedEntries = (p: number, qos: PortQos = {}) => [
    ...qosEntryFlows(qos, 100, `in_port=${p},${UNTAGGED}`, toSwitch, entry),
    ...qosEntryFlows(qos, 100, `in_port=${p},${PRIORITY_TAGGED}`, `strip_vlan,${toSwitch}`, entry),
  ];
  for (const p of plainAccess) out.push(...untaggedEntries(p, qosOf.get(p)));
  for (const p of trunks) {
    if (tagged) out.push(flow(0, 100, `in_port=${p},dl_vlan=${net.vlan}`, `strip_vlan,${setReg(REG_FLAGS, RETAG_FLAG)},${toSwitch}`));
    else out.push(...untaggedEntries(p));
  }
  if (tagged) {
    // The VLAN's frames from a trunk nobody told us about must not reach a filtered member unfiltered.
    for (const m of filtered) out.push(flow(0, 90, `dl_vlan=${net.vlan},dl_dst=${m.mac}`, 'drop'));
    for (const l3 of ['ip', 'ipv6']) out.push(flow(0, 90, `${l3},dl_vlan=${net.vlan},${MULTICAST}`, 'drop'));
  }

  const pushTag = `push_vlan:0x8100,set_field:${0x1000 | net.vlan}->vlan_vid`;
  if (tagged && trunks.length) out.push(flow(T.normalOut, 100, `${REG_ZONE}=${zone},${REG_FLAGS}=${RETAG_FLAG}/${RETAG_FLAG}`, `${pushTag},NORMAL`));
  // OVS never outputs a frame to its in_port, so the sender needs no exception.
  const flood = [
    ...plainAccess.map((p) => `output:${p}`),
    ...filtered.map((m) => `clone(${[setReg(REG_FLAGS, FLOOD_FLAG), setReg(REG_PORT, m.ofport), setReg(REG_POLICY, policyOf(m)), resubmit(T.ingressRules)].join(',')})`),
    ...(trunks.length ? [...(tagged ? [pushTag] : []), ...trunks.map((p) => `output:${p}`)] : []),
  ];
  out.push(flow(T.flood, 100, `${REG_ZONE}=${zone}`, flood.join(',')));
  return out;
}

/** Flows that do not depend on any network or member: the fixed skeleton of the tables. */
function commonFlows(): string[] {
  const out: string[] = [];
  // EGRESS: what a filtered endpoint may never send, whatever its rules say.
  out.push(flow(T.egress, 90, 'udp,tp_src=67,tp_dst=68', 'drop'), flow(T.egress, 90, 'udp6,tp_src=547,tp_dst=546', 'drop'));
  out.push(flow(T.egress, 90, 'icmp6,icmp_type=134', 'drop'), flow(T.egress, 90, 'icmp6,icmp_type=137', 'drop'));
  out.push(flow(T.egress, 0, '', 'drop'));
  // EGRESS_RULES
  out.push(flow(T.egressRules, 100, 'ct_state=+inv+trk', 'drop'));
  out.push(flow(T.egressRules, 90, 'ct_state=+rpl+trk', resubmit(T.switch)), flow(T.egressRules, 90, 'ct_state=+rel-rpl+trk', resubmit(T.switch)));
  out.push(flow(T.egressRules, 0, '', 'drop'));
  // EGRESS_COMMIT
  for (const l3 of ['ip', 'ipv6']) out.push(flow(T.egressCommit, 20, `${l3},ct_state=+new+trk`, `ct(commit,${ZONE}),${resubmit(T.switch)}`));
  out.push(flow(T.egressCommit, 0, '', resubmit(T.switch)));
  // SWITCH: DHCP and ND/MLD multicast go to NORMAL's flood, other IP multicast to ours.
  for (const tp of [67, 68]) out.push(flow(T.switch, 95, `udp,${MULTICAST},tp_dst=${tp}`, resubmit(T.normalOut)));
  for (const tp of [546, 547]) out.push(flow(T.switch, 95, `udp6,${MULTICAST},tp_dst=${tp}`, resubmit(T.normalOut)));
  for (const type of ND_FLOOD) out.push(flow(T.switch, 95, `icmp6,${MULTICAST},icmp_type=${type}`, resubmit(T.normalOut)));
  for (const l3 of ['ip', 'ipv6']) out.push(flow(T.switch, 90, `${l3},${MULTICAST}`, resubmit(T.flood)));
  out.push(flow(T.switch, 0, '', resubmit(T.normalOut)));
  out.push(flow(T.flood, 0, '', 'drop'));
  out.push(flow(T.normalOut, 0, '', 'NORMAL'));
  // INGRESS
  out.push(flow(T.ingress, 100, 'arp', TO_PORT));
  for (const type of ND_INGRESS) out.push(flow(T.ingress, 100, `icmp6,icmp_type=${type}`, TO_PORT));
  out.push(flow(T.ingress, 95, 'udp,tp_src=67,tp_dst=68', TO_PORT), flow(T.ingress, 95, 'udp6,tp_src=547,tp_dst=546', TO_PORT));
  for (const l3 of ['ip', 'ipv6']) out.push(flow(T.ingress, 90, `${l3},ct_state=-trk`, `ct(table=${T.ingressRules},${ZONE})`));
  // Already tracked in this zone by the sender's egress (both ends filtered, same network).
  out.push(flow(T.ingress, 80, 'ct_state=+trk', resubmit(T.ingressRules)));
  out.push(flow(T.ingress, 0, '', 'drop'));
  // INGRESS_RULES
  out.push(flow(T.ingressRules, 100, 'ct_state=+inv+trk', 'drop'));
  out.push(flow(T.ingressRules, 90, 'ct_state=+rpl+trk', TO_PORT), flow(T.ingressRules, 90, 'ct_state=+rel-rpl+trk', TO_PORT));
  out.push(flow(T.ingressRules, 0, '', 'drop'));
  // INGRESS_COMMIT: flooded frames are delivered without a conntrack entry.
  out.push(flow(T.ingressCommit, 30, `${REG_FLAGS}=${FLOOD_FLAG}/${FLOOD_FLAG}`, TO_PORT));
  for (const l3 of ['ip', 'ipv6']) out.push(flow(T.ingressCommit, 20, `${l3},ct_state=+new+trk`, `ct(commit,${ZONE}),${TO_PORT}`));
  out.push(flow(T.ingressCommit, 0, '', TO_PORT));
  return out;
}

/** Flow lines differing only in actions would replace each other: keep the first of each match. */
function uniqueByMatch(lines: string[]): string[] {
  const seen = new Set<string>();
  return lines.filter((l) => {
    const key = l.slice(0, l.indexOf(',actions='));
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * Every flow of ours the bridge should have (each line in ovs-ofctl add-flow syntax, with
 * SG_COOKIE). [] when no network of the bridge has a filtered endpoint. Throws on a filtered
 * member with an invalid MAC or address, or a VLAN outside 0-4095.
 */
export function renderSgFlows(input: BridgeSgInput): string[] {
  const nets = [...input.networks].sort((a, b) => a.vlan - b.vlan);
  const filteredNets = nets.filter((n) => n.members.some((m) => m.groups.length > 0 && validPort(m.ofport)));
  if (!filteredNets.length) return [];
  const keyOf = new Map<SgPortMember, string>();
  for (const n of filteredNets) {
    for (const m of n.members) {
      if (m.groups.length === 0 || !validPort(m.ofport)) continue;
      checkMember(input.bridge, m);
      keyOf.set(m, policyKey(m, input.groups));
    }
  }
  const policyIds = new Map([...new Set(keyOf.values())].sort().map((k, i) => [k, i + 1] as const));
  const policyOf = (m: SgPortMember) => policyIds.get(keyOf.get(m)!)!;
  const lines = [...commonFlows()];
  for (const n of filteredNets) lines.push(...networkFlows(input, n, policyOf));
  for (const [key, id] of policyIds) lines.push(...policyFlows(key, id, input));
  return uniqueByMatch(lines);
}
