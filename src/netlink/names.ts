// Interface names: kernel rules and the plugin's deterministic veth naming.

import { NetlinkArgumentError } from './request';

/** IFNAMSIZ is 16 including the NUL terminator. */
export const MAX_IFNAME_BYTES = 15;

/** Host-side (root netns, attached to OVS) end of an endpoint's veth pair. */
export const HOST_VETH_PREFIX = 'ocnh';
/** Container-side end (Docker moves it into the sandbox and renames it). */
export const CONTAINER_VETH_PREFIX = 'ocnc';
/** A gateway=local network's OVS internal port, holding its gateway addresses. */
export const GATEWAY_PORT_PREFIX = 'ocng';

// 4 + 11 = 15 bytes: the most that fits. 44 bits of the endpoint id keep names unique
// in practice and make them derivable again after a plugin restart (no state needed).
const ID_CHARS = 11;
const ENDPOINT_ID = /^[0-9a-f]{64}$/i;
const OUR_VETH = new RegExp(`^(?:${HOST_VETH_PREFIX}|${CONTAINER_VETH_PREFIX})[0-9a-f]{${ID_CHARS}}$`);

/** Returns why `name` is not a valid interface name, or undefined if it is (dev_valid_name()). */
export function ifNameProblem(name: string): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'is empty';
  if (Buffer.byteLength(name, 'utf8') > MAX_IFNAME_BYTES) {
    return `is longer than ${MAX_IFNAME_BYTES} bytes`;
  }
  if (name === '.' || name === '..') return 'is "." or ".."';
  // The kernel also refuses ':' (alias syntax); '%' it would treat as a "%d" template
  // and pick a name itself, so the caller could not find the link afterwards.
  if (/[/:%\s]/.test(name)) return "contains '/', ':', '%' or whitespace";
  if (name.includes('\0')) return 'contains NUL';
  return undefined;
}

export function assertIfName(name: string): void {
  const problem = ifNameProblem(name);
  if (problem) throw new NetlinkArgumentError(`invalid interface name ${JSON.stringify(name)}: ${problem}`);
}

/** Veth names for a Docker endpoint (64 hex chars); the same id always gives the same names. */
export function vethNames(endpointId: string): { host: string; container: string } {
  if (!ENDPOINT_ID.test(endpointId)) {
    throw new NetlinkArgumentError(`endpoint id must be 64 hex characters, got ${JSON.stringify(endpointId)}`);
  }
  const id = endpointId.slice(0, ID_CHARS).toLowerCase();
  return { host: HOST_VETH_PREFIX + id, container: CONTAINER_VETH_PREFIX + id };
}

/** True for names vethNames() produces (either end): safe to garbage-collect. */
export function isOurVeth(name: string): boolean {
  return OUR_VETH.test(name);
}
