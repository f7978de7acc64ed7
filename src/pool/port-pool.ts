// The warm port pool: per network, a few veth pairs already plugged into the network's bridge
// with its access VLAN, so an attach takes one and rewrites one Interface's external_ids (the
// endpoint's record, OVN's iface-id) instead of waiting for ovs-vswitchd to add a port, which on
// the userspace datapath costs more the more ports the bridge has (≈ 0.5 s with 1,000 ports).
//
// A pooled port forwards nothing: its container end is down in the host namespace, so the veth
// has no carrier and the kernel drops whatever ovs-vswitchd sends into it; on OVN's bridge it has
// no iface-id, so ovn-controller installs no flow for it. Pools are per network, not per bridge:
// the VLAN tag and MTU are already right, and changing a Port's tag would make ovs-vswitchd
// reconfigure the whole bridge, the cost the pool is there to avoid.
//
// Pooled ports are owned rows (owner type `pool`, the network in `ocn-network`): start-up adopts
// those whose network and veth still exist and removes the others; a network's pool goes in the
// transaction that deletes the network. A port leaves the pool in the transaction that records
// its endpoint, guarded by a `wait` on its pool ownership, so no port is ever given twice.
//
// A burst larger than the pool does not fall back to one port addition per attach: an attach
// that finds the pool empty waits for the next batch, which is sized to the attaches waiting, so
// ovs-vswitchd adds the burst's ports in a few transactions instead of one each.
import { randomBytes } from 'node:crypto';
import type { Operation } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import type { VsRow } from '../ovs/tables';
import { findBridge } from '../ovs/bridge';
import { addPortOps, deletePortOps, findInterface, interfacesOwnedBy } from '../ovs/port';
import { waitPortsOpen } from '../ovs/port-ready';
import { byUuid, map } from '../ovs/wire';
import { EP, externalIds, localOwner, ownedBy, OWNER_TYPE } from '../model/owner-ids';
import { CONTAINER_VETH_PREFIX, HOST_VETH_PREFIX } from '../netlink/names';
import type { LinkInfo, LinkOps } from '../driver/links';
import type { NetworkRecord } from '../driver/model';
import type { Logger } from '../util/log';
import type { KeyedMutex } from '../util/keyed-mutex';

export interface PoolSettings {
  /** Free ports kept for a network once it has had an attach (0 with max 0: no pool). */
  min: number;
  /** Most free ports kept for one network. */
  max: number;
}

export interface PooledPort {
  /** Host end: the OVS port. */
  host: string;
  /** Container end: what Join hands to Docker. */
  peer: string;
}

export interface PortPoolDeps {
  name: string;
  db: Db;
  links: LinkOps;
  log: Logger;
  settings: PoolSettings;
  /** The alias marking this daemon's veths (start-up sweeps only its own). */
  alias: string;
  networks: ReadonlyMap<string, NetworkRecord>;
  /** The driver's locks: a fill runs under its network's, so it never races the network's delete. */
  locks: KeyedMutex;
  /** Access VLAN of a network's ports (undefined: untagged, OVN's integration bridge). */
  accessVlan(net: NetworkRecord): number | undefined;
}

/**
 * Most ports added to the bridge in one transaction (one ovs-vswitchd reconfiguration). Small
 * enough that the first ports of a burst are handed out while the next batch is being made:
 * batches of 128 made 100 concurrent attaches wait for the whole batch (p50 546 against 439 ms
 * without the pool), batches of 16 matched it with a lower p99 (bench, 2026-12-03).
 */
const BATCH = 16;
/** The attach rate the pool follows: attaches in this window set its size. */
const WINDOW_MS = 60_000;
/**
 * A network without attaches this long gives its pool back down to the minimum: every port on
 * the host, idle or not, makes ovs-vswitchd's next port addition slower (≈ 0.5 ms each here).
 */
const IDLE_MS = 60_000;
/** A refill starts this long after the attach that asked for it, so a burst's own attaches go first. */
const FILL_DELAY_MS = 20;
/** An attach waiting for a port gives others arriving in the same moment this long to join its batch. */
const GATHER_MS = 2;
const OPEN_TIMEOUT_MS = 10_000;
/** How long an attach waits for a port of the pool before it makes one itself. */
const WAIT_MS = 15_000;

interface Slot {
  free: PooledPort[];
  /** Attaches waiting for a port (first come, first served); undefined: make your own. */
  waiters: ((p: PooledPort | undefined) => void)[];
  /** Ports added and not yet opened by ovs-vswitchd (counted against what a batch must add). */
  opening: number;
  /** Times of recent attaches (within WINDOW_MS). */
  attaches: number[];
  filling?: Promise<void>;
  timer?: NodeJS.Timeout;
  /** Settles when the slot is dropped (its network deleted, or the pool stopped): fills stop waiting. */
  gone: Promise<void>;
  drop: () => void;
}

