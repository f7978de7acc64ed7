// The root Open_vSwitch row: bridge references, the plugin's kv records in external_ids, and
// next_cfg, which ovs-vswitchd echoes into cur_cfg once it has applied a transaction.
import type { Mutation, Operation } from '../ovsdb/types';
import { Db, externalIds } from './db';
import { mapDelete, mapPut } from './wire';

export const ROOT_TABLE = 'Open_vSwitch';

export function rootMutate(mutations: Mutation[]): Operation {
  return { op: 'mutate', table: ROOT_TABLE, where: [], mutations };
}

/** external_ids of the (single) Open_vSwitch row: chassis settings and the plugin's records. */
export function rootExternalIds(db: Db): Record<string, string> {
  for (const row of db.rows(ROOT_TABLE)) return externalIds(row);
  return {};
}

export function kvOps(set: Record<string, string> | undefined, del: string[] | undefined): Operation[] {
  const mutations = [...mapDelete('external_ids', del ?? []), ...mapPut('external_ids', set ?? {})];
  return mutations.length ? [rootMutate(mutations)] : [];
}
