// The identifier and address fields of Docker's plugin protocols, each with what it accepts.
// They reach iptables-restore input, OVSDB keys and port names, so anything else is refused at
// the edge with a message that quotes the value and says what is accepted.
import { isIP } from 'node:net';
import { z } from './zod';

/** This IPAM's address spaces (its answer to GetDefaultAddressSpaces). */
export const LOCAL_SPACE = 'ocn-local';
export const GLOBAL_SPACE = 'ocn-global';

/** The value as quoted in an error: JSON (control characters visible), long ones cut. */
function quote(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}..."` : s;
}

function accepted(ok: (v: string) => boolean, what: string) {
  return z.string().check(z.refine(ok, { error: (iss) => `${quote(iss.input)} is not valid; accepted: ${what}` }));
}

const HEX64 = /^[0-9a-f]{64}$/;
const SWARM_ID = /^[0-9a-z]{25}$/;

export const ENDPOINT_ID_ACCEPTS = '64 lowercase hex characters (a Docker endpoint id)';
export const NETWORK_ID_ACCEPTS = '64 lowercase hex characters (a local network id) or 25 characters of 0-9 a-z (a swarm network id)';

export const EndpointIdField = accepted((v) => HEX64.test(v), ENDPOINT_ID_ACCEPTS);
export const NetworkIdField = accepted((v) => HEX64.test(v) || SWARM_ID.test(v), NETWORK_ID_ACCEPTS);

export function isCidr(v: string): boolean {
  const m = /^([0-9A-Fa-f.:]+)\/(\d{1,3})$/.exec(v);
  if (!m) return false;
  const family = isIP(m[1]);
  return family !== 0 && Number(m[2]) <= (family === 4 ? 32 : 128);
}
const isAddress = (v: string) => isIP(v) !== 0;

/** An IPv4/IPv6 address, or empty. */
export const AddressOrEmpty = accepted((v) => v === '' || isAddress(v), 'an IPv4 or IPv6 address, or empty');
/** An address with or without a prefix length (Docker sends both forms), or empty. */
export const AddressMaybePrefix = accepted((v) => v === '' || isAddress(v) || isCidr(v), 'an IPv4 or IPv6 address, with or without /prefix, or empty');
export const CidrOrEmpty = accepted((v) => v === '' || isCidr(v), 'an IPv4 or IPv6 subnet in CIDR form (like 10.10.0.0/24 or fd00:1::/64), or empty');
export const Cidr = accepted(isCidr, 'an IPv4 or IPv6 subnet in CIDR form (like 10.10.0.0/24 or fd00:1::/64)');
export const MacOrEmpty = accepted((v) => v === '' || /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(v), 'a MAC address like 02:42:ac:11:00:02, or empty');
export const AddressSpaceField = accepted((v) => /^[A-Za-z0-9_.-]{0,64}$/.test(v), 'up to 64 characters from A-Z a-z 0-9 _ . -');
/** Docker's netns path (/var/run/docker/netns/<id>), or empty. */
export const SandboxKeyField = accepted((v) => v === '' || (/^\/[^\u0000-\u001f\u007f]{0,4095}$/.test(v)), 'an absolute path without control characters, or empty');

/** The pool ids this IPAM hands out: "<space>/<subnet>" or "<space>/<subnet>/<ip-range>". */
export function isPoolId(v: string): boolean {
  const parts = v.split('/');
  if (parts[0] !== LOCAL_SPACE && parts[0] !== GLOBAL_SPACE) return false;
  if (parts.length !== 3 && parts.length !== 5) return false;
  for (let i = 1; i < parts.length; i += 2) if (!isCidr(`${parts[i]}/${parts[i + 1]}`)) return false;
  return true;
}
export const PoolIdField = accepted(isPoolId, `a pool id this IPAM handed out: ${LOCAL_SPACE}|${GLOBAL_SPACE}/<subnet>[/<ip-range>]`);

/** A TCP/UDP/SCTP port; `zeroOk` where 0 means "let the driver pick". */
export function portField(zeroOk: boolean) {
  const lo = zeroOk ? 0 : 1;
  return z.number().check(z.refine((v) => Number.isInteger(v) && v >= lo && v <= 65535, {
    error: (iss) => `${quote(iss.input)} is not valid; accepted: an integer ${lo}-65535${zeroOk ? ' (0: any free port)' : ''}`,
  }));
}
