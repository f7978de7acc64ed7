// OVN Northbound logic against a real ovsdb-server with the NB schema: switches bound by name
// from several "hosts", cluster-wide address reservations under contention, ports, routers,
// DHCP, and deletion that only ever removes what the plugin created.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startOvsdbServer, OvsdbServer, OVN_NB_SCHEMA } from '../ovsdb/server';
import { OvsdbClient } from '../../src/ovsdb/client';
import { AddressBook } from '../../src/ovn/address-book';
import { Ipam, parseAutoPoolRange, LOCAL_SPACE } from '../../src/ipam/ipam';
import { MemoryKvStore } from '../../src/state/kv';
import { parseNetworkOptions } from '../../src/driver/options';
import type { NetworkRecord, Endpoint } from '../../src/driver/model';
import { ovnHost } from './ovn-faults';

let server: OvsdbServer;
const clients: OvsdbClient[] = [];

const host = (name: string) => ovnHost(server.remote, name, clients);
const nbctl = (...args: string[]) => execFileSync('ovn-nbctl', [`--db=${server.remote}`, ...args], { encoding: 'utf8' }).trim();

function network(id: string, opts: Record<string, string>, pool = '10.60.0.0/24', gw = '10.60.0.1/24'): NetworkRecord {
  return {
    id, options: parseNetworkOptions(opts, false), datapath: 'netdev', mtu: 1442, internal: false,
    ipv4: [{ AddressSpace: LOCAL_SPACE, Pool: pool, Gateway: gw }], ipv6: [], createdBridge: false, createdUplink: false,
  };
}

before(async () => {
  server = await startOvsdbServer(OVN_NB_SCHEMA);
});
after(async () => {
  for (const c of clients) c.close();
  await server?.stop();
});

