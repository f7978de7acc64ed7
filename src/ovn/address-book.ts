// Cluster-wide address reservations on a logical switch, so hosts attaching at the same moment
// never hand out one address twice. Each reservation is a key `ocn-ip-<address>` in the switch's
// external_ids; "insert" never overwrites a key, and the select in the same transaction tells
// whether our value is the one that landed. Transactions are serialised by ovsdb-server, so
// exactly one contender wins, with no retry loop for the winner.
//
// A value is `<role>/<host>/<nonce>/<owner>` (owner: the IPAM's driver name; values written
// before owners existed have none). The IPAM is the only owner of its reservations on its host:
// one of them that the IPAM does not hold is nobody's (a reply lost, a release that failed) and
// is dropped or taken over, never another host's or another IPAM's.
import * as crypto from 'node:crypto';
import type { Db } from '../ovs/db';
import { ADDR_PREFIX } from '../model/owner-ids';
import { byUuid, map } from '../ovs/wire';
import type { Operation } from '../ovsdb/types';
import { findSwitch, LS } from './logical-switch';
import { OvsdbOutcomeUnknownError } from '../ovsdb/errors';

export { ADDR_PREFIX };

export interface Reservation {
  role: string;
  host: string;
  owner?: string;
}

export function parseReservation(value: string): Reservation {
  const [role, host, , owner] = value.split('/');
  return { role, host, owner };
}

export class AddressBook {
  constructor(private readonly nb: Db, readonly switchName: string, private readonly host: string) {}

  get name(): string {
    return this.switchName;
  }

  /** Addresses reserved by anyone, as the local cache last saw them. */
  taken(): Set<string> {
    const ls = findSwitch(this.nb, this.switchName);
    const out = new Set<string>();
    if (ls) for (const k of Object.keys(ls.external_ids)) if (k.startsWith(ADDR_PREFIX)) out.add(k.slice(ADDR_PREFIX.length));
    return out;
  }

  /**
   * The switch from the cache. A miss is asked of NB before it counts: a daemon started while NB
   * was unreachable has an empty cache, and "no such switch" would then hide "NB is down" (the
   * round trip fails naming NB instead).
   */
  private async currentSwitch(): Promise<ReturnType<typeof findSwitch>> {
    const cached = findSwitch(this.nb, this.switchName);
    if (cached) return cached;
    await this.nb.transact([{ op: 'select', table: LS, where: [['name', '==', this.switchName]], columns: ['name'] }]);
    return findSwitch(this.nb, this.switchName);
  }

  /** An endpoint reservation this host's `owner` made: the caller (who does not hold it) may take it over. */
  private ours(value: string | undefined, owner: string | undefined): value is string {
    if (value === undefined || owner === undefined) return false;
    const r = parseReservation(value);
    return r.role === 'ep' && r.host === this.host && r.owner === owner;
  }

  /**
   * True when the address is now ours; false when another holder has it. The caller must not
   * hold the address already: a reservation of its own found there is a leftover, taken over.
   */
  async reserve(ip: string, role: string, owner?: string): Promise<boolean> {
    const ls = await this.currentSwitch();
    if (!ls) throw new Error(`logical switch ${this.switchName} no longer exists`);
    const key = ADDR_PREFIX + ip;
    const held = ls.external_ids[key];
    // A gateway is the router port: every host's network reserves the same one.
    if (held !== undefined && role === 'gw' && held.startsWith('gw/')) return true;
    const value = `${role === 'gw' ? 'gw' : 'ep'}/${this.host}/${crypto.randomBytes(4).toString('hex')}${owner ? `/${owner}` : ''}`;
    const ops: Operation[] = [];
    if (role !== 'gw' && this.ours(held, owner)) ops.push(this.deleteOp(ls._uuid, { [key]: held }));
    ops.push(
      { op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [['external_ids', 'insert', map({ [key]: value })]] },
      { op: 'select', table: LS, where: [...byUuid(ls._uuid), ['external_ids', 'includes', map({ [key]: value })]], columns: ['name'] },
    );
    let won: boolean;
    try {
      won = ((await this.nb.transact(ops)).at(-1)?.rows?.length ?? 0) === 1;
    } catch (err) {
      if (!(err instanceof OvsdbOutcomeUnknownError) || role === 'gw') throw err;
      return this.afterUnknownOutcome(ls._uuid, key, value, err);
    }
    if (!won && role === 'gw') {
      const now = (findSwitch(this.nb, this.switchName) ?? ls).external_ids[key];
      return !!now && now.startsWith('gw/');
    }
    return won;
  }

  /**
   * The reservation may or may not have landed. The client reports a lost reply once the next
   * member's snapshot is in the cache: if it shows our value, the address is ours. Otherwise
   * the failure stands and our exact value is deleted behind the answer (a no-op if it never
   * landed; the request must not wait on NB twice); if that fails too, dropUnheld collects it.
   */
  private afterUnknownOutcome(uuid: string, key: string, value: string, err: unknown): boolean {
    const ls = findSwitch(this.nb, this.switchName);
    if (ls && ls.external_ids[key] === value) return true;
    void this.nb.transact([this.deleteOp(uuid, { [key]: value })]).catch(() => undefined);
    throw err;
  }

  private deleteOp(uuid: string, pairs: Record<string, string>): Operation {
    return { op: 'mutate', table: LS, where: byUuid(uuid), mutations: [['external_ids', 'delete', map(pairs)]] };
  }

  async release(ip: string): Promise<void> {
    const ls = await this.currentSwitch();
    if (!ls) return;
    const key = ADDR_PREFIX + ip;
    const value = ls.external_ids[key];
    if (value === undefined || value.startsWith('gw/') || parseReservation(value).host !== this.host) return;
    await this.nb.transact([this.deleteOp(ls._uuid, { [key]: value })]);
  }

  /**
   * Drops the endpoint reservations `owner` made on this host that `held` does not list (exact
   * key and value, so a reservation made meanwhile stays). Decided on the cache before any await.
   */
  async dropUnheld(held: ReadonlySet<string>, owner: string): Promise<string[]> {
    const ls = findSwitch(this.nb, this.switchName);
    if (!ls) return [];
    const stale: Record<string, string> = {};
    for (const [k, v] of Object.entries(ls.external_ids)) {
      if (k.startsWith(ADDR_PREFIX) && this.ours(v, owner) && !held.has(k.slice(ADDR_PREFIX.length))) stale[k] = v;
    }
    const keys = Object.keys(stale);
    if (!keys.length) return [];
    await this.nb.transact([this.deleteOp(ls._uuid, stale)]);
    return keys.map((k) => k.slice(ADDR_PREFIX.length));
  }
}
