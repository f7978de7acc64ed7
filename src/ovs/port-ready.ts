// Whether ovs-vswitchd took a port: it writes the Interface's ofport once the device is open, or
// -1 and the reason it refused it in `error` ("could not add network device X to ofproto (File
// exists)"). A refusal is final until the row changes, so it is returned as soon as it is
// written instead of waiting out a timeout.
import type { Row } from '../ovsdb/types';
import type { Db } from './db';
import { asInterface } from './tables';

/** OVS refused the port: the message names it and quotes the Interface's error column. */
export class PortRefusedError extends Error {
  override name = 'PortRefusedError';
  constructor(readonly port: string, readonly reason: string) {
    super(`Open vSwitch refused port ${port}: ${reason}`);
  }
}

/** The refusal an Interface row records, if ovs-vswitchd refused it. */
export function portRefusal(r: Row): PortRefusedError | undefined {
  const i = asInterface(r);
  return i.error ? new PortRefusedError(i.name, i.error) : undefined;
}

function opened(name: string): (r: Row) => true | undefined {
  return (r) => {
    const i = asInterface(r);
    if (i.name !== name) return undefined;
    const refused = portRefusal(r);
    if (refused) throw refused;
    return i.ofport !== undefined && i.ofport > 0 ? true : undefined;
  };
}

/**
 * Resolves once every named Interface is open; rejects with PortRefusedError as soon as one is
 * refused, or with the database client's timeout error after timeoutMs.
 */
export async function waitPortsOpen(db: Db, names: Iterable<string>, timeoutMs: number): Promise<void> {
  await Promise.all([...names].map((n) => db.waitFor('Interface', opened(n), timeoutMs).catch((err: unknown) => {
    if (err instanceof PortRefusedError) throw err;
    throw new Error(`port ${n} was not opened by ovs-vswitchd within ${timeoutMs} ms (${String(err)})`);
  })));
}
