// The daemon against the real system OVS and the real kernel, driven at its socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startPlugin, Plugin } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun, bridgeDatapathType } from '../harness/ovs';
import { run, runOk } from '../harness/exec';
import { deleteNetns, nsExec, nsSpawn } from '../harness/netns';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { ok, err, hexId, createNetworkBody, attach, linkExists, waitGone, arpReachable, hostPortOf } from './helpers';
import { getFeatures } from '../../src/netlink/ethtool';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `brt${tag}`;
let p: Plugin;
const namespaces: string[] = [];

before(async () => {
  await ensureSystemOvs();
  // No grace for endpoints in no container: the later look runs right after start-up. Without the
  // warm port pool: these tests are about the port an attach makes itself (its veth named after
  // the endpoint, its rollback); port-pool.test.ts tests the pool.
  p = await startPlugin({ args: ['--join-grace-ms', '0', '--pool-max', '0'] });
});
after(async () => {
  await p?.stop();
  await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}`));
  for (const ns of namespaces) await deleteNetns(ns);
  await vsctlRun('--if-exists', 'del-br', BR);
});

async function extIds(table: string, name: string): Promise<string> {
  return vsctl('get', table, name, 'external_ids');
}

// How fast is a benchmark's business (make bench); here: it answers before OVSDB is needed.
test('answers on its socket after start', () => {
  assert.ok(p.startupMs > 0);
  console.log(`# plugin answered ${p.startupMs} ms after spawn`);
});

