// Cluster-wide address reservations on a logical switch, so hosts attaching at the same moment
// never hand out one address twice. Each reservation is a key `ocn-ip-<address>` in the switch's
// external_ids; "insert" never overwrites a key, and the select in the same transaction tells
// whether our value is the one that landed. Transactions are serialised by ovsdb-server, so
// exactly one contender wins, with no retry loop for the winner.
import * as crypto from 'node:crypto';
import type { Db } from '../ovs/db';
import { ADDR_PREFIX } from '../model/owner-ids';
import { byUuid, map } from '../ovs/wire';
import { findSwitch, LS } from './logical-switch';

export { ADDR_PREFIX };

export class AddressBook {
  constructor(private readonly nb: Db, readonly switchName: string, private readonly host: string) {}

  /** Addresses reserved by anyone, as the local cache last saw them. */
  taken(): Set<string> {
    const ls = findSwitch(this.nb, this.switchName);
    const out = new Set<string>();
    if (ls) for (const k of Object.keys(ls.external_ids)) if (k.startsWith(ADDR_PREFIX)) out.add(k.slice(ADDR_PREFIX.length));
    return out;
  }

  /** True when the address is now ours; false when another holder has it. */
  async reserve(ip: string, role: string): Promise<boolean> {
    const ls = findSwitch(this.nb, this.switchName);
    if (!ls) throw new Error(`logical switch ${this.switchName} no longer exists`);
    const key = ADDR_PREFIX + ip;
    const held = ls.external_ids[key];
    // A gateway is the router port: every host's network reserves the same one.
    if (held !== undefined && role === 'gw' && held.startsWith('gw/')) return true;
    const value = `${role === 'gw' ? 'gw' : 'ep'}/${this.host}/${crypto.randomBytes(4).toString('hex')}`;
    const res = await this.nb.transact([
      { op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [['external_ids', 'insert', map({ [key]: value })]] },
      { op: 'select', table: LS, where: [...byUuid(ls._uuid), ['external_ids', 'includes', map({ [key]: value })]], columns: ['name'] },
    ]);
    const won = (res[1]?.rows?.length ?? 0) === 1;
    if (!won && role === 'gw') {
      const now = (findSwitch(this.nb, this.switchName) ?? ls).external_ids[key];
      return !!now && now.startsWith('gw/');
    }
    return won;
  }

  async release(ip: string): Promise<void> {
    const ls = findSwitch(this.nb, this.switchName);
    if (!ls) return;
    const key = ADDR_PREFIX + ip;
    const value = ls.external_ids[key];
    if (value === undefined || value.startsWith('gw/') || value.split('/')[1] !== this.host) return;
    await this.nb.transact([{ op: 'mutate', table: LS, where: byUuid(ls._uuid), mutations: [['external_ids', 'delete', map({ [key]: value })]] }]);
  }
}
