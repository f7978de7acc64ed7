// Address math on bigints so IPv4 and IPv6 share one code path. ipaddr.js parses and prints.
import ipaddr from 'ipaddr.js';
import { InputError } from '../util/errors';

export interface Cidr {
  v6: boolean;
  /** First address of the prefix. */
  base: bigint;
  prefix: number;
  bits: 32 | 128;
}

export function ipToBigInt(ip: string): { value: bigint; v6: boolean } {
  if (!ipaddr.isValid(ip)) throw new InputError(`"${ip}" is not an IP address`);
  let addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
  let v = 0n;
  for (const b of addr.toByteArray()) v = (v << 8n) | BigInt(b);
  return { value: v, v6: addr.kind() === 'ipv6' };
}

export function bigIntToIp(v: bigint, v6: boolean): string {
  const n = v6 ? 16 : 4;
  const bytes: number[] = [];
  for (let i = n - 1; i >= 0; i--) bytes.push(Number((v >> BigInt(i * 8)) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export function parseCidr(text: string, what = 'subnet'): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text.trim());
  if (!m) throw new InputError(`${what} "${text}" is not in CIDR form (like 10.10.0.0/24 or fd00:1::/64)`);
  const { value, v6 } = ipToBigInt(m[1]);
  const bits = v6 ? 128 : 32;
  const prefix = Number(m[2]);
  if (prefix > bits) throw new InputError(`${what} "${text}": prefix length ${prefix} is longer than ${bits}`);
  return { v6, base: value & maskOf(prefix, bits), prefix, bits };
}

/** Like parseCidr but refuses host bits ("10.0.0.5/24"), as a pool must be a network. */
export function parseNetwork(text: string, what = 'subnet'): Cidr {
  const c = parseCidr(text, what);
  const { value } = ipToBigInt(text.split('/')[0]);
  if (value !== c.base) throw new InputError(`${what} "${text}" has host bits set; did you mean ${formatCidr(c)}?`);
  return c;
}

function maskOf(prefix: number, bits: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return all ^ ((1n << BigInt(bits - prefix)) - 1n);
}

export function size(c: Cidr): bigint {
  return 1n << BigInt(c.bits - c.prefix);
}
export function last(c: Cidr): bigint {
  return c.base + size(c) - 1n;
}
export function contains(c: Cidr, v: bigint): boolean {
  return v >= c.base && v <= last(c);
}
export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.v6 === b.v6 && a.base <= last(b) && b.base <= last(a);
}
export function formatCidr(c: Cidr): string {
  return `${bigIntToIp(c.base, c.v6)}/${c.prefix}`;
}

/** Usable host range: IPv4 prefixes up to /30 lose their network and broadcast addresses. */
export function hostRange(c: Cidr): { first: bigint; last: bigint } {
  if (!c.v6 && c.prefix <= 30) return { first: c.base + 1n, last: last(c) - 1n };
  if (c.v6 && c.prefix <= 126) return { first: c.base + 1n, last: last(c) };
  return { first: c.base, last: last(c) };
}
