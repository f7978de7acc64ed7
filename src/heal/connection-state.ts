// Whether an OvsdbClient is online right now, from its events (the client keeps that private).
// Used to name the missing component in errors and to keep OVN out of the local start-up.
import type { OvsdbClient } from '../ovsdb/client';

export class ConnectionState {
  private up = false;

  constructor(client: OvsdbClient, readonly what: string) {
    client.on('connected', () => (this.up = true));
    client.on('disconnected', () => (this.up = false));
  }

  get online(): boolean {
    return this.up;
  }
}
