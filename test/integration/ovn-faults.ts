// Fault injection for the OVN tests: a wrapper around a real Db whose k-th transaction fails.
// The database stays real; only the outcome the caller sees is forced, in one of two ways:
// - 'rejected': the server refused it (nothing committed), like an aborted OVSDB transaction;
// - 'reply-lost': it was committed, then the connection died before the reply came;
// - 'unknown-uncommitted': reported as of unknown outcome, but never committed;
// - 'unknown-late': reported as of unknown outcome at once, committed 100 ms later (a member
//   without quorum that commits after the client's deadline).
import { after, before } from 'node:test';
import { type Db, findByName, findOwned } from '../../src/ovs/db';
import { startOvsdbServer, type OvsdbServer, OVN_NB_SCHEMA } from '../ovsdb/server';
import type { Operation, OperationResult } from '../../src/ovsdb/types';
import { OvsdbError, OvsdbOutcomeUnknownError } from '../../src/ovsdb/errors';
import pino from 'pino';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import { NB_MONITOR } from '../../src/ovn/nb';
import { OvnNetworks } from '../../src/backends/ovn/ovn-network';

export type FaultMode = 'rejected' | 'reply-lost' | 'unknown-uncommitted' | 'unknown-late';

export class FaultyDb implements Db {
  /** Transactions seen since the last arm(). */
  count = 0;
  /** The commit an 'unknown-late' fault lets happen after its error. */
  late?: Promise<void>;
  private failAt = 0;
  private mode: FaultMode = 'rejected';

  constructor(private readonly inner: Db) {}

  /** Fails transaction number k (1-based) from now on; k = 0 never fails (counting only). */
  arm(k: number, mode: FaultMode = 'rejected'): void {
    this.count = 0;
    this.failAt = k;
    this.mode = mode;
  }

  async transact(ops: Operation[]): Promise<OperationResult[]> {
    const n = ++this.count;
    if (n !== this.failAt) return this.inner.transact(ops);
    if (this.mode === 'rejected') throw new OvsdbError('injected fault', undefined, ops.length, `injected fault: transaction ${n} rejected`);
    if (this.mode === 'unknown-uncommitted') throw new OvsdbOutcomeUnknownError(`injected fault: transaction ${n} lost before it reached the server`);
    if (this.mode === 'unknown-late') {
      this.late = new Promise((r) => setTimeout(r, 100)).then(() => this.inner.transact(ops)).then(() => undefined);
      throw new OvsdbOutcomeUnknownError(`injected fault: no reply to transaction ${n} within the deadline`);
    }
    await this.inner.transact(ops);
    throw new OvsdbOutcomeUnknownError(`injected fault: connection lost before the reply to transaction ${n}`);
  }

  rows(table: string) {
    return this.inner.rows(table);
  }

  waitFor<T>(table: string, predicate: Parameters<Db['waitFor']>[1], timeoutMs: number): Promise<T> {
    return this.inner.waitFor(table, predicate as never, timeoutMs);
  }

  // The daemon's lookups, from the indexes the real client's cache keeps.
  byName(table: string, name: string) {
    return findByName(this.inner, table, name);
  }

  byOwner(table: string, owner: string, type?: Parameters<typeof findOwned>[3]) {
    return findOwned(this.inner, table, owner, type);
  }
}

export interface NbFixture {
  server: OvsdbServer;
  /** A client of its own, to read what is committed. */
  observer: OvsdbClient;
  /** Every client to close after the file's tests (ovnHost adds its own). */
  clients: OvsdbClient[];
}

/** A private Northbound ovsdb-server and an observer, started before the file's tests and stopped after them. */
export function privateNb(): NbFixture {
  const nb = { clients: [] as OvsdbClient[] } as NbFixture;
  before(async () => {
    nb.server = await startOvsdbServer(OVN_NB_SCHEMA);
    nb.observer = new OvsdbClient({ remote: nb.server.remote, database: 'OVN_Northbound', monitor: NB_MONITOR });
    await nb.observer.connect();
    nb.clients.push(nb.observer);
  });
  after(async () => {
    for (const c of nb.clients) c.close();
    await nb.server?.stop();
  });
  return nb;
}

/** One "host" of the OVN tests: its own NB connection (through a FaultyDb) and OvnNetworks. */
export async function ovnHost(remote: string, name: string, clients: OvsdbClient[]) {
  const c = new OvsdbClient({ remote, database: 'OVN_Northbound', monitor: NB_MONITOR });
  await c.connect();
  clients.push(c);
  const nb = new FaultyDb(dbFromClient(c));
  return { name, nb, ovn: new OvnNetworks({ nb, host: () => name, log: pino({ level: 'silent' }) }) };
}
export type OvnHost = Awaited<ReturnType<typeof ovnHost>>;

/** The NB tables the plugin writes to. */
export const OUR_TABLES = ['Logical_Switch', 'Logical_Switch_Port', 'Logical_Router', 'Logical_Router_Port', 'Logical_Router_Static_Route', 'Gateway_Chassis', 'NAT', 'DHCP_Options', 'Load_Balancer'];

/**
 * Every row of those tables as committed now (a select on the server, not a cache), without the
 * _version column, so two snapshots are equal exactly when no row was added, removed or changed.
 */
export async function nbSnapshot(observer: OvsdbClient): Promise<Record<string, Record<string, unknown>>> {
  const res = await observer.transact(OUR_TABLES.map((table) => ({ op: 'select', table, where: [] }) as Operation));
  const out: Record<string, Record<string, unknown>> = {};
  for (const [i, table] of OUR_TABLES.entries()) {
    const rows: Record<string, unknown> = {};
    for (const r of res[i].rows ?? []) {
      const { _uuid, _version, ...rest } = r as Record<string, unknown>;
      void _version;
      rows[JSON.stringify(_uuid)] = rest;
    }
    out[table] = rows;
  }
  return out;
}

type Snapshot = Awaited<ReturnType<typeof nbSnapshot>>;

/** A row as a person reads it in a failure message: its table, name (or type and addresses). */
function label(table: string, row: Record<string, unknown>): string {
  const name = row.name ?? [row.type, row.logical_ip, row.cidr, row.ip_prefix].filter((x) => x !== undefined).join(' ');
  return `${table} ${String(name)}`;
}

/** Rows added, removed or changed between two snapshots, one line each (empty when equal). */
export function nbDiff(was: Snapshot, now: Snapshot): string[] {
  const out: string[] = [];
  for (const table of OUR_TABLES) {
    const a = was[table] ?? {};
    const b = now[table] ?? {};
    for (const [id, row] of Object.entries(b)) {
      if (!(id in a)) out.push(`+ ${label(table, row as Record<string, unknown>)}`);
      else if (JSON.stringify(row) !== JSON.stringify(a[id])) {
        const cols = Object.keys(row as object).filter((c) => JSON.stringify((row as Record<string, unknown>)[c]) !== JSON.stringify((a[id] as Record<string, unknown>)[c]));
        out.push(`~ ${label(table, row as Record<string, unknown>)}: ${cols.map((c) => `${c} ${JSON.stringify((row as Record<string, unknown>)[c])}`).join(', ')}`);
      }
    }
    for (const [id, row] of Object.entries(a)) if (!(id in b)) out.push(`- ${label(table, row as Record<string, unknown>)}`);
  }
  return out;
}
