// Turns a MonitorSpec into the column lists to monitor and the monitor / monitor_cond requests.

import { OvsdbConfigError } from './errors';
import type { DatabaseSchema } from './schema';
import type { MonitorSpec } from './types';

/**
 * Column names to monitor per table: those of the spec, or every column of every table when the
 * spec is undefined. Always explicit, because a request without "columns" also returns _version.
 */
export function monitoredColumns(schema: DatabaseSchema, spec: MonitorSpec | undefined): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const tables: MonitorSpec = spec ?? Object.fromEntries(Object.keys(schema.tables).map((t) => [t, {}]));
  for (const [table, req] of Object.entries(tables)) {
    const ts = schema.tables[table];
    if (!ts) throw new OvsdbConfigError(`monitor: database ${schema.name} has no table ${table}`);
    const cols = req.columns ?? Object.keys(ts.columns);
    for (const c of cols) {
      if (!(c in ts.columns)) throw new OvsdbConfigError(`monitor: table ${table} has no column ${c}`);
    }
    out.set(table, [...cols]);
  }
  return out;
}

/** monitor_cond requests: one per table, without "where" (all rows). */
export function monitorCondRequests(columns: ReadonlyMap<string, string[]>): Record<string, { columns: string[] }[]> {
  const requests: Record<string, { columns: string[] }[]> = {};
  for (const [table, cols] of columns) requests[table] = [{ columns: cols }];
  return requests;
}

/** Classic RFC 7047 monitor requests. */
export function monitorRequests(columns: ReadonlyMap<string, string[]>): Record<string, { columns: string[] }> {
  const requests: Record<string, { columns: string[] }> = {};
  for (const [table, cols] of columns) requests[table] = { columns: cols };
  return requests;
}
