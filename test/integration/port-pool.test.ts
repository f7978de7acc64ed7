// The warm port pool against the real system OVS and kernel: an attach takes a pooled port and
// the container cannot tell (MAC, MTU, checksum offload, traffic); 50 concurrent attaches never
// share a port; a pooled port never outlives its container or its network; kill -9 and restart
// adopt the free ones and remove those whose veth is gone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { startPlugin, Plugin } from '../harness/plugin';
import { bridgeDatapathType, ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { runOk } from '../harness/exec';
import { deleteNetns, nsExec } from '../harness/netns';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { getFeatures } from '../../src/netlink/ethtool';
import { ok, hexId, createNetworkBody, attach, linkExists, waitGone, hostPortOf } from './helpers';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `brp${tag}`;
let p: Plugin;
const namespaces: string[] = [];

before(async () => {
  await ensureSystemOvs();
  p = await startPlugin({ args: ['--join-grace-ms', '0', '--pool-min', '4', '--pool-max', '64'] });
});
after(async () => {
  await p?.stop();
  await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}`));
  for (const ns of namespaces) await deleteNetns(ns);
  await vsctlRun('--if-exists', 'del-br', BR);
});

/** Free pooled ports of a network, as OVSDB has them. */
async function pooled(networkId: string): Promise<string[]> {
  const out = await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${p.name}`, 'external_ids:ocn-owner-type=pool', `external_ids:ocn-network=${networkId}`);
  return out.split(/\s+/).filter(Boolean).sort();
}

async function waitPooled(networkId: string, n: number, ms = 15_000): Promise<string[]> {
  const until = Date.now() + ms;
  for (;;) {
    const got = await pooled(networkId);
    // Opened by ovs-vswitchd too: only then does the daemon hand them out.
    const open = await Promise.all(got.map(async (x) => Number(await vsctl('get', 'Interface', x, 'ofport')) > 0));
    if (got.length >= n && open.every(Boolean)) return got;
    if (Date.now() > until) throw new Error(`pool of ${networkId.slice(0, 12)}: ${got.length} ports after ${ms} ms, wanted ${n}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('an attach takes a warm port: the container sees its own MAC and MTU, checksum offload off, traffic flows; the pool refills', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.215.0.0/24', '10.215.0.1/24', { bridge: BR, vlan: '215', mtu: '1400' }));
  const first = await attach(p, id, '10.215.0.2/24', `pa${tag}`);
  namespaces.push(first.ns);
  const free = await waitPooled(id, 4);
  for (const port of free) {
    assert.equal(await vsctl('get', 'Port', port, 'tag'), '215', 'a pooled port already has its network VLAN');
    const peer = `ocnc${port.slice(4)}`;
    assert.match((await runOk('ip', ['link', 'show', peer])).stdout, /mtu 1400 .*state DOWN/, 'its container end: the network MTU, down (the port forwards nothing)');
    if (bridgeDatapathType() === 'netdev') assert.equal((await getFeatures(peer))['tx-checksum-ip-generic'], false, 'tx checksum offload off on the container end');
  }
  const second = await attach(p, id, '10.215.0.3/24', `pb${tag}`);
  namespaces.push(second.ns);
  assert.ok(free.includes(second.host), `the second endpoint got a pooled port (${second.host} in ${free})`);
  assert.ok(!(await pooled(id)).includes(second.host), 'and it left the pool');
  const ids = await vsctl('get', 'Interface', second.host, 'external_ids');
  assert.match(ids, /ocn-owner-type=endpoint/);
  assert.match(ids, new RegExp(`ocn-endpoint="?${second.endpointId}"?`));
  const link = (await nsExec(second.ns, 'ip', ['-o', 'link', 'show', 'eth0'])).stdout;
  assert.match(link, /mtu 1400/, 'the network MTU');
  assert.match(link, new RegExp(`link/ether ${second.mac} `), `the endpoint's MAC (${second.mac})`);
  const ping = await nsExec(second.ns, 'busybox', ['ping', '-c', '2', '-W', '3', '10.215.0.2'], { timeoutMs: 15_000 });
  assert.equal(ping.code, 0, `traffic over a pooled port: ${ping.stdout}${ping.stderr}`);
  const g2 = await nsExec(second.ns, 'busybox', ['ping', '-c', '1', '-W', '3', '10.215.0.1'], { timeoutMs: 10_000 });
  assert.equal(g2.code, 0, 'and to the gateway');
  await waitPooled(id, 4);

  // Gone with its container: the port is deleted, not returned to the pool tagged into the network.
  await deleteNetns(second.ns);
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: second.endpointId });
  assert.equal((await vsctlRun('get', 'Port', second.host, 'tag')).code, 1, 'its port is gone');
  assert.ok(await waitGone(second.host), 'its veth is gone');
  assert.ok(!(await pooled(id)).includes(second.host));

  // With the network: every pooled port and veth goes in the delete.
  const left = await pooled(id);
  await deleteNetns(first.ns);
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: first.endpointId });
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  assert.deepEqual(await pooled(id), [], 'no pooled port row left');
  for (const port of left) assert.ok(await waitGone(port), `pooled veth ${port} removed`);
});

