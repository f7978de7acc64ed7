// The backends of one daemon, built once from what it runs with: plain bridges always, plain
// overlays with a tunnel mesh, OVN with a Northbound connection.
import type { Db } from '../ovs/db';
import type { Firewall } from '../net/firewall';
import type { Logger } from '../util/log';
import type { LinkOps } from '../driver/links';
import type { OverlayManager } from '../overlay/overlay';
import { Backends } from './backend';
import { BridgeBackend, type BridgeDeps } from './bridge/backend';
import { NetworkInfra } from './bridge/infra';
import { OverlayBackend } from './overlay/backend';
import { OvnBackend } from './ovn/backend';
import type { OvnNetworks } from './ovn/ovn-network';

export interface BackendParts {
  name: string;
  db: Db;
  links: LinkOps;
  firewall: Firewall;
  log: Logger;
  /** Whether an address space is this plugin's IPAM (OVN networks need it). */
  isOurSpace: (space: string) => boolean;
  overlay?: OverlayManager;
  /** MTU of the underlay, for automatic overlay MTUs. */
  underlayMtu?: number;
  ovn?: OvnNetworks;
  /** Whether OVN NB is connected now (default: always). */
  nbOnline?: () => boolean;
  /** How long Join waits for ovs-vswitchd to report a port working. */
  portReadyTimeoutMs?: number;
  /** How long Join waits for ovn-controller to install an OVN port. */
  ovnPortTimeoutMs?: number;
  /** Security groups' conntrack flows on plain bridges. */
  sgFlows?: BridgeDeps['sg'];
  /** Endpoints' QoS on plain bridges. */
  qos?: BridgeDeps['qos'];
}

export function composeBackends(p: BackendParts): Backends {
  const infra = new NetworkInfra(p.db, p.links, p.name);
  const bridge = { db: p.db, infra, firewall: p.firewall, log: p.log, portReadyTimeoutMs: p.portReadyTimeoutMs, sg: p.sgFlows, qos: p.qos };
  return new Backends({
    bridge: new BridgeBackend(bridge),
    overlay: p.overlay && new OverlayBackend({ ...bridge, overlay: p.overlay, underlayMtu: p.underlayMtu }),
    ovn: p.ovn && new OvnBackend({
      db: p.db, ovn: p.ovn, infra, log: p.log, name: p.name, isOurSpace: p.isOurSpace,
      nbOnline: p.nbOnline ?? (() => true), portTimeoutMs: p.ovnPortTimeoutMs,
    }),
  }, {
    ovn: 'option ovn.switch needs the daemon to run with --ovn-nb <remote> (the OVN Northbound database)',
    overlay: 'option overlay is not available in this daemon',
  });
}
