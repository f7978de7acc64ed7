// Integration tests against real ovsdb-server processes started in temp dirs.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';

import { rowsEqual } from '../../src/ovsdb/cache';
import { OvsdbClient, type OvsdbClientOptions } from '../../src/ovsdb/client';
import { OvsdbConfigError, OvsdbConnectionError, OvsdbError, OvsdbTimeoutError } from '../../src/ovsdb/errors';
import * as ops from '../../src/ovsdb/ops';
import type { RowChange, TableCache } from '../../src/ovsdb/cache';
import type { Row } from '../../src/ovsdb/types';
import { type OvsdbServer, freePort, startOvsdbServer, toolTransact, vsctl } from './server';

const DB = 'Open_vSwitch';

function client(remote: string, extra: Partial<OvsdbClientOptions> = {}): OvsdbClient {
  return new OvsdbClient({ remote, database: DB, backoffMs: { min: 20, max: 200 }, ...extra });
}

/** Inserts the root Open_vSwitch row and returns its uuid. */
async function initRoot(c: OvsdbClient): Promise<string> {
  const [r] = await c.transact([ops.insert('Open_vSwitch', {}, 'root')]);
  assert.ok(r.uuid);
  return r.uuid[1];
}

function byName(cache: TableCache, table: string, name: string): Row | undefined {
  return cache.find(table, (r) => r.name === name);
}

/** Every monitored table of `a` equals a fresh client's view of the same database. */
async function assertCacheMatchesFreshClient(a: OvsdbClient, remote: string): Promise<void> {
  const fresh = client(remote);
  await fresh.connect();
  try {
    for (const [table, rows] of fresh.cache.tables) {
      const mine = a.cache.table(table);
      assert.deepEqual([...mine.keys()].sort(), [...rows.keys()].sort(), `rows of ${table}`);
      for (const [uuid, row] of rows) {
        const m = mine.get(uuid);
        assert.ok(m && rowsEqual(m, row), `${table} ${uuid}: cached ${JSON.stringify(m)} != fresh ${JSON.stringify(row)}`);
      }
    }
  } finally {
    await fresh.close();
  }
}

