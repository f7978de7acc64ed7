// Plain networks on hosts that are OVN chassis (ovn-controller running, Geneve): they stay off
// OVN's integration bridge, plain overlays tunnel on UDP ports of their own beside OVN's tunnels,
// the patch ports to the tunnel bridge carry only the overlays' VLANs, and a port OVS refuses
// is reported at once with OVS's reason.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startLab, Lab, LabHost } from '../lab/lab';
import type { CallResult, Plugin } from '../harness/plugin';
import { run, runOk } from '../harness/exec';
import { attach, createNetwork, createNetworkDefaultIpam, deleteAllNetworks, detach, hexId, ok, ping, rpc, Ctr, tcpHello } from './attach';

let lab: Lab;
const plugins: Plugin[] = [];
const ctrs: Ctr[] = [];
const tag = Math.random().toString(16).slice(2, 6);
const names: string[] = [];
const ns = (n: string) => { const x = `ocnc${tag}${n}`; names.push(x); return x; };

const daemonArgs = (h: LabHost): string[] => [
  // The NB over its unix socket: a test below pauses a host's ovs-vswitchd, which carries its TCP.
  '--ovn-nb', lab.nbUnix, '--underlay-mtu', '1600',
  '--peers', lab.hosts.filter((x) => x !== h).map((x) => x.ip).join(','),
];

before(async () => {
  lab = await startLab({ hosts: 2, ovn: true, encap: 'geneve' });
  for (const h of lab.hosts) plugins.push(await h.startPlugin(daemonArgs(h)));
});
after(async () => {
  for (const n of names) await run('ip', ['netns', 'del', n]);
  await lab?.destroy();
});

