// Start-up reconciliation: what OVSDB says the plugin owns, checked against the kernel's links.
// Only provably dead things are removed; a port whose veth still leads into a container is
// never touched, so a daemon restart (or kill -9) leaves running containers connected.
import fs from 'node:fs';
import type { Logger } from '../util/log';
import type { Db } from '../ovs/db';
import { deletePortOps } from '../ovs/port';
import { vsRows } from '../ovs/tables';
import { HOST_VETH_PREFIX } from '../netlink/names';
import type { LinkInfo, LinkOps } from './links';
import { OvsNetworkDriver, vethAlias } from './network-driver';
import type { Endpoint } from './model';
import type { Backends } from '../backends/backend';
import type { Ipam } from '../ipam/ipam';
import type { PortPool } from '../pool/port-pool';

export interface ReconcileReport {
  endpoints: number;
  staleEndpoints: string[];
  /** Creations a kill interrupted (a record, maybe a veth, no port): undone. */
  unfinishedEndpoints: string[];
  /** Endpoints left for the later look (not yet joined, or not yet moved into their sandbox). */
  deferredEndpoints: number;
  orphanVeths: string[];
  gatewaysRestored: number;
  /** Pooled ports whose network or veth was gone. */
  poolRemoved?: number;
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
  /** Its free ports are adopted (or removed when their network or veth is gone). */
  pool?: PortPool;
  sandboxExists?: (key: string) => boolean;
}

/**
 * Start-up: endpoints judged against the kernel's links and Docker's sandboxes, creations a kill
 * interrupted undone, orphan veths removed, shared address books attached, and each network's
 * state re-applied through its backend (the same step the healing loop repeats).
 */
export async function reconcile(driver: OvsNetworkDriver, backends: Backends, db: Db, links: LinkOps, log: Logger, ipam: Ipam, opts: ReconcileOptions = {}): Promise<ReconcileReport> {
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
    }
    // Their outside part (an OVN logical port) goes with the backend's collection of what no
    // endpoint owns, below or once its component answers.
    report.staleEndpoints.push(...dead.map((e) => e.id));
    report.unfinishedEndpoints.push(...unfinished.map((e) => e.id));
  }
  report.deferredEndpoints = undecided.length;
  if (undecided.length) scheduleLaterLook(driver, links, log, undecided, opts.graceMs ?? JOIN_GRACE_MS, exists);

  // Networks whose addresses span hosts share their reservations (NB may come later: the book
  // reads NB's cache when it allocates).
  for (const net of driver.networks.values()) {
    const shared = backends.find(net)?.sharedAddresses(net);
    if (shared) ipam.attachShared(net.id, shared);
  }
  // Before the orphan sweep below, which then removes the veths of the pooled ports it dropped.
  if (opts.pool) report.poolRemoved = (await opts.pool.adopt(byName)).length;
  await backends.healHosts(() => driver.known(), (b, err) => log.warn({ backend: b.kind, err: String(err) }, 'leftovers not collected'));

  // Veths this daemon made that no OVS port references. The alias (older daemons' only mark) or a
  // record naming the veth makes it ours: another instance's veths are never swept.
  const referenced = new Set<string>();
  for (const r of vsRows(db, 'Interface')) referenced.add(r.name);
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

  // Each network's state as its backend wants it (a gateway port's addresses are lost on reboot).
  for (const net of driver.networks.values()) {
    const backend = backends.find(net);
    if (!backend?.reachable()) continue;
    try {
      await backend.heal(net);
      if (net.gatewayPort) report.gatewaysRestored++;
    } catch (err) {
      log.warn({ network: net.id.slice(0, 12), err: String(err) }, 'network state not restored');
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