describe('OvsdbClient against ovsdb-server', { timeout: 120_000 }, () => {
  let srv: OvsdbServer;
  let c: OvsdbClient;
  let root: string;

  before(async () => {
    srv = await startOvsdbServer();
    c = client(srv.remote);
    await c.connect();
    root = await initRoot(c);
  });
  after(async () => {
    await c?.close();
    await srv?.stop();
  });

  it('fetched the schema and monitors every table', () => {
    assert.equal(c.connected, true);
    assert.equal(c.schema?.name, 'Open_vSwitch');
    assert.ok(c.cache.tables.has('Bridge'));
    assert.equal(c.cache.table('Open_vSwitch').size, 1);
  });

  it('inserts Bridge/Port/Interface with named uuids; the cache has them when transact returns', async () => {
    const res = await c.transact([
      ops.insert('Interface', { name: 'p0', type: 'internal' }, 'iface'),
      ops.insert('Port', { name: 'p0', interfaces: ops.namedUuid('iface') }, 'port'),
      ops.insert('Bridge', { name: 'br-test', ports: ops.set(ops.namedUuid('port')), external_ids: ops.map({ owner: 'test' }) }, 'br'),
      ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('br')))]),
    ]);
    const [iface, port, br] = res.map((r) => r.uuid?.[1]);
    assert.ok(iface && port && br);
    assert.equal(res[3].count, 1);
    // ovsdb-server flushes monitor updates before sending a reply: read-your-writes holds.
    assert.deepEqual(c.cache.get('Bridge', br), {
      ...c.cache.get('Bridge', br),
      name: 'br-test',
      ports: [port],
      external_ids: { owner: 'test' },
    });
    assert.deepEqual(c.cache.get('Port', port)?.interfaces, [iface]);
    assert.equal(c.cache.get('Interface', iface)?.type, 'internal');
    assert.deepEqual(c.cache.get('Open_vSwitch', root)?.bridges, [br]);

    const [sel] = await c.transact([ops.select('Bridge', [ops.eq('name', 'br-test')], ['_uuid', 'name', 'external_ids'])]);
    assert.ok(sel.rows);
    assert.deepEqual(c.decodeRows('Bridge', sel.rows), [{ _uuid: br, name: 'br-test', external_ids: { owner: 'test' } }]);
  });

  it('mutates and deletes, with change events', async () => {
    const events: RowChange[] = [];
    const onChange = (e: RowChange): void => void events.push(e);
    c.cache.on('change', onChange);
    try {
      const where = [ops.eq('name', 'br-test')];
      await c.transact([
        ops.mutate('Bridge', where, [ops.mutInsert('external_ids', ops.map({ a: '1', b: '2' })), ops.mutDelete('external_ids', ops.set('owner'))]),
      ]);
      assert.deepEqual(byName(c.cache, 'Bridge', 'br-test')?.external_ids, { a: '1', b: '2' });
      await c.transact([ops.update('Bridge', where, { external_ids: ops.map({ b: '3' }), stp_enable: true })]);
      assert.deepEqual(byName(c.cache, 'Bridge', 'br-test')?.external_ids, { b: '3' });
      assert.equal(byName(c.cache, 'Bridge', 'br-test')?.stp_enable, true);

      const br = byName(c.cache, 'Bridge', 'br-test')?._uuid;
      assert.ok(br);
      events.length = 0;
      const [, del] = await c.transact([
        ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutDelete('bridges', ops.set(ops.uuid(br)))]),
        ops.del('Bridge', ops.whereUuid(br)),
      ]);
      assert.equal(del.count, 1);
      assert.equal(c.cache.get('Bridge', br), undefined);
      // Port and Interface are not root tables: ovsdb-server garbage-collects them.
      assert.equal(byName(c.cache, 'Port', 'p0'), undefined);
      assert.equal(byName(c.cache, 'Interface', 'p0'), undefined);
      const deleted = events.filter((e) => !e.new).map((e) => e.table).sort();
      assert.deepEqual(deleted, ['Bridge', 'Interface', 'Port']);
    } finally {
      c.cache.off('change', onChange);
    }
  });

  it('reflects changes made by another client (ovs-vsctl), incl. set/map/optional diffs', async () => {
    await vsctl(srv.remote, 'add-br', 'br1');
    const br1 = await c.waitFor('Bridge', (r) => (r.name === 'br1' ? r : undefined), 5000);
    assert.deepEqual(br1.external_ids, {});

    await vsctl(srv.remote, 'set', 'Bridge', 'br1', 'external_ids:a=1', 'external_ids:b=2', 'external_ids:c=3');
    await c.waitFor('Bridge', (r) => r.name === 'br1' && (r.external_ids as Record<string, string>).c === '3', 5000);
    // one transaction: replace b, delete a, add d (a map diff with all three kinds of entries)
    await vsctl(srv.remote, 'set', 'Bridge', 'br1', 'external_ids:b=20', '--', 'remove', 'Bridge', 'br1', 'external_ids', 'a',
      '--', 'set', 'Bridge', 'br1', 'external_ids:d=4');
    const ids = await c.waitFor('Bridge', (r) => (r.name === 'br1' && 'd' in (r.external_ids as object) ? r.external_ids : undefined), 5000);
    assert.deepEqual(ids, { b: '20', c: '3', d: '4' });

    // set diffs on Bridge.ports
    await vsctl(srv.remote, 'add-port', 'br1', 'p1', '--', 'add-port', 'br1', 'p2', '--', 'add-port', 'br1', 'p3');
    await c.waitFor('Port', (r) => r.name === 'p3', 5000);
    await vsctl(srv.remote, 'del-port', 'br1', 'p2', '--', 'add-port', 'br1', 'p4');
    await c.waitFor('Port', (r) => r.name === 'p4', 5000);
    const portNames = (byName(c.cache, 'Bridge', 'br1')?.ports as string[]).map((u) => c.cache.get('Port', u)?.name).sort();
    assert.deepEqual(portNames, ['br1', 'p1', 'p3', 'p4']);

    // optional column (Port.tag: integer, min 0, max 1)
    await vsctl(srv.remote, 'set', 'Port', 'p1', 'tag=10');
    await c.waitFor('Port', (r) => r.name === 'p1' && r.tag === 10, 5000);
    await vsctl(srv.remote, 'set', 'Port', 'p1', 'tag=20');
    await c.waitFor('Port', (r) => r.name === 'p1' && r.tag === 20, 5000);
    await vsctl(srv.remote, 'clear', 'Port', 'p1', 'tag', '--', 'set', 'Port', 'p3', 'trunks=1,2,3');
    await c.waitFor('Port', (r) => r.name === 'p3' && (r.trunks as number[]).length === 3, 5000);
    assert.equal(byName(c.cache, 'Port', 'p1')?.tag, undefined);
    await vsctl(srv.remote, 'set', 'Port', 'p3', 'trunks=2,3,4');
    await c.waitFor('Port', (r) => r.name === 'p3' && (r.trunks as number[]).includes(4), 5000);
    assert.deepEqual((byName(c.cache, 'Port', 'p3')?.trunks as number[]).sort(), [2, 3, 4]);

    await assertCacheMatchesFreshClient(c, srv.remote);
  });

  it('rejects with OvsdbError: constraint violation at commit, per-operation errors', async () => {
    // a duplicate bridge name violates the index only at commit: the extra trailing error result
    const dup = [
      ops.insert('Bridge', { name: 'br1' }, 'dup'),
      ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('dup')))]),
    ];
    await assert.rejects(c.transact(dup), (err: unknown) => {
      assert.ok(err instanceof OvsdbError);
      assert.equal(err.error, 'constraint violation');
      assert.equal(err.op, dup.length);
      assert.match(err.details ?? '', /identical values/);
      assert.match(err.message, /at commit/);
      return true;
    });
    await assert.rejects(c.transact([ops.comment('x'), ops.update('Port', [ops.eq('name', 'p1')], { tag: 5000 })]), (err: unknown) => {
      assert.ok(err instanceof OvsdbError);
      assert.equal(err.error, 'constraint violation');
      assert.equal(err.op, 1);
      assert.match(err.message, /operation 1 \(update on Port\)/);
      return true;
    });
    await assert.rejects(
      c.transact([ops.insert('Port', { name: 'px', interfaces: ops.uuid('00000000-0000-0000-0000-000000000001') })]),
      (err: unknown) => err instanceof OvsdbError && err.error === 'referential integrity violation' && err.op === 1,
    );
    await assert.rejects(c.request('no_such_method', []).result, (err: unknown) => err instanceof OvsdbError && err.error === 'unknown method');
  });

  it('waitFor: immediate match, later match, timeout naming the table, unmonitored table', async () => {
    assert.equal(await c.waitFor('Bridge', (r) => r.name === 'br1', 1000), true);
    const later = c.waitFor('Bridge', (r) => (r.name === 'br-later' ? r._uuid : undefined), 5000);
    await vsctl(srv.remote, 'add-br', 'br-later');
    assert.equal(typeof (await later), 'string');
    await assert.rejects(c.waitFor('Mirror', (r) => r.name === 'none', 50), (err: unknown) => {
      assert.ok(err instanceof OvsdbTimeoutError);
      assert.match(err.message, /table Mirror/);
      return true;
    });
    assert.equal(c.cache.listenerCount('change'), 0, 'waiters unsubscribe');

    const narrow = client(srv.remote, { monitor: { Bridge: { columns: ['name', 'external_ids'] } } });
    await narrow.connect();
    try {
      const br1 = await narrow.waitFor('Bridge', (r) => (r.name === 'br1' ? r : undefined), 1000);
      assert.deepEqual(Object.keys(br1).sort(), ['_uuid', 'external_ids', 'name']);
      await assert.rejects(narrow.waitFor('Port', () => true, 100), OvsdbConfigError);
      assert.equal(narrow.cache.table('Port').size, 0);
    } finally {
      await narrow.close();
    }
  });

  it('echo and cancel', async () => {
    assert.deepEqual(await c.echo('x', 1), ['x', 1]);
    const ac = new AbortController();
    const blocked = c.transact([ops.wait('Bridge', [ops.eq('name', 'br1')], ['name'], '==', [{ name: 'never' }])], { signal: ac.signal });
    setTimeout(() => ac.abort(), 30);
    await assert.rejects(blocked, (err: unknown) => err instanceof OvsdbError && err.error === 'canceled');
    // the connection is still usable, and cancelling a finished request is harmless
    const { id, result } = c.request('echo', []);
    assert.deepEqual(await result, []);
    c.cancel(id);
  });

  it('handles a 1,500-row snapshot and measures transact latency', async (t) => {
    const n = 1500;
    const txn = [];
    const portRefs = [];
    for (let i = 0; i < n; i++) {
      txn.push(ops.insert('Interface', { name: `bp${i}`, external_ids: ops.map({ 'iface-id': `lsp-${i}`, 'attached-mac': '02:00:00:00:00:01' }) }, `i${i}`));
      txn.push(ops.insert('Port', { name: `bp${i}`, interfaces: ops.namedUuid(`i${i}`), tag: i % 4000 }, `p${i}`));
      portRefs.push(ops.namedUuid(`p${i}`));
    }
    txn.push(ops.insert('Bridge', { name: 'br-big', ports: ops.set(...portRefs) }, 'big'));
    txn.push(ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('big')))]));
    await c.transact(txn);
    assert.equal((byName(c.cache, 'Bridge', 'br-big')?.ports as string[]).length, n);

    const t0 = performance.now();
    const fresh = client(srv.remote);
    await fresh.connect();
    const snapMs = performance.now() - t0;
    assert.ok(fresh.cache.table('Port').size > n);
    await fresh.close();
    t.diagnostic(`connect + schema + monitor snapshot of ${fresh.cache.table('Port').size + fresh.cache.table('Interface').size} rows: ${snapMs.toFixed(1)} ms`);

    const N = 200;
    for (let i = 0; i < 20; i++) await c.transact([ops.comment('warm-up')]);
    let t1 = performance.now();
    for (let i = 0; i < N; i++) await c.transact([ops.comment('x')]);
    const rpcMs = (performance.now() - t1) / N;
    t1 = performance.now();
    for (let i = 0; i < N; i++) {
      await c.transact([ops.mutate('Bridge', [ops.eq('name', 'br1')], [ops.mutInsert('external_ids', ops.map({ [`k${i}`]: 'v' }))])]);
    }
    const writeMs = (performance.now() - t1) / N;
    assert.equal(Object.keys(byName(c.cache, 'Bridge', 'br1')?.external_ids as object).length, N + 3);
    t.diagnostic(`mean transact latency over ${N} sequential calls: no-op ${rpcMs.toFixed(3)} ms, mutate + monitor update ${writeMs.toFixed(3)} ms`);
  });

  it('fails connect() clearly for a missing database or a bad monitor spec', async () => {
    const noDb = new OvsdbClient({ remote: srv.remote, database: 'Nope' });
    await assert.rejects(noDb.connect(), (err: unknown) => err instanceof OvsdbConfigError && /no database Nope/.test(err.message));
    const badTable = client(srv.remote, { monitor: { NoSuchTable: {} } });
    await assert.rejects(badTable.connect(), /has no table NoSuchTable/);
    const badCol = client(srv.remote, { monitor: { Bridge: { columns: ['nope'] } } });
    await assert.rejects(badCol.connect(), /Bridge has no column nope/);
    assert.throws(() => client('ssl:127.0.0.1:6640'), /ssl/);
    assert.throws(() => client('localhost:6640'), /expected unix:<path>/);
  });

  it('close() rejects pending calls and waiters', async () => {
    const c2 = client(srv.remote);
    await c2.connect();
    const blocked = c2.transact([ops.wait('Bridge', [ops.eq('name', 'br1')], ['name'], '==', [{ name: 'never' }])]);
    const waiting = c2.waitFor('Bridge', (r) => r.name === 'never', 10_000);
    const checks = Promise.all([assert.rejects(blocked, OvsdbConnectionError), assert.rejects(waiting, OvsdbConnectionError)]);
    await c2.close();
    await checks;
    await assert.rejects(c2.transact([]), /closed/);
    await assert.rejects(c2.connect(), /closed/);
  });
});

