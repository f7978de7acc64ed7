// Published ports of OVN networks on a real Northbound ovsdb-server: a VIP is a reservation
// across hosts (two hosts publishing one port at the same moment: exactly one wins, the other
// is told which port and by whom), republishing is idempotent, and a publication whose local
// step fails in the driver (a real local ovsdb-server whose transaction fails) is taken back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { startOvsdbServer, OvsdbServer, OVN_NB_SCHEMA, VSWITCH_SCHEMA } from '../ovsdb/server';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import { NB_MONITOR } from '../../src/ovn/nb';
import { OvsNetworkDriver } from '../../src/driver/network-driver';
import { Ipam, parseAutoPoolRange, LOCAL_SPACE } from '../../src/ipam/ipam';
import { MemoryKvStore } from '../../src/state/kv';
import { Firewall, type PublishedPort } from '../../src/net/firewall';
import { parseNetworkOptions } from '../../src/driver/options';
import { vethNames } from '../../src/netlink/names';
import { ConflictError } from '../../src/util/errors';
import type { LinkOps } from '../../src/driver/links';
import type { Endpoint, NetworkRecord } from '../../src/driver/model';
import { FaultyDb, FaultMode, nbDiff, nbSnapshot, ovnHost } from './ovn-faults';

let nbServer: OvsdbServer;
let localServer: OvsdbServer;
let observer: OvsdbClient;
const clients: OvsdbClient[] = [];
const log = pino({ level: 'silent' });
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
  localServer = await startOvsdbServer(VSWITCH_SCHEMA);
  observer = await client(nbServer, 'OVN_Northbound', NB_MONITOR);
});
after(async () => {
  for (const c of clients) c.close();
  await nbServer?.stop();
  await localServer?.stop();
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

/** Everything the driver touches on these paths is real; links are never called here. */
const noLinks = new Proxy({}, { get: (_t, p) => () => Promise.reject(new Error(`links.${String(p)} not expected in this test`)) }) as LinkOps;

test('ProgramExternalConnectivity: when the local step after the OVN publication fails, the VIPs are taken back', async () => {
  const h1 = await host('h1');
  const net = network('d1', 'pubdrv');
  await h1.ovn.bind(net);
  await h1.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-pubdrv' ? true : undefined), 2000);
  const local = new FaultyDb(dbFromClient(await client(localServer, 'Open_vSwitch')));
  const kv = new MemoryKvStore();
  let driver!: OvsNetworkDriver;
  const firewall = new Firewall('ocn-test', () => driver.firewallState(), log, 0);
  driver = new OvsNetworkDriver({
    name: 'ocn-test', scope: 'local', db: local, links: noLinks, kv, log, ovn: h1.ovn, firewall,
    ipam: new Ipam(kv, 'ocn-test', { v4: parseAutoPoolRange('10.128.0.0/11:24', 'x'), v6: parseAutoPoolRange('fd00::/32:64', 'x') }),
  });
  const epId = 'e'.repeat(64);
  const names = vethNames(epId);
  const vsctl = (...a: string[]) => execFileSync('ovs-vsctl', ['--no-wait', `--db=${localServer.remote}`, ...a]);
  vsctl('init');
  vsctl('--may-exist', 'add-br', 'br-test', '--', 'add-port', 'br-test', names.host);
  await local.waitFor('Interface', (r) => (r.name === names.host ? true : undefined), 2000);
  const ep: Endpoint = { id: epId, networkId: net.id, hostIf: names.host, peerIf: names.container, mac: '0a:58:0a:4a:00:05', ipv4: '10.74.0.5/24', macGenerated: true, ports: [] };
  driver.networks.set(net.id, net);
  driver.endpoints.set(ep.id, ep);
  const portmap = (hostPort: number) => ({ NetworkID: net.id, EndpointID: epId, Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] } });

  const was = await nbSnapshot(observer);
  // The local transaction (the endpoint's record of its ports) fails after the NB one committed.
  for (const mode of ['rejected', 'reply-lost'] as FaultMode[]) {
    local.arm(1, mode);
    await assert.rejects(driver.programExternalConnectivity(portmap(8080)), /injected fault/);
    local.arm(0);
    assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), [], `local step ${mode}: no VIP left in the NB`);
    assert.deepEqual(ep.ports, []);
  }
  // The NB transaction itself fails.
  for (const mode of ['rejected', 'reply-lost'] as FaultMode[]) {
    h1.nb.arm(1, mode);
    await assert.rejects(driver.programExternalConnectivity(portmap(8080)), /injected fault/);
    h1.nb.arm(0);
    assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), [], `NB step ${mode}`);
  }
  await driver.programExternalConnectivity(portmap(8080));
  assert.deepEqual(vips('ocn-pubdrv'), { [`${EXT}:8080`]: '10.74.0.5:80' });
  // Revoking fails locally: the VIP comes back, as the endpoint still records it.
  local.arm(1, 'rejected');
  await assert.rejects(driver.revokeExternalConnectivity({ NetworkID: net.id, EndpointID: epId }), /injected fault/);
  local.arm(0);
  assert.deepEqual(vips('ocn-pubdrv'), { [`${EXT}:8080`]: '10.74.0.5:80' });
  await driver.revokeExternalConnectivity({ NetworkID: net.id, EndpointID: epId });
  assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), []);
  await h1.ovn.unbind(net);
});