/** The ids a free pooled port carries (Interface; its Port carries none of ours but the owner). */
function poolIds(driver: string, networkId: string, peer: string): Record<string, string> {
  return localOwner(driver, 'pool', { [EP.network]: networkId, [EP.peer]: peer });
}

/** Names for a pooled pair: the endpoint prefixes (start-up's sweep knows them), random ids. */
function pairNames(): PooledPort {
  const id = randomBytes(6).toString('hex').slice(0, 11);
  return { host: HOST_VETH_PREFIX + id, peer: CONTAINER_VETH_PREFIX + id };
}

export class PortPool {
  private readonly slots = new Map<string, Slot>();
  /** Veth deletions after the answer (the kernel takes ≈ 20 ms each): a stop waits for them. */
  private readonly deleting = new Set<Promise<unknown>>();
  private readonly trimTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly d: PortPoolDeps) {
    this.trimTimer = setInterval(() => void this.trimIdle(), IDLE_MS / 4);
    this.trimTimer.unref();
  }

  get enabled(): boolean {
    return this.d.settings.max > 0;
  }

  /**
   * A free port of the network, taken out of the pool at once (synchronous: two attaches never
   * get one port), or undefined when it has none.
   */
  take(net: NetworkRecord): PooledPort | undefined {
    if (!this.enabled || this.stopped) return undefined;
    const slot = this.slots.get(net.id);
    while (slot?.free.length) {
      const p = slot.free.shift()!;
      if (this.stillFree(p, net.id)) return p;
      this.d.log.warn({ network: net.id.slice(0, 12), port: p.host }, 'pooled port no longer usable (its row or veth is gone): removed');
      this.discard(p);
    }
    return undefined;
  }

  /**
   * A free port of the network; when it has none, the port of the next batch (made for the
   * attaches waiting, see above); undefined when the pool is off, or the batch failed or took
   * longer than WAIT_MS (the caller then makes its own port).
   */
  async takeOrWait(net: NetworkRecord): Promise<PooledPort | undefined> {
    const now = this.take(net);
    if (now || !this.enabled || this.stopped) return now;
    const slot = this.slot(net.id);
    return new Promise((resolve) => {
      const waiter = (p: PooledPort | undefined) => {
        clearTimeout(timer);
        resolve(p);
      };
      const timer = setTimeout(() => {
        slot.waiters = slot.waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, WAIT_MS);
      slot.waiters.push(waiter);
      this.scheduleFill(net.id, slot, GATHER_MS);
    });
  }

  /** A port taken for an attach that failed before it was written to: free again. */
  giveBack(networkId: string, p: PooledPort): void {
    const slot = this.slots.get(networkId);
    if (slot) this.deliver(slot, p);
  }

  /** An opened port goes to the first attach waiting, or into the pool. */
  private deliver(slot: Slot, p: PooledPort): void {
    const waiter = slot.waiters.shift();
    if (waiter) waiter(p);
    else slot.free.push(p);
  }

  /** An attach succeeded on the network: counted for the pool's size, which a refill then follows. */
  attached(networkId: string): void {
    if (!this.enabled || this.stopped || !this.d.networks.has(networkId)) return;
    const slot = this.slot(networkId);
    const now = Date.now();
    slot.attaches.push(now);
    while (slot.attaches.length && slot.attaches[0] < now - WINDOW_MS) slot.attaches.shift();
    this.scheduleFill(networkId, slot);
  }

  /**
   * Operations that give port `p` to an endpoint: they fail (and with them the whole transaction)
   * unless the port is still a free pooled port; `ids` become its Interface's external_ids.
   */
  takeOps(p: PooledPort, ids: Record<string, string>): Operation[] {
    const row = findInterface(this.d.db, p.host);
    if (!row) throw new Error(`pooled port ${p.host} is gone`);
    return [
      {
        op: 'wait', table: 'Interface', timeout: 0, until: '==', columns: ['name'], rows: [{ name: p.host }],
        where: [...byUuid(row._uuid), ['external_ids', 'includes', map({ [OWNER_TYPE]: 'pool' })]],
      },
      { op: 'update', table: 'Interface', where: byUuid(row._uuid), row: { external_ids: map(ids) } },
    ];
  }

  /** A taken port the endpoint could not use after all (its transaction failed): removed. */
  discard(p: PooledPort): void {
    // Its row only while it is still a pooled one (an endpoint may own it after a lost reply).
    const row = findInterface(this.d.db, p.host);
    const ops = row && ownedBy(row, this.d.name, 'pool') ? deletePortOps(this.d.db, p.host) : [];
    this.track((ops.length ? this.d.db.transact(ops) : Promise.resolve([]))
      .then(() => this.d.links.deleteLink(p.host))
      .catch((err) => this.d.log.warn({ port: p.host, err: String(err) }, 'pooled port not removed')));
  }

  /**
   * Operations removing a network's pooled ports (free or being filled), for the network's
   * delete; `done` then forgets them and deletes their veths.
   */
  retire(networkId: string): { ops: Operation[]; done: () => void } {
    const rows = this.ownedPoolRows((r) => externalIds(r)[EP.network] === networkId);
    return {
      ops: rows.flatMap((r) => deletePortOps(this.d.db, r.name)),
      done: () => {
        this.dropSlot(networkId);
        for (const r of rows) this.track(this.d.links.deleteLink(r.name).catch(() => undefined));
      },
    };
  }

  /**
   * Start-up: free ports whose network and veth (both ends in the host namespace) still exist are
   * adopted; the others' rows are removed (their veths, ours and now unreferenced, go with start-up's
   * sweep of orphan veths). Returns the names removed.
   */
  async adopt(links: ReadonlyMap<string, LinkInfo>): Promise<string[]> {
    const gone: string[] = [];
    for (const r of this.ownedPoolRows(() => true)) {
      const ids = externalIds(r);
      const net = ids[EP.network];
      const peer = ids[EP.peer];
      const host = links.get(r.name);
      if (this.enabled && net && this.d.networks.has(net) && host && peer && links.has(peer) && host.linkNetnsId === undefined) {
        this.slot(net).free.push({ host: r.name, peer });
      } else {
        gone.push(r.name);
      }
    }
    if (gone.length) {
      await this.d.db.transact(gone.flatMap((n) => deletePortOps(this.d.db, n)));
      this.d.log.info({ ports: gone.length }, 'pooled ports of networks that are gone (or whose veth is) removed');
    }
    return gone;
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.trimTimer);
    for (const s of this.slots.values()) {
      clearTimeout(s.timer);
      s.drop();
      for (const w of s.waiters.splice(0)) w(undefined);
    }
  }

  private track(p: Promise<unknown>): void {
    this.deleting.add(p);
    void p.finally(() => this.deleting.delete(p));
  }

  /** Waits for fills and veth deletions in flight (tests, shutdown: a veth left undeleted would outlive its row). */
  async settle(): Promise<void> {
    await Promise.all([...this.deleting]);
    for (const s of this.slots.values()) {
      if (s.timer) {
        clearTimeout(s.timer);
        s.timer = undefined;
      }
      await s.filling;
    }
    await Promise.all([...this.deleting]);
  }

  /** Starts filling a network's pool unless a fill runs already. */
  private startFill(networkId: string): Promise<void> {
    const slot = this.slot(networkId);
    slot.filling ??= this.fill(networkId, slot).finally(() => (slot.filling = undefined));
    return slot.filling;
  }

  private slot(networkId: string): Slot {
    let s = this.slots.get(networkId);
    if (!s) {
      let drop!: () => void;
      const gone = new Promise<void>((r) => (drop = r));
      s = { free: [], waiters: [], opening: 0, attaches: [], gone, drop };
      this.slots.set(networkId, s);
    }
    return s;
  }

  private dropSlot(networkId: string): void {
    const s = this.slots.get(networkId);
    if (s) {
      clearTimeout(s.timer);
      s.drop();
      for (const w of s.waiters.splice(0)) w(undefined);
    }
    this.slots.delete(networkId);
  }

  /** The size a network's pool follows: its attaches of the last minute, within [min, max]. */
  private target(slot: Slot): number {
    const { min, max } = this.d.settings;
    return Math.max(min, Math.min(max, slot.attaches.length));
  }

  private stillFree(p: PooledPort, networkId: string): boolean {
    const row = findInterface(this.d.db, p.host);
    if (!row || !(row.ofport !== undefined && row.ofport > 0)) return false;
    const ids = externalIds(row);
    return ids[OWNER_TYPE] === 'pool' && ids[EP.network] === networkId;
  }

  private ownedPoolRows(pred: (r: VsRow<'Interface'>) => boolean): VsRow<'Interface'>[] {
    return interfacesOwnedBy(this.d.db, this.d.name, 'pool').filter(pred);
  }

  private scheduleFill(networkId: string, slot: Slot, delayMs = FILL_DELAY_MS): void {
    if (slot.filling) return;
    if (slot.timer) {
      if (delayMs >= FILL_DELAY_MS) return;
      clearTimeout(slot.timer); // waiters: sooner than a background refill
    }
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      void this.startFill(networkId);
    }, delayMs);
  }

  /**
   * Batches until the waiting attaches have ports and the pool its target size (or a batch fails:
   * the next attach retries). A batch does not wait for ovs-vswitchd to open the previous one's
   * ports: each port goes to a waiter or into the pool as soon as it is open.
   */
  private async fill(networkId: string, slot: Slot): Promise<void> {
    while (!this.stopped && this.slots.get(networkId) === slot) {
      const want = slot.waiters.length + Math.max(0, this.target(slot) - slot.free.length) - slot.opening;
      if (want <= 0) return;
      const made = await this.d.locks.run(`net:${networkId}`, () => this.addBatch(networkId, Math.min(want, BATCH)));
      if (!made.length) {
        // Nothing could be made: the attaches waiting make their own ports.
        for (const w of slot.waiters.splice(0)) w(undefined);
        return;
      }
      slot.opening += made.length;
      for (const p of made) void this.whenOpen(networkId, slot, p);
    }
  }

  /** Outside the network's lock: ovs-vswitchd may take a while with many ports, and a delete must not wait for it. */
  private async whenOpen(networkId: string, slot: Slot, p: PooledPort): Promise<void> {
    const opened = await Promise.race([
      waitPortsOpen(this.d.db, [p.host], OPEN_TIMEOUT_MS).then(() => true, () => false),
      slot.gone.then(() => undefined),
    ]);
    slot.opening--;
    if (opened === undefined || this.stopped || this.slots.get(networkId) !== slot) return; // the network went (and its ports with it)
    if (opened) {
      this.deliver(slot, p);
      return;
    }
    this.d.log.warn({ network: networkId.slice(0, 12), port: p.host }, 'ovs-vswitchd did not open a pooled port: removed');
    this.discard(p);
    // A waiter counted on it: it makes its own port (another batch would likely fare no better).
    slot.waiters.shift()?.(undefined);
  }

  /** Veth pairs made and added to the network's bridge in one transaction; those that failed are undone. */
  private async addBatch(networkId: string, n: number): Promise<PooledPort[]> {
    const net = this.d.networks.get(networkId);
    if (!net || this.stopped) {
      this.dropSlot(networkId);
      return [];
    }
    const bridge = findBridge(this.d.db, net.options.bridge);
    if (!bridge) return [];
    const pairs = Array.from({ length: n }, pairNames);
    const made: PooledPort[] = [];
    await Promise.all(pairs.map(async (p) => {
      try {
        await this.d.links.createVethPair({ name: p.host, peerName: p.peer, mtu: net.mtu, noArp: true });
        // As for any endpoint: the userspace datapath takes what the container sends as is.
        await Promise.all([
          net.datapath === 'netdev' ? this.d.links.disableTxChecksum(p.peer) : undefined,
          this.d.links.setAlias(p.host, this.d.alias),
        ]);
        made.push(p);
      } catch (err) {
        this.d.log.warn({ network: networkId.slice(0, 12), link: p.host, err: String(err) }, 'pooled veth not made');
        await this.d.links.deleteLink(p.host).catch(() => undefined);
      }
    }));
    if (!made.length) return [];
    const access = this.d.accessVlan(net);
    const ops = made.flatMap((p, i) => addPortOps(bridge._uuid, {
      name: p.host, type: '', access, externalIds: poolIds(this.d.name, networkId, p.peer), portExternalIds: localOwner(this.d.name, 'pool'),
    }, `pool${i}`));
    try {
      await this.d.db.transact(ops);
    } catch (err) {
      this.d.log.warn({ network: networkId.slice(0, 12), ports: made.length, err: String(err) }, 'pooled ports not added');
      for (const p of made) await this.d.links.deleteLink(p.host).catch(() => undefined);
      return [];
    }
    this.d.log.info({ network: networkId.slice(0, 12), ports: made.map((p) => p.host) }, 'pooled ports added');
    return made;
  }

  /** Networks without attaches for a while give back what they hold beyond the minimum. */
  private async trimIdle(): Promise<void> {
    const now = Date.now();
    for (const [id, slot] of this.slots) {
      const last = slot.attaches.at(-1) ?? 0;
      if (slot.filling || now - last < IDLE_MS || slot.free.length <= this.d.settings.min) continue;
      const extra = slot.free.splice(this.d.settings.min);
      await this.d.locks.run(`net:${id}`, async () => {
        await this.d.db.transact(extra.flatMap((p) => deletePortOps(this.d.db, p.host)));
        for (const p of extra) await this.d.links.deleteLink(p.host).catch(() => undefined);
      }).catch((err) => this.d.log.warn({ network: id.slice(0, 12), err: String(err) }, 'idle pooled ports not removed'));
    }
  }
}