/** The OVS port (host end of the veth) of an endpoint. */
async function portOf(c: Ctr): Promise<string> {
  return c.host.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-endpoint=${c.endpointId}`);
}

/** CreateNetwork with Docker's default IPAM (the plugin's IPAM is not involved), timed. */
async function tryCreate(p: Plugin, subnet: string, gateway: string, opts: Record<string, string>, id = hexId()): Promise<{ id: string; ms: number; r: CallResult<{ Err?: string }> }> {
  const t0 = Date.now();
  const r = await p.call<{ Err?: string }>('NetworkDriver.CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: gateway }], IPv6Data: [],
  }, { timeoutMs: 60_000 });
  return { id, ms: Date.now() - t0, r };
}

/** Nothing of the network in this host's OVSDB: no port, no record. */
async function assertNoTrace(h: LabHost, id: string): Promise<void> {
  assert.equal(await h.vsctl('--bare', '--columns=name', 'find', 'Port', `external_ids:ocn-network=${id}`), '', 'no port of the network');
  assert.ok(!(await h.vsctl('get', 'Open_vSwitch', '.', 'external_ids')).includes(id), 'no record of the network');
}

test('a network with default options on an OVN chassis is on br-ocn, not OVN\'s br-int: two containers on one host reach each other', async () => {
  const h = lab.hosts[0];
  const net = await createNetwork(plugins[0], '10.77.0.0/24', {});
  const a = await attach(h, plugins[0], net, ns('d1'));
  const b = await attach(h, plugins[0], net, ns('d2'));
  ctrs.push(a, b);
  assert.ok(await ping(a.ns, b.ip), 'container -> container on the same host');
  assert.ok(await ping(b.ns, net.gateway.split('/')[0]), 'container -> its gateway');
  for (const c of [a, b]) assert.equal(await h.vsctl('port-to-br', await portOf(c)), 'br-ocn', 'the port is on br-ocn');
  const onInt = (await h.vsctl('list-ports', 'br-int')).split('\n');
  assert.ok(!onInt.some((p) => p.startsWith('ocn')), `no port of ours on br-int: ${onInt.join(' ')}`);
  for (const c of ctrs.splice(0)) await detach(c);
  await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: net.id });
});

test('-o bridge=br-int without ovn.switch is refused (why, and what to give instead) and creates nothing', async () => {
  const h = lab.hosts[0];
  const iptables = (await h.execOk('iptables-save')).stdout.replace(/^#.*$/gm, '');
  const { id, r } = await tryCreate(plugins[0], '10.78.0.0/24', '10.78.0.1/24', { bridge: 'br-int' });
  assert.notEqual(r.status, 200, 'refused');
  assert.match(r.body.Err ?? '', /option bridge: "br-int" is OVN's integration bridge/);
  assert.match(r.body.Err ?? '', /ovn\.switch=<name>/);
  assert.match(r.body.Err ?? '', /br-ocn/);
  await assertNoTrace(h, id);
  assert.equal((await h.execOk('iptables-save')).stdout.replace(/^#.*$/gm, ''), iptables, 'iptables unchanged');
});

test('plain Geneve and VXLAN overlays across two OVN Geneve chassis, on their own UDP ports; an OVN network on the same hosts keeps working', async () => {
  const ovn = await Promise.all(plugins.map((p) => createNetwork(p, '10.76.0.0/24', { 'ovn.switch': 'ls-chassis' })));
  const o = await Promise.all(lab.hosts.map((h, i) => attach(h, plugins[i], ovn[i], ns(`n${i}`))));
  ctrs.push(...o);
  assert.ok(await ping(o[0].ns, o[1].ip), 'OVN network before the overlays');
  const gn = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.74.0.0/24', { overlay: 'geneve', vni: '7001' }, undefined, `10.74.0.${64 * (i + 1)}/26`)));
  const vx = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.75.0.0/24', { overlay: 'vxlan', vni: '7002' }, undefined, `10.75.0.${64 * (i + 1)}/26`)));
  const g = await Promise.all(lab.hosts.map((h, i) => attach(h, plugins[i], gn[i], ns(`g${i}`))));
  const v = await Promise.all(lab.hosts.map((h, i) => attach(h, plugins[i], vx[i], ns(`v${i}`))));
  ctrs.push(...g, ...v);
  assert.ok(await ping(g[0].ns, g[1].ip), 'geneve h1 -> h2');
  assert.ok(await ping(v[1].ns, v[0].ip), 'vxlan h2 -> h1');
  assert.match(await tcpHello(g[0], g[1], 7101, 'hello-geneve'), /hello-geneve/);
  assert.match(await tcpHello(v[1], v[0], 7102, 'hello-vxlan'), /hello-vxlan/);
  assert.ok(await ping(o[1].ns, o[0].ip), 'OVN network after the overlays');
  assert.match(await tcpHello(o[0], o[1], 7103, 'hello-ovn'), /hello-ovn/);
  const h = lab.hosts[0];
  assert.equal(await h.vsctl('port-to-br', await portOf(g[0])), 'br-ocn', 'overlays share the plain default bridge');
  const tunnels = (await h.vsctl('list-ports', 'br-ocn-tun')).split('\n').filter((p) => /^oc(gn|vx)/.test(p));
  assert.equal(tunnels.length, 2);
  for (const t of tunnels) {
    assert.equal(await h.vsctl('get', 'Interface', t, 'error'), '[]', `${t} opened`);
    assert.equal(await h.vsctl('get', 'Interface', t, 'options:dst_port'), t.startsWith('ocgn') ? '"6082"' : '"4792"');
  }
  const ovnTunnel = (await h.vsctl('list-ports', 'br-int')).split('\n').find((p) => p.startsWith('ovn-'));
  assert.ok(ovnTunnel, "OVN's tunnel is still there");
  assert.equal(await h.vsctl('get', 'Interface', ovnTunnel, 'error'), '[]');


  // Another UDP port (here: on a restart with another --overlay-geneve-port) is another tunnel.
  await plugins[0].stop();
  plugins[0] = await h.startPlugin([...daemonArgs(h), '--overlay-geneve-port', '6090']);
  await plugins[1].stop();
  plugins[1] = await lab.hosts[1].startPlugin([...daemonArgs(lab.hosts[1]), '--overlay-geneve-port', '6090']);
  const geneveTunnel = async () => (await h.vsctl('list-ports', 'br-ocn-tun')).split('\n').filter((p) => p.startsWith('ocgn'));
  for (let i = 0; i < 50 && (await geneveTunnel()).includes(tunnels.find((t) => t.startsWith('ocgn'))!); i++) await new Promise((r) => setTimeout(r, 100));
  const [moved] = await geneveTunnel();
  assert.ok(moved && !tunnels.includes(moved), 'the old tunnel replaced at start');
  assert.equal(await h.vsctl('get', 'Interface', moved, 'options:dst_port'), '"6090"');
  assert.ok(await ping(g[1].ns, g[0].ip), 'geneve h2 -> h1 on the new port');
  for (const c of ctrs.splice(0)) await detach(c);
  for (const p of plugins) await deleteAllNetworks(p);
});

test('patch ports trunk only the overlay VLANs: a VLAN-100 broadcast on the same bridge never enters the tunnels, overlay traffic does; trunks follow the networks', async () => {
  const [h1, h2] = lab.hosts;
  const br = 'br-tr';
  const vx = await Promise.all(plugins.map((p, i) => createNetwork(p, '10.72.0.0/24', { bridge: br, overlay: 'vxlan', vni: '6001' }, undefined, `10.72.0.${64 * (i + 1)}/26`)));
  const vx2 = await createNetwork(plugins[0], '10.71.0.0/24', { bridge: br, overlay: 'vxlan', vni: '6002' });
  const plain = await createNetwork(plugins[0], '10.73.0.0/24', { bridge: br, vlan: '100' });
  const o1 = await attach(h1, plugins[0], vx[0], ns('t1'));
  const o2 = await attach(h2, plugins[1], vx[1], ns('t2'));
  const x1 = await attach(h1, plugins[0], vx2, ns('t3'));
  const p1 = await attach(h1, plugins[0], plain, ns('t4'));
  ctrs.push(o1, o2, x1, p1);
  const patch = (await h1.vsctl('list-ports', br)).split('\n').find((p) => p.startsWith('ocnp'));
  assert.ok(patch, 'patch port on the network bridge');
  const peer = patch.replace(/^ocnp/, 'ocnq');
  const tagOf = async (c: Ctr) => Number(await h1.vsctl('get', 'Port', await portOf(c), 'tag'));

  // Count what enters the tunnel bridge from the patch in VLAN 100 with a probe flow. The healing
  // loop rewrites the bridge's flows every few seconds and drops it: a round whose probe was
  // dropped before it was read (NaN) is tried again.
  const packets = async (match: string) => Number(/n_packets=(\d+)/.exec(await h1.ofctl('dump-flows', 'br-ocn-tun', match))?.[1] ?? NaN);
  // The product's flow that sends the VXLAN overlay's frames from the patch into the tunnels.
  const toTunnels = `in_port=${peer},dl_vlan=${await tagOf(o1)}`;
  const sent0 = await packets(toTunnels);
  // ARP requests are broadcasts: flooded to every port of VLAN 100 on the bridge. The gateway answers.
  let probed = NaN;
  for (let round = 0; round < 8 && Number.isNaN(probed); round++) {
    await h1.ofctl('add-flow', 'br-ocn-tun', `cookie=0x7e57,priority=200,in_port=${peer},dl_vlan=100,actions=drop`);
    const arp = await run('ip', ['netns', 'exec', p1.ns, 'busybox', 'arping', '-c', '2', '-w', '2', '-I', 'eth0', plain.gateway.split('/')[0]], { timeoutMs: 15_000 });
    assert.equal(arp.code, 0, `the VLAN-100 broadcasts went out on the bridge: ${arp.stdout}${arp.stderr}`);
    probed = await packets('cookie=0x7e57/-1');
  }
  assert.equal(probed, 0, 'no VLAN-100 frame entered the tunnel bridge');
  assert.ok(await ping(o1.ns, o2.ip, 3), 'overlay h1 -> h2');
  assert.ok((await packets(toTunnels)) >= sent0 + 3, 'overlay frames still enter the tunnel bridge and go to the tunnels');

  // The patch pair trunks only the overlays' VLANs.
  const overlayVlans = [await tagOf(o1), await tagOf(x1)].sort((a, b) => a - b);
  const trunks = async (port: string) => (await h1.vsctl('get', 'Port', port, 'trunks')).replace(/[[\]\s]/g, '');
  assert.equal(await trunks(patch), overlayVlans.join(','), 'network-bridge side: the overlays\' VLANs');
  assert.equal(await trunks(peer), overlayVlans.join(','), 'tunnel-bridge side: the same');

  // Networks come and go: the trunks follow in the same transaction as the rest.
  await detach(x1);
  ctrs.splice(ctrs.indexOf(x1), 1);
  await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: vx2.id });
  assert.equal(await trunks(patch), String(await tagOf(o1)), 'the deleted overlay\'s VLAN is gone');
  const vx3 = await createNetwork(plugins[0], '10.70.0.0/24', { bridge: br, overlay: 'vxlan', vni: '6003' });
  const vlans = (await trunks(patch)).split(',').map(Number);
  assert.equal(vlans.length, 2, 'a new overlay\'s VLAN is added');
  assert.ok(!vlans.includes(100));
  await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: vx3.id });
  assert.ok(await ping(o2.ns, o1.ip), 'the remaining overlay still works');
  for (const c of ctrs.splice(0)) await detach(c);
  for (const p of plugins) await deleteAllNetworks(p);
});

test('a gateway port OVS refuses fails CreateNetwork at once with the Interface error, and nothing is left', async () => {
  const h = lab.hosts[0];
  const id = hexId();
  const taken = `ocng${id.slice(0, 11)}`; // the gateway port's name: a veth is no tap, OVS cannot open it
  await h.execOk('ip', ['link', 'add', taken, 'type', 'veth', 'peer', 'name', `ocnx${tag}`]);
  try {
    const { ms, r } = await tryCreate(plugins[0], '10.79.0.0/24', '10.79.0.1/24', {}, id);
    console.log(`# refused gateway port answered in ${ms} ms`);
    assert.notEqual(r.status, 200, 'refused');
    assert.match(r.body.Err ?? '', new RegExp(`refused port ${taken}: could not open network device ${taken}`));
    assert.ok(ms < 1000, `answered in ${ms} ms`);
    await assertNoTrace(h, id);
    assert.equal((await h.exec('ip', ['addr', 'show', taken])).stdout.includes('10.79.0.1'), false, 'the foreign link was not configured');
  } finally {
    await h.exec('ip', ['link', 'del', taken]);
  }
});

