// -o multicast=snoop on a plain network, with real IGMP and real multicast traffic: a container
// that joined a group gets the stream, one that did not join never sees it on its wire; on a
// network without snooping the same bystander does see it (so the test can tell the two apart).
// The bridge's snooping goes off with the last network that asked for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as path from 'node:path';
import type { Plugin } from '../harness/plugin';
import { vsctl } from '../harness/ovs';
import { run, sleep } from '../harness/exec';
import { deleteNetns, nsExec, nsSpawn } from '../harness/netns';
import { repoRoot } from '../harness/paths';
import { ok, hexId, createNetworkBody, attach, daemonForFile } from './helpers';

const tag = crypto.randomBytes(2).toString('hex');
const MCAST = path.join(repoRoot(), 'test', 'harness', 'mcast.py');
const GROUP = '239.7.7.7';
const daemon = daemonForFile();
const { namespaces, bridges } = daemon;
let p: Plugin;

/** Sender, receiver (joins GROUP) and bystander (does not) on a new network; what each saw. */
async function stream(opts: Record<string, string>, subnet: string, short: string): Promise<{ received: number; bystanderSaw: number; networkId: string; mdb: string }> {
  const id = hexId();
  const br = `brm${short}${tag}`;
  bridges.push(br);
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, `${subnet}.0/24`, undefined, { bridge: br, gateway: 'external', ...opts }));
  const [snd, rcv, bys] = [
    await attach(p, id, `${subnet}.2/24`, `ms${short}${tag}`),
    await attach(p, id, `${subnet}.3/24`, `mr${short}${tag}`),
    await attach(p, id, `${subnet}.4/24`, `mb${short}${tag}`),
  ];
  namespaces.push(snd.ns, rcv.ns, bys.ns);
  const receiver = nsExec(rcv.ns, 'python3', [MCAST, 'recv', GROUP, '5007', '4', `${subnet}.3`], { timeoutMs: 20_000 });
  const capture = nsSpawn(bys.ns, 'tcpdump', ['-i', 'eth0', '-n', '-l', 'udp', 'and', 'dst', GROUP]);
  await sleep(1500); // the receiver's IGMP report learnt, tcpdump listening
  const mdb = (await run('ovs-appctl', ['mdb/show', br])).stdout;
  await nsExec(snd.ns, 'python3', [MCAST, 'send', GROUP, '5007', '50', `${subnet}.2`], { timeoutMs: 20_000 });
  const r = await receiver;
  await sleep(300);
  await capture.stop();
  const seen = capture.output().split('\n').filter((l) => l.includes(GROUP)).length;
  return { received: Number(r.stdout.trim().split('\n').pop()), bystanderSaw: seen, networkId: id, mdb };
}

test('multicast=snoop: the joined receiver gets the stream, the bystander never sees it; without snooping it floods', async () => {
  p = daemon.plugin();
  const snoop = await stream({ multicast: 'snoop' }, '10.231.0', 's');
  assert.equal(await vsctl('get', 'Bridge', bridges[0], 'mcast_snooping_enable'), 'true');
  assert.ok(snoop.received >= 45, `the receiver got ${snoop.received}/50`);
  assert.equal(snoop.bystanderSaw, 0, 'a container that did not join sees none of it');
  assert.match(snoop.mdb, new RegExp(GROUP.replace(/\./g, '\\.')), `the bridge learnt the group from the receiver's IGMP report: ${snoop.mdb}`);
  const flood = await stream({}, '10.232.0', 'f');
  assert.ok(flood.received >= 45, `without snooping the receiver got ${flood.received}/50`);
  assert.ok(flood.bystanderSaw >= 45, `without snooping the bystander sees it too (${flood.bystanderSaw})`);
  console.log(`# multicast: snoop receiver ${snoop.received}/50, bystander ${snoop.bystanderSaw}; flood receiver ${flood.received}/50, bystander ${flood.bystanderSaw}`);
  // Snooping goes with the last network that asked for it.
  for (const ns of namespaces.splice(0, 3)) await deleteNetns(ns);
  const eps = (await p.call<{ result: { id: string; networkId: string }[] }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method: 'endpoints.list' })).body.result;
  for (const e of eps.filter((x) => x.networkId === snoop.networkId)) await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: e.networkId, EndpointID: e.id });
  await vsctl('add-port', bridges[0], `keep${tag}`, '--', 'set', 'Interface', `keep${tag}`, 'type=internal');
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: snoop.networkId });
  assert.equal(await vsctl('get', 'Bridge', bridges[0], 'mcast_snooping_enable'), 'false', 'off again (the bridge stays: a user\'s port is on it)');
});

test('multicast: a bad value is refused naming the option', async () => {
  p = daemon.plugin();
  const r = await p.call<{ Err?: string }>('NetworkDriver.CreateNetwork', createNetworkBody(hexId(), '10.233.0.0/24', undefined, { bridge: `brmx${tag}`, multicast: 'yes' }));
  assert.match(r.body.Err ?? '', /option multicast: "yes" is not valid; accepted: snoop \| flood/);
});
