// Stable MACs: derived from the container's address (like Docker's bridge driver and
// ovn-kubernetes' 0a:58 prefix), so a restarted container keeps its MAC and its peers' ARP
// caches stay right. Locally administered, unicast.
import { createHash } from 'node:crypto';
import { ipToBigInt } from '../ipam/cidr';
import { InputError } from '../util/errors';

const hex = (n: number) => n.toString(16).padStart(2, '0');

export function macFor(ipv4Cidr: string | undefined, ipv6Cidr: string | undefined, endpointId: string): string {
  let tail: number[];
  if (ipv4Cidr) {
    const v = ipToBigInt(ipv4Cidr.split('/')[0]).value;
    tail = [24, 16, 8, 0].map((s) => Number((v >> BigInt(s)) & 0xffn));
  } else if (ipv6Cidr) {
    const v = ipToBigInt(ipv6Cidr.split('/')[0]).value;
    tail = [24, 16, 8, 0].map((s) => Number((v >> BigInt(s)) & 0xffn));
  } else {
    tail = [...createHash('sha256').update(endpointId).digest().subarray(0, 4)];
  }
  return ['0a', '58', ...tail.map(hex)].join(':');
}

const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export function normaliseMac(mac: string): string {
  const m = mac.trim().toLowerCase().replace(/-/g, ':');
  if (!MAC_RE.test(m)) throw new InputError(`MAC address "${mac}" is not valid (like 02:42:ac:11:00:02)`);
  if (parseInt(m.slice(0, 2), 16) & 1) throw new InputError(`MAC address "${mac}" is a multicast address; use a unicast one`);
  return m;
}
