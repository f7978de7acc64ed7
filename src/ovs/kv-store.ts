// KvStore on the Open_vSwitch row's external_ids (keys "ocn.<driver>.<kind>.<id>").
import type { KvChange, KvStore } from '../state/kv';
import type { Operation } from '../ovsdb/types';
import type { Db } from './db';
import { kvOps, rootExternalIds } from './open-vswitch';

export class OvsKvStore implements KvStore {
  constructor(private readonly db: Db) {}

  load(prefix: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const [k, v] of Object.entries(rootExternalIds(this.db))) if (k.startsWith(prefix)) out.set(k, v);
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
