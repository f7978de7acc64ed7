// KvStore on the Open_vSwitch row's external_ids (keys "ocn.<driver>.<kind>.<id>").
import type { KvChange, KvStore } from '../state/kv';
import type { Operation } from '../ovsdb/types';
import { Db, externalIds } from './db';
import { kvOps, ROOT_TABLE } from './open-vswitch';

export class OvsKvStore implements KvStore {
  constructor(private readonly db: Db) {}

  load(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const row of this.db.rows(ROOT_TABLE)) {
      for (const [k, v] of Object.entries(externalIds(row))) if (k.startsWith(prefix)) out.set(k, v);
    }
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