describe('OvsdbClient reconnection', { timeout: 60_000 }, () => {
  let srv: OvsdbServer;
  after(async () => {
    await srv?.stop();
  });

  it('connect() keeps retrying until the server is up', async () => {
    srv = await startOvsdbServer();
    srv.kill9();
    await srv.waitExit();
    const c = client(srv.remote);
    const offline = client(srv.remote, { offlineWaitMs: 100 });
    try {
      let done = false;
      const p = c.connect().then(() => (done = true));
      void offline.connect().catch(() => undefined);
      await assert.rejects(offline.transact([ops.comment('x')]), (err: unknown) => {
        assert.ok(err instanceof OvsdbConnectionError);
        assert.match(err.message, /not connected to unix:.* within 100 ms \(last error: .*(ECONNREFUSED|ENOENT)/);
        return true;
      });
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(done, false);
      await srv.restart();
      await p;
      assert.equal(c.connected, true);
    } finally {
      await c.close();
      await offline.close();
    }
  });

  it('survives a server crash: fails in-flight calls, queues new ones, resyncs the cache', async () => {
    const c = client(srv.remote);
    await c.connect();
    try {
      const root = await initRoot(c);
      await vsctl(srv.remote, 'add-br', 'br0', '--', 'add-br', 'br-keep', '--', 'set', 'Bridge', 'br-keep', 'external_ids:x=1');
      const br0 = await c.waitFor('Bridge', (r) => (r.name === 'br0' ? r._uuid : undefined), 5000);
      await c.waitFor('Bridge', (r) => r.name === 'br-keep', 5000);

      const inFlight = c.transact([ops.wait('Bridge', [ops.eq('name', 'br0')], ['name'], '==', [{ name: 'never' }])]);
      const disconnected = once(c, 'disconnected');
      srv.kill9();
      await assert.rejects(inFlight, (err: unknown) => {
        assert.ok(err instanceof OvsdbConnectionError);
        assert.match(err.message, /lost before the reply.*may or may not have been committed/);
        return true;
      });
      await disconnected;
      assert.equal(c.connected, false);
      await srv.waitExit();

      // Change the database behind the client's back while the server is down.
      await toolTransact(srv.dir, [
        DB,
        ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutDelete('bridges', ops.set(ops.uuid(br0)))]),
        ops.insert('Bridge', { name: 'br-offline' }, 'off'),
        ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('off')))]),
        ops.mutate('Bridge', [ops.eq('name', 'br-keep')], [ops.mutInsert('external_ids', ops.map({ y: '2' }))]),
      ]);

      const events: RowChange[] = [];
      c.cache.on('change', (e) => events.push(e));
      // Issued while down: waits for the reconnection, then runs.
      const queued = c.transact([
        ops.insert('Bridge', { name: 'br-while-down' }, 'wd'),
        ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('wd')))]),
      ]);
      const reconnected = once(c, 'reconnected');
      await srv.restart();
      await reconnected;
      const [ins] = await queued;
      assert.ok(ins.uuid);

      const names = [...c.cache.table('Bridge').values()].map((r) => r.name).sort();
      assert.deepEqual(names, ['br-keep', 'br-offline', 'br-while-down']);
      assert.deepEqual(byName(c.cache, 'Bridge', 'br-keep')?.external_ids, { x: '1', y: '2' });
      const bridgeEvents = events.filter((e) => e.table === 'Bridge').map((e) => `${(e.old ?? e.new)?.name}:${e.old ? 'old' : ''}${e.new ? 'new' : ''}`);
      assert.deepEqual(bridgeEvents.sort(), ['br-keep:oldnew', 'br-offline:new', 'br-while-down:new', 'br0:old']);
      await assertCacheMatchesFreshClient(c, srv.remote);
    } finally {
      await c.close();
    }
  });

  it('detects a hung server with its inactivity probe and reconnects', async () => {
    const c = client(srv.remote, { probeIntervalMs: 100, probeTimeoutMs: 200 });
    await c.connect();
    try {
      const disconnected = once(c, 'disconnected');
      process.kill(srv.pid, 'SIGSTOP');
      try {
        const [err] = (await disconnected) as [Error];
        assert.match(err.message, /inactivity probe/);
      } finally {
        process.kill(srv.pid, 'SIGCONT');
      }
      await once(c, 'reconnected');
      assert.deepEqual(await c.echo(), []);
    } finally {
      await c.close();
    }
  });
});

