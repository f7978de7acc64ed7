// The plugin's durable key/value records. They live in external_ids of the Open_vSwitch row
// (see ovs/kv-store.ts), so OVSDB is the single system of record: no state file can disagree
// with the switch, and a record can be written in the same transaction as the ports it describes.
import type { Operation } from '../ovsdb/types';

export interface KvChange {
  set?: Record<string, string>;
  del?: string[];
}

export interface KvStore {
  /** Records whose key starts with prefix, as loaded at start (callers keep their own view). */
  load(prefix: string): Map<string, string>;
  /** Atomically applies the change together with extra operations (one OVSDB transaction). */
  commit(change: KvChange, extra?: Operation[]): Promise<void>;
  /** The operations that would apply the change, for callers composing a bigger transaction. */
  ops(change: KvChange): Operation[];
}

/** A store kept in memory: for unit tests of pure logic. */
export class MemoryKvStore implements KvStore {
  readonly data = new Map<string, string>();
  commits = 0;
  failNext = false;
  load(prefix: string): Map<string, string> {
    return new Map([...this.data].filter(([k]) => k.startsWith(prefix)));
  }
  ops(): Operation[] {
    return [];
  }
  async commit(change: KvChange): Promise<void> {
    if (this.failNext) { this.failNext = false; throw new Error('injected commit failure'); }
    this.commits++;
    for (const k of change.del ?? []) this.data.delete(k);
    for (const [k, v] of Object.entries(change.set ?? {})) this.data.set(k, v);
  }
}
