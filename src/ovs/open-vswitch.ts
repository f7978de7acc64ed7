// The root Open_vSwitch row: bridge references, the plugin's kv records in external_ids, and
// next_cfg, which ovs-vswitchd echoes into cur_cfg once it has applied a transaction.
//
// The daemon does not monitor the root row's external_ids: with one key per IPAM address it
// holds thousands of entries, and every address change would come back as a monitor update
// whose map the cache copies whole (1,000 endpoints: ~2 MB of garbage per 20 attaches). The
// daemon reads the map when it needs it (RootExternalIds) and writes it with mutations.
import type { Mutation, Operation } from '../ovsdb/types';
import { decodeMapEntries } from '../ovsdb/schema';
import { Db, externalIds } from './db';
import { vsRows } from './tables';
import { mapDelete, mapPut } from './wire';

export const ROOT_TABLE = 'Open_vSwitch';

export function rootMutate(mutations: Mutation[]): Operation {
  return { op: 'mutate', table: ROOT_TABLE, where: [], mutations };
}

/**
 * external_ids of the (single) Open_vSwitch row: chassis settings and the plugin's records. Only
 * for a Db that monitors them (the chassis command): the daemon's does not (see above), and gets {}.
 */
export function rootExternalIds(db: Db): Record<string, string> {
  for (const row of vsRows(db, ROOT_TABLE)) return externalIds(row);
  return {};
}

export function kvOps(set: Record<string, string> | undefined, del: string[] | undefined): Operation[] {
  const mutations = [...mapDelete('external_ids', del ?? []), ...mapPut('external_ids', set ?? {})];
  return mutations.length ? [rootMutate(mutations)] : [];
}

/** The root row's external_ids, read with a select: for a Db that does not monitor them. */
export async function selectRootExternalIds(db: Db): Promise<Record<string, string>> {
  const [res] = await db.transact([{ op: 'select', table: ROOT_TABLE, where: [], columns: ['external_ids'] }]);
  const wire = res?.rows?.[0]?.external_ids;
  const ids: Record<string, string> = {};
  if (wire === undefined) return ids;
  // A string-to-string map in the schema: every value is a string.
  for (const [k, v] of Object.entries(decodeMapEntries(wire))) if (typeof v === 'string') ids[k] = v;
  return ids;
}

/**
 * The root row's external_ids as last read: the plugin's records at start-up, and the host's
 * settings (system-id, ovn-*), which `refresh()` reads again where they matter.
 */
export class RootExternalIds {
  private ids: Record<string, string> = {};

  constructor(private readonly db: Db) {}

  get snapshot(): Readonly<Record<string, string>> {
    return this.ids;
  }

  async refresh(): Promise<Readonly<Record<string, string>>> {
    this.ids = await selectRootExternalIds(this.db);
    return this.ids;
  }
}
