// The plugin's own IPAM: pools and addresses, per address space, persisted as kv records.
// Swarm asks for the same pool in the global space (manager) and the local space (node), so
// pools are keyed by space and never checked for overlap across spaces.
import { ConflictError, InputError } from '../util/errors';
import { GLOBAL_SPACE, LOCAL_SPACE } from '../protocol/fields';
import type { KvStore } from '../state/kv';
import { Cidr, bigIntToIp, contains, formatCidr, hostRange, ipToBigInt, overlaps, parseCidr, parseNetwork, size } from './cidr';
import type { AddressUsers } from './address-users';
import type {
  AddressSpacesResponse, IpamCapabilitiesResponse, IpamDriver, ReleaseAddressRequest, ReleasePoolRequest,
  RequestAddressRequest, RequestAddressResponse, RequestPoolRequest, RequestPoolResponse,
} from '../protocol/ipam';

export { GLOBAL_SPACE, LOCAL_SPACE };
const GATEWAY_TYPE = 'com.docker.network.gateway';
/** After dockerd (re)registers us it replays pools and addresses it already holds. */
const REPLAY_WINDOW_MS = 120_000;

export interface PoolRecord {
  id: string;
  space: string;
  pool: string;
  sub?: string;
  v6: boolean;
  options?: Record<string, string>;
  /** Docker network that uses the pool, once CreateNetwork told us. */
  network?: string;
}

export type AddressRole = 'gw' | 'ep';

/**
 * Reservations shared by every host (an OVN logical switch's address book). `owner` names this
 * IPAM (its driver name): with the host, it tells which reservations are this IPAM's own.
 */
export interface SharedAddresses {
  /** The book (one logical switch): pools sharing it are collected together. */
  readonly name: string;
  taken(): Set<string>;
  reserve(ip: string, role: AddressRole, owner: string): Promise<boolean>;
  release(ip: string): Promise<void>;
  /** Drops this host's reservations made by `owner` that `held` does not list; returns their addresses. */
  dropUnheld(held: ReadonlySet<string>, owner: string): Promise<string[]>;
}

/** What one collection pass released. */
export interface CollectReport {
  /** "<pool id> <address>" of each address no user accounted for. */
  addresses: string[];
  /** Pools bound to a network the driver no longer has. */
  pools: string[];
  /** "<book> <address>" of each shared reservation of ours that no address of ours accounts for. */
  reservations: string[];
  /** Why no address or pool was judged (dockerd may be replaying what it holds). */
  skipped?: string;
}

/** committing/releasing: its record is being written or removed; it still counts as taken. */
type PoolState = 'committing' | 'ready' | 'releasing';

interface Pool {
  shared?: SharedAddresses;
  rec: PoolRecord;
  cidr: Cidr;
  range: { first: bigint; last: bigint };
  /** Every address held, including those whose record is still being written or removed. */
  taken: Map<bigint, AddressRole>;
  /** Addresses whose record is in flight (allocation or release): taken, but nobody's yet. */
  pending: Map<bigint, Promise<void>>;
  /** When each address was last handed out (or loaded at start): young ones are never collected. */
  handedOut: Map<bigint, number>;
  /** When the pool was loaded, created, handed out again or bound to its network. */
  since: number;
  cursor: bigint;
  state: PoolState;
}

/** The shared book refused an address: another host holds it. */
class HeldElsewhere extends ConflictError {}

export interface AutoPoolRange {
  range: Cidr;
  prefix: number;
}

export function parseAutoPoolRange(text: string, what: string): AutoPoolRange {
  const i = text.lastIndexOf(':');
  const m = /^\d+$/.test(text.slice(i + 1)) ? [text.slice(0, i), text.slice(i + 1)] : null;
  if (!m) throw new InputError(`${what}: "${text}" must be RANGE:PREFIXLEN, like 10.128.0.0/11:24`);
  const range = parseNetwork(m[0], what);
  const prefix = Number(m[1]);
  if (prefix < range.prefix || prefix > range.bits) throw new InputError(`${what}: prefix length ${prefix} must be between ${range.prefix} and ${range.bits}`);
  return { range, prefix };
}

