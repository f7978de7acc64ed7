// Which member of a clustered database a client may write to. Every ovsdb-server serves a
// "_Server" database whose Database table says, per database it holds, its storage model and,
// for a Raft cluster, whether this member is connected to the cluster and is its leader (what
// ovsdb-idl and libovsdb watch). Writes go to the leader only: a follower without the leader
// holds or refuses them, and one cut off from the cluster serves stale data.

import { OvsdbConnectionError } from './errors';

/** A member answered but may not take writes now (a follower, or cut off): try the next one soon. */
export class MemberUnusableError extends OvsdbConnectionError {
  override name = 'MemberUnusableError';
}

export const SERVER_DATABASE = '_Server';
export const SERVER_MONITOR_ID = 'server';
export const SERVER_COLUMNS = ['name', 'model', 'connected', 'leader', 'index', 'cid', 'sid'];

export interface MemberStatus {
  model: string;
  connected: boolean;
  leader: boolean;
  /** Raft log index this member has seen; undefined for a standalone database. */
  index: number | undefined;
}

/** The wire value of an optional column: a bare atom, or ["set", []] when empty. */
function optional(v: unknown): unknown {
  if (Array.isArray(v) && v[0] === 'set') return (v[1] as unknown[])[0];
  return v;
}

/** The status of `database` among the _Server Database rows (full rows, as "monitor" sends them). */
export function memberStatus(rows: Iterable<Record<string, unknown>>, database: string): MemberStatus | undefined {
  for (const r of rows) {
    if (r.name !== database) continue;
    const index = optional(r.index);
    return {
      model: typeof r.model === 'string' ? r.model : '',
      connected: r.connected === true,
      leader: r.leader === true,
      index: typeof index === 'number' ? index : undefined,
    };
  }
  return undefined;
}

/**
 * Why this member must not be used, or undefined when it may. `seenIndex` is the highest Raft
 * index seen on any member: one behind it was cut off and would replay an older database.
 */
export function unusableReason(status: MemberStatus | undefined, seenIndex: number): string | undefined {
  // Not served at all: get_schema says so, as a configuration error.
  if (!status || status.model !== 'clustered') return undefined;
  if (!status.connected) return 'it is not connected to the rest of its cluster';
  if (!status.leader) return 'it is not the cluster leader';
  if (status.index !== undefined && status.index < seenIndex) return `its Raft index ${status.index} is behind ${seenIndex} seen before`;
  return undefined;
}

/** OVSDB's refusal of a write that reached a member which is (no longer) the leader. */
export function isNotLeaderError(error: string | undefined, details: string | undefined): boolean {
  return error === 'not leader' || (error === 'cluster error' && /not leader/.test(details ?? ''));
}
