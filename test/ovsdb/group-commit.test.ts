// Group commit against a real ovsdb-server: one transaction on the wire per event-loop turn,
// each caller's results, names and atomicity kept, a bad part failing alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { OvsdbClient } from '../../src/ovsdb/client';
import { OvsdbConnectionError, OvsdbError, OvsdbOutcomeUnknownError } from '../../src/ovsdb/errors';
import { GroupCommit, type Transactor, renameOp } from '../../src/ovsdb/group-commit';
import * as ops from '../../src/ovsdb/ops';
import type { Operation, OperationResult } from '../../src/ovsdb/types';
import { addPortOps, undoAddPortOps } from '../../src/ovs/port';
import { type OvsdbServer, startOvsdbServer, vsctl } from './server';

/** The transactions that reach the client, each as the ops it was given. */
class Recording implements Transactor {
  readonly sent: Operation[][] = [];
  constructor(private readonly c: OvsdbClient) {}
  transact(o: Operation[]): Promise<OperationResult[]> {
    this.sent.push(o);
    return this.c.transact(o);
  }
}

function client(remote: string, requestTimeoutMs = 10_000): OvsdbClient {
  return new OvsdbClient({ remote, database: 'Open_vSwitch', backoffMs: { min: 20, max: 200 }, requestTimeoutMs });
}

/** A bridge hung off the root row; every part names its insert 'br', as callers do. */
function addBridgeOps(root: string, name: string): Operation[] {
  return [
    ops.insert('Bridge', { name }, 'br'),
    ops.mutate('Open_vSwitch', ops.whereUuid(root), [ops.mutInsert('bridges', ops.set(ops.namedUuid('br')))]),
  ];
}

/** Transactions ovsdb-server received, from its jsonrpc debug log. */
function transactsOnWire(srv: OvsdbServer): number {
  return readFileSync(path.join(srv.dir, 'log'), 'utf8').split('\n').filter((l) => l.includes('received request, method="transact"')).length;
}