test('50 concurrent attaches: every endpoint its own port, pooled or made; none left after the detaches', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.216.0.0/24', undefined, { bridge: BR, vlan: '216', gateway: 'external' }));
  const warm = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: warm, Interface: { Address: '10.216.0.250/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const free = new Set(await waitPooled(id, 4));
  const eps = Array.from({ length: 50 }, () => hexId());
  await Promise.all(eps.map((e, i) => ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: e, Interface: { Address: `10.216.0.${i + 2}/24`, AddressIPv6: '', MacAddress: '' }, Options: {} })));
  await Promise.all(eps.map((e) => ok(p, 'NetworkDriver.Join', { NetworkID: id, EndpointID: e, SandboxKey: `/var/run/docker/netns/none${e.slice(0, 6)}`, Options: {} })));
  const ports = await Promise.all(eps.map((e) => hostPortOf(p, id, e)));
  assert.equal(new Set(ports).size, 50, 'fifty distinct ports');
  const fromPool = ports.filter((x) => free.has(x));
  assert.ok(fromPool.length >= 4, `the free pooled ports were used (${fromPool.length})`);
  // The others waited for the pool's next batches instead of adding a port each.
  const ownNamed = ports.filter((x, i) => x === `ocnh${eps[i].slice(0, 11)}`);
  assert.deepEqual(ownNamed, [], 'every endpoint got a pooled port (free, or from a batch made for the burst)');
  const batches = p.logRecords().filter((r) => r.msg === 'pooled ports added' && r.network === id.slice(0, 12)).map((r) => (r.ports as string[]).length);
  console.log(`# pooled ports added for the network in batches of ${batches.join(', ')}`);
  assert.ok(batches.length < 20, `a few batches for 55 ports, not one port each (${batches.length})`);
  const rows = await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${p.name}`, 'external_ids:ocn-owner-type=endpoint', `external_ids:ocn-network=${id}`);
  assert.equal(rows.split(/\s+/).filter(Boolean).length, 51, 'one endpoint row per endpoint');
  for (const x of ports) assert.ok(await linkExists(x));
  await Promise.all([...eps, warm].map((e) => ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: id, EndpointID: e })));
  assert.equal(await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${p.name}`, 'external_ids:ocn-owner-type=endpoint', `external_ids:ocn-network=${id}`), '', 'no endpoint port left');
  for (const x of ports) assert.ok(await waitGone(x, 10_000), `veth ${x} removed`);
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  assert.deepEqual(await pooled(id), []);
});

test('kill -9 and restart: free pooled ports are adopted and handed out; one whose veth vanished is removed', async () => {
  const id = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(id, '10.217.0.0/24', undefined, { bridge: BR, vlan: '217', gateway: 'external' }));
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: hexId(), Interface: { Address: '10.217.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const free = await waitPooled(id, 4);
  await p.kill9();
  const [lost, ...kept] = free;
  await runOk('ip', ['link', 'del', lost]);
  await p.restart();
  const e = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: id, EndpointID: e, Interface: { Address: '10.217.0.3/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
  const port = await hostPortOf(p, id, e);
  assert.ok(kept.includes(port), `an adopted pooled port was handed out (${port} in ${kept})`);
  assert.equal((await vsctlRun('get', 'Interface', lost, 'name')).code, 1, 'the port whose veth vanished was removed');
  const rec = [...p.logRecords()].reverse().find((r) => r.msg === 'state loaded and reconciled');
  assert.equal(rec?.poolRemoved, 1, 'start-up reported it');
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: id });
  assert.deepEqual(await pooled(id), []);
});