export class Ipam implements IpamDriver {
  private pools = new Map<string, Pool>();
  private replayUntil = 0;
  /**
   * Pools and addresses handed out since dockerd last registered us. dockerd replays each thing
   * it holds once: a second request for one of these during the window is a user's, not a replay.
   */
  private claimed = new Set<string>();
  private readonly poolPrefix: string;
  private readonly addrPrefix: string;

  constructor(
    private readonly kv: KvStore,
    private readonly driverName: string,
    private readonly auto: { v4: AutoPoolRange; v6: AutoPoolRange },
    private readonly now: () => number = Date.now,
  ) {
    this.poolPrefix = `ocn.${driverName}.pool.`;
    this.addrPrefix = `ocn.${driverName}.addr.`;
  }

  /** Rebuilds pools and allocations from the durable records. */
  load(): void {
    this.pools.clear();
    for (const [, v] of this.kv.load(this.poolPrefix)) {
      const rec = JSON.parse(v) as PoolRecord;
      this.pools.set(rec.id, this.materialise(rec));
    }
    for (const [k, role] of this.kv.load(this.addrPrefix)) {
      const rest = k.slice(this.addrPrefix.length);
      const sep = rest.lastIndexOf('|');
      const pool = this.pools.get(rest.slice(0, sep));
      if (!pool) continue;
      const ip = ipToBigInt(rest.slice(sep + 1)).value;
      pool.taken.set(ip, role as AddressRole);
      pool.handedOut.set(ip, this.now());
    }
  }

  async getCapabilities(): Promise<IpamCapabilitiesResponse> {
    this.replayUntil = this.now() + REPLAY_WINDOW_MS;
    this.claimed.clear();
    return { RequiresMACAddress: false, RequiresRequestReplay: true };
  }

  async getDefaultAddressSpaces(): Promise<AddressSpacesResponse> {
    return { LocalDefaultAddressSpace: LOCAL_SPACE, GlobalDefaultAddressSpace: GLOBAL_SPACE };
  }

  private inReplay(): boolean {
    return this.now() < this.replayUntil;
  }

  /** Closes the replay window: the first user action after a restart ends it. */
  endReplay(): void {
    this.replayUntil = 0;
    this.claimed.clear();
  }

  /** Notes a pool id or address key handed out while the replay window is open. */
  private claim(key: string): void {
    if (this.inReplay()) this.claimed.add(key);
  }

  async requestPool(req: RequestPoolRequest): Promise<RequestPoolResponse> {
    const space = req.AddressSpace || LOCAL_SPACE;
    if (space !== LOCAL_SPACE && space !== GLOBAL_SPACE) {
      throw new InputError(`RequestPool: address space "${space}" is not one of ${LOCAL_SPACE}, ${GLOBAL_SPACE}`);
    }
    let cidr: Cidr;
    if (req.Pool) {
      cidr = parseNetwork(req.Pool, 'subnet');
      if (cidr.v6 !== req.V6) throw new InputError(`RequestPool: subnet ${req.Pool} is not an IPv${req.V6 ? 6 : 4} subnet`);
    } else {
      cidr = this.pickAutoPool(space, req.V6);
    }
    let sub: Cidr | undefined;
    if (req.SubPool) {
      sub = parseNetwork(req.SubPool, 'ip-range');
      if (sub.v6 !== cidr.v6 || sub.prefix < cidr.prefix || !contains(cidr, sub.base)) {
        throw new InputError(`RequestPool: ip-range ${req.SubPool} is not inside subnet ${formatCidr(cidr)}`);
      }
    }
    const id = `${space}/${formatCidr(cidr)}${sub ? '/' + formatCidr(sub) : ''}`;
    const existing = this.pools.get(id);
    if (existing && existing.state !== 'ready') {
      throw new ConflictError(`RequestPool: subnet ${formatCidr(cidr)} is being ${existing.state === 'committing' ? 'allocated' : 'released'} by another request`);
    }
    if (existing) {
      // Same request again: dockerd's replay after its restart, or a retry of a request whose
      // answer was lost. A pool already serving a network is only handed out again during replay.
      if (existing.rec.network && (!this.inReplay() || this.claimed.has(id))) {
        throw new ConflictError(`RequestPool: subnet ${formatCidr(cidr)} is already used by network ${existing.rec.network.slice(0, 12)}`);
      }
      this.claim(id);
      existing.since = this.now();
      return { PoolID: id, Pool: formatCidr(cidr), Data: {} };
    }
    for (const p of this.pools.values()) {
      if (p.rec.space === space && overlaps(p.cidr, cidr)) {
        const user = p.rec.network ? ` used by network ${p.rec.network.slice(0, 12)}` : '';
        throw new ConflictError(`RequestPool: subnet ${formatCidr(cidr)} overlaps with subnet ${p.rec.pool}${user}`);
      }
    }
    const rec: PoolRecord = { id, space, pool: formatCidr(cidr), v6: cidr.v6 };
    if (sub) rec.sub = formatCidr(sub);
    if (req.Options && Object.keys(req.Options).length) rec.options = req.Options;
    // Held from the decision on, so concurrent requests see it; dropped again if the commit fails.
    const held = this.materialise(rec, 'committing');
    this.pools.set(id, held);
    try {
      await this.kv.commit({ set: { [this.poolPrefix + id]: JSON.stringify(rec) } });
    } catch (err) {
      if (this.pools.get(id) === held) this.pools.delete(id);
      throw err;
    }
    held.state = 'ready';
    this.claim(id);
    return { PoolID: id, Pool: rec.pool, Data: {} };
  }

