// Start-up reconciliation: what OVSDB says the plugin owns, checked against the kernel's links.
// Only provably dead things are removed; a port whose veth still leads into a container is
// never touched, so a daemon restart (or kill -9) leaves running containers connected.
import type { Logger } from '../util/log';
import type { Db } from '../ovs/db';
import { deletePortOps, findPort } from '../ovs/port';
import { HOST_VETH_PREFIX } from '../netlink/names';
import type { LinkInfo, LinkOps } from './links';
import { OvsNetworkDriver, vethAlias } from './network-driver';
import type { NetworkInfra } from './infra';
import type { Endpoint } from './model';
import type { OvnNetworks } from './ovn-network';
import type { Ipam } from '../ipam/ipam';

export interface ReconcileReport {
  endpoints: number;
  staleEndpoints: string[];
  orphanVeths: string[];
  gatewaysRestored: number;
}

/** Why an endpoint is dead, or undefined when it may still be in use. */
export function staleReason(ep: Endpoint, links: Map<string, LinkInfo>, networkKnown: boolean): string | undefined {
  if (!networkKnown) return 'its network is gone';
  const host = links.get(ep.hostIf);
  if (!host) return 'its veth is gone';
  // After Join the container end lives in the container's namespace. Back in ours, with a
  // sandbox recorded, Docker has moved it out of a container that is gone.
  const peerHome = links.has(ep.peerIf) || host.linkNetnsId === undefined;
  if (ep.sandbox && peerHome) return 'its container is gone (veth back in the host namespace)';
  return undefined;
}

export async function reconcile(driver: OvsNetworkDriver, infra: NetworkInfra, db: Db, links: LinkOps, log: Logger, ovn?: OvnNetworks, ipam?: Ipam): Promise<ReconcileReport> {
  const all = await links.listLinks();
  const byName = new Map(all.map((l) => [l.name, l]));
  const report: ReconcileReport = { endpoints: driver.endpoints.size, staleEndpoints: [], orphanVeths: [], gatewaysRestored: 0 };

  const dead: Endpoint[] = [];
  for (const ep of driver.endpoints.values()) {
    const why = staleReason(ep, byName, driver.networks.has(ep.networkId));
    if (why) {
      dead.push(ep);
      log.info({ endpoint: ep.id.slice(0, 12), port: ep.hostIf, why }, 'removing stale endpoint');
    }
  }
  if (dead.length) {
    await db.transact(dead.flatMap((ep) => deletePortOps(db, ep.hostIf)));
    for (const ep of dead) {
      driver.endpoints.delete(ep.id);
      report.staleEndpoints.push(ep.id);
      if (byName.has(ep.hostIf)) await links.deleteLink(ep.hostIf);
      if (ovn) await ovn.deletePort(ep.id);
    }
  }

  if (ovn) {
    // Logical ports this host made for endpoints it no longer has (a crash mid-attach).
    for (const id of ovn.strayPorts(new Set(driver.endpoints.keys()), new Set(driver.networks.keys()))) {
      log.info({ endpoint: id.slice(0, 12) }, 'removing stray OVN logical port');
      await ovn.deletePort(id);
      report.staleEndpoints.push(id);
    }
    for (const net of driver.networks.values()) if (net.ovn && ipam) ipam.attachShared(net.id, ovn.book(net));
  }

  // Veths this daemon made that no OVS port references (a crash between creating the veth and
  // the port). The alias names the daemon: another instance's veths are never swept.
  const referenced = new Set<string>();
  for (const r of db.rows('Interface')) referenced.add(String(r.name));
  const mine = vethAlias(driver.name);
  for (const l of all) {
    if (!l.name.startsWith(HOST_VETH_PREFIX) || l.alias !== mine || referenced.has(l.name)) continue;
    if (l.linkNetnsId !== undefined) continue; // its peer is inside some namespace: leave it
    log.info({ link: l.name }, 'removing orphan veth');
    await links.deleteLink(l.name);
    report.orphanVeths.push(l.name);
  }

  // Gateway ports: re-create a missing one, re-apply addresses (lost on host reboot).
  for (const net of driver.networks.values()) {
    if (!net.gatewayPort) continue;
    if (!findPort(db, net.gatewayPort)) {
      const ops = await infra.planCreate(net);
      if (ops.length) await db.transact(ops);
    }
    try {
      await infra.configureGateway(net);
      report.gatewaysRestored++;
    } catch (err) {
      log.warn({ network: net.id.slice(0, 12), err: String(err) }, 'gateway port not restored');
    }
  }
  return report;
}