describe('OvsdbClient over TCP and SSL', { timeout: 90_000 }, () => {
  let srv: OvsdbServer;
  before(async () => {
    srv = await startOvsdbServer(undefined, { tcpPort: 0, ssl: true });
  });
  after(async () => {
    await srv?.stop();
  });

  it('works over tcp:, and rotates through a cluster list', async () => {
    assert.ok(srv.tcpRemote);
    const c = client(srv.tcpRemote);
    await c.connect();
    try {
      await initRoot(c);
      await vsctl(srv.tcpRemote, 'add-br', 'br-tcp');
      await c.waitFor('Bridge', (r) => r.name === 'br-tcp', 5000);
    } finally {
      await c.close();
    }
    const port = await freePort();
    const list = client(`tcp:127.0.0.1:${port},unix:${srv.dir}/nonexistent.sock,${srv.tcpRemote}`);
    await list.connect();
    try {
      assert.ok(byName(list.cache, 'Bridge', 'br-tcp'));
    } finally {
      await list.close();
    }
  });

  it('works over ssl: with key, cert and CA files', async () => {
    assert.ok(srv.sslRemote && srv.sslFiles);
    const c = client(srv.sslRemote, { ssl: srv.sslFiles });
    await c.connect();
    try {
      await c.waitFor('Bridge', (r) => r.name === 'br-tcp', 5000);
      assert.deepEqual(await c.echo('tls'), ['tls']);
    } finally {
      await c.close();
    }
    // a client whose certificate the server's CA did not sign is refused (and keeps retrying)
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${srv.dir}/rogue-key.pem`,
      '-out', `${srv.dir}/rogue.pem`, '-days', '1', '-subj', '/CN=rogue'], { stdio: 'ignore' });
    const rogue = { ...srv.sslFiles, key: `${srv.dir}/rogue-key.pem`, cert: `${srv.dir}/rogue.pem` };
    const stranger = client(srv.sslRemote, { ssl: rogue, offlineWaitMs: 300 });
    void stranger.connect().catch(() => undefined);
    await assert.rejects(stranger.echo(), OvsdbConnectionError);
    await stranger.close();
  });

  it('answers the server\'s echo requests (server inactivity probe at 1 s)', async () => {
    // ovsdb-server takes per-remote probe intervals from Manager rows (--remote=db:...).
    const port = await freePort();
    const probed = await startOvsdbServer(undefined, { extraArgs: ['--remote=db:Open_vSwitch,Open_vSwitch,manager_options'] });
    const admin = client(probed.remote);
    let echoes = 0;
    const logger = {
      debug: (_o: object, msg?: string) => void (msg === 'answered server echo' && echoes++),
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const c = client(`tcp:127.0.0.1:${port}`, { probeIntervalMs: 0, logger });
    try {
      await admin.connect();
      await admin.transact([
        ops.insert('Manager', { target: `ptcp:${port}:127.0.0.1`, inactivity_probe: 1000 }, 'm'),
        ops.insert('Open_vSwitch', { manager_options: ops.set(ops.namedUuid('m')) }),
      ]);
      await c.connect(); // retries until ovsdb-server has opened the new listener
      let lost = false;
      c.on('disconnected', () => (lost = true));
      await new Promise((r) => setTimeout(r, 3500));
      assert.ok(echoes >= 2, `expected server echoes, saw ${echoes}`);
      assert.equal(lost, false);
      assert.deepEqual(await c.echo('still', 'here'), ['still', 'here']);
    } finally {
      await c.close();
      await admin.close();
      await probed.stop();
    }
  });
});
