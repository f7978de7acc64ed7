// The driver's OVN paths with a failure at each step: a real Northbound ovsdb-server, a real
// local ovsdb-server (vswitch schema; no ovs-vswitchd is needed on these paths) and the real
// driver, IPAM and kv store; FaultyDb fails the k-th transaction of either database. After each
// failure the NB holds exactly what it held before, the network or publication is not recorded,
// and the same request without a fault succeeds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { startOvsdbServer, OvsdbServer, OVN_NB_SCHEMA, VSWITCH_SCHEMA } from '../ovsdb/server';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient } from '../../src/daemon';
import { NB_MONITOR } from '../../src/ovn/nb';
import { composeBackends } from '../../src/backends/compose';
import { OvsNetworkDriver } from '../../src/driver/network-driver';
import { Registry } from '../../src/driver/registry';
import { Ipam, parseAutoPoolRange, LOCAL_SPACE } from '../../src/ipam/ipam';
import { OvsKvStore } from '../../src/ovs/kv-store';
import { RootExternalIds } from '../../src/ovs/open-vswitch';
import { Firewall } from '../../src/net/firewall';
import { parseNetworkOptions } from '../../src/driver/options';
import { vethNames } from '../../src/netlink/names';
import type { LinkOps } from '../../src/driver/links';
import type { Endpoint, NetworkRecord } from '../../src/driver/model';
import { FaultMode, FaultyDb, nbDiff, nbSnapshot, ovnHost, type OvnHost } from './ovn-faults';

let nbServer: OvsdbServer;
let localServer: OvsdbServer;
let observer: OvsdbClient;
const clients: OvsdbClient[] = [];
const log = pino({ level: 'silent' });
const EXT = '203.0.113.10';
const opts = (sw: string) => ({ 'ovn.switch': sw, tenant_id: sw, dhcp: 'true', 'ovn.gateway_chassis': 'chassis-1', 'ovn.external_ip': `${EXT}/24`, 'ovn.external_gateway': '203.0.113.1' });

async function client(server: OvsdbServer, database: string, monitor?: typeof NB_MONITOR) {
  const c = new OvsdbClient({ remote: server.remote, database, monitor });
  await c.connect();
  clients.push(c);
  return c;
}

/** Links are never touched on these paths (no gateway port, no veth is made). */
const noLinks = new Proxy({}, { get: (_t, p) => () => Promise.reject(new Error(`links.${String(p)} not expected in this test`)) }) as LinkOps;

/** A daemon's driver as daemon.ts wires it, on the test's databases. */
async function driverOn(h: OvnHost) {
  const local = new FaultyDb(dbFromClient(await client(localServer, 'Open_vSwitch')));
  const kv = new OvsKvStore(local, new RootExternalIds(local));
  const ipam = new Ipam(kv, 'ocn-test', { v4: parseAutoPoolRange('10.128.0.0/11:24', 'x'), v6: parseAutoPoolRange('fd00::/32:64', 'x') });
  const registry = new Registry();
  const firewall = new Firewall('ocn-test', () => registry.firewallState(), log, { resyncMs: 0, bridgeWatchMs: 0 });
  const backends = composeBackends({ name: 'ocn-test', db: local, links: noLinks, firewall, log, isOurSpace: (s) => ipam.isOurSpace(s), ovn: h.ovn });
  const driver = new OvsNetworkDriver({ name: 'ocn-test', scope: 'local', db: local, links: noLinks, kv, log, registry, backends, firewall, ipam });
  return { driver, local, ipam };
}

const vsctl = (...a: string[]) => execFileSync('ovs-vsctl', ['--no-wait', `--db=${localServer.remote}`, ...a]);
/** Whether the local kv (the root row's external_ids) holds a network record. */
const recorded = (id: string) => execFileSync('ovs-vsctl', ['--no-wait', `--db=${localServer.remote}`, 'get', 'Open_vSwitch', '.', 'external_ids'], { encoding: 'utf8' }).includes(`net.${id}`);

before(async () => {
  nbServer = await startOvsdbServer(OVN_NB_SCHEMA);
  localServer = await startOvsdbServer(VSWITCH_SCHEMA);
  observer = await client(nbServer, 'OVN_Northbound', NB_MONITOR);
  vsctl('init');
  vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int', 'datapath_type=netdev');
});
after(async () => {
  for (const c of clients) c.close();
  await nbServer?.stop();
  await localServer?.stop();
});