  private pickAutoPool(space: string, v6: boolean): Cidr {
    const { range, prefix } = v6 ? this.auto.v6 : this.auto.v4;
    const step = 1n << BigInt(range.bits - prefix);
    const count = size(range) / step;
    const held = [...this.pools.values()].filter((p) => p.rec.space === space && p.cidr.v6 === v6).map((p) => p.cidr);
    for (let i = 0n; i < count && i < 1_000_000n; i++) {
      const cand: Cidr = { v6, base: range.base + i * step, prefix, bits: range.bits };
      if (!held.some((h) => overlaps(h, cand))) return cand;
    }
    throw new ConflictError(`RequestPool: no free /${prefix} left in the automatic range ${formatCidr(range)}; pass --subnet or widen --default-pools${v6 ? '6' : ''}`);
  }

  private materialise(rec: PoolRecord, state: PoolState = 'ready'): Pool {
    const cidr = parseCidr(rec.pool);
    const range = hostRange(rec.sub ? parseCidr(rec.sub) : cidr);
    const whole = hostRange(cidr);
    // A sub-range may start on the subnet's network address: never hand that out on IPv4.
    if (range.first < whole.first) range.first = whole.first;
    if (range.last > whole.last) range.last = whole.last;
    return { rec, cidr, range, taken: new Map(), pending: new Map(), handedOut: new Map(), since: this.now(), cursor: range.first, state };
  }

  async releasePool(req: ReleasePoolRequest): Promise<Record<string, never>> {
    const pool = this.pools.get(req.PoolID);
    // A pool still being committed was never handed out; one being released is a repeat.
    if (!pool || pool.state !== 'ready') return {};
    // Still taken while the records go (no new pool may overlap it yet), but no new addresses.
    pool.state = 'releasing';
    await this.dropPools([pool]);
    return {};
  }

  /**
   * Pools in state 'releasing' go with their addresses' records in one commit; then, best effort,
   * their endpoint addresses' shared reservations (a failure there is collected later).
   */
  private async dropPools(pools: Pool[]): Promise<void> {
    const del = pools.flatMap((pool) => [this.poolPrefix + pool.rec.id, ...[...pool.taken.keys()].map((ip) => this.addrKey(pool, ip))]);
    try {
      await this.kv.commit({ del });
    } catch (err) {
      for (const pool of pools) pool.state = 'ready';
      throw err;
    }
    for (const pool of pools) {
      this.pools.delete(pool.rec.id);
      if (!pool.shared) continue;
      for (const [ip, role] of pool.taken) if (role !== 'gw') await pool.shared.release(bigIntToIp(ip, pool.cidr.v6)).catch(() => undefined);
    }
  }

  private addrKey(pool: Pool, ip: bigint): string {
    return `${this.addrPrefix}${pool.rec.id}|${bigIntToIp(ip, pool.cidr.v6)}`;
  }

