// The daemon: listen on the plugin socket first (dockerd may be restarting containers right now
// and a managed plugin is killed if it does not answer within ~9 s), then connect to OVSDB,
// rebuild state, reconcile, and let the waiting requests through.
import * as path from 'node:path';
import type { Server } from 'node:http';
import { type DaemonConfig, sslFiles } from './config';
import { createLogger, Logger } from './util/log';
import { OvsdbClient } from './ovsdb/client';
import { GroupCommit, type Transactor } from './ovsdb/group-commit';
import type { Row } from './ovsdb/types';
import type { Db } from './ovs/db';
import { NameIndexes, OwnerIndexes } from './model/row-index';
import { VSWITCH_MONITOR } from './ovs/tables';
import { OvsKvStore } from './ovs/kv-store';
import { LinkManager } from './netlink/links';
import { EthtoolClient } from './netlink/ethtool';
import { LinkDeleter } from './netlink/delete-worker';
import type { LinkOps } from './driver/links';
import { Ipam, parseAutoPoolRange } from './ipam/ipam';
import { UnusedAddressCollector } from './ipam/collector';
import { driverAddressUsers } from './ipam/address-users';
import { Firewall } from './net/firewall';
import { OvsNetworkDriver, vethAlias } from './driver/network-driver';
import { PortPool } from './pool/port-pool';
import { Registry } from './driver/registry';
import { reconcile } from './driver/reconcile';
import { composeBackends } from './backends/compose';
import { listenPluginSocket } from './server/plugin-server';
import { NB_MONITOR } from './ovn/nb';
import { OvnNetworks } from './backends/ovn/ovn-network';
import { chassisSetupOps } from './ovs/chassis';
import { RootExternalIds } from './ovs/open-vswitch';
import * as os from 'node:os';
import * as fs from 'node:fs';
import { OverlayManager, parsePeers } from './overlay/overlay';
import { createControlServer, registerQosMethods } from './server/control';
import { fullGc, IdleCollector } from './util/idle-gc';
import { ConnectionState, namingDb } from './heal/connection-state';
import { StartupLoop, within } from './heal/startup';
import { OvsHealer } from './heal/ovs-healer';
import { composeSecurityGroups } from './secgroups/compose';
import { composeMirrors } from './mirror/mirrors';
import { PlainQos } from './qos/ovs-qos';
import { QosService } from './qos/service';

/** Tables and columns the daemon replicates from the Open_vSwitch database. */
export { VSWITCH_MONITOR };

export function dbFromClient(client: OvsdbClient, opts: { groupCommit?: boolean } = {}): Db {
  const names = new NameIndexes(client.cache);
  const owners = new OwnerIndexes(client.cache);
  const tx: Transactor = opts.groupCommit ? new GroupCommit(client) : client;
  return {
    transact: (ops) => tx.transact(ops),
    rows: (table) => client.cache.table(table).values(),
    waitFor: <T>(table: string, pred: (row: Row) => T | undefined, ms: number) => client.waitFor(table, pred, ms),
    byName: (table, name) => names.find(table, name),
    byOwner: (table, owner, type) => owners.find(table, owner, type),
  };
}

/**
 * Deletions run on a worker thread (netlink/delete-worker.ts): the kernel holds a veth delete
 * for ~20 ms inside a synchronous sendmsg, and attaches must not queue behind detaches.
 */
export function linkOpsFrom(links: LinkManager, deleter: LinkDeleter, ethtool: EthtoolClient): LinkOps {
  return {
    createVethPair: (o) => links.createVethPair(o),
    deleteLink: (n) => deleter.deleteLink(n),
    getLink: (n) => links.getLink(n),
    listLinks: () => links.listLinks(),
    setUp: (n) => links.setUp(n),
    setAlias: (n, a) => links.setAlias(n, a),
    setMtu: (n, m) => links.setMtu(n, m),
    setMac: (n, m) => links.setMac(n, m),
    addAddress: (n, c) => links.addAddress(n, c, { noDad: true }),
    waitForLink: (n, ms) => links.waitForLink(n, ms),
    disableTxChecksum: (n) => ethtool.disableTxChecksum(n),
  };
}

