// Per-network infrastructure on OVS: the bridge (created if missing), the uplink trunk port and
// the gateway internal port with its addresses. Built as one transaction, undone as one.
import * as fs from 'node:fs';
import type { Operation } from '../../ovsdb/types';
import { Db, ownedBy } from '../../ovs/db';
import { EP, localOwner } from '../../model/owner-ids';
import { vsRows } from '../../ovs/tables';
import { createBridgeOps, findBridge, deleteBridgeOps, mcastSnoopOps, MCAST_SNOOP_KEY } from '../../ovs/bridge';
import { addPortOps, deletePortOps, findPort, trunkVlanOps } from '../../ovs/port';
import { ConflictError, InputError } from '../../util/errors';
import type { LinkOps } from '../../driver/links';
import type { NetworkRecord } from '../../driver/model';
import type { Datapath } from '../../driver/options';
import { vlanOf } from './vlans';
import { named } from '../../ovs/wire';
import { macFor } from '../../driver/mac';
import { GATEWAY_PORT_PREFIX } from '../../netlink/names';
import { waitPortsOpen } from '../../ovs/port-ready';

/** How long ovs-vswitchd may take to create a gateway port's device. */
const GATEWAY_READY_MS = 10_000;

export function kernelHasOvsModule(): boolean {
  return fs.existsSync('/sys/module/openvswitch');
}

export function gatewayPortName(networkId: string): string {
  return `${GATEWAY_PORT_PREFIX}${networkId.slice(0, 11)}`;
}

/** Gateway CIDRs of the network (from Docker's IPAM data), IPv4 first. */
export function gatewayCidrs(net: Pick<NetworkRecord, 'ipv4' | 'ipv6'>): string[] {
  return [...net.ipv4, ...net.ipv6].map((d) => d.Gateway).filter((g): g is string => !!g);
}

export function needsGatewayPort(net: Pick<NetworkRecord, 'options' | 'internal' | 'ipv4' | 'ipv6'>): boolean {
  return net.options.gateway === 'local' && !net.internal && gatewayCidrs(net).length > 0;
}

/** Decides the datapath: an existing bridge's wins; a conflicting -o datapath is an error. */
export function resolveDatapath(db: Db, bridge: string, wanted: Datapath | undefined): Datapath {
  const row = findBridge(db, bridge);
  if (row) {
    const have = row.datapath_type || 'system';
    if (wanted && wanted !== have) {
      throw new InputError(`option datapath=${wanted} conflicts with bridge ${bridge}, which exists with datapath ${have}`);
    }
    return have as Datapath;
  }
  return wanted ?? (kernelHasOvsModule() ? 'system' : 'netdev');
}

export class NetworkInfra {
  constructor(private readonly db: Db, private readonly links: LinkOps, private readonly driver: string) {}

  /** Ops that create what the network needs; fills createdBridge/createdUplink/gatewayPort. */
  async planCreate(net: NetworkRecord): Promise<Operation[]> {
    const o = net.options;
    const ops: Operation[] = [];
    const existing = findBridge(this.db, o.bridge);
    let bridgeRef: string | ['named-uuid', string];
    if (existing) {
      bridgeRef = existing._uuid;
    } else {
      if (findPort(this.db, o.bridge)) throw new InputError(`option bridge: "${o.bridge}" is already a port of another bridge`);
      ops.push(...createBridgeOps(o.bridge, net.datapath, this.driver, 'netbr'));
      bridgeRef = named('netbr');
      net.createdBridge = true;
    }
    if (o.uplink) {
      const port = findPort(this.db, o.uplink);
      if (port) {
        const onThis = existing?.ports.includes(port._uuid);
        if (!onThis) throw new ConflictError(`option uplink: ${o.uplink} is already a port of another bridge`);
        // Ours: it carries exactly the VLANs of the networks that leave through it. A user's own
        // port is theirs to configure.
        if (ownedBy(port, this.driver, 'uplink')) ops.push(...trunkVlanOps(port, vlanOf(net), true));
      } else {
        if (!(await this.links.getLink(o.uplink))) throw new InputError(`option uplink: interface ${o.uplink} does not exist on this host`);
        ops.push(...addPortOps(bridgeRef, { name: o.uplink, type: '', trunks: [vlanOf(net)], externalIds: localOwner(this.driver, 'uplink') }, 'uplink'));
        net.createdUplink = true;
      }
    }
    if (needsGatewayPort(net)) {
      net.gatewayPort = gatewayPortName(net.id);
      ops.push(...this.gatewayPortOps(net, bridgeRef));
    }
    // An OVN network's snooping is its logical switch's (mcast_snoop), never the integration bridge's.
    if (o.multicast === 'snoop' && !o.ovn && !existing?.mcast_snooping_enable) ops.push(...mcastSnoopOps(bridgeRef, true, this.driver));
    return ops;
  }

