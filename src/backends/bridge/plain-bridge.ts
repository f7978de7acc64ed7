// The bridge of a network that is not an OVN logical switch. On an OVN chassis (the root row has
// external_ids:ovn-remote) the integration bridge (external_ids:ovn-bridge, default br-int)
// belongs to ovn-controller: it is fail-secure and holds only OVN's flows, so the ports of a
// plain network there are black-holed. Plain networks get a bridge of their own on such a host.
import { InputError } from '../../util/errors';

export const DEFAULT_BRIDGE = 'br-int';
/** The default bridge of plain (VLAN and overlay) networks on an OVN chassis. */
export const CHASSIS_PLAIN_BRIDGE = 'br-ocn';

/** OVN's integration bridge on this host, or undefined when the host is not an OVN chassis. */
export function integrationBridge(host: Readonly<Record<string, string>>): string | undefined {
  return host['ovn-remote'] ? host['ovn-bridge'] || 'br-int' : undefined;
}

/** The bridge for a plain network: `given` (-o bridge) or the host's default; never OVN's. */
export function plainNetworkBridge(given: string | undefined, host: Readonly<Record<string, string>>): string {
  const integration = integrationBridge(host);
  if (!integration) return given ?? DEFAULT_BRIDGE;
  if (given === undefined) return integration === CHASSIS_PLAIN_BRIDGE ? DEFAULT_BRIDGE : CHASSIS_PLAIN_BRIDGE;
  if (given === integration) {
    throw new InputError(`option bridge: "${given}" is OVN's integration bridge on this host (external_ids:ovn-bridge); ovn-controller owns its flows and drops the traffic of ports it does not know. Add -o ovn.switch=<name> for an OVN network, or leave bridge out (plain networks default to ${CHASSIS_PLAIN_BRIDGE} on an OVN chassis) or give another bridge`);
  }
  return given;
}