for (const kind of ['plain', 'OVN'] as const) {
  test(`an endpoint port OVS refuses fails Join at once with the Interface error (${kind} network)`, async () => {
    const h = lab.hosts[0];
    const net = await createNetwork(plugins[0], kind === 'plain' ? '10.80.0.0/24' : '10.82.0.0/24', kind === 'plain' ? {} : { 'ovn.switch': 'ls-refused' });
    const addr = await ok<{ Address: string }>(plugins[0], 'IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: null });
    const endpointId = hexId();
    // ovs-vswitchd paused: the port is in OVSDB, and its device is gone before OVS opens it.
    const vswitchd = Number(fs.readFileSync(path.join(h.dir, 'ovs-vswitchd.pid'), 'utf8').trim());
    process.kill(vswitchd, 'SIGSTOP');
    let port = '';
    try {
      await ok(plugins[0], 'NetworkDriver.CreateEndpoint', { NetworkID: net.id, EndpointID: endpointId, Interface: { Address: addr.Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
      port = await h.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-endpoint=${endpointId}`);
      await h.execOk('ip', ['link', 'del', port]);
    } finally {
      process.kill(vswitchd, 'SIGCONT');
    }
    const t0 = Date.now();
    const r = await plugins[0].call<{ Err?: string }>('NetworkDriver.Join', { NetworkID: net.id, EndpointID: endpointId, SandboxKey: '/var/run/docker/netns/none', Options: {} }, { timeoutMs: 30_000 });
    const ms = Date.now() - t0;
    console.log(`# refused endpoint port (${kind}) answered in ${ms} ms`);
    assert.notEqual(r.status, 200, 'Join refused');
    assert.match(r.body.Err ?? '', new RegExp(`refused port ${port}: could not open network device ${port} \\(No such device\\)`));
    // The old waits: 2 s then a Join that "worked" (plain), 10 s for ovn-installed (OVN).
    assert.ok(ms < 1000, `answered in ${ms} ms`);
    await ok(plugins[0], 'NetworkDriver.DeleteEndpoint', { NetworkID: net.id, EndpointID: endpointId });
    await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: net.id });
  });
}

test("a tunnel OVS refuses (--overlay-geneve-port 6081, OVN's own) fails CreateNetwork at once, naming the port; deletes still work; nothing is left", async () => {
  const h = lab.hosts[0];
  await deleteAllNetworks(plugins[0]);
  const older = [
    await createNetworkDefaultIpam(plugins[0], '10.83.0.0/24', '10.83.0.1/24', { overlay: 'geneve', vni: '7211' }),
    await createNetworkDefaultIpam(plugins[0], '10.84.0.0/24', '10.84.0.1/24', { overlay: 'geneve', vni: '7212' }),
  ];
  await plugins[0].stop();
  plugins[0] = await h.startPlugin([...daemonArgs(h), '--overlay-geneve-port', '6081']);
  const refusedCreate = async (): Promise<void> => {
    const { id, ms, r } = await tryCreate(plugins[0], '10.81.0.0/24', '10.81.0.1/24', { overlay: 'geneve', vni: '7201' });
    console.log(`# refused tunnel port answered in ${ms} ms: ${r.body.Err}`);
    assert.notEqual(r.status, 200, 'refused');
    assert.match(r.body.Err ?? '', /refused port ocgn[0-9a-f]{8}: could not add network device ocgn[0-9a-f]{8} to ofproto \(File exists\)/);
    assert.match(r.body.Err ?? '', /--overlay-geneve-port/);
    assert.ok(ms < 2000, `answered in ${ms} ms (the old answer came after 5 s)`);
    await assertNoTrace(h, id);
  };
  // The tunnel the older networks want is refused since the restart.
  await refusedCreate();
  for (const n of older) await ok(plugins[0], 'NetworkDriver.DeleteNetwork', { NetworkID: n.id });
  // A host without overlay networks: the tunnel is added by the create, refused, removed again.
  await refusedCreate();
  assert.equal((await h.exec('ovs-vsctl', ['--db', h.ovsdbRemote, 'br-exists', 'br-ocn-tun'])).code, 2, 'tunnel bridge removed again');
  assert.deepEqual(await rpc(plugins[0], 'networks.list'), []);
});