  /** A snooping network's bridge lost its setting (a user, a restored database): on again. */
  restoreSnoopingOps(net: NetworkRecord): Operation[] {
    const br = findBridge(this.db, net.options.bridge);
    return br && net.options.multicast === 'snoop' && !net.options.ovn && !br.mcast_snooping_enable ? mcastSnoopOps(br._uuid, true, this.driver) : [];
  }

  private gatewayPortOps(net: NetworkRecord, bridge: string | ['named-uuid', string]): Operation[] {
    const name = net.gatewayPort;
    if (!name || findPort(this.db, name)) return [];
    // A stable MAC: a gateway port made again (its row lost) keeps the one in its containers' ARP caches.
    const mac = macFor(net.ipv4.find((d) => d.Gateway)?.Gateway, net.ipv6.find((d) => d.Gateway)?.Gateway, net.id);
    return addPortOps(bridge, {
      name, type: 'internal', access: vlanOf(net), mtuRequest: net.mtu, mac,
      externalIds: localOwner(this.driver, 'gateway', { [EP.network]: net.id }),
    }, 'gwport');
  }

  /** The gateway port's row again, when something removed it and its bridge is still there. */
  restoreGatewayOps(net: NetworkRecord): Operation[] {
    const br = findBridge(this.db, net.options.bridge);
    return br ? this.gatewayPortOps(net, br._uuid) : [];
  }

  /** Addresses, MTU and offloads of the gateway port, once ovs-vswitchd has created its device. */
  async configureGateway(net: NetworkRecord): Promise<void> {
    if (!net.gatewayPort) return;
    const name = net.gatewayPort;
    // ovs-vswitchd creates the device; if it refuses the port (a link of that name that is not
    // a tap, say) its reason is in OVSDB at once, and a link of that name is not ours to configure.
    await waitPortsOpen(this.db, [name], GATEWAY_READY_MS);
    await this.links.waitForLink(name, GATEWAY_READY_MS);
    // Independent settings, sent together (netlink requests pipeline on one socket).
    await Promise.all([
      // A userspace-datapath internal port is a tap: the kernel must not leave checksums to it.
      net.datapath === 'netdev' ? this.links.disableTxChecksum(name) : undefined,
      this.links.setMtu(name, net.mtu),
      ...gatewayCidrs(net).map((cidr) => this.links.addAddress(name, cidr)),
      this.links.setUp(name),
    ]);
    enableForwarding(net.ipv6.length > 0);
  }

  /** Ops that remove what the network created, keeping what other networks still use. */
  planDelete(net: NetworkRecord, others: NetworkRecord[]): Operation[] {
    const ops: Operation[] = [];
    if (net.gatewayPort) ops.push(...deletePortOps(this.db, net.gatewayPort));
    const sameBridge = others.filter((n) => n.options.bridge === net.options.bridge);
    const uplink = net.options.uplink ? findPort(this.db, net.options.uplink) : undefined;
    if (uplink && ownedBy(uplink, this.driver, 'uplink')) {
      const shared = sameBridge.some((n) => n.options.uplink === net.options.uplink);
      if (shared) ops.push(...trunkVlanOps(uplink, vlanOf(net), false));
      else ops.push(...deletePortOps(this.db, net.options.uplink!)); // whichever network made it
    }
    const snooping = findBridge(this.db, net.options.bridge);
    if (net.options.multicast === 'snoop' && !net.options.ovn && snooping?.external_ids[MCAST_SNOOP_KEY] === this.driver && !sameBridge.some((n) => n.options.multicast === 'snoop')) {
      ops.push(...mcastSnoopOps(snooping._uuid, false, this.driver));
    }
    if (!sameBridge.length) {
      const br = findBridge(this.db, net.options.bridge);
      if (br && ownedBy(br, this.driver, 'bridge') && this.onlyOwnedPorts(br.ports, net)) ops.push(...deleteBridgeOps(br._uuid));
    }
    return ops;
  }

  /** A bridge the plugin created is kept if a user added ports of their own to it. */
  private onlyOwnedPorts(ports: readonly string[], net: NetworkRecord): boolean {
    for (const r of vsRows(this.db, 'Port')) {
      if (!ports.includes(r._uuid) || r.name === net.options.bridge) continue;
      if (!ownedBy(r, this.driver)) return false;
    }
    return true;
  }
}

function enableForwarding(v6: boolean): void {
  try {
    fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    if (v6) fs.writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', '1');
  } catch {
    // Read-only /proc (some plugin sandboxes): forwarding must then be enabled by the host.
  }
}