describe('GroupCommit against ovsdb-server', { timeout: 60_000 }, () => {
  let srv: OvsdbServer;
  let c: OvsdbClient;
  let root: string;

  before(async () => {
    srv = await startOvsdbServer(undefined, { extraArgs: ['-vjsonrpc:file:dbg'] });
    c = client(srv.remote);
    await c.connect();
    const [r] = await c.transact([ops.insert('Open_vSwitch', {}, 'root')]);
    root = r.uuid![1];
  });
  after(async () => {
    await c?.close();
    await srv?.stop();
  });

  const bridgeName = (uuid: string | undefined): unknown => (uuid ? c.cache.get('Bridge', uuid)?.name : undefined);

  it('sends the transactions of one turn as one, each caller getting the results of its own ops', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    const wire0 = transactsOnWire(srv);
    const names = ['gc-a', 'gc-b', 'gc-c'];
    const results = await Promise.all(names.map((n) => g.transact(addBridgeOps(root, n))));
    assert.equal(rec.sent.length, 1);
    assert.equal(transactsOnWire(srv) - wire0, 1);
    for (const [i, r] of results.entries()) {
      assert.equal(r.length, 2);
      assert.equal(bridgeName(r[0].uuid?.[1]), names[i]);
      assert.equal(r[1].count, 1);
    }
  });

  it('keeps uuid-names local to each part: two port adds both naming theirs "newport"', async () => {
    const br = c.cache.find('Bridge', (r) => r.name === 'gc-a')!._uuid;
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    const ports = ['gcp-1', 'gcp-2'];
    const results = await Promise.all(ports.map((name) => g.transact(addPortOps(br, { name, type: '', externalIds: { who: name } }))));
    assert.equal(rec.sent.length, 1);
    for (const [i, r] of results.entries()) {
      // undoAddPortOps reads the Port's uuid from results[1] of the caller's own ops.
      const [undo] = undoAddPortOps(br, r);
      assert.ok(undo);
      const port = c.cache.get('Port', r[1].uuid![1]);
      assert.equal(port?.name, ports[i]);
      assert.equal(c.cache.get('Interface', (port?.interfaces as string[])[0])?.name, ports[i]);
    }
  });

  it('fails only the bad part: a duplicate name and a failing wait fail alone, the others commit', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    const failingWait: Operation[] = [
      ops.insert('Bridge', { name: 'gc-never' }, 'br'),
      ops.wait('Bridge', [ops.eq('name', 'gc-a')], ['name'], '==', [], 0), // gc-a exists: fails
    ];
    const settled = await Promise.allSettled([
      g.transact(addBridgeOps(root, 'gc-ok1')),
      g.transact(addBridgeOps(root, 'gc-a')), // exists: the commit violates Bridge's name index
      g.transact(failingWait),
      g.transact(addBridgeOps(root, 'gc-ok2')),
    ]);
    assert.equal(rec.sent.length, 1 + 4, 'the merged transaction, then each part alone');
    assert.equal(settled[0].status, 'fulfilled');
    assert.equal(settled[3].status, 'fulfilled');
    assert.equal(bridgeName((settled[0] as PromiseFulfilledResult<OperationResult[]>).value[0].uuid?.[1]), 'gc-ok1');
    assert.equal(bridgeName((settled[3] as PromiseFulfilledResult<OperationResult[]>).value[0].uuid?.[1]), 'gc-ok2');
    // Each bad part gets the error it would have got alone, indexed in its own ops.
    const dup = (settled[1] as PromiseRejectedResult).reason as OvsdbError;
    assert.ok(dup instanceof OvsdbError);
    assert.equal(dup.error, 'constraint violation');
    assert.equal(dup.op, 2, 'the commit of a two-op part');
    const wait = (settled[2] as PromiseRejectedResult).reason as OvsdbError;
    assert.ok(wait instanceof OvsdbError);
    assert.equal(wait.error, 'timed out');
    assert.equal(wait.op, 1);
    assert.equal(c.cache.find('Bridge', (r) => r.name === 'gc-never'), undefined);
    assert.equal([...c.cache.table('Bridge').values()].filter((r) => r.name === 'gc-a').length, 1);
  });

  it('two parts that conflict with each other: the merged one fails, then exactly one commits', async () => {
    const g = new GroupCommit(c);
    const settled = await Promise.allSettled([g.transact(addBridgeOps(root, 'gc-twin')), g.transact(addBridgeOps(root, 'gc-twin'))]);
    assert.deepEqual(settled.map((s) => s.status).sort(), ['fulfilled', 'rejected']);
    assert.equal([...c.cache.table('Bridge').values()].filter((r) => r.name === 'gc-twin').length, 1);
  });

  it('an empty part still takes a round trip, shares the merged one, and is not sent again when it fails', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    assert.deepEqual(await g.transact([]), []);
    assert.deepEqual(rec.sent, [[]], 'alone, the empty transaction goes to the server');
    rec.sent.length = 0;
    const [empty, bad] = await Promise.allSettled([g.transact([]), g.transact(addBridgeOps(root, 'gc-a'))]);
    assert.deepEqual(empty, { status: 'fulfilled', value: [] });
    assert.equal(bad.status, 'rejected');
    assert.equal(rec.sent.length, 2, 'merged, then the bad part alone; the empty part rode the merged round trip');
  });

  it('a wait that may block goes alone, not holding the turn\'s other parts', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    const blocked = g.transact([ops.wait('Bridge', [ops.eq('name', 'gc-late')], ['name'], '!=', [], 10_000)]);
    const quick = await Promise.all([g.transact(addBridgeOps(root, 'gc-q1')), g.transact(addBridgeOps(root, 'gc-q2'))]);
    assert.equal(quick.length, 2);
    assert.equal(rec.sent.length, 2, 'the blocking wait, and the two others merged');
    await vsctl(srv.remote, 'add-br', 'gc-late');
    await blocked;
  });

  it('a blocking wait goes after the parts asked before it', async () => {
    const g = new GroupCommit(c);
    const added = g.transact(addBridgeOps(root, 'gc-before'));
    // Sent first, this wait for "no gc-before" would pass at once; sent after, it times out.
    const absent = g.transact([ops.wait('Bridge', [ops.eq('name', 'gc-before')], ['name'], '==', [], 300)]);
    await added;
    await assert.rejects(absent, (e: unknown) => e instanceof OvsdbError && e.error === 'timed out');
  });

  it('50 concurrent requests: one transaction, every result aligned', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    const wire0 = transactsOnWire(srv);
    const names = Array.from({ length: 50 }, (_, i) => `gc-n${i}`);
    const results = await Promise.all(names.map((n) => g.transact(addBridgeOps(root, n))));
    assert.equal(rec.sent.length, 1);
    assert.equal(transactsOnWire(srv) - wire0, 1);
    assert.deepEqual(results.map((r) => bridgeName(r[0].uuid?.[1])), names);
  });

  it('caps a batch: more parts than maxParts go as several transactions, still aligned', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec, { maxParts: 8 });
    const names = Array.from({ length: 20 }, (_, i) => `gc-cap${i}`);
    const results = await Promise.all(names.map((n) => g.transact(addBridgeOps(root, n))));
    assert.deepEqual(rec.sent.map((t) => t.length / 2), [8, 8, 4]);
    assert.deepEqual(results.map((r) => bridgeName(r[0].uuid?.[1])), names);
  });
});

