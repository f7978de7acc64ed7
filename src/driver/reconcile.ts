// Start-up reconciliation: what OVSDB says the plugin owns, checked against the kernel's links.
// Only provably dead things are removed; a port whose veth still leads into a container is
// never touched, so a daemon restart (or kill -9) leaves running containers connected.
import fs from 'node:fs';
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
  /** Creations a kill interrupted (a record, maybe a veth, no port): undone. */
  unfinishedEndpoints: string[];
  /** Endpoints left for the later look (not yet joined, or not yet moved into their sandbox). */
  deferredEndpoints: number;
  orphanVeths: string[];
  gatewaysRestored: number;
}

/** Default of --join-grace-ms: dockerd retries a request to an unreachable plugin for up to 30 s. */
export const JOIN_GRACE_MS = 35_000;

/** What start-up can tell of an endpoint: in use, not yet known, or dead (and why). */
export type EndpointState = { inUse: true } | { undecided: string } | { dead: string };

/**
 * Judges an endpoint by what Docker shows: the container end inside a namespace means in use.
 * A veth in the host namespace proves nothing at once: dockerd creates the sandbox's netns file
 * and moves the container end into it in its prestart hook, after Join's answer, so a container
 * being started looks like one that is gone. Only a later look tells them apart.
 */
export function endpointState(ep: Endpoint, links: Map<string, LinkInfo>, networkKnown: boolean): EndpointState {
  if (!networkKnown) return { dead: 'its network is gone' };
  const host = links.get(ep.hostIf);
  if (!host) return { dead: 'its veth is gone' };
  const peerHome = links.has(ep.peerIf) || host.linkNetnsId === undefined;
  if (!peerHome) return { inUse: true };
  return { undecided: ep.sandbox ? 'joined, container end in the host namespace' : 'not joined yet' };
}

/**
 * The later look, a grace period on: an endpoint still in no container is dead, unless its
 * sandbox's netns exists (dockerd is between mounting it and moving the veth in).
 */
export function deadAfterGrace(state: EndpointState, ep: Endpoint, sandboxExists: (key: string) => boolean): string | undefined {
  if ('dead' in state) return state.dead;
  if (!('undecided' in state)) return undefined;
  if (ep.sandbox && sandboxExists(ep.sandbox)) return undefined;
  return ep.sandbox ? `its sandbox ${ep.sandbox} is gone and its veth is in the host namespace` : 'never joined since the restart';
}

/** nsfs: a sandbox key is live while its netns is mounted on it (a failed teardown leaves the bare file). */
const NSFS_MAGIC = 0x6e736673;
const sandboxExists = (key: string): boolean => {
  try {
    return fs.statfsSync(key).type === NSFS_MAGIC;
  } catch {
    return false;
  }
};

export interface ReconcileOptions {
  graceMs?: number;
  sandboxExists?: (key: string) => boolean;
}

export async function reconcile(driver: OvsNetworkDriver, infra: NetworkInfra, db: Db, links: LinkOps, log: Logger, ovn?: OvnNetworks, ipam?: Ipam, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
  const all = await links.listLinks();
  const byName = new Map(all.map((l) => [l.name, l]));
  const report: ReconcileReport = { endpoints: driver.endpoints.size, staleEndpoints: [], unfinishedEndpoints: [], deferredEndpoints: 0, orphanVeths: [], gatewaysRestored: 0 };
  const exists = opts.sandboxExists ?? sandboxExists;

  const dead: Endpoint[] = [];
  const undecided: string[] = [];
  for (const ep of driver.endpoints.values()) {
    const state = endpointState(ep, byName, driver.networks.has(ep.networkId));
    if ('dead' in state) {
      dead.push(ep);
      log.info({ endpoint: ep.id.slice(0, 12), port: ep.hostIf, why: state.dead }, 'removing stale endpoint');
    } else if ('undecided' in state) {
      undecided.push(ep.id);
      log.info({ endpoint: ep.id.slice(0, 12), port: ep.hostIf, why: state.undecided }, 'endpoint left for a later look');
    }
  }
  const unfinished = [...driver.intents.values()].filter((i) => !driver.endpoints.has(i.id));
  for (const i of unfinished) log.info({ endpoint: i.id.slice(0, 12), link: i.hostIf }, 'undoing an endpoint creation that never finished');
  if (dead.length || unfinished.length) {
    await db.transact([...dead.flatMap((ep) => deletePortOps(db, ep.hostIf)), ...driver.recordDeleteOps([...dead, ...unfinished].map((e) => e.id))]);
    for (const ep of [...dead, ...unfinished]) {
      driver.endpoints.delete(ep.id);
      driver.intents.delete(ep.id);
      if (byName.has(ep.hostIf)) await links.deleteLink(ep.hostIf);
      if (ovn) await ovn.deletePort(ep.id);
    }
    report.staleEndpoints.push(...dead.map((e) => e.id));
    report.unfinishedEndpoints.push(...unfinished.map((e) => e.id));
  }
  report.deferredEndpoints = undecided.length;
  if (undecided.length) scheduleLaterLook(driver, links, log, undecided, opts.graceMs ?? JOIN_GRACE_MS, exists);

  if (ovn) {
    // Logical ports this host made for endpoints it no longer has (a crash mid-attach).
    for (const id of ovn.strayPorts(new Set(driver.endpoints.keys()), new Set(driver.networks.keys()))) {
      log.info({ endpoint: id.slice(0, 12) }, 'removing stray OVN logical port');
      await ovn.deletePort(id);
      report.staleEndpoints.push(id);
    }
    for (const net of driver.networks.values()) if (net.ovn && ipam) ipam.attachShared(net.id, ovn.book(net));
    // Switch references and VIPs this host holds for networks or publications it no longer has.
    await ovn.collectLeftovers(driver.networks.values(), driver.endpoints.values());
  }

  // Veths this daemon made that no OVS port references. The alias (older daemons' only mark) or a
  // record naming the veth makes it ours: another instance's veths are never swept.
  const referenced = new Set<string>();
  for (const r of db.rows('Interface')) referenced.add(String(r.name));
  const recorded = new Set([...unfinished].map((i) => i.hostIf));
  const mine = vethAlias(driver.name);
  for (const l of all) {
    // (Recorded ones went with their record above.)
    if (!l.name.startsWith(HOST_VETH_PREFIX) || l.alias !== mine || referenced.has(l.name) || recorded.has(l.name)) continue;
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

/** After the grace period, each undecided endpoint is judged again, under its lock. */
function scheduleLaterLook(driver: OvsNetworkDriver, links: LinkOps, log: Logger, ids: string[], graceMs: number, exists: (key: string) => boolean): void {
  const look = async () => {
    for (const id of ids) {
      const why = await driver.removeIfUnused(id, async (ep) => {
        const found = await Promise.all([links.getLink(ep.hostIf), links.getLink(ep.peerIf)]);
        const byName = new Map(found.filter((l): l is LinkInfo => !!l).map((l) => [l.name, l]));
        return deadAfterGrace(endpointState(ep, byName, driver.networks.has(ep.networkId)), ep, exists);
      }).catch((err) => log.warn({ endpoint: id.slice(0, 12), err: String(err) }, 'later look at an endpoint failed'));
      if (why) log.info({ endpoint: id.slice(0, 12), why }, 'removing stale endpoint');
    }
  };
  setTimeout(() => void look(), graceMs).unref();
}
