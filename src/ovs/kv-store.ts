// KvStore on the Open_vSwitch row's external_ids (keys "ocn.<driver>.<kind>.<id>"). Records are
// loaded once at start-up (from a select: the daemon does not monitor that map) and written
// with map mutations inside the callers' transactions.
import type { KvChange, KvStore } from '../state/kv';
import type { Operation } from '../ovsdb/types';
import type { Db } from './db';
import { kvOps, RootExternalIds } from './open-vswitch';

export class OvsKvStore implements KvStore {
  constructor(private readonly db: Db, private readonly root: RootExternalIds) {}

  /** From the root row as last read (RootExternalIds.refresh() before loading). */
  load(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(this.root.snapshot)) if (k.startsWith(prefix)) out.set(k, v);
    return out;
  }

  ops(change: KvChange): Operation[] {
    return kvOps(change.set, change.del);
  }

  async commit(change: KvChange, extra: Operation[] = []): Promise<void> {
    const ops = [...this.ops(change), ...extra];
    if (ops.length) await this.db.transact(ops);
  }
}
