// OVN over VXLAN between two lab hosts, `-o ovn.encap` checked against the chassis, the
// Docker default IPAM refused for a network spanning hosts, and the global scope mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLab, Lab } from '../lab/lab';
import type { Plugin } from '../harness/plugin';
import { run } from '../harness/exec';
import { attach, createNetwork, createNetworkDefaultIpam, hexId, ok, ping, Ctr, ovnChassisUp } from './attach';

let lab: Lab;
const plugins: Plugin[] = [];
const names: string[] = [];
const tag = Math.random().toString(16).slice(2, 6);
const ns = (n: string) => { const x = `ocnv${tag}${n}`; names.push(x); return x; };

before(async () => {
  lab = await startLab({ hosts: 2, ovn: true, chassis: 'external', encap: 'vxlan' });
  await ovnChassisUp(lab);
  plugins.push(await lab.hosts[0].startPlugin(['--ovn-nb', lab.nbRemote]));
  plugins.push(await lab.hosts[1].startPlugin(['--ovn-nb', lab.nbRemote, '--scope', 'global']));
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

test('containers on two hosts reach each other over VXLAN tunnels', async () => {
  const tunnels = await lab.hosts[0].vsctl('--bare', '--columns=type', 'find', 'Interface', 'type=vxlan');
  assert.match(tunnels, /vxlan/, 'ovn-controller built VXLAN tunnels');
  const nets = [];
  for (const p of plugins) nets.push(await createNetwork(p, '10.56.0.0/24', { 'ovn.switch': 'vx', 'ovn.encap': 'vxlan' }));
  const a: Ctr = await attach(lab.hosts[0], plugins[0], nets[0], ns('a'));
  const b: Ctr = await attach(lab.hosts[1], plugins[1], nets[1], ns('b'));
  assert.ok(await ping(a.ns, b.ip), 'h1 -> h2 over VXLAN');
});

test('ovn.encap must match the chassis; Docker default IPAM is refused for OVN networks', async () => {
  const r = await plugins[0].call<{ Err: string }>('NetworkDriver.CreateNetwork', {
    NetworkID: hexId(), Options: { 'com.docker.network.generic': { 'ovn.switch': 'x', 'ovn.encap': 'geneve' } },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: '10.57.0.0/24' }], IPv6Data: [],
  });
  assert.match(r.body.Err, /ovn.encap=geneve conflicts with this chassis' ovn-encap-type vxlan/);
  const d = await plugins[0].call<{ Err: string }>('NetworkDriver.CreateNetwork', {
    NetworkID: hexId(), Options: { 'com.docker.network.generic': { 'ovn.switch': 'y' } },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: '172.18.0.0/16', Gateway: '172.18.0.1/16' }], IPv6Data: [],
  });
  assert.match(d.body.Err, /ovn.switch networks span hosts: create them with --ipam-driver/);
  assert.equal(await lab.nbctl('--bare', '--columns=name', 'find', 'Logical_Switch', 'name=y'), '', 'nothing created');
  // null IPAM (external DHCP on the segment) is accepted
  const n = await createNetworkDefaultIpam(plugins[0], '0.0.0.0/0', '', { 'ovn.switch': 'ext-dhcp' });
  await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: n.id });
});

test('--scope global: capabilities, AllocateNetwork echoes the options, the same pool in both spaces', async () => {
  const g = plugins[1];
  const caps = await ok<{ Scope: string; ConnectivityScope: string }>(g, 'NetworkDriver.GetCapabilities');
  assert.deepEqual(caps, { Scope: 'global', ConnectivityScope: 'global' });
  const local = await ok<{ Scope: string; ConnectivityScope: string }>(plugins[0], 'NetworkDriver.GetCapabilities');
  assert.deepEqual(local, { Scope: 'local', ConnectivityScope: 'global' });
  const opts = { 'ovn.switch': 'swarmnet' };
  const alloc = await ok<{ Options: Record<string, string> }>(g, 'NetworkDriver.AllocateNetwork', { NetworkID: 'mhy8un3buzoxw0bkdccl9lp1b', Options: opts, IPv4Data: [{ AddressSpace: '', Pool: '10.58.0.0/24', Gateway: '10.58.0.1/24' }], IPv6Data: null });
  assert.deepEqual(alloc.Options, opts);
  const ov = await ok<{ Options: Record<string, string> }>(g, 'NetworkDriver.AllocateNetwork', { NetworkID: 'ovl' + 'a'.repeat(22), Options: { overlay: 'vxlan', vni: '77' }, IPv4Data: [], IPv6Data: null });
  assert.deepEqual(ov.Options, { overlay: 'vxlan', vni: '77', mtu: '1450' }, 'the chosen overlay MTU is in the swarm network options');
  const bad = await g.call<{ Err: string }>('NetworkDriver.AllocateNetwork', { NetworkID: 'z'.repeat(25), Options: { vlan: '9999' }, IPv4Data: [], IPv6Data: null });
  assert.match(bad.body.Err, /option vlan/);
  // Manager (global space) and node (local space) request the same pool and addresses.
  const mgr = await ok<{ PoolID: string }>(g, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-global', Pool: '10.58.0.0/24', SubPool: '', Options: null, V6: false });
  const node = await ok<{ PoolID: string }>(g, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '10.58.0.0/24', SubPool: '', Options: null, V6: false });
  assert.notEqual(mgr.PoolID, node.PoolID);
  await ok(g, 'IpamDriver.RequestAddress', { PoolID: mgr.PoolID, Address: '10.58.0.7', Options: { 'com.docker.network.ipam.serial': 'true' } });
  await ok(g, 'IpamDriver.RequestAddress', { PoolID: node.PoolID, Address: '10.58.0.7', Options: null });
  await ok(g, 'NetworkDriver.FreeNetwork', { NetworkID: 'mhy8un3buzoxw0bkdccl9lp1b' });
});
