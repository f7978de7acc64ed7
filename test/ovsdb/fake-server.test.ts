// Protocol details that a real ovsdb-server 3.x does not let us provoke: an old server without
// monitor_cond, a peer that writes one byte at a time, echo params, the absence of "jsonrpc".

import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';

import { OvsdbClient } from '../../src/ovsdb/client';
import { JsonSplitter } from '../../src/ovsdb/framing';
import * as ops from '../../src/ovsdb/ops';
import type { DatabaseSchema } from '../../src/ovsdb/schema';

const schema: DatabaseSchema = {
  name: 'Toy',
  version: '1.0.0',
  tables: {
    T: { columns: { name: { type: 'string' }, ids: { type: { key: 'string', value: 'string', min: 0, max: 'unlimited' } } } },
  },
};

interface Msg {
  id?: unknown;
  method?: string;
  params?: unknown[];
  result?: unknown;
  error?: unknown;
}

/** An old-style server: no monitor_cond, classic "update" notifications, writes byte by byte. */
class FakeServer extends EventEmitter<{ reply: [Msg] }> {
  readonly received: Msg[] = [];
  readonly echoReplies: Msg[] = [];
  /** How many messages each chunk read from the client completed. */
  readonly perChunk: number[] = [];
  private readonly server = net.createServer((sock) => this.serve(sock));
  private sock: net.Socket | undefined;

  constructor(readonly sockPath: string) {
    super();
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.sockPath, resolve));
  }

  close(): Promise<void> {
    this.sock?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Sends a message split into single-byte writes (one JSON text, many chunks). */
  send(m: Msg): void {
    const buf = Buffer.from(JSON.stringify(m));
    for (let i = 0; i < buf.length; i++) this.sock?.write(buf.subarray(i, i + 1));
  }

  private serve(sock: net.Socket): void {
    this.sock = sock;
    const splitter = new JsonSplitter();
    sock.on('data', (chunk) => {
      const texts = splitter.push(chunk);
      this.perChunk.push(texts.length);
      for (const text of texts) {
        const m = JSON.parse(text) as Msg;
        this.received.push(m);
        if (m.method === undefined) {
          this.echoReplies.push(m);
          this.emit('reply', m);
          continue;
        }
        switch (m.method) {
          case 'get_schema':
            this.send({ id: m.id, result: schema, error: null });
            break;
          case 'monitor_cond':
            this.send({ id: m.id, error: 'unknown method', result: null });
            break;
          case 'monitor':
            this.send({ id: m.id, result: { T: { u1: { new: { name: 'one', ids: ['map', [['a', 'é☃']]] } } } }, error: null });
            break;
          case 'transact':
            this.send({ id: m.id, result: [{}], error: null });
            this.send({ id: null, method: 'update', params: [m.params?.[0] === 'Toy' ? 'cache' : 'x', { T: { u2: { new: { name: 'two', ids: ['map', []] } } } }] });
            break;
          default:
            this.send({ id: m.id, result: m.params, error: null });
        }
      }
    });
    sock.on('error', () => undefined);
  }
}

describe('OvsdbClient protocol details (fake server)', { timeout: 30_000 }, () => {
  let dir: string;
  let fake: FakeServer;
  let c: OvsdbClient;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ovsdb-fake-'));
    fake = new FakeServer(path.join(dir, 'sock'));
    await fake.listen();
    // A real pino logger must fit the client's logger type.
    c = new OvsdbClient({ remote: `unix:${fake.sockPath}`, database: 'Toy', logger: pino({ level: 'silent' }) });
    await c.connect();
  });
  after(async () => {
    await c?.close();
    await fake?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('falls back to "monitor" when the server lacks monitor_cond', () => {
    // The _Server status check (cluster.ts) comes first; this server answers it with no Database row.
    const methods = fake.received.filter((m) => (m.params as unknown[] | undefined)?.[0] !== '_Server').map((m) => m.method);
    assert.deepEqual(methods.slice(0, 3), ['get_schema', 'monitor_cond', 'monitor']);
    assert.deepEqual(c.cache.get('T', 'u1'), { _uuid: 'u1', name: 'one', ids: { a: 'é☃' } });
  });

  it('never sends a "jsonrpc" member', () => {
    assert.ok(fake.received.length > 0);
    for (const m of fake.received) assert.equal('jsonrpc' in m, false);
  });

  it('applies classic "update" notifications that follow a reply', async () => {
    const inserted = c.waitFor('T', (r) => (r.name === 'two' ? r : undefined), 2000);
    await c.transact([ops.comment('x')]);
    assert.deepEqual(await inserted, { _uuid: 'u2', name: 'two', ids: {} });
  });

  it('sends what one event-loop turn wrote in one write (one system call for many transactions)', async () => {
    const from = fake.perChunk.length;
    const writes: number[] = [];
    const original = net.Socket.prototype.write;
    net.Socket.prototype.write = function (this: net.Socket, data: unknown, ...rest: unknown[]) {
      if (typeof data === 'string' && data.includes('"transact"')) writes.push(data.split('"transact"').length - 1);
      return (original as (...a: unknown[]) => boolean).call(this, data, ...rest);
    } as typeof original;
    let results: unknown[];
    try {
      results = await Promise.all(Array.from({ length: 20 }, (_, i) => c.transact([ops.comment(`batch ${i}`)])));
    } finally {
      net.Socket.prototype.write = original;
    }
    assert.equal(results.length, 20);
    assert.deepEqual(writes, [20], 'one write carried the 20 transactions');
    assert.equal(fake.perChunk.slice(from).filter((n) => n > 0)[0], 20, 'and the server read them together');
  });

  it('answers the server\'s echo with the same params', async () => {
    const reply = once(fake, 'reply');
    fake.send({ id: 'echo', method: 'echo', params: ['ping', 7] });
    assert.deepEqual(await reply, [{ id: 'echo', result: ['ping', 7], error: null }]);
  });
});
