// Published ports of OVN networks on a real Northbound ovsdb-server: a VIP is a reservation
// across hosts (two hosts publishing one port at the same moment: exactly one wins, the other
// is told which port and by whom), republishing is idempotent, and a publication whose
// transaction fails leaves the VIPs as they were. The driver's side: ovn-driver.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startOvsdbServer, OvsdbServer, OVN_NB_SCHEMA } from '../ovsdb/server';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import { NB_MONITOR } from '../../src/ovn/nb';
import type { PublishedPort } from '../../src/net/firewall';
import { parseNetworkOptions } from '../../src/driver/options';
import { ConflictError } from '../../src/util/errors';
import type { NetworkRecord } from '../../src/driver/model';
import { LOCAL_SPACE } from '../../src/ipam/ipam';
import { FaultMode, nbDiff, nbSnapshot, ovnHost } from './ovn-faults';

let nbServer: OvsdbServer;
let observer: OvsdbClient;
const clients: OvsdbClient[] = [];
const EXT = '203.0.113.10';

async function client(server: OvsdbServer, database: string, monitor?: typeof NB_MONITOR) {
  const c = new OvsdbClient({ remote: server.remote, database, monitor });
  await c.connect();
  clients.push(c);
  return c;
}

const host = (name: string) => ovnHost(nbServer.remote, name, clients);

function network(id: string, sw: string): NetworkRecord {
  const opts = { 'ovn.switch': sw, tenant_id: sw, 'ovn.gateway_chassis': 'chassis-1', 'ovn.external_ip': `${EXT}/24`, 'ovn.external_gateway': '203.0.113.1' };
  return {
    id: id.padEnd(64, '0'), options: parseNetworkOptions(opts, false), datapath: 'netdev', mtu: 1442, internal: false,
    ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: '10.74.0.0/24', Gateway: '10.74.0.1/24' }], ipv6: [], createdBridge: false, createdUplink: false,
  };
}

const tcp = (hostPort: number, containerIp: string, containerPort = 80): PublishedPort => ({ proto: 'tcp', hostPort, containerIp, containerPort });

/** The router's TCP VIPs as committed now (ovn-nbctl, a client of its own). */
function vips(router: string): Record<string, string> {
  const out = execFileSync('ovn-nbctl', [`--db=${nbServer.remote}`, '--format=json', '--columns=vips', 'find', 'Load_Balancer', `name=ocn-lb-${router}-tcp`], { encoding: 'utf8' });
  const data = (JSON.parse(out) as { data: [['map', [string, string][]]][] }).data;
  return Object.fromEntries(data[0]?.[0][1] ?? []);
}

before(async () => {
  nbServer = await startOvsdbServer(OVN_NB_SCHEMA);
  observer = await client(nbServer, 'OVN_Northbound', NB_MONITOR);
});
after(async () => {
  for (const c of clients) c.close();
  await nbServer?.stop();
});

test('two hosts publishing one port at the same moment: exactly one wins, the other is told who has it', async () => {
  const [h1, h2] = [await host('h1'), await host('h2')];
  const [n1, n2] = [network('p1', 'pub'), network('p2', 'pub')];
  await h1.ovn.bind(n1);
  await h2.ovn.bind(n2);
  await h1.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-pub' ? true : undefined), 2000);
  await h2.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-pub' ? true : undefined), 2000);
  const wins = { h1: 0, h2: 0 };
  for (let round = 0; round < 8; round++) {
    // The first round also races the creation of the load balancer itself.
    const port = 8000 + round;
    const mine = { h1: tcp(port, '10.74.0.11'), h2: tcp(port, '10.74.0.12') };
    // Both transactions are on the wire before either reply; who sends first alternates.
    const p1 = round % 2 ? undefined : h1.ovn.publish(n1, [], [mine.h1]);
    const p2 = h2.ovn.publish(n2, [], [mine.h2]);
    const res = await Promise.allSettled([p1 ?? h1.ovn.publish(n1, [], [mine.h1]), p2]);
    const ok = res.map((r) => r.status === 'fulfilled');
    assert.equal(ok.filter(Boolean).length, 1, `round ${round}: exactly one success: ${res.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok')).join(' | ')}`);
    const winner = ok[0] ? 'h1' : 'h2';
    const loser = ok[0] ? 'h2' : 'h1';
    wins[winner]++;
    const reason = (res[ok[0] ? 1 : 0] as PromiseRejectedResult).reason as Error;
    assert.ok(reason instanceof ConflictError, String(reason));
    assert.match(reason.message, new RegExp(`${port}/tcp: port is already allocated`));
    assert.match(reason.message, new RegExp(`published to ${mine[winner].containerIp}:80 by host ${winner}`));
    assert.deepEqual(vips('ocn-pub'), { [`${EXT}:${port}`]: `${mine[winner].containerIp}:80` }, 'the VIP maps to the winner');
    // A retry (or a restart) of the winner's publication changes nothing; the loser stays refused.
    const hw = winner === 'h1' ? h1 : h2;
    const hl = loser === 'h1' ? h1 : h2;
    const nw = winner === 'h1' ? n1 : n2;
    const nl = loser === 'h1' ? n1 : n2;
    await hw.ovn.publish(nw, [], [mine[winner]]);
    await hw.ovn.publish(nw, [mine[winner]], [mine[winner]]);
    await assert.rejects(hl.ovn.publish(nl, [], [mine[loser]]), /port is already allocated/);
    // The loser taking back what it never got removes nothing of the winner's.
    await hl.ovn.publish(nl, [mine[loser]], []);
    assert.deepEqual(vips('ocn-pub'), { [`${EXT}:${port}`]: `${mine[winner].containerIp}:80` });
    await hw.ovn.publish(nw, [mine[winner]], []);
    assert.deepEqual(vips('ocn-pub'), {});
  }
  await h1.ovn.unbind(n1);
  await h2.ovn.unbind(n2);
  assert.equal(wins.h1 + wins.h2, 8);
  console.log(`# wins per host over 8 rounds: ${JSON.stringify(wins)}`);
});

test('a publication whose transaction fails (refused or reply lost) leaves the VIPs as they were', async () => {
  const h1 = await host('h1');
  const net = network('f1', 'pubfault');
  await h1.ovn.bind(net);
  await h1.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-pubfault' ? true : undefined), 2000);
  const old = [tcp(9000, '10.74.0.21')];
  const next = [tcp(9001, '10.74.0.21'), tcp(9002, '10.74.0.21', 443)];
  for (const from of [[], old]) {
    await h1.ovn.publish(net, [], from);
    const was = await nbSnapshot(observer);
    for (const mode of ['rejected', 'reply-lost'] as FaultMode[]) {
      h1.nb.arm(1, mode);
      await assert.rejects(h1.ovn.publish(net, from, next), /injected fault/);
      h1.nb.arm(0);
      assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), [], `${mode}, from ${from.length} ports`);
    }
    await h1.ovn.publish(net, from, next);
    assert.deepEqual(vips('ocn-pubfault'), { [`${EXT}:9001`]: '10.74.0.21:80', [`${EXT}:9002`]: '10.74.0.21:443' });
    await h1.ovn.publish(net, next, []);
  }
  await h1.ovn.unbind(net);
});
