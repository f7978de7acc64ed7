// Cluster-wide address reservations on a logical switch, so hosts attaching at the same moment
// never hand out one address twice. Each reservation is a key `ocn-ip-<address>` in the switch's
// external_ids; "insert" never overwrites a key, and the select in the same transaction tells
// whether our value is the one that landed. Transactions are serialised by ovsdb-server, so
// exactly one contender wins, with no retry loop for the winner.
import * as crypto from 'node:crypto';
import type { Db } from '../ovs/db';
import { externalIds } from '../ovs/db';
import { byUuid, map } from '../ovs/wire';
import { findSwitch, LS } from './logical-switch';

export const ADDR_PREFIX = 'ocn-ip-';

export class AddressBook {
  constructor(private readonly nb: Db, readonly switchName: string, private readonly host: string) {}

  /** Addresses reserved by anyone, as the local cache last saw them. */
  taken(): Set<string> {
    const ls = findSwitch(this.nb, this.switchName);
    const out = new Set<string>();
    if (ls) for (const k of Object.keys(externalIds(ls))) if (k.startsWith(ADDR_PREFIX)) out.add(k.slice(ADDR_PREFIX.length));
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

  /** True when the address is now ours; false when another holder has it. */
  async reserve(ip: string, role: string): Promise<boolean> {
    const ls = await this.currentSwitch();
    if (!ls) throw new Error(`logical switch ${this.switchName} no longer exists`);
    const key = ADDR_PREFIX + ip;
    const held = externalIds(ls)[key];
    // A gateway is the router port: every host's network reserves the same one.
    if (held !== undefined && role === 'gw' && held.startsWith('gw/')) return true;
    const value = `${role === 'gw' ? 'gw' : 'ep'}/${this.host}/${crypto.randomBytes(4).toString('hex')}`;
    const res = await this.nb.transact([
      { op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [['external_ids', 'insert', map({ [key]: value })]] },
      { op: 'select', table: LS, where: [...byUuid(ls._uuid), ['external_ids', 'includes', map({ [key]: value })]], columns: ['name'] },
    ]);
    const won = (res[1]?.rows?.length ?? 0) === 1;
    if (!won && role === 'gw') {
      const now = externalIds(findSwitch(this.nb, this.switchName) ?? ls)[key];
      return !!now && now.startsWith('gw/');
    }
    return won;
  }

  async release(ip: string): Promise<void> {
    const ls = await this.currentSwitch();
    if (!ls) return;
    const key = ADDR_PREFIX + ip;
    const value = externalIds(ls)[key];
    if (value === undefined || value.startsWith('gw/') || value.split('/')[1] !== this.host) return;
    await this.nb.transact([{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [['external_ids', 'delete', map({ [key]: value })]] }]);
  }
}