test('own IPAM + network with every option: bridge, VLAN-tagged gateway port, addresses, records', async () => {
  const pool = await ok<{ PoolID: string; Pool: string }>(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.201.0.0/24', SubPool: '', Options: null, V6: false });
  const gw = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  assert.equal(gw.Address, '10.201.0.1/24');
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { bridge: BR, vlan: '100', mtu: '1400', tenant_id: 'acme', external_ids: 'team=blue' } },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: '10.201.0.0/24', Gateway: gw.Address }], IPv6Data: [],
  });
  assert.equal(await vsctl('get', 'Bridge', BR, 'datapath_type'), bridgeDatapathType());
  const gwPort = `ocng${id.slice(0, 11)}`;
  assert.equal(await vsctl('get', 'Port', gwPort, 'tag'), '100');
  const addr = await runOk('ip', ['-o', 'addr', 'show', 'dev', gwPort]);
  assert.match(addr.stdout, /10\.201\.0\.1\/24/);
  assert.match(await runOk('ip', ['link', 'show', gwPort]).then((r) => r.stdout), /mtu 1400/);
  // Retried CreateNetwork (dockerd re-sends after a dropped connection) is a no-op.
  await ok(p, 'NetworkDriver.CreateNetwork', { NetworkID: id, Options: {}, IPv4Data: [], IPv6Data: [] });

  const a = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null });
  assert.equal(a.Address, '10.201.0.2/24');
  const eid = hexId();
  const ce = await ok<{ Interface: { MacAddress: string } }>(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: eid, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  assert.equal(ce.Interface.MacAddress, '0a:58:0a:c9:00:02');
  const again = await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: eid, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  assert.deepEqual(again, ce, 'CreateEndpoint is idempotent');
  const host = `ocnh${eid.slice(0, 11)}`;
  const peer = `ocnc${eid.slice(0, 11)}`;
  const peerLink = (await runOk('ip', ['link', 'show', peer])).stdout;
  assert.match(peerLink, /mtu 1400/);
  assert.match(peerLink, /link\/ether 0a:58:0a:c9:00:02/);
  assert.match((await runOk('ip', ['link', 'show', host])).stdout, /mtu 1400/);
  if (bridgeDatapathType() === 'netdev') {
    const f = await getFeatures(peer);
    assert.equal(f['tx-checksum-ip-generic'], false, 'tx checksum offload is off on the container end');
  }
  assert.equal(await vsctl('get', 'Port', host, 'tag'), '100');
  const ids = await extIds('Interface', host);
  for (const [k, v] of [['ocn-endpoint', eid], ['ocn-network', id], ['ocn-tenant', 'acme'], ['team', 'blue'], ['ocn-ip', '10.201.0.2/24'], ['ocn-owner', p.name], ['ocn-owner-type', 'endpoint']]) {
    assert.ok(ids.includes(`${k}="${v}"`) || ids.includes(`${k}=${v}`), `${k}=${v} in ${ids}`);
  }
  // "Which container is this port?"
  const found = await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-endpoint=${eid}`);
  assert.equal(found, host);

  const join = await ok<{ InterfaceName: { SrcName: string; DstPrefix: string }; Gateway: string; DisableGatewayService: boolean }>(
    p, 'NetworkDriver.Join', { NetworkID: id, EndpointID: eid, SandboxKey: '/var/run/docker/netns/abc', Options: {} });
  assert.deepEqual(join.InterfaceName, { SrcName: peer, DstPrefix: 'eth' });
  assert.equal(join.Gateway, '10.201.0.1');
  assert.equal(join.DisableGatewayService, true);
  assert.match(await extIds('Interface', host), /ocn-sandbox="\/var\/run\/docker\/netns\/abc"/);

  await ok(p, 'NetworkDriver.Leave', { NetworkID: id, EndpointID: eid });
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: eid });
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: eid });
  assert.equal((await vsctlRun('get', 'Port', host, 'name')).code, 1, 'port removed');
  assert.ok(await waitGone(host), 'veth removed');
  await ok(p, 'IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '10.201.0.2' });
  await ok(p, 'IpamDriver.ReleaseAddress', { PoolID: pool.PoolID, Address: '10.201.0.1' });
  await ok(p, 'IpamDriver.ReleasePool', { PoolID: pool.PoolID });
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  assert.equal((await vsctlRun('br-exists', BR)).code, 2, 'the bridge the plugin created is gone with its last network');
  assert.ok(await waitGone(gwPort), 'ovs-vswitchd removed the gateway port device');
  const root = await vsctl('get', 'Open_vSwitch', '.', 'external_ids');
  assert.ok(!root.includes(`ocn.${p.name}.`), `no records left: ${root}`);
});

test('bad input: clear errors and nothing created', async () => {
  const id = hexId();
  const before = await vsctl('list-br');
  assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.202.0.0/24', '10.202.0.1/24', { bridge: BR, vlan: '5000' })), /option vlan: "5000" is not valid; accepted: 1-4094/);
  assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.202.0.0/24', '10.202.0.1/24', { bridge: BR, mtu: '10' })), /option mtu: "10"/);
  assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.202.0.0/24', '10.202.0.1/24', { bridge: 'bad name!' })), /option bridge/);
  assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.202.0.0/24', '10.202.0.1/24', { bridge: BR, speed: 'fast' })), /unknown option "speed"; known options: bridge/);
  assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.202.0.0/24', undefined, { bridge: BR, gateway: 'external', uplink: 'nosuchdev0' })), /uplink: interface nosuchdev0 does not exist/);
  assert.equal(await vsctl('list-br'), before, 'no bridge was created');
  const eid = hexId();
  assert.match(await err(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: eid, Interface: { Address: '10.202.0.2/24' }, Options: {} }), /network .* is not known/);
  assert.ok(!(await linkExists(`ocnh${eid.slice(0, 11)}`)));
  assert.match(await err(p, 'IpamDriver.RequestAddress', { PoolID: 'ocn-local/10.99.0.0/24', Address: '', Options: null }), /unknown pool/);
});

test('a failed CreateEndpoint leaves no veth and no port behind', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.203.0.0/24', '10.203.0.1/24', { bridge: BR }));
  const eid = hexId();
  const host = `ocnh${eid.slice(0, 11)}`;
  // Someone else's row with the port's name makes the OVSDB transaction fail after the veth exists.
  await vsctl('add-port', BR, host, '--', 'set', 'Interface', host, 'type=internal');
  const e = await err(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: eid, Interface: { Address: '10.203.0.2/24' }, Options: {} });
  assert.ok(e.length > 0);
  assert.ok(!(await linkExists(`ocnc${eid.slice(0, 11)}`)), 'the veth was rolled back');
  assert.equal(await vsctl('get', 'Interface', host, 'type'), 'internal', "the user's row is untouched");
  await vsctl('del-port', BR, host);
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
});

test('uplink: a trunk port on the bridge, shared by networks, removed with the last one; the NIC itself is left alone', async () => {
  const nic = `ocntup${tag}`;
  // No dummy module here: one end of a veth pair stands in for a physical NIC.
  await runOk('ip', ['link', 'add', nic, 'type', 'veth', 'peer', 'name', `ocntuq${tag}`]);
  try {
    const a = hexId();
    const b = hexId();
    await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(a, '10.208.0.0/24', undefined, { bridge: BR, gateway: 'external', uplink: nic, vlan: '30' }));
    await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(b, '10.209.0.0/24', undefined, { bridge: BR, gateway: 'external', uplink: nic, vlan: '31' }));
    assert.equal(await vsctl('port-to-br', nic), BR);
    assert.equal(await vsctl('get', 'Port', nic, 'tag'), '[]', 'a trunk: no access tag');
    assert.equal(await vsctl('get', 'Port', nic, 'trunks'), '[30, 31]', 'the VLANs of the networks leaving through it, no other');
    assert.match(await vsctl('get', 'Port', nic, 'external_ids'), /ocn-owner-type=uplink/);
    await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: a });
    assert.equal(await vsctl('port-to-br', nic), BR, 'still used by the other network');
    assert.equal(await vsctl('get', 'Port', nic, 'trunks'), '[31]', "the deleted network's VLAN no longer trunked");
    await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: b });
    assert.notEqual((await vsctlRun('port-to-br', nic)).code, 0, 'uplink port removed with the last network');
    assert.ok(await linkExists(nic), 'the NIC itself stays');
    assert.match(await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(hexId(), '10.210.0.0/24', undefined, { bridge: BR, uplink: nic })), /uplink and gateway=local conflict/);
  } finally {
    await run('ip', ['link', 'del', nic]);
  }
});

test('VLANs isolate at L2 on one bridge (ARP, same subnet)', async () => {
  const n100 = hexId();
  const n200 = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(n100, '10.204.0.0/24', undefined, { bridge: BR, vlan: '100', gateway: 'external' }));
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(n200, '10.204.0.0/24', undefined, { bridge: BR, vlan: '200', gateway: 'external' }));
  const a = await attach(p, n100, '10.204.0.2/24', `v1a${tag}`);
  const b = await attach(p, n100, '10.204.0.3/24', `v1b${tag}`);
  const c = await attach(p, n200, '10.204.0.4/24', `v2c${tag}`);
  namespaces.push(a.ns, b.ns, c.ns);
  assert.ok(await arpReachable(a.ns, '10.204.0.3'), 'same VLAN answers ARP');
  assert.ok(!(await arpReachable(a.ns, '10.204.0.4')), 'other VLAN never answers ARP');
  assert.ok(!(await arpReachable(c.ns, '10.204.0.2')), 'and not the other way round');
  const server = nsSpawn(b.ns, 'busybox', ['nc', '-l', '-p', '7000', '-e', 'echo', 'tcp-ok']);
  await new Promise((r) => setTimeout(r, 300));
  const got = await nsExec(a.ns, 'busybox', ['nc', '-w', '5', '10.204.0.3', '7000'], { timeoutMs: 10_000 });
  await server.stop();
  assert.match(got.stdout, /tcp-ok/, `TCP over the ${bridgeDatapathType()} datapath: ${got.stderr}`);
  for (const x of [a, b, c]) {
    await deleteNetns(x.ns);
    await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: x === c ? n200 : n100, EndpointID: x.endpointId });
  }
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: n100 });
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: n200 });
});

test('kill -9 and restart: live ports untouched, dead ones collected, orphan veths removed', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.205.0.0/24', '10.205.0.1/24', { bridge: BR }));
  const live = await attach(p, id, '10.205.0.2/24', `lv${tag}`);
  const peer = await attach(p, id, '10.205.0.3/24', `pe${tag}`);
  namespaces.push(live.ns, peer.ns, `ocnt-dd${tag}`, `ocnt-gn${tag}`);
  // A container that died while the plugin was down: dockerd moved its end back to the host.
  const dead = await attach(p, id, '10.205.0.4/24', `dd${tag}`);
  // An endpoint whose veth vanished.
  const gone = await attach(p, id, '10.205.0.5/24', `gn${tag}`);
  // A veth the daemon made whose port never got committed (a crash in between): its port goes.
  const unported = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: unported, Interface: { Address: '10.205.0.6/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const unportedVeth = await hostPortOf(p, id, unported);
  assert.equal((await runOk('cat', [`/sys/class/net/${unportedVeth}/ifalias`])).stdout.trim(), `ocn:${p.name}`, 'the daemon marks its veths');
  const liveIndex = (await runOk('cat', [`/sys/class/net/${live.host}/ifindex`])).stdout.trim();
  const liveUuid = await vsctl('get', 'Interface', live.host, '_uuid');
  await p.kill9();
  await runOk('ip', ['-n', dead.ns, 'link', 'set', 'eth0', 'down']);
  // dockerd renames it back to SrcName before moving it out.
  await runOk('ip', ['-n', dead.ns, 'link', 'set', 'eth0', 'name', dead.peer]);
  await runOk('ip', ['-n', dead.ns, 'link', 'set', dead.peer, 'netns', '1']);
  await runOk('ip', ['link', 'del', gone.host]);
  await vsctl('del-port', unportedVeth);
  const orphan = `ocnh${crypto.randomBytes(6).toString('hex').slice(0, 11)}`;
  await runOk('ip', ['link', 'add', orphan, 'type', 'veth', 'peer', 'name', `ocnc${orphan.slice(4)}`]);
  await runOk('ip', ['link', 'set', 'dev', orphan, 'alias', `ocn:${p.name}`]);
  // Another instance's veth (its alias names another daemon): never swept.
  const foreign = `ocnh${crypto.randomBytes(6).toString('hex').slice(0, 11)}`;
  await runOk('ip', ['link', 'add', foreign, 'type', 'veth', 'peer', 'name', `ocnc${foreign.slice(4)}`]);
  await runOk('ip', ['link', 'set', 'dev', foreign, 'alias', 'ocn:someone-else']);
  await p.restart();
  // Wait until reconcile ran (the first state-needing call waits for it).
  await ok(p, 'NetworkDriver.EndpointOperInfo', { NetworkID: id, EndpointID: live.endpointId });
  assert.equal((await runOk('cat', [`/sys/class/net/${live.host}/ifindex`])).stdout.trim(), liveIndex, 'the live veth was not recreated');
  assert.equal(await vsctl('get', 'Interface', live.host, '_uuid'), liveUuid, 'the live port row was not recreated');
  const ping = await nsExec(live.ns, 'busybox', ['ping', '-c', '1', '-W', '3', '10.205.0.3'], { timeoutMs: 10_000 });
  assert.equal(ping.code, 0, `containers still talk after kill -9: ${ping.stdout}`);
  assert.ok(await waitGone(dead.host), 'dead endpoint veth removed (by the later look)');
  assert.equal((await vsctlRun('get', 'Port', dead.host, 'name')).code, 1, 'dead endpoint port removed');
  assert.equal((await vsctlRun('get', 'Port', gone.host, 'name')).code, 1, 'port of a vanished veth removed');
  assert.ok(await waitGone(orphan), 'orphan veth removed');
  assert.ok(await waitGone(unportedVeth), 'the daemon\'s own veth without a port removed');
  assert.ok(await linkExists(foreign), "another daemon's veth is left alone");
  await runOk('ip', ['link', 'del', foreign]);
  const rec = p.logRecords().find((r) => r.msg === 'state loaded and reconciled' && (r.staleEndpoints as number) >= 1);
  assert.ok(rec, 'reconcile reported its work');
  // The gateway still answers after the restart.
  assert.equal((await nsExec(live.ns, 'busybox', ['ping', '-c', '1', '-W', '3', '10.205.0.1'], { timeoutMs: 10_000 })).code, 0);
  for (const x of [live, peer]) {
    await deleteNetns(x.ns);
    await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: x.endpointId });
  }
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
});

test('without OVSDB: the socket answers at once, state calls fail with a clear error', async () => {
  const q = await startPlugin({ ovsdb: 'unix:/nonexistent/db.sock', args: ['--state-timeout-ms', '300'] });
  try {
    const caps = await q.call<{ Scope: string }>('NetworkDriver.GetCapabilities');
    assert.equal(caps.body.Scope, 'local');
    const e = await err(q, 'NetworkDriver.CreateNetwork', createNetworkBody(hexId(), '10.206.0.0/24', undefined));
    assert.match(e, /no connection to OVSDB at unix:\/nonexistent\/db.sock yet \(is Open vSwitch running\?\)/);
  } finally {
    await q.stop();
  }
});

test('two daemons with different names run side by side', async () => {
  const q = await startPlugin();
  try {
    assert.notEqual(q.socket, p.socket);
    const id = hexId();
    await ok(q, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.207.0.0/24', '10.207.0.1/24', { bridge: BR }));
    assert.match(await err(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: hexId(), Interface: { Address: '10.207.0.2/24' }, Options: {} }), /not known/);
    await ok(q, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  } finally {
    await q.stop();
    await purgeChains(new RegExp(`^${chainNames(q.name).post.slice(0, 10)}`));
  }
  const r = await run('ls', ['/run/docker/plugins']);
  assert.ok(!r.stdout.includes(q.name), 'a stopped daemon removes nothing of the other, and its socket is gone or stale');
});

// The daemon killed where the old start-up went wrong: between Join's answer and dockerd moving the
// container end into the sandbox, and between creating the veth and setting its alias.
const record = (endpointId: string) => `ocn.${p.name}.ep.${endpointId}`;
const records = async () => vsctl('get', 'Open_vSwitch', '.', 'external_ids');

test('kill -9 after Join, before dockerd moved the veth into the sandbox: the restart keeps the endpoint; a record without a port is undone', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.207.0.0/24', '10.207.0.1/24', { bridge: BR }));
  // Joined: Docker's sandbox (a netns mounted on its key) exists, the container end is still in the host namespace.
  const joined = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: joined, Interface: { Address: '10.207.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const sandbox = `/run/netns/ocn-sandbox-${tag}`;
  await runOk('ip', ['netns', 'add', path.basename(sandbox)]);
  await ok(p, 'NetworkDriver.Join', { NetworkID: id, EndpointID: joined, SandboxKey: sandbox, Options: {} });
  const host = `ocnh${joined.slice(0, 11)}`;
  const before = { index: fs.readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8'), uuid: await vsctl('get', 'Interface', host, '_uuid') };

  // A creation killed between the veth and its alias: a record and an unmarked veth, no port.
  const unfinished = hexId();
  const uHost = `ocnh${unfinished.slice(0, 11)}`;
  await p.kill9();
  await vsctl('set', 'Open_vSwitch', '.', `external_ids:${record(unfinished)}=${JSON.stringify(JSON.stringify({ id: unfinished, networkId: id, hostIf: uHost, peerIf: `ocnc${unfinished.slice(0, 11)}` }))}`);
  await runOk('ip', ['link', 'add', uHost, 'type', 'veth', 'peer', 'name', `ocnc${unfinished.slice(0, 11)}`]);
  await p.restart();
  await ok(p, 'NetworkDriver.EndpointOperInfo', { NetworkID: id, EndpointID: joined });

  assert.ok(await linkExists(`ocnc${joined.slice(0, 11)}`), 'the container end dockerd is about to move is still there');
  assert.equal(fs.readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8'), before.index, 'the joined veth was not recreated');
  assert.equal(await vsctl('get', 'Interface', host, '_uuid'), before.uuid, 'the joined port was not recreated');
  assert.match(await records(), new RegExp(record(joined)), 'CreateEndpoint keeps a record of the endpoint');
  assert.ok(await waitGone(uHost), 'the unfinished creation\'s veth is removed although it has no alias');
  assert.doesNotMatch(await records(), new RegExp(record(unfinished)), 'and its record');

  // dockerd's DeleteEndpoint takes the record with the port.
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: joined });
  assert.doesNotMatch(await records(), new RegExp(record(joined)));
  assert.ok(await waitGone(host));
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  await runOk('ip', ['netns', 'del', path.basename(sandbox)]);
});