test('the same switch name on three hosts is one switch, removed with its last network', async () => {
  const hosts = await Promise.all(['h1', 'h2', 'h3'].map(host));
  const nets = hosts.map((_, i) => network(`net${i}`.padEnd(64, '0'), { 'ovn.switch': 'blue' }));
  await Promise.all(hosts.map((h, i) => h.ovn.bind(nets[i])));
  assert.equal(nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=blue'), 'blue', 'exactly one switch despite the race');
  await hosts[0].ovn.unbind(nets[0]);
  await hosts[1].ovn.unbind(nets[1]);
  assert.equal(nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=blue'), 'blue', 'still referenced by h3');
  await hosts[2].ovn.unbind(nets[2]);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=blue'), '');
});

test("a user's switch is bound, never deleted", async () => {
  nbctl('ls-add', 'users-own');
  const h = await host('h1');
  const net = network('u'.padEnd(64, '0'), { 'ovn.switch': 'users-own' });
  await h.ovn.bind(net);
  await h.ovn.unbind(net);
  assert.equal(nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=users-own'), 'users-own');
  nbctl('ls-del', 'users-own');
});

test('a switch carrying another subnet is refused with a clear error', async () => {
  const h = await host('h1');
  const a = network('a'.padEnd(64, '0'), { 'ovn.switch': 'subnets' }, '10.61.0.0/24', '10.61.0.1/24');
  await h.ovn.bind(a);
  const b = network('b'.padEnd(64, '0'), { 'ovn.switch': 'subnets' }, '10.62.0.0/24', '10.62.0.1/24');
  await assert.rejects(h.ovn.bind(b), /carries subnet 10.61.0.0\/24; this network has 10.62.0.0\/24/);
  await h.ovn.unbind(a);
});

test('50 concurrent allocations spread over 3 hosts give 50 distinct addresses', async () => {
  const hosts = await Promise.all(['h1', 'h2', 'h3'].map(host));
  const nets = hosts.map((_, i) => network(`c${i}`.padEnd(64, '0'), { 'ovn.switch': 'busy' }, '10.63.0.0/24', '10.63.0.1/24'));
  const ipams: { ipam: Ipam; pool: string }[] = [];
  for (const [i, h] of hosts.entries()) {
    await h.ovn.bind(nets[i]);
    const ipam = new Ipam(new MemoryKvStore(), h.name, { v4: parseAutoPoolRange('10.128.0.0/11:24', 'x'), v6: parseAutoPoolRange('fd00::/32:64', 'x') });
    const pool = await ipam.requestPool({ AddressSpace: LOCAL_SPACE, Pool: '10.63.0.0/24', SubPool: '', Options: null, V6: false });
    await ipam.requestAddress({ PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
    await ipam.bindNetwork(LOCAL_SPACE, '10.63.0.0/24', nets[i].id, h.ovn.book(nets[i]));
    ipams.push({ ipam, pool: pool.PoolID });
  }
  const got = await Promise.all(Array.from({ length: 50 }, (_, k) => ipams[k % 3].ipam.requestAddress({ PoolID: ipams[k % 3].pool, Address: '', Options: null })));
  const addrs = got.map((g) => g.Address);
  assert.equal(new Set(addrs).size, 50, `distinct: ${addrs.join(' ')}`);
  assert.ok(!addrs.includes('10.63.0.1/24'), 'the shared gateway is never handed out');
  // A static address another host holds is refused.
  const taken = addrs[0].split('/')[0];
  const owner = addrs.indexOf(addrs[0]) % 3;
  const other = ipams[(owner + 1) % 3];
  await assert.rejects(other.ipam.requestAddress({ PoolID: other.pool, Address: taken, Options: null }), /already in use .* on another host/);
  // Released addresses return to the shared pool.
  const book = new AddressBook(hosts[0].nb, 'busy', 'h1');
  const before = book.taken().size;
  await ipams[0].ipam.releaseAddress({ PoolID: ipams[0].pool, Address: got[0].Address.split('/')[0] });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(book.taken().size, before - 1);
});

test('logical ports carry MAC+IP port security; router and DHCP per switch', async () => {
  const h = await host('h1');
  const net = network('p'.padEnd(64, '0'), { 'ovn.switch': 'ports', tenant_id: 'acme', dhcp: 'true', 'dhcp.dns': '10.64.0.53', 'dhcp.domain': 'example.test' }, '10.64.0.0/24', '10.64.0.1/24');
  await h.ovn.bind(net);
  const ep: Endpoint = { id: 'e'.repeat(64), networkId: net.id, hostIf: 'ocnheeeeeeeeeee', peerIf: 'ocnceeeeeeeeeee', mac: '0a:58:0a:40:00:05', ipv4: '10.64.0.5/24', macGenerated: true, ports: [] };
  await h.ovn.addPort(net, ep);
  const lsp = `ocn-${ep.id}`;
  assert.equal(nbctl('lsp-get-addresses', lsp), '0a:58:0a:40:00:05 10.64.0.5');
  assert.equal(nbctl('lsp-get-port-security', lsp), '0a:58:0a:40:00:05 10.64.0.5');
  assert.match(nbctl('lsp-get-dhcpv4-options', lsp), /10.64.0.0\/24/);
  const opts = nbctl('dhcp-options-get-options', nbctl('--bare', '--columns=_uuid', 'find', 'DHCP_Options', 'cidr="10.64.0.0/24"'));
  for (const kv of ['router=10.64.0.1', 'dns_server=10.64.0.53', 'lease_time=3600', 'mtu=1442', 'domain_name="example.test"']) assert.ok(opts.includes(kv), `${kv} in ${opts}`);
  assert.match(nbctl('lr-list'), /ocn-acme/);
  assert.match(nbctl('lrp-get-enabled', 'ocn-lrp-ports') + nbctl('--bare', '--columns=networks', 'list', 'Logical_Router_Port', 'ocn-lrp-ports'), /10.64.0.1\/24/);
  await h.ovn.deletePort(ep.id);
  assert.equal(nbctl('--bare', '--columns=name', 'find', 'Logical_Switch_Port', `name=${lsp}`), '');
  await h.ovn.unbind(net);
  assert.doesNotMatch(nbctl('lr-list'), /ocn-acme/, 'the router went with its last port');
  assert.equal(nbctl('--bare', '--columns=_uuid', 'find', 'DHCP_Options', 'cidr="10.64.0.0/24"'), '');
});
