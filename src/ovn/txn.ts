// Composing one NB transaction out of per-table steps, planned on the local cache. Rows inserted
// earlier in the same transaction are referred to by named uuid; `wait` preconditions make the
// whole transaction abort when another host changed what the plan relied on (a row it creates
// appeared, a row it mutates vanished), and commitPlan then plans again on the newer cache.
import type { Condition, NamedUuidAtom, Operation, Row } from '../ovsdb/types';
import { OvsdbConnectionError, OvsdbError } from '../ovsdb/errors';
import type { Db } from '../ovs/db';
import { byUuid } from '../ovs/wire';

/** A row the cache has, or one inserted earlier in the same transaction. */
export type RowRef = Row | NamedUuidAtom;

export function whereRef(ref: RowRef): Condition[] {
  return Array.isArray(ref) ? [['_uuid', '==', ref]] : byUuid(ref._uuid);
}

/** Aborts the transaction if a row matching `where` exists (someone created it meanwhile). */
export function absentOp(table: string, where: Condition[]): Operation {
  return { op: 'wait', table, where, columns: ['_uuid'], until: '==', rows: [], timeout: 0 };
}

/** Aborts the transaction if the row is gone (a mutate of a deleted row silently does nothing). */
export function presentOp(table: string, ref: RowRef): Operation[] {
  return Array.isArray(ref) ? [] : [{ op: 'wait', table, where: byUuid(ref._uuid), columns: ['_uuid'], until: '!=', rows: [], timeout: 0 }];
}

/** The server aborted the transaction because another host got there first: plan again. */
export function lostRace(err: unknown): boolean {
  return err instanceof OvsdbError && (err.error === 'timed out' || err.error === 'constraint violation');
}

/**
 * Not a refusal by the server: the transaction may or may not have committed (the connection
 * dropped before the reply, or the reply never came), so its effect must be undone by what it
 * would have created, not assumed absent.
 */
export function outcomeUnknown(err: unknown): boolean {
  return err instanceof OvsdbConnectionError;
}

/**
 * Commits what `plan` returns, planning again (on the cache that has meanwhile seen the other
 * host's change) when a precondition failed. `plan` may throw to refuse, e.g. on a conflict it
 * sees in the newer cache. Bounded: a plan that loses five races in a row gives up.
 */
export async function commitPlan(nb: Db, plan: () => Operation[], attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    const ops = plan();
    if (!ops.length) return;
    try {
      await nb.transact(ops);
      return;
    } catch (err) {
      if (!lostRace(err) || i >= attempts) throw err;
    }
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 30 * i));
  }
}
