// The OVSDB client against a real 3-member Raft OVN Northbound (ovsdb-tool create-cluster /
// join-cluster, three ovsdb-server processes on loopback): writes go to the leader whichever
// member is listed first, follow the leadership when the leader is SIGKILLed, a transaction whose
// reply was lost is reported as such (not re-sent), and a member without quorum fails a request
// within the deadline, naming the database and the remote.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OvsdbClient } from '../../src/ovsdb/client';
import { OvsdbConnectionError, OvsdbOutcomeUnknownError } from '../../src/ovsdb/errors';
import * as ops from '../../src/ovsdb/ops';
import { NB_MONITOR } from '../../src/ovn/nb';
import { startDbCluster, type DbCluster } from '../ovsdb/cluster-server';

let cluster: DbCluster;
const clients: OvsdbClient[] = [];

function nbClient(remote: string, requestTimeoutMs = 10_000): OvsdbClient {
  const c = new OvsdbClient({ remote, database: 'OVN_Northbound', monitor: NB_MONITOR, backoffMs: { min: 20, max: 300 }, requestTimeoutMs, offlineWaitMs: requestTimeoutMs, probeIntervalMs: 1000, probeTimeoutMs: 2000 });
  clients.push(c);
  return c;
}

/** The member list with the leader last, so the client must skip the followers to find it. */
function leaderLast(kind: 'tcp' | 'unix', leader: number): string {
  const r = (i: number) => (kind === 'tcp' ? cluster.members[i].tcpRemote : cluster.members[i].unixRemote);
  return [...cluster.members.keys()].filter((i) => i !== leader).map(r).concat(r(leader)).join(',');
}

before(async () => {
  cluster = await startDbCluster(3);
});
after(async () => {
  for (const c of clients) await c.close();
  await cluster?.stop();
});

for (const kind of ['tcp', 'unix'] as const) {
  test(`the client settles on the cluster leader (${kind}: members, leader listed last) and its writes commit`, async () => {
    const leader = await cluster.waitLeader();
    const c = nbClient(leaderLast(kind, leader));
    await c.connect();
    const m = cluster.members[leader];
    assert.equal(c.currentRemote, kind === 'tcp' ? m.tcpRemote : m.unixRemote);
    await c.transact([ops.insert('Logical_Switch', { name: `ls-${kind}` })]);
    assert.ok(c.cache.find('Logical_Switch', (r) => r.name === `ls-${kind}`));
  });
}

test('the leader SIGKILLed: the in-flight write is reported as outcome unknown, the next ones commit on the new leader', async () => {
  const leader = await cluster.waitLeader();
  const c = nbClient(cluster.remote('tcp'));
  await c.connect();
  assert.equal(c.currentRemote, cluster.members[leader].tcpRemote);
  const inFlight = c.transact([ops.insert('Logical_Switch', { name: 'ls-in-flight' })]).then(() => 'ok', (e: unknown) => e);
  await cluster.members[leader].kill9();
  const outcome = await inFlight;
  // Either it was answered before the kill, or its fate is unknown: never a plain "failed".
  assert.ok(outcome === 'ok' || outcome instanceof OvsdbOutcomeUnknownError, `unexpected outcome ${String(outcome)}`);
  const t0 = Date.now();
  await c.transact([ops.insert('Logical_Switch', { name: 'ls-after-kill' })]);
  const recoverMs = Date.now() - t0;
  const newLeader = await cluster.waitLeader();
  assert.notEqual(newLeader, leader);
  assert.equal(c.currentRemote, cluster.members[newLeader].tcpRemote);
  console.log(`# write on the new leader ${recoverMs} ms after the leader was killed`);
  await cluster.members[leader].start();
});

test('two of three members down: a write fails within the deadline, naming OVN_Northbound and the remote', async () => {
  const leader = await cluster.waitLeader();
  const c = nbClient(cluster.remote('tcp'), 3000);
  await c.connect();
  const others = [0, 1, 2].filter((i) => i !== leader);
  await Promise.all(others.map((i) => cluster.members[i].kill9()));
  const t0 = Date.now();
  await assert.rejects(c.transact([ops.insert('Logical_Switch', { name: 'ls-no-quorum' })]), (err: Error) => {
    assert.ok(err instanceof OvsdbConnectionError, String(err));
    assert.match(err.message, /OVN_Northbound/);
    assert.match(err.message, /tcp:127\.0\.0\.1:\d+/);
    return true;
  });
  const ms = Date.now() - t0;
  assert.ok(ms < 3000 + 1500, `failed after ${ms} ms, deadline 3000 ms`);
  console.log(`# no quorum: failed after ${ms} ms (deadline 3000 ms)`);
  for (const i of others) await cluster.members[i].start();
  await cluster.waitLeader();
});