  private pool(id: string, method: string): Pool {
    const pool = this.pools.get(id);
    if (!pool || pool.state === 'committing') throw new InputError(`${method}: unknown pool "${id}"`);
    if (pool.state === 'releasing') throw new ConflictError(`${method}: pool "${id}" is being released`);
    return pool;
  }

  async requestAddress(req: RequestAddressRequest): Promise<RequestAddressResponse> {
    const pool = this.pool(req.PoolID, 'RequestAddress');
    const opts = req.Options ?? {};
    // Docker 20.10 sends aux addresses and container --ip alike (Options null): both are 'ep'.
    const role: AddressRole = opts.RequestAddressType === GATEWAY_TYPE ? 'gw' : 'ep';
    // From here to record() nothing awaits: the choice and its mark are one step.
    if (req.Address) {
      const { value, v6 } = ipToBigInt(req.Address);
      if (v6 !== pool.cidr.v6 || !contains(pool.cidr, value)) {
        throw new InputError(`RequestAddress: ${req.Address} is outside subnet ${pool.rec.pool}`);
      }
      const holder = pool.taken.get(value);
      if (holder !== undefined) {
        const inFlight = pool.pending.get(value);
        // Every host's network asks for the same gateway: wait for the one in flight, then decide.
        if (inFlight && holder === 'gw' && role === 'gw') return this.afterSettled(inFlight, req);
        if (!inFlight) {
          if (holder === 'gw' && role === 'gw') return this.answer(pool, value);
          const key = this.addrKey(pool, value);
          if (this.inReplay() && !this.claimed.has(key)) {
            this.claim(key);
            return this.answer(pool, value);
          }
        }
        throw new ConflictError(`RequestAddress: ${req.Address} is already in use in ${pool.rec.pool}${holder === 'gw' ? ' (the gateway)' : ''}`);
      }
      return this.record(pool, value, role, !!pool.shared);
    }
    if (role === 'gw') {
      const first = pool.range.first;
      const holder = pool.taken.get(first);
      const inFlight = pool.pending.get(first);
      if (holder === 'gw' && inFlight) return this.afterSettled(inFlight, req);
      if (holder === 'gw') return this.answer(pool, first);
      return this.record(pool, holder === undefined ? first : this.nextFree(pool), role, false);
    }
    if (!pool.shared) return this.record(pool, this.nextFree(pool), role, false);
    // Another host may hold the address we pick: reserving it in the shared book decides.
    for (let attempt = 0; attempt < 64; attempt++) {
      try {
        return await this.record(pool, this.nextSharedFree(pool), role, true);
      } catch (err) {
        if (!(err instanceof HeldElsewhere)) throw err;
      }
    }
    throw new ConflictError(`RequestAddress: could not reserve an address in ${pool.rec.pool} (too much contention between hosts)`);
  }

  private async afterSettled(inFlight: Promise<void>, req: RequestAddressRequest): Promise<RequestAddressResponse> {
    await inFlight.catch(() => undefined);
    return this.requestAddress(req);
  }

  /**
   * Marks the address taken before anything is awaited, so a concurrent request sees it; then
   * reserves it in the shared book (when asked) and writes its record. Any failure unmarks it.
   */
  private async record(pool: Pool, ip: bigint, role: AddressRole, reserveShared: boolean): Promise<RequestAddressResponse> {
    const key = this.addrKey(pool, ip);
    const text = bigIntToIp(ip, pool.cidr.v6);
    pool.taken.set(ip, role);
    this.claim(key);
    const write = (async () => {
      if (reserveShared && !(await pool.shared!.reserve(text, role, this.driverName))) {
        throw new HeldElsewhere(`RequestAddress: ${text} is already in use in ${pool.rec.pool} on another host`);
      }
      try {
        await this.kv.commit({ set: { [key]: role } });
      } catch (err) {
        if (reserveShared && role !== 'gw') await pool.shared!.release(text).catch(() => undefined);
        throw err;
      }
    })();
    pool.pending.set(ip, write);
    try {
      await write;
    } catch (err) {
      this.forget(pool, ip);
      this.claimed.delete(key);
      throw err;
    } finally {
      pool.pending.delete(ip);
    }
    return this.answer(pool, ip);
  }