for (const shared of [false, true]) {
  test(`CreateNetwork (switch, router, gateway, DHCP${shared ? ', on a switch another host bound' : ''}) leaves nothing when any NB or local transaction fails`, async () => {
    const [h1, h2] = [await ovnHost(nbServer.remote, 'h1', clients), await ovnHost(nbServer.remote, 'h2', clients)];
    const { driver, local, ipam } = await driverOn(h1);
    const sw = shared ? 'drv-shared' : 'drv';
    const pool = '10.77.0.0/24';
    const theirs: NetworkRecord = {
      id: 'b'.repeat(64), options: parseNetworkOptions(opts(sw), false), datapath: 'netdev', mtu: 1442, internal: false,
      ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: pool, Gateway: '10.77.0.1/24' }], ipv6: [], createdBridge: false, createdUplink: false,
    };
    if (shared) {
      // Host 2's daemon made the network first: its switch, router, gateway, and the gateway address.
      await h2.ovn.bind(theirs);
      await h2.ovn.book(theirs).reserve('10.77.0.1', 'gw');
      await h1.nb.waitFor('Logical_Switch', (r) => (r.name === sw && Object.keys(r.external_ids as object).some((k) => k.startsWith('ocn-ip-')) ? true : undefined), 2000);
    }
    // What dockerd does before CreateNetwork: the pool and the gateway address from our IPAM.
    const p = await ipam.requestPool({ AddressSpace: LOCAL_SPACE, Pool: pool, SubPool: '', Options: null, V6: false });
    await ipam.requestAddress({ PoolID: p.PoolID, Address: '10.77.0.1', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    let n = 0;
    const request = () => ({
      NetworkID: `${++n}`.padStart(64, 'c'),
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts(sw) },
      IPv4Data: [{ AddressSpace: LOCAL_SPACE, Pool: pool, Gateway: '10.77.0.1/24' }], IPv6Data: [],
    });
    const was = await nbSnapshot(observer);
    // How many transactions a create performs on each database, counted on a dry run.
    h1.nb.arm(0);
    local.arm(0);
    const dry = request();
    await driver.createNetwork(dry);
    const steps = { nb: h1.nb.count, local: local.count };
    await driver.deleteNetwork({ NetworkID: dry.NetworkID });
    assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), [], 'create + delete left nothing');
    assert.ok(steps.nb >= 1 && steps.local >= 1, JSON.stringify(steps));
    const problems: string[] = [];
    for (const db of ['nb', 'local'] as const) {
      for (let k = 1; k <= steps[db]; k++) {
        for (const mode of ['rejected', 'reply-lost'] as FaultMode[]) {
          const at = `${db} transaction ${k} of ${steps[db]} ${mode}`;
          const req = request();
          (db === 'nb' ? h1.nb : local).arm(k, mode);
          const survived = await driver.createNetwork(req).then(() => true, (err: Error) => {
            if (!/injected fault/.test(String(err))) problems.push(`${at}: another error: ${String(err)}`);
            return false;
          });
          h1.nb.arm(0);
          local.arm(0);
          if (survived) {
            if (mode === 'rejected') problems.push(`${at}: CreateNetwork did not fail`);
            await driver.deleteNetwork({ NetworkID: req.NetworkID });
          }
          for (const d of nbDiff(was, await nbSnapshot(observer))) problems.push(`${at}: left ${d}`);
          if (driver.networks.has(req.NetworkID)) problems.push(`${at}: the driver still knows the network`);
          if (recorded(req.NetworkID)) problems.push(`${at}: the network is still recorded locally`);
        }
      }
    }
    assert.deepEqual(problems, []);
    const ok = request();
    await driver.createNetwork(ok);
    await driver.deleteNetwork({ NetworkID: ok.NetworkID });
    if (shared) await h2.ovn.unbind(theirs);
  });
}

test('ProgramExternalConnectivity: when the local step after the OVN publication fails, the VIPs are taken back', async () => {
  const h1 = await ovnHost(nbServer.remote, 'h1', clients);
  const net: NetworkRecord = {
    id: 'd'.repeat(64), options: parseNetworkOptions(opts('pubdrv'), false), datapath: 'netdev', mtu: 1442, internal: false,
    ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: '10.74.0.0/24', Gateway: '10.74.0.1/24' }], ipv6: [], createdBridge: false, createdUplink: false,
  };
  await h1.ovn.bind(net);
  await h1.nb.waitFor('Logical_Router_Port', (r) => (r.name === 'ocn-gw-ocn-pubdrv' ? true : undefined), 2000);
  const { driver, local } = await driverOn(h1);
  const epId = 'e'.repeat(64);
  const names = vethNames(epId);
  vsctl('add-port', 'br-int', names.host);
  await local.waitFor('Interface', (r) => (r.name === names.host ? true : undefined), 2000);
  const ep: Endpoint = { id: epId, networkId: net.id, hostIf: names.host, peerIf: names.container, mac: '0a:58:0a:4a:00:05', ipv4: '10.74.0.5/24', macGenerated: true, ports: [] };
  driver.networks.set(net.id, net);
  driver.endpoints.set(ep.id, ep);
  const portmap = (hostPort: number) => ({ NetworkID: net.id, EndpointID: epId, Options: { 'com.docker.network.portmap': [{ Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: hostPort, HostPortEnd: hostPort }] } });
  const vips = async () => Object.values((await nbSnapshot(observer)).Load_Balancer).map((lb) => (lb as { vips: unknown }).vips);

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
  const published = await vips();
  assert.deepEqual(published, [['map', [[`${EXT}:8080`, '10.74.0.5:80']]]]);
  // Revoking fails locally: the VIP comes back, as the endpoint still records it.
  local.arm(1, 'rejected');
  await assert.rejects(driver.revokeExternalConnectivity({ NetworkID: net.id, EndpointID: epId }), /injected fault/);
  local.arm(0);
  assert.deepEqual(await vips(), published);
  assert.equal(ep.ports.length, 1);
  await driver.revokeExternalConnectivity({ NetworkID: net.id, EndpointID: epId });
  assert.deepEqual(nbDiff(was, await nbSnapshot(observer)), []);
  await h1.ovn.unbind(net);
});
