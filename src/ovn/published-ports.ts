// Published ports of OVN networks: VIPs `<external ip>:<port>` -> `<container ip>:<port>` on the
// router's load balancer, one per protocol. A VIP is a cluster-wide reservation: the map
// "insert" mutation never overwrites a key, and a `wait` in the same transaction aborts it unless
// every VIP we add now maps to our backend; so of two hosts publishing one port at the same
// moment exactly one wins, and the other plans again and sees the winner. Who holds a VIP is
// kept beside it (external_ids `ocn-vip-<vip>` = host) to tell the loser. Removal names key AND
// value, so nobody removes a VIP they do not hold.
import type { Operation, Row } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { byUuid, deleteRefs, insertRefs, map, named, uuid } from '../ovs/wire';
import { ConflictError } from '../util/errors';
import { lbName } from './gateway';
import { LR } from './logical-router';
import { type NbRow, nbByName, nbOwned, owner } from './nb';
import { absentOp, presentOp } from './txn';
import { vipHolderKey } from '../model/owner-ids';

const LB = 'Load_Balancer';
export const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
/** VIP (`ip:port`) -> backend (`ip:port`). */
export type Vips = Record<string, string>;

export { vipHolderKey };


/** Refuses a VIP that maps elsewhere (unless we are replacing our own), or is another host's. */
function refuseTaken(lb: NbRow<'Load_Balancer'>, proto: Protocol, add: Vips, del: Vips, host: string): void {
  const have = lb.vips;
  const ids = lb.external_ids;
  for (const [vip, backend] of Object.entries(add)) {
    const now = have[vip];
    const holder = ids[vipHolderKey(vip)];
    if (now === undefined || ((now === backend || now === del[vip]) && (holder === undefined || holder === host))) continue;
    const port = vip.slice(vip.lastIndexOf(':') + 1);
    throw new ConflictError(`published port ${port}/${proto}: port is already allocated: ${vip} is published to ${now}${holder ? ` by host ${holder}` : ''}`);
  }
}

/**
 * The ops that replace `del` with `add` on the router's load balancer for `proto` (created with
 * the first VIP). Throws ConflictError when the cache shows a VIP of `add` held by someone else.
 */
export function planVips(nb: Db, lr: Row, router: string, proto: Protocol, add: Vips, del: Vips, host: string): Operation[] {
  const name = lbName(router, proto);
  const lb = nbByName(nb, LB, name);
  const holders = Object.fromEntries(Object.keys(add).map((vip) => [vipHolderKey(vip), host]));
  if (!lb) {
    if (!Object.keys(add).length) return [];
    const ref = `newlb_${proto}`;
    return [
      absentOp(LB, [['name', '==', name]]),
      { op: 'insert', table: LB, 'uuid-name': ref, row: { name, protocol: proto, vips: map(add), external_ids: map({ ...owner('nat'), ...holders }) } },
      ...presentOp(LR, lr),
      { op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [insertRefs('load_balancer', named(ref))] },
    ];
  }
  refuseTaken(lb, proto, add, del, host);
  const left = Object.entries(lb.vips).filter(([vip, backend]) => del[vip] !== backend || vip in add);
  if (Object.keys(del).length && !left.length && !Object.keys(add).length && nbOwned(lb)) return deleteEmptiedOps(lb, lr);
  const gone = Object.keys(del).filter((vip) => !(vip in add));
  const mutations: Extract<Operation, { op: 'mutate' }>['mutations'] = [];
  if (Object.keys(del).length) mutations.push(['vips', 'delete', map(del)]);
  if (gone.length) mutations.push(['external_ids', 'delete', map(Object.fromEntries(gone.map((vip) => [vipHolderKey(vip), host])))]);
  if (Object.keys(add).length) mutations.push(['vips', 'insert', map(add)], ['external_ids', 'insert', map(holders)]);
  if (!mutations.length) return [];
  const ops: Operation[] = [{ op: 'mutate', table: LB, where: byUuid(lb._uuid), mutations }];
  // Our inserts were no-ops for keys another host took since the cache saw the row: abort then.
  if (Object.keys(add).length) {
    ops.push({ op: 'wait', table: LB, where: [...byUuid(lb._uuid), ['vips', 'includes', map(add)], ['external_ids', 'includes', map(holders)]], columns: ['_uuid'], until: '!=', rows: [], timeout: 0 });
  }
  return ops;
}

/**
 * Removes a load balancer whose last VIPs we unpublish (so publishing and unpublishing leaves the
 * NB as it was), unless someone changed its VIPs since the cache saw them.
 */
function deleteEmptiedOps(lb: NbRow<'Load_Balancer'>, lr: Row): Operation[] {
  return [
    { op: 'wait', table: LB, where: byUuid(lb._uuid), columns: ['vips'], until: '==', rows: [{ vips: map(lb.vips) }], timeout: 0 },
    { op: 'mutate', table: LR, where: byUuid(lr._uuid), mutations: [deleteRefs('load_balancer', uuid(lb._uuid))] },
    { op: 'delete', table: LB, where: byUuid(lb._uuid) },
  ];
}