  /** A free address that the shared book, as last seen, does not list either. */
  private nextSharedFree(pool: Pool): bigint {
    const skip = new Map(pool.taken);
    for (const a of pool.shared!.taken()) skip.set(ipToBigInt(a).value, 'ep');
    const cand = this.nextFree({ ...pool, taken: skip });
    pool.cursor = cand + 1n > pool.range.last ? pool.range.first : cand + 1n;
    return cand;
  }

  private answer(pool: Pool, ip: bigint): RequestAddressResponse {
    pool.handedOut.set(ip, this.now());
    return { Address: `${bigIntToIp(ip, pool.cidr.v6)}/${pool.cidr.prefix}`, Data: {} };
  }

  /** Round-robin from the last allocation so a released address is not reused at once. */
  private nextFree(pool: Pool): bigint {
    const { first, last } = pool.range;
    const total = last - first + 1n;
    let cand = pool.cursor < first || pool.cursor > last ? first : pool.cursor;
    for (let i = 0n; i < total; i++) {
      if (!pool.taken.has(cand)) {
        pool.cursor = cand === last ? first : cand + 1n;
        return cand;
      }
      cand = cand === last ? first : cand + 1n;
    }
    throw new ConflictError(`RequestAddress: no free address left in ${pool.rec.sub ?? pool.rec.pool} (${pool.taken.size} in use)`);
  }

  async releaseAddress(req: ReleaseAddressRequest): Promise<Record<string, never>> {
    const pool = this.pools.get(req.PoolID);
    if (!pool || pool.state !== 'ready') return {};
    let ip: bigint;
    try {
      ip = ipToBigInt(req.Address.split('/')[0]).value;
    } catch {
      return {};
    }
    const role = pool.taken.get(ip);
    // An address in flight was never handed out (or is being released already): nothing to do.
    if (role === undefined || pool.pending.has(ip)) return {};
    // It stays taken until its record is gone: a concurrent request cannot get it half-released.
    const drop = (async () => {
      await this.kv.commit({ del: [this.addrKey(pool, ip)] });
      if (pool.shared && role !== 'gw') await pool.shared.release(bigIntToIp(ip, pool.cidr.v6));
    })();
    pool.pending.set(ip, drop);
    try {
      await drop;
      this.forget(pool, ip);
    } finally {
      pool.pending.delete(ip);
    }
    return {};
  }

  private forget(pool: Pool, ip: bigint): void {
    pool.taken.delete(ip);
    pool.handedOut.delete(ip);
  }

  /**
   * Called by the network driver: which Docker network uses this subnet in our address space,
   * and, for a network spanning hosts, the shared book its addresses must also be reserved in
   * (the gateway and any address allocated before the binding are reserved there now).
   */
  async bindNetwork(space: string, poolCidr: string, networkId: string, shared?: SharedAddresses): Promise<void> {
    for (const p of this.pools.values()) {
      if (p.rec.space !== space || p.rec.pool !== poolCidr || p.state !== 'ready') continue;
      if (p.rec.network !== networkId) {
        const before = p.rec.network;
        p.rec.network = networkId;
        try {
          await this.kv.commit({ set: { [this.poolPrefix + p.rec.id]: JSON.stringify(p.rec) } });
        } catch (err) {
          p.rec.network = before;
          throw err;
        }
      }
      p.since = this.now();
      if (shared) {
        // Addresses held now are reserved here; any taken from now on reserves itself (record()).
        const held = [...p.taken];
        p.shared = shared;
        for (const [ip, role] of held) {
          const text = bigIntToIp(ip, p.cidr.v6);
          if (!(await shared.reserve(text, role, this.driverName))) throw new ConflictError(`address ${text} of subnet ${poolCidr} is already in use on another host`);
        }
      }
    }
  }

