// Whether an OvsdbClient is online right now, from its events (the client keeps that private),
// and a Db whose failures while offline name the component (OVN NB at <remote>), not a socket.
import type { OvsdbClient } from '../ovsdb/client';
import type { Db } from '../ovs/db';

export class ConnectionState {
  private up = false;

  constructor(client: OvsdbClient) {
    client.on('connected', () => (this.up = true));
    client.on('disconnected', () => (this.up = false));
  }

  get online(): boolean {
    return this.up;
  }
}

/** `db` whose transactions failing while the connection is down say which component is missing. */
export function namingDb(db: Db, state: ConnectionState, component: string): Db {
  return {
    ...db,
    transact: (ops) => db.transact(ops).catch((err: unknown) => {
      if (state.online) throw err;
      throw new Error(`${component} is not reachable: ${err instanceof Error ? err.message : String(err)}`);
    }),
  };
}
