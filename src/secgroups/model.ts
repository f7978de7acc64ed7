// Security groups as the control API takes them and as every enforcement (OVN ACLs, OpenFlow
// conntrack tables) reads them: a named set of ingress and egress allow-rules of one tenant.
// Parsing is strict and names the field that is wrong, with the spec's error codes.
import * as ipaddr from 'ipaddr.js';

export type SgProtocol = 'tcp' | 'udp' | 'icmp' | 'all';
export const PROTOCOLS: readonly SgProtocol[] = ['tcp', 'udp', 'icmp', 'all'];

/** Where the other end of a rule's traffic is: addresses, or the members of a group of the same tenant. */
export type SgRemote = { cidr: string } | { group: string };

export interface SgRule {
  protocol: SgProtocol;
  /** Inclusive port range, tcp/udp only; absent: every port. */
  ports?: [number, number];
  remote: SgRemote;
}

export interface SecurityGroup {
  name: string;
  /** '' when the group belongs to no tenant. */
  tenant: string;
  description: string;
  /** What may reach a member (new connections; replies to a member's own connections always pass). */
  ingress: SgRule[];
  /** What a member may open. */
  egress: SgRule[];
}

/** The name every tenant's default group has. */
export const DEFAULT_GROUP = 'default';

/** A tenant's default group: members reach each other, and may open anything. */
export function defaultGroup(tenant: string): SecurityGroup {
  return {
    name: DEFAULT_GROUP, tenant, description: 'default: ingress from members of this group, egress to anything',
    ingress: [{ protocol: 'all', remote: { group: DEFAULT_GROUP } }],
    egress: [{ protocol: 'all', remote: { cidr: '0.0.0.0/0' } }, { protocol: 'all', remote: { cidr: '::/0' } }],
  };
}

/** Groups are named within their tenant; the key names both, and is what endpoints record. */
export function sgKey(tenant: string, name: string): string {
  return `${tenant}/${name}`;
}

/** The keys of groups named on a network of `tenant` (a network's groups are its tenant's). */
export function sgKeys(tenant: string | undefined, names: readonly string[] | undefined): string[] {
  return (names ?? []).map((n) => sgKey(tenant ?? '', n));
}

export function splitSgKey(key: string): { tenant: string; name: string } {
  const i = key.lastIndexOf('/');
  return { tenant: key.slice(0, i), name: key.slice(i + 1) };
}

/** Error codes of the overlay spec, carried as JSON-RPC error data. */
export type SgErrorCode = 'SECURITY_GROUP_NOT_FOUND' | 'SECURITY_GROUP_EXISTS' | 'SECURITY_GROUP_IN_USE' | 'INVALID_CIDR' | 'INVALID_ARGUMENT' | 'ENDPOINT_NOT_FOUND';

export class SgError extends Error {
  override name = 'SgError';
  constructor(readonly code: SgErrorCode, message: string, readonly field?: string) {
    super(message);
  }
}

export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const TENANT_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const NAME_TEXT = '1-63 characters from A-Z a-z 0-9 _ . -, starting with a letter or digit';

export function checkName(field: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME_RE.test(v)) throw new SgError('INVALID_ARGUMENT', `${field}: ${JSON.stringify(v)} is not a valid group name; accepted: ${NAME_TEXT}`, field);
  return v;
}

export function checkTenant(field: string, v: unknown): string {
  if (v === undefined || v === '') return '';
  if (typeof v !== 'string' || !TENANT_RE.test(v)) throw new SgError('INVALID_ARGUMENT', `${field}: ${JSON.stringify(v)} is not a valid tenant; accepted: 1-64 characters from A-Z a-z 0-9 _ . -`, field);
  return v;
}