  /**
   * Releases what nobody released: dockerd's ReleaseAddress and ReleasePool fail while the plugin
   * is down (a `docker rm -f` then, or a reply lost), and dockerd never sends them again. An
   * address is judged only in a pool bound to one of the driver's networks (our IPAM may serve
   * other drivers, whose use we cannot see); it goes when it is no gateway, not in flight, handed
   * out more than `graceMs` ago (RequestAddress comes before CreateEndpoint) and `users` does not
   * account for it. A pool goes when its network is gone from the driver. Nothing is judged while
   * dockerd may be replaying what it holds. Then (replay or not) this host's shared reservations
   * that no address of ours accounts for are dropped (a reply lost to a reservation, a release
   * that failed).
   */
  async collectUnused(users: AddressUsers, graceMs: number): Promise<CollectReport> {
    const report: CollectReport = { addresses: [], pools: [], reservations: [] };
    if (this.inReplay()) return { ...report, skipped: 'dockerd may still be replaying the addresses it holds', reservations: await this.collectShared() };
    const now = this.now();
    const old = (t: number | undefined): boolean => t === undefined || now - t >= graceMs;
    // Decided and marked in one synchronous step: no request can slip in between.
    const orphans: Pool[] = [];
    const unused: { pool: Pool; ip: bigint; role: AddressRole }[] = [];
    for (const pool of this.pools.values()) {
      const net = pool.rec.network;
      if (!net || pool.state !== 'ready') continue;
      if (!users.hasNetwork(net)) {
        if (!pool.pending.size && old(pool.since)) orphans.push(pool);
        continue;
      }
      for (const [ip, role] of pool.taken) {
        if (role === 'gw' || pool.pending.has(ip) || !old(pool.handedOut.get(ip))) continue;
        if (!users.uses(net, bigIntToIp(ip, pool.cidr.v6))) unused.push({ pool, ip, role });
      }
    }
    for (const pool of orphans) pool.state = 'releasing';
    let done!: () => void;
    const drop = new Promise<void>((resolve) => (done = resolve));
    for (const { pool, ip } of unused) pool.pending.set(ip, drop);
    try {
      if (unused.length) {
        await this.kv.commit({ del: unused.map(({ pool, ip }) => this.addrKey(pool, ip)) });
        // Still taken while its reservation goes, so no request reserves it anew meanwhile.
        for (const { pool, ip, role } of unused) {
          if (pool.shared && role !== 'gw') await pool.shared.release(bigIntToIp(ip, pool.cidr.v6)).catch(() => undefined);
          this.forget(pool, ip);
          report.addresses.push(`${pool.rec.id} ${bigIntToIp(ip, pool.cidr.v6)}`);
        }
      }
    } catch (err) {
      for (const pool of orphans) pool.state = 'ready';
      throw err;
    } finally {
      for (const { pool, ip } of unused) if (pool.pending.get(ip) === drop) pool.pending.delete(ip);
      done();
    }
    if (orphans.length) {
      await this.dropPools(orphans);
      report.pools.push(...orphans.map((p) => p.rec.id));
    }
    report.reservations = await this.collectShared();
    return report;
  }

  /** This host's reservations in each shared book that none of our addresses (in flight or not) accounts for. */
  private async collectShared(): Promise<string[]> {
    const books = new Map<string, SharedAddresses>();
    for (const pool of this.pools.values()) if (pool.shared) books.set(pool.shared.name, pool.shared);
    const dropped: string[] = [];
    for (const [name, book] of books) {
      // Taken just before the book decides (it reads its cache before any await): an address
      // marked taken later reserves with a fresh value, which this pass cannot drop.
      const held = new Set<string>();
      for (const pool of this.pools.values()) {
        if (pool.shared?.name === name) for (const ip of pool.taken.keys()) held.add(bigIntToIp(ip, pool.cidr.v6));
      }
      for (const ip of await book.dropUnheld(held, this.driverName)) dropped.push(`${name} ${ip}`);
    }
    return dropped;
  }

  /** After a restart: the pools of networks spanning hosts get their shared book back. */
  attachShared(networkId: string, shared: SharedAddresses): void {
    for (const p of this.pools.values()) if (p.rec.network === networkId) p.shared = shared;
  }

  /** For the control API and tests. */
  snapshot(): { id: string; pool: string; sub?: string; network?: string; used: number }[] {
    return [...this.pools.values()].map((p) => ({ id: p.rec.id, pool: p.rec.pool, sub: p.rec.sub, network: p.rec.network, used: p.taken.size }));
  }

  isOurSpace(space: string): boolean {
    return space === LOCAL_SPACE || space === GLOBAL_SPACE;
  }
}
