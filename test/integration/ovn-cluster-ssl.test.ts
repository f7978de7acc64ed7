// ssl: remotes through the real daemon: the local Open_vSwitch database and the OVN Northbound
// both served by ovsdb-server on pssl: (loopback, certificates made by the test with openssl),
// the daemon given --ovsdb-private-key/-certificate/-ca-cert and the --ovn-nb-* twins. An ssl:
// remote without its files is refused at start, naming the missing flags.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { startPlugin, pluginBinPath, type Plugin } from '../harness/plugin';
import { startOvsdbServer, OVN_NB_SCHEMA, VSWITCH_SCHEMA, type OvsdbServer } from '../ovsdb/server';
import { hexId, ok } from './helpers';

let nb: OvsdbServer;
let local: OvsdbServer;
let p: Plugin | undefined;

before(async () => {
  nb = await startOvsdbServer(OVN_NB_SCHEMA, { ssl: true });
  local = await startOvsdbServer(VSWITCH_SCHEMA, { ssl: true });
  const vsctl = (...a: string[]) => execFileSync('ovs-vsctl', ['--no-wait', `--db=${local.remote}`, ...a]);
  vsctl('init');
  vsctl('add-br', 'br-int', '--', 'set', 'Bridge', 'br-int', 'datapath_type=netdev');
});
after(async () => {
  await p?.stop();
  await nb?.stop();
  await local?.stop();
});

test('the daemon works with ssl: remotes for OVSDB and the OVN Northbound', async () => {
  const [l, n] = [local.sslFiles!, nb.sslFiles!];
  p = await startPlugin({
    ovsdb: local.sslRemote!,
    args: ['--ovsdb-private-key', l.key, '--ovsdb-certificate', l.cert, '--ovsdb-ca-cert', l.ca,
      '--ovn-nb', nb.sslRemote!, '--ovn-nb-private-key', n.key, '--ovn-nb-certificate', n.cert, '--ovn-nb-ca-cert', n.ca],
  });
  const pool = await ok<{ PoolID: string }>(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.233.0.0/24', SubPool: '', Options: null, V6: false });
  const gw = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  const networkId = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: networkId, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { 'ovn.switch': 'over-ssl' } },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: '10.233.0.0/24', Gateway: gw.Address }], IPv6Data: [],
  });
  const a = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: null });
  const eid = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: eid, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  const nbctl = (...args: string[]) => execFileSync('ovn-nbctl', [`--db=${nb.remote}`, ...args], { encoding: 'utf8' }).trim();
  assert.match(nbctl('--bare', '--columns=addresses', 'find', 'Logical_Switch_Port', `external_ids:ocn-endpoint=${eid}`), new RegExp(a.Address.split('/')[0].replace(/\./g, '\\.')));
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: eid });
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: networkId });
});

test('an ssl: remote without its key, certificate and CA files is refused at start, naming the flags', () => {
  const r = spawnSync('node', [pluginBinPath(), 'daemon', '--name', 'ocn-ssl-bad', '--plugin-dir', '/tmp', '--ovn-nb', 'ssl:127.0.0.1:6641', '--ovn-nb-private-key', '/x.pem'], { encoding: 'utf8', timeout: 20_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stdout + r.stderr, /--ovn-nb "ssl:127\.0\.0\.1:6641" uses ssl: and needs --ovn-nb-certificate, --ovn-nb-ca-cert/);
});
