// QoS rows of an endpoint's logical switch port: one from-lport row (bandwidth: what the
// container sends; DSCP mark) and one to-lport row (bandwidth: what it receives). ovn-northd
// turns bandwidth into set_meter() and ovn-controller into an OpenFlow meter per row on the
// port's chassis; both directions measured to limit TCP on the userspace datapath (50 Mbit/s:
// 49.2 from-lport, 52.4 to-lport). Ops are planned on the NB cache (commitPlan), can join the
// transaction that creates the port (`ls` a named uuid), and touch only rows of ours.
import type { Operation, WireValue } from '../ovsdb/types';
import type { Db } from '../ovs/db';
import { map, set, uuid } from '../ovs/wire';
import { includes } from '../ovsdb/ops';
import { type NbRow, nbOwnedRows, owner } from './nb';
import { type RowRef, whereRef } from './txn';
import { LS } from './logical-switch';
import { type QosSpec, burstKbit, effectiveQos, kbps } from '../qos/model';

export const QOS = 'QoS';
/** QoS rows: the logical switch port they were made for. */
export const QOS_LSP_KEY = 'ocn-lsp';
/** One priority for all: each row's match names one port, so rows of ours never overlap. */
export const QOS_PRIORITY = 2000;

/** A QoS row as we want it. */
export interface QosRowSpec {
  direction: 'from-lport' | 'to-lport';
  match: string;
  action: Record<string, number>;
  bandwidth: Record<string, number>;
}

/** The rows a port with `spec` needs (none for an empty spec). */
export function qosRowSpecs(lsp: string, spec: QosSpec): QosRowSpec[] {
  const e = effectiveQos(spec);
  const port = JSON.stringify(lsp);
  const out: QosRowSpec[] = [];
  const bandwidth = (mbit: number | undefined): Record<string, number> => (mbit ? { rate: kbps(mbit), burst: burstKbit(e, mbit) } : {});
  if (e.maxRate || e.dscp !== undefined) out.push({ direction: 'from-lport', match: `inport == ${port}`, action: e.dscp !== undefined ? { dscp: e.dscp } : {}, bandwidth: bandwidth(e.maxRate) });
  if (e.maxRateIn) out.push({ direction: 'to-lport', match: `outport == ${port}`, action: {}, bandwidth: bandwidth(e.maxRateIn) });
  return out;
}

/** Our QoS rows of the port, from the cache. */
export function lspQosRows(nb: Db, lsp: string): NbRow<'QoS'>[] {
  return nbOwnedRows(nb, QOS, 'qos').filter((r) => r.external_ids[QOS_LSP_KEY] === lsp);
}

const sameMap = (a: Record<string, number>, b: Record<string, number>) => Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
const sameRow = (r: NbRow<'QoS'>, s: QosRowSpec) => r.direction === s.direction && r.match === s.match && r.priority === QOS_PRIORITY && sameMap(r.action, s.action) && sameMap(r.bandwidth, s.bandwidth);

/** Detaches rows from whichever switch holds them (QoS rows are not root: that deletes them). */
export function detachQosOps(rows: readonly { _uuid: string }[]): Operation[] {
  return rows.map((r) => ({ op: 'mutate', table: LS, where: [includes('qos_rules', set(uuid(r._uuid)))], mutations: [['qos_rules', 'delete', set(uuid(r._uuid))]] }));
}

/**
 * Makes the port's QoS rows on switch `ls` those of `spec`: rows that differ out, missing ones in;
 * [] when the NB has them already. `ref` prefixes the named uuids (several ports in one transaction).
 */
export function setLspQosOps(nb: Db, ls: RowRef, lsp: string, spec: QosSpec, ref = 'qos'): Operation[] {
  const want = qosRowSpecs(lsp, spec);
  const have = lspQosRows(nb, lsp);
  const stale = have.filter((r) => !want.some((s) => sameRow(r, s)));
  const missing = want.filter((s) => !have.some((r) => sameRow(r, s)));
  const ops = detachQosOps(stale);
  missing.forEach((s, i) => {
    const row: Record<string, WireValue> = {
      direction: s.direction,
      priority: QOS_PRIORITY,
      match: s.match,
      action: map(s.action),
      bandwidth: map(s.bandwidth),
      external_ids: map(owner('qos', { [QOS_LSP_KEY]: lsp })),
    };
    ops.push({ op: 'insert', table: QOS, 'uuid-name': `${ref}${i}`, row });
    ops.push({ op: 'mutate', table: LS, where: whereRef(ls), mutations: [['qos_rules', 'insert', set(['named-uuid', `${ref}${i}`])]] });
  });
  return ops;
}

/** Removes the port's QoS rows (with the port, or when its spec becomes empty). */
export function clearLspQosOps(nb: Db, lsp: string): Operation[] {
  return detachQosOps(lspQosRows(nb, lsp));
}

/** Rows of ours whose port is gone (a host died between deleting its port and its rows): for GC. */
export function orphanQosRows(nb: Db, lspExists: (name: string) => boolean): NbRow<'QoS'>[] {
  return nbOwnedRows(nb, QOS, 'qos').filter((r) => !lspExists(r.external_ids[QOS_LSP_KEY] ?? ''));
}

