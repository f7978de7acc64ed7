// OVSDB remotes ("unix:/run/ovs/db.sock", "tcp:10.0.0.1:6641", "ssl:[::1]:6641", or a
// comma-separated list of them for the members of a clustered database) and how to open them.

import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import * as tls from 'node:tls';

export type Remote =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'ssl'; host: string; port: number };

/** File paths of the PEM private key, certificate and CA certificate used for ssl: remotes. */
export interface SslFiles {
  key: string;
  cert: string;
  ca: string;
}

/** The IANA port for OVSDB; OVS tools use it when a tcp:/ssl: remote names no port. */
export const DEFAULT_OVSDB_PORT = 6640;

const ACCEPTED = 'expected unix:<path>, tcp:<host>:<port> or ssl:<host>:<port> (a comma-separated list for a cluster)';

export class RemoteError extends Error {
  override name = 'RemoteError';
}

export function parseRemote(text: string): Remote {
  const s = text.trim();
  const bad = (why: string): RemoteError => new RemoteError(`invalid OVSDB remote "${s}": ${why}; ${ACCEPTED}`);
  const colon = s.indexOf(':');
  if (colon < 0) throw bad('no method prefix');
  const method = s.slice(0, colon);
  const rest = s.slice(colon + 1);
  if (method === 'unix') {
    if (rest === '') throw bad('empty socket path');
    return { kind: 'unix', path: rest };
  }
  if (method === 'tcp' || method === 'ssl') {
    const { host, port } = parseHostPort(rest, bad);
    return { kind: method, host, port };
  }
  if (method === 'punix' || method === 'ptcp' || method === 'pssl') {
    throw bad(`"${method}:" is a passive (listening) remote, a client needs an active one`);
  }
  throw bad(`unknown method "${method}"`);
}

function parseHostPort(rest: string, bad: (why: string) => RemoteError): { host: string; port: number } {
  let host: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    // IPv6 literal: [addr] or [addr]:port
    const close = rest.indexOf(']');
    if (close < 0) throw bad('unterminated "[" in IPv6 address');
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw bad('garbage after "]"');
      portText = after.slice(1);
    }
  } else {
    const parts = rest.split(':');
    if (parts.length > 2) throw bad('IPv6 addresses must be written in brackets, e.g. tcp:[::1]:6641');
    host = parts[0];
    portText = parts[1];
  }
  if (host === '') throw bad('empty host');
  let port = DEFAULT_OVSDB_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) throw bad(`bad port "${portText}"`);
    port = Number(portText);
    if (port < 1 || port > 65535) throw bad(`port ${port} out of range 1-65535`);
  }
  return { host, port };
}

/** Parses a remote or a comma-separated list of them (members of a clustered database). */
export function parseRemotes(text: string): Remote[] {
  const items = text.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) {
    throw new RemoteError(`invalid OVSDB remote list "${text}": empty entry; ${ACCEPTED}`);
  }
  return items.map(parseRemote);
}

export function formatRemote(r: Remote): string {
  if (r.kind === 'unix') return `unix:${r.path}`;
  const host = r.host.includes(':') ? `[${r.host}]` : r.host;
  return `${r.kind}:${host}:${r.port}`;
}

/** Cluster members in order; on failure we move on to the next one and wrap around. */
export class RemoteRotation {
  private index = 0;

  constructor(readonly remotes: readonly Remote[]) {
    if (remotes.length === 0) throw new RemoteError('no OVSDB remote given');
  }

  get current(): Remote {
    return this.remotes[this.index];
  }

  /** Call after a failed or lost connection to the current member. */
  rotate(): Remote {
    this.index = (this.index + 1) % this.remotes.length;
    return this.current;
  }
}

/**
 * Opens a stream socket to the remote and resolves once it is connected (for ssl: once the TLS
 * handshake completed). Key files are read at each attempt so rotated certificates are picked up.
 */
export async function dialRemote(remote: Remote, ssl: SslFiles | undefined, timeoutMs: number): Promise<net.Socket> {
  let sock: net.Socket;
  let readyEvent: 'connect' | 'secureConnect';
  if (remote.kind === 'unix') {
    sock = net.createConnection({ path: remote.path });
    readyEvent = 'connect';
  } else if (remote.kind === 'tcp') {
    sock = net.createConnection({ host: remote.host, port: remote.port });
    readyEvent = 'connect';
  } else {
    if (!ssl) throw new RemoteError(`${formatRemote(remote)} needs ssl key, cert and ca files`);
    const [key, cert, ca] = await Promise.all([readFile(ssl.key), readFile(ssl.cert), readFile(ssl.ca)]);
    // OVS PKI certificates identify switches/controllers, not host names, and OVS itself checks
    // only the chain to the CA. Do the same, or every ovs-pki certificate would be refused.
    sock = tls.connect({ host: remote.host, port: remote.port, key, cert, ca, checkServerIdentity: () => undefined });
    readyEvent = 'secureConnect';
  }
  return new Promise<net.Socket>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`timed out connecting to ${formatRemote(remote)}`)), timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      sock.off('error', fail);
      sock.off(readyEvent, ok);
    };
    function ok(): void {
      cleanup();
      resolve(sock);
    }
    function fail(err: Error): void {
      cleanup();
      sock.destroy();
      reject(err);
    }
    sock.once('error', fail);
    sock.once(readyEvent, ok);
  });
}