/** "10.0.0.0/8", "::/0", or a bare address (a /32 or /128), normalised to the network address. */
export function parseRemoteCidr(field: string, v: string): string {
  try {
    const [addr, len] = v.includes('/') ? ipaddr.parseCIDR(v) : [ipaddr.parse(v), ipaddr.parse(v).kind() === 'ipv4' ? 32 : 128];
    const a = addr;
    const net = a.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${a.toString()}/${len}`) : ipaddr.IPv6.networkAddressFromCIDR(`${a.toString()}/${len}`);
    return `${net.toString()}/${len}`;
  } catch {
    throw new SgError('INVALID_CIDR', `${field}: ${JSON.stringify(v)} is not an IPv4 or IPv6 CIDR (like 10.0.0.0/8 or 2001:db8::/32)`, field);
  }
}

function parsePorts(field: string, v: unknown): [number, number] {
  const s = typeof v === 'number' ? String(v) : v;
  const m = typeof s === 'string' ? /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(s.trim()) : null;
  const from = m ? Number(m[1]) : NaN;
  const to = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || from < 1 || to > 65535 || from > to) throw new SgError('INVALID_ARGUMENT', `${field}: ${JSON.stringify(v)} is not a port or port range; accepted: "80" or "8000-8100" (1-65535)`, field);
  return [from, to];
}

function parseRule(field: string, v: unknown): SgRule {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new SgError('INVALID_ARGUMENT', `${field}: a rule is an object {"protocol", "ports", "remote"}`, field);
  const r = v as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['protocol', 'ports', 'remote'].includes(k)) throw new SgError('INVALID_ARGUMENT', `${field}.${k}: unknown field; a rule has protocol, ports and remote`, `${field}.${k}`);
  const protocol = r.protocol ?? 'all';
  if (typeof protocol !== 'string' || !PROTOCOLS.includes(protocol as SgProtocol)) throw new SgError('INVALID_ARGUMENT', `${field}.protocol: ${JSON.stringify(protocol)} is not valid; accepted: ${PROTOCOLS.join(' | ')}`, `${field}.protocol`);
  const rule: SgRule = { protocol: protocol as SgProtocol, remote: { cidr: '0.0.0.0/0' } };
  if (r.ports !== undefined && r.ports !== '') {
    if (protocol !== 'tcp' && protocol !== 'udp') throw new SgError('INVALID_ARGUMENT', `${field}.ports: only tcp and udp rules have ports (this rule's protocol is ${protocol})`, `${field}.ports`);
    rule.ports = parsePorts(`${field}.ports`, r.ports);
  }
  const remote = r.remote ?? '0.0.0.0/0';
  if (typeof remote === 'string') rule.remote = { cidr: parseRemoteCidr(`${field}.remote`, remote) };
  else if (remote && typeof remote === 'object' && !Array.isArray(remote) && Object.keys(remote).length === 1 && 'group' in remote) rule.remote = { group: checkName(`${field}.remote.group`, (remote as { group: unknown }).group) };
  else throw new SgError('INVALID_ARGUMENT', `${field}.remote: ${JSON.stringify(remote)} is not valid; accepted: a CIDR string, or {"group": NAME}`, `${field}.remote`);
  return rule;
}

function parseRules(field: string, v: unknown): SgRule[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new SgError('INVALID_ARGUMENT', `${field}: a list of rules is expected`, field);
  if (v.length > 1000) throw new SgError('INVALID_ARGUMENT', `${field}: ${v.length} rules; accepted: at most 1000`, field);
  return v.map((r, i) => parseRule(`${field}[${i}]`, r));
}

/** sg.create's and sg.update's params: a whole group definition. */
export function parseGroup(params: unknown): SecurityGroup {
  if (!params || typeof params !== 'object' || Array.isArray(params)) throw new SgError('INVALID_ARGUMENT', 'params: an object {"name", "tenant", "description", "ingress", "egress"} is expected');
  const p = params as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!['name', 'tenant', 'description', 'ingress', 'egress'].includes(k)) throw new SgError('INVALID_ARGUMENT', `${k}: unknown field; a group has name, tenant, description, ingress and egress`, k);
  const description = p.description ?? '';
  if (typeof description !== 'string' || description.length > 255) throw new SgError('INVALID_ARGUMENT', 'description: a string of at most 255 characters is expected', 'description');
  return {
    name: checkName('name', p.name),
    tenant: checkTenant('tenant', p.tenant),
    description,
    ingress: parseRules('ingress', p.ingress),
    egress: parseRules('egress', p.egress),
  };
}

/** The groups a rule set refers to by name (same tenant). */
export function referencedGroups(g: SecurityGroup): string[] {
  const out = new Set<string>();
  for (const r of [...g.ingress, ...g.egress]) if ('group' in r.remote) out.add(r.remote.group);
  return [...out];
}

/** The API's form of a group (ports as "a-b" text, a CIDR remote as a string). */
export function groupView(g: SecurityGroup): Record<string, unknown> {
  const rule = (r: SgRule) => ({
    protocol: r.protocol,
    ...(r.ports ? { ports: r.ports[0] === r.ports[1] ? String(r.ports[0]) : `${r.ports[0]}-${r.ports[1]}` } : {}),
    remote: 'cidr' in r.remote ? r.remote.cidr : { group: r.remote.group },
  });
  return { name: g.name, tenant: g.tenant, description: g.description, ingress: g.ingress.map(rule), egress: g.egress.map(rule) };
}

/**
 * What enforcement needs about one endpoint: where it is and which groups it is in. An endpoint
 * with no groups is unfiltered (but still a possible remote of a group rule if it were a member).
 */
export interface SgMember {
  endpointId: string;
  networkId: string;
  /** OVS port name of the endpoint (host end of its veth). */
  port: string;
  mac: string;
  /** Addresses without prefix length. */
  ipv4?: string;
  ipv6?: string;
  /** Group keys (sgKey). */
  groups: string[];
}