export interface Daemon {
  server: Server;
  overlay: OverlayManager;
  driver: OvsNetworkDriver;
  ipam: Ipam;
  client: OvsdbClient;
  log: Logger;
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** How long start-up waits for OVN NB before serving local networks without it. */
const NB_START_GRACE_MS = 2_000;

export async function startDaemon(config: DaemonConfig): Promise<Daemon> {
  const started = Date.now();
  const log = createLogger(config.logLevel, config.name);
  const client = new OvsdbClient({ remote: config.ovsdb, database: 'Open_vSwitch', monitor: VSWITCH_MONITOR, logger: log.child({ component: 'ovsdb' }), ssl: sslFiles(config, 'ovsdb'), requestTimeoutMs: config.ovsdbTimeoutMs });
  const db = dbFromClient(client, { groupCommit: config.groupCommit });
  const root = new RootExternalIds(db);
  const kv = new OvsKvStore(db, root);
  const linkManager = new LinkManager();
  const linkDeleter = new LinkDeleter();
  const ethtool = new EthtoolClient();
  const links = linkOpsFrom(linkManager, linkDeleter, ethtool);
  const ipam = new Ipam(kv, config.name, {
    v4: parseAutoPoolRange(config.defaultPools, '--default-pools'),
    v6: parseAutoPoolRange(config.defaultPools6, '--default-pools6'),
  });
  const registry = new Registry();
  const firewall = new Firewall(config.name, () => registry.firewallState(), log.child({ component: 'firewall' }));
  const nbClient = config.ovnNb
    ? new OvsdbClient({ remote: config.ovnNb, database: 'OVN_Northbound', monitor: NB_MONITOR, logger: log.child({ component: 'ovn-nb' }), ssl: sslFiles(config, 'ovnNb'), requestTimeoutMs: config.ovsdbTimeoutMs, offlineWaitMs: config.ovsdbTimeoutMs })
    : undefined;
  const hostId = (): string => root.snapshot['system-id'] || config.systemId || os.hostname();
  const nb = nbClient && new ConnectionState(nbClient);
  const nbDb = nbClient && namingDb(dbFromClient(nbClient), nb!, `OVN NB at ${config.ovnNb}`);
  const ovn = nbDb ? new OvnNetworks({ nb: nbDb, host: hostId, log: log.child({ component: 'ovn' }) }) : undefined;
  // QoS and security groups meet in the plain bridges' entry flows: each names the other lazily.
  const sg = composeSecurityGroups({ name: config.name, db, kv, registry, log: log.child({ component: 'security-groups' }), ovsdbRemote: config.ovsdb, nb: nbDb, ovn, portQos: (id) => qos.portQos(id) });
  const qos: QosService = new QosService({
    db, registry, ovn, plain: new PlainQos(db, config.name, { ovsdbRemote: config.ovsdb }),
    resync: (bridge) => sg.enforcer.sync([bridge]), log: log.child({ component: 'qos' }),
  });
  const overlay = new OverlayManager(db, kv, config.name, config.ovsdb, () => registry.networks.values(), log.child({ component: 'overlay' }), { geneve: config.overlayGenevePort, vxlan: config.overlayVxlanPort });
  const configuredPeers = (): string[] | undefined => {
    if (config.peersFile) return parsePeers(fs.readFileSync(config.peersFile, 'utf8'), '--peers-file');
    return config.peers ? parsePeers(config.peers) : undefined;
  };
  const backends = composeBackends({
    name: config.name, db, links, firewall, log, isOurSpace: (s) => ipam.isOurSpace(s),
    overlay, underlayMtu: config.underlayMtu, ovn, nbOnline: () => !!nb?.online, ovnPortTimeoutMs: config.ovnPortTimeoutMs,
    sgFlows: sg.enforcer, qos,
  });
  const pool = new PortPool({
    name: config.name, db, links, log: log.child({ component: 'pool' }), settings: { min: config.poolMin, max: config.poolMax },
    alias: vethAlias(config.name), networks: registry.networks, locks: registry.locks, accessVlan: (net) => backends.of(net).portAccess(net),
  });
  const mirrors = composeMirrors({
    name: config.name, db, registry, links, ovsdbRemote: config.ovsdb, accessVlan: (net) => backends.of(net).portAccess(net),
    log: log.child({ component: 'mirror' }), ready: () => readyWithin(),
  });
  const driver = new OvsNetworkDriver({ name: config.name, scope: config.scope, db, links, kv, ipam, firewall, log, registry, backends, pool, hostSettings: () => root.refresh(), securityGroups: sg.service, mirrors, qos });

  const localDb = new ConnectionState(client);
  let firewallApplied = false;
  // Local only: a network that does not need OVN never waits for OVN NB (OVN requests fail on
  // their own, naming NB, while it is unreachable).
  const startup = new StartupLoop(async () => {
    // NB gets a short grace to come up with us (then its stray ports are reconciled too);
    // after that local networks go ahead without it.
    const nbUp = nbClient ? within(nbClient.connect(), NB_START_GRACE_MS, () => 'OVN NB not reachable yet').catch(() => undefined) : undefined;
    await client.connect();
    await nbUp;
    await root.refresh();
    if (config.ovnSb && config.encapIp) {
      await db.transact(chassisSetupOps(root.snapshot, { ovnSb: config.ovnSb, encap: config.encap as 'geneve' | 'vxlan', encapIp: config.encapIp, systemId: config.systemId }));
      log.info({ ovnSb: config.ovnSb, encapIp: config.encapIp }, 'chassis set up');
      await root.refresh();
    }
    ipam.load();
    sg.load();
    driver.load();
    overlay.load(configuredPeers());
    // Without NB, NB leftovers wait for the healing pass that follows its reconnect. A tunnel OVS
    // refuses does not keep other networks from being served: overlay creates report it.
    const report = await reconcile(driver, backends, db, links, log, ipam, { graceMs: config.joinGraceMs, pool });
    firewallApplied = false;
    await firewall.apply();
    firewallApplied = true;
    // Filtered endpoints' flows as this daemon renders them (ovs-vswitchd kept the old ones meanwhile).
    await sg.enforcer.sync();
    // Mirrors whose source went while we were down, and captures a crash cut short.
    await mirrors.reconcile().catch((err) => log.warn({ err: String(err) }, 'mirror leftovers not reconciled'));
    log.info({ ...report, staleEndpoints: report.staleEndpoints.length, orphanVeths: report.orphanVeths.length, networks: driver.networks.size, ovnNb: nb ? (nb.online ? 'reconciled' : 'not reachable') : 'none', ms: Date.now() - started }, 'state loaded and reconciled');
  }, log);
  const ready = startup.done;
  // Addresses, pools and NB reservations dockerd could not release while we were down.
  const collector = new UnusedAddressCollector(ipam, () => driverAddressUsers(driver), log.child({ component: 'ipam' }), { graceMs: config.joinGraceMs });
  const healer = new OvsHealer(client, {
    networkIds: () => driver.networks.keys(),
    healHost: async () => {
      await backends.healHosts(() => driver.known(), (b, err) => log.warn({ backend: b.kind, err: String(err) }, 'heal: host state not re-applied'));
      await qos.heal().catch((err) => log.warn({ err: String(err) }, 'heal: QoS not re-applied'));
      await sg.enforcer.heal().catch((err) => log.warn({ err: String(err) }, 'heal: security group flows not re-applied'));
      await collector.passIfDue();
    },
    healNetwork: (id) => driver.healNetwork(id),
  }, log.child({ component: 'heal' }), nbClient ? [nbClient] : []);
  void ready.then(() => healer.start());

  /** What start-up still lacks, for the error a waiting request gets. */
  const missing = (): string => {
    if (!localDb.online) return `the plugin has no connection to OVSDB at ${config.ovsdb} yet (is Open vSwitch running?)`;
    if (!firewallApplied && startup.failure) return `the plugin could not set up iptables yet: ${String(startup.failure)}`;
    return `the plugin has not finished starting: ${startup.failure ? String(startup.failure) : 'still loading state'}`;
  };
  const readyWithin = (): Promise<void> => within(ready, config.stateTimeoutMs, missing);

  const socketPath = path.join(config.pluginDir, `${config.name}.sock`);
  const control = createControlServer({ driver, ipam, overlay, ovn, securityGroups: sg.service, methods: [mirrors.methods, (rpc) => registerQosMethods(rpc, qos)] });
  const gc = fullGc();
  const collect = gc && (() => {
    const before = process.memoryUsage();
    const t0 = process.hrtime.bigint();
    gc();
    const after = process.memoryUsage();
    const mb = (b: number): number => Math.round(b / 1048576);
    log.debug({ ms: Number(process.hrtime.bigint() - t0) / 1e6, heapUsedMb: [mb(before.heapUsed), mb(after.heapUsed)], heapTotalMb: [mb(before.heapTotal), mb(after.heapTotal)], externalMb: mb(after.external), rssMb: mb(before.rss) }, 'idle: collected garbage');
  });
  // The deletion worker goes too: deletions come in bursts and it holds a V8 isolate of its own.
  const idleGc = new IdleCollector(() => void linkDeleter.release().then(() => collect?.()));
  const server = await listenPluginSocket({ socketPath, drivers: { network: driver, ipam }, control, logger: log, ready: readyWithin, onRequest: () => idleGc.activity(), routes: mirrors.routes });
  // Loading state and reconciling is a burst of its own: a daemon no request reaches would
  // otherwise keep that garbage for as long as V8 happens not to collect it.
  void ready.then(() => idleGc.activity(), () => undefined);
  log.info({ socket: socketPath, ovsdb: config.ovsdb, ms: Date.now() - started }, 'listening');

  const stop = async (): Promise<void> => {
    await mirrors.stopCaptures();
    // close() waits for every connection; dockerd keeps idle keep-alive connections open, so
    // close those as soon as their request is answered (in-flight requests still finish).
    const idle = setInterval(() => server.closeIdleConnections(), 50);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearInterval(idle);
    idleGc.stop();
    startup.stop();
    healer.stop();
    pool.stop();
    await pool.settle();
    await driver.drain();
    client.close();
    nbClient?.close();
    firewall.close();
    linkManager.close();
    await linkDeleter.close();
    ethtool.close();
  };
  return { server, driver, ipam, client, log, ready, stop, overlay };
}

/** How long a graceful stop may take before the daemon exits anyway. */
const SHUTDOWN_GRACE_MS = 8_000;

export async function runDaemon(config: DaemonConfig): Promise<void> {
  // Handlers first: inside a managed plugin the daemon is PID 1, which ignores signals it has no
  // handler for, so an early `docker plugin disable` would otherwise wait for SIGKILL.
  let daemon: Daemon | undefined;
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    if (!daemon) process.exit(0);
    const d = daemon;
    d.log.info({ signal: sig }, 'shutting down: finishing requests in flight');
    // Inside 10 s: dockerd (and containerd for a managed plugin) sends SIGKILL at 10 s.
    const force = setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS);
    force.unref();
    void d.stop().finally(() => {
      d.log.flush();
      process.exit(0);
    });
  };
  // A promise rejected with nobody listening is a bug, but not one worth taking every
  // container's network control down for (Node's default is to exit): log it loudly.
  process.on('unhandledRejection', (reason) => {
    const log = daemon?.log;
    if (log) log.error({ err: reason instanceof Error ? reason.stack : String(reason) }, 'unhandled promise rejection (a bug)');
    else console.error('unhandled promise rejection:', reason);
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    if (!config.peersFile || !daemon) return;
    const d = daemon;
    try {
      const peers = parsePeers(fs.readFileSync(config.peersFile, 'utf8'), '--peers-file');
      void d.overlay.setPeers(peers).then(() => d.log.info({ peers }, 'peers reloaded'), (err) => d.log.error({ err: String(err) }, 'peers reload failed'));
    } catch (err) {
      d.log.error({ err: String(err) }, 'peers file unreadable');
    }
  });
  daemon = await startDaemon(config);
}
