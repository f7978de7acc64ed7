// Published ports (-p) as Docker hands them to ProgramExternalConnectivity.
import { PortBindingSchema } from '../protocol/network';
import { describeValidationError } from '../protocol/routes';
import type { PublishedPort } from '../net/firewall';
import { InputError } from '../util/errors';

const PROTOS: Record<number, PublishedPort['proto']> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };
const EPHEMERAL = { first: 49153, last: 65535 };

/**
 * Turns com.docker.network.portmap into DNAT targets for the container's addresses. A binding
 * without a host port gets a free one from the ephemeral range, as Docker's bridge does.
 */
export function publishedPorts(raw: unknown, addrs: string[], inUse: Set<string>): PublishedPort[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new InputError('com.docker.network.portmap must be a list of port bindings');
  const out: PublishedPort[] = [];
  for (const [i, item] of raw.entries()) {
    const parsed = PortBindingSchema.safeParse(item);
    if (!parsed.success) throw new InputError(`com.docker.network.portmap[${i}]: ${describeValidationError(parsed.error)}`);
    const b = parsed.data;
    const proto = PROTOS[b.Proto];
    if (!proto) throw new InputError(`published port ${b.Port}: protocol number ${b.Proto} is not one of 6 (tcp), 17 (udp), 132 (sctp)`);
    let hostPort = b.HostPort;
    if (!hostPort) {
      for (let p = EPHEMERAL.first; p <= EPHEMERAL.last; p++) {
        if (!inUse.has(`${proto}/${p}`)) { hostPort = p; break; }
      }
    }
    inUse.add(`${proto}/${hostPort}`);
    for (const cidr of addrs) {
      const containerIp = cidr.split('/')[0];
      const v6 = containerIp.includes(':');
      if (b.HostIP && b.HostIP.includes(':') !== v6) continue;
      out.push({ proto, hostIp: b.HostIP || undefined, hostPort, containerIp, containerPort: b.Port });
    }
  }
  return out;
}