describe('GroupCommit when the connection is lost', { timeout: 60_000 }, () => {
  let srv: OvsdbServer;
  let c: OvsdbClient;

  before(async () => {
    srv = await startOvsdbServer();
    c = client(srv.remote, 1500);
    await c.connect();
  });
  after(async () => {
    await c?.close();
    try {
      process.kill(srv.pid, 'SIGCONT'); // when the test failed before the kill
    } catch {
      // already gone
    }
    await srv?.stop();
  });

  it('rejects every part with the connection error and sends none again', async () => {
    const rec = new Recording(c);
    const g = new GroupCommit(rec);
    process.kill(srv.pid, 'SIGSTOP'); // the transaction is sent but never answered
    const parts = ['gl-a', 'gl-b', 'gl-c'].map((n) => g.transact([ops.insert('Open_vSwitch', { external_ids: ops.map({ n }) })]));
    await new Promise((r) => setTimeout(r, 200));
    srv.kill9();
    const settled = await Promise.allSettled(parts);
    assert.equal(rec.sent.length, 1);
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason as Error);
    for (const e of reasons) {
      assert.ok(e instanceof OvsdbOutcomeUnknownError && e instanceof OvsdbConnectionError, String(e));
      assert.equal(e, reasons[0], 'the one error of the one transaction');
    }
  });
});

describe('renameOp', () => {
  it('prefixes uuid-names and named-uuid references in rows, sets, maps, where, mutations and wait rows', () => {
    const n = ops.namedUuid;
    const renamed = [
      renameOp(ops.insert('Port', { interfaces: ops.set(n('i'), ops.uuid('u1')), other: ops.map(new Map([[n('k'), n('v')]])) }, 'p'), 'g1_'),
      renameOp(ops.update('Bridge', [ops.eq('ports', n('p'))], { ports: n('p') }), 'g1_'),
      renameOp(ops.mutate('Bridge', [ops.includes('ports', ops.set(n('p')))], [ops.mutInsert('ports', ops.set(n('p')))]), 'g1_'),
      renameOp(ops.wait('Port', [], ['interfaces'], '==', [{ interfaces: n('i') }], 0), 'g1_'),
      renameOp(ops.del('Port', [ops.eq('_uuid', n('p'))]), 'g1_'),
    ];
    assert.deepEqual(renamed, [
      { op: 'insert', table: 'Port', 'uuid-name': 'g1_p', row: { interfaces: ['set', [['named-uuid', 'g1_i'], ['uuid', 'u1']]], other: ['map', [[['named-uuid', 'g1_k'], ['named-uuid', 'g1_v']]]] } },
      { op: 'update', table: 'Bridge', where: [['ports', '==', ['named-uuid', 'g1_p']]], row: { ports: ['named-uuid', 'g1_p'] } },
      { op: 'mutate', table: 'Bridge', where: [['ports', 'includes', ['set', [['named-uuid', 'g1_p']]]]], mutations: [['ports', 'insert', ['set', [['named-uuid', 'g1_p']]]]] },
      { op: 'wait', table: 'Port', where: [], columns: ['interfaces'], until: '==', rows: [{ interfaces: ['named-uuid', 'g1_i'] }], timeout: 0 },
      { op: 'delete', table: 'Port', where: [['_uuid', '==', ['named-uuid', 'g1_p']]] },
    ]);
  });

  it('goes by the grammar: a set of the two strings "named-uuid" and "x" is no reference', () => {
    const op = ops.update('Bridge', [], { flood_vlans: ['set', ['named-uuid', 'x']] });
    assert.deepEqual(renameOp(op, 'g0_'), op);
  });
});
