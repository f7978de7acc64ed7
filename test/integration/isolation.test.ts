// Isolation with real traffic, the daemon driven at its socket: networks apart at L3 in both
// directions (IPv4 and IPv6) unless they share a tenant, the host and the outside still reached;
// access ports that drop 802.1Q frames a container sends; a VLAN of its own for every network
// on a bridge, collisions refused without a trace in OVS or iptables.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { startPlugin, Plugin } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { run, runOk } from '../harness/exec';
import { createNetns, deleteNetns, makeOutsideWorld, OutsideWorld, nsExec } from '../harness/netns';
import { purgeOurChains } from '../e2e/helpers';
import { framesSeen, sendFrames } from '../harness/frames';
import { ok, err, hexId, createNetworkBody, attach, arpReachable, Attached } from './helpers';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `bri${tag}`;
let p: Plugin;
let world: OutsideWorld;
const namespaces: string[] = [];
const extraLinks: string[] = [];

before(async () => {
  await ensureSystemOvs();
  const [pr, wr] = await Promise.allSettled([
    startPlugin(),
    makeOutsideWorld({ name: `iso${tag}`, hostIp: '198.51.100.1', outsideIp: '198.51.100.2', ipv6: { hostIp: '2001:db8:51::1', outsideIp: '2001:db8:51::2', prefixLen: 64 } }),
  ]);
  if (pr.status === 'fulfilled') p = pr.value;
  if (wr.status === 'fulfilled') world = wr.value;
  if (pr.status === 'rejected') throw pr.reason;
  if (wr.status === 'rejected') throw wr.reason;
});
after(async () => {
  await p?.stop();
  if (p) await purgeOurChains(p.name);
  for (const ns of namespaces) await deleteNetns(ns);
  for (const l of extraLinks) await run('ip', ['link', 'del', l]);
  await world?.destroy();
  await vsctlRun('--if-exists', 'del-br', BR);
});

interface DualNet {
  id: string;
  v4: string; // the container's address, CIDR
  v6: string;
  gw4: string;
  gw6: string;
}

/** A gateway=local dual-stack network 10.N.0.0/24 + fd31:N::/64 and one attached container. */
async function dualNetwork(n: number, opts: Record<string, string>): Promise<DualNet & { ctr: Attached }> {
  const id = hexId();
  const net: DualNet = { id, v4: `10.${n}.0.2/24`, v6: `fd31:${n}::2/64`, gw4: `10.${n}.0.1`, gw6: `fd31:${n}::1` };
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': true, 'com.docker.network.generic': { bridge: BR, ...opts } },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: `10.${n}.0.0/24`, Gateway: `${net.gw4}/24` }],
    IPv6Data: [{ AddressSpace: 'LocalDefault', Pool: `fd31:${n}::/64`, Gateway: `${net.gw6}/64` }],
  });
  const ctr = await attach(p, id, net.v4, `i${n}${tag}`);
  namespaces.push(ctr.ns);
  await runOk('ip', ['-n', ctr.ns, 'addr', 'add', net.v6, 'dev', 'eth0', 'nodad']);
  await runOk('ip', ['-n', ctr.ns, 'route', 'add', 'default', 'via', net.gw4]);
  await runOk('ip', ['-n', ctr.ns, '-6', 'route', 'add', 'default', 'via', net.gw6]);
  return { ...net, ctr };
}

const addr = (cidr: string) => cidr.split('/')[0];

/** One echo, up to `tries` times (a starved userspace datapath may lose the first). */
async function pings(ns: string, target: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    const r = await nsExec(ns, 'busybox', ['ping', '-c', '1', '-W', '2', target], { timeoutMs: 10_000 });
    if (r.code === 0) return true;
  }
  return false;
}

test('L3: networks of other tenants never reach each other (IPv4 and IPv6, both ways); one tenant routes; the host and the outside are reached', async () => {
  const a = await dualNetwork(231, { tenant_id: 'acme', vlan: '231' });
  const b = await dualNetwork(232, { tenant_id: 'globex', vlan: '232' });
  const c = await dualNetwork(233, { tenant_id: 'acme', vlan: '233' });
  const d = await dualNetwork(234, {}); // no tenant: talks to no other network
  // The positive cases first: they prove the paths exist, so the negative ones mean isolation.
  assert.ok(await pings(a.ctr.ns, addr(c.v4)), 'acme -> acme (IPv4)');
  assert.ok(await pings(c.ctr.ns, addr(a.v4)), 'acme <- acme (IPv4)');
  assert.ok(await pings(a.ctr.ns, addr(c.v6)), 'acme -> acme (IPv6)');
  assert.ok(await pings(a.ctr.ns, world.outsideIp), 'egress to the outside (masquerade)');
  assert.ok(await pings(b.ctr.ns, world.outsideIp6!), 'egress to the outside over IPv6');
  for (const n of [a, b, d]) assert.equal((await run('busybox', ['ping', '-c', '1', '-W', '2', addr(n.v4)])).code, 0, 'the host reaches its containers');
  for (const [from, to, what] of [[a, b, 'acme -> globex'], [b, a, 'globex -> acme'], [c, b, 'acme -> globex'], [d, a, 'no tenant -> acme'], [a, d, 'acme -> no tenant']] as const) {
    assert.ok(!(await pings(from.ctr.ns, addr(to.v4), 1)), `${what} (IPv4) must not answer`);
    assert.ok(!(await pings(from.ctr.ns, addr(to.v6), 1)), `${what} (IPv6) must not answer`);
  }
  // A forged source address changes nothing: the network is known by its gateway port.
  await runOk('ip', ['-n', b.ctr.ns, 'addr', 'add', '10.231.0.99/32', 'dev', 'eth0']);
  const forged = await nsExec(b.ctr.ns, 'busybox', ['ping', '-c', '1', '-W', '2', '-I', '10.231.0.99', addr(c.v4)], { timeoutMs: 10_000 });
  assert.notEqual(forged.code, 0, 'globex posing as acme does not get into acme');
});

test('L2: endpoint and gateway ports are access ports; a tagged frame from a container never reaches another VLAN', async () => {
  const untagged = hexId();
  const v100 = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(untagged, '10.241.0.0/24', '10.241.0.1/24', { bridge: BR }));
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(v100, '10.242.0.0/24', undefined, { bridge: BR, vlan: '100', gateway: 'external' }));
  const u = await attach(p, untagged, '10.241.0.2/24', `iu${tag}`);
  const v1 = await attach(p, v100, '10.242.0.2/24', `iv1${tag}`);
  const v2 = await attach(p, v100, '10.242.0.3/24', `iv2${tag}`);
  namespaces.push(u.ns, v1.ns, v2.ns);
  const gwPort = `ocng${untagged.slice(0, 11)}`;
  for (const port of [u.host, v1.host, gwPort]) assert.equal(await vsctl('get', 'Port', port, 'vlan_mode'), 'access', `${port} is an access port`);
  assert.equal(await vsctl('get', 'Port', v1.host, 'tag'), '100');
  const auto = Number(await vsctl('get', 'Port', u.host, 'tag'));
  assert.ok(auto >= 1 && auto <= 4094 && auto !== 100, `the untagged network has a VLAN of its own: ${auto}`);
  assert.equal(await vsctl('get', 'Port', gwPort, 'tag'), String(auto), 'its gateway port too');

  // A port that trunks every VLAN (what endpoint ports without -o vlan were) as the control:
  // its tagged frames do reach VLAN 100, so the receiver and the injection work.
  const trunkNs = await createNetns(`it${tag}`);
  namespaces.push(trunkNs);
  const trunk = `ocntk${tag}`;
  extraLinks.push(trunk);
  await runOk('ip', ['link', 'add', trunk, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', trunkNs]);
  await runOk('ip', ['link', 'set', trunk, 'up']);
  await runOk('ip', ['-n', trunkNs, 'link', 'set', 'eth0', 'up']);
  await vsctl('add-port', BR, trunk);
  const seen = await framesSeen(v1.ns, ['FROMUNTAGGED', 'FROMSAMEVLAN', 'FROMTRUNK'], async () => {
    await sendFrames(u.ns, 'FROMUNTAGGED', 100);
    await sendFrames(v2.ns, 'FROMSAMEVLAN', -1);
    await sendFrames(trunkNs, 'FROMTRUNK', 100);
  });
  assert.ok(seen.FROMSAMEVLAN > 0, `the receiver hears its own VLAN: ${JSON.stringify(seen)}`);
  assert.ok(seen.FROMTRUNK > 0, `a frame tagged 100 from a trunk port arrives: ${JSON.stringify(seen)}`);
  assert.equal(seen.FROMUNTAGGED, 0, `a frame tagged 100 from a container's access port never arrives: ${JSON.stringify(seen)}`);
  await vsctl('del-port', BR, trunk);
});

test('VLANs: untagged networks on one bridge are apart; a VLAN another network holds is refused by name and leaves nothing', async () => {
  const w1 = hexId();
  const w2 = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(w1, '10.243.0.0/24', undefined, { bridge: BR, gateway: 'external' }));
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(w2, '10.243.0.0/24', undefined, { bridge: BR, gateway: 'external' }));
  const x = await attach(p, w1, '10.243.0.2/24', `iw1${tag}`);
  const y = await attach(p, w1, '10.243.0.3/24', `iw2${tag}`);
  const z = await attach(p, w2, '10.243.0.4/24', `iw3${tag}`);
  namespaces.push(x.ns, y.ns, z.ns);
  assert.ok(await arpReachable(x.ns, '10.243.0.3'), 'same network answers ARP');
  assert.ok(!(await arpReachable(x.ns, '10.243.0.4')), 'the other untagged network never answers ARP');
  const w1Vlan = await vsctl('get', 'Port', x.host, 'tag');
  assert.notEqual(w1Vlan, await vsctl('get', 'Port', z.host, 'tag'));

  const save = async () => (await Promise.all(['iptables-save', 'ip6tables-save'].map((c) => runOk(c, [])))).map((r) => r.stdout.replace(/^#.*$/gm, '').replace(/\[\d+:\d+\]/g, '')).join('\n');
  const before = await save();
  const clash = hexId();
  const e1 = await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(clash, '10.244.0.0/24', '10.244.0.1/24', { bridge: BR, vlan: w1Vlan }));
  assert.match(e1, new RegExp(`option vlan: VLAN ${w1Vlan} on bridge ${BR} is already used by network ${w1.slice(0, 12)} \\(picked automatically for it\\)`));
  const e2 = await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(clash, '10.244.0.0/24', '10.244.0.1/24', { bridge: BR, vlan: '100' }));
  assert.match(e2, /option vlan: VLAN 100 on bridge .* is already used by network [0-9a-f]{12};/);
  // The case of the issue: the VLAN an overlay network picked for itself on the bridge.
  const overlay = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(overlay, '10.245.0.0/24', undefined, { bridge: BR, overlay: 'vxlan', vni: '7245', gateway: 'external' }));
  const nets = (await p.call<{ result: { id: string; overlay?: { vlan: number } }[] }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method: 'networks.list' })).body.result;
  const overlayVlan = nets.find((n) => n.id === overlay)?.overlay?.vlan;
  assert.ok(overlayVlan, `the overlay network has a local VLAN: ${JSON.stringify(nets)}`);
  const e3 = await err(p, 'NetworkDriver.CreateNetwork', createNetworkBody(clash, '10.244.0.0/24', '10.244.0.1/24', { bridge: BR, vlan: String(overlayVlan) }));
  assert.match(e3, new RegExp(`VLAN ${overlayVlan} on bridge ${BR} is already used by network ${overlay.slice(0, 12)} \\(picked automatically for it\\)`));
  await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: overlay });
  assert.equal(await vsctl('--bare', '--columns=name', 'find', 'Port', `external_ids:ocn-network=${clash}`), '', 'no gateway port made');
  assert.equal((await run('ip', ['link', 'show', `ocng${clash.slice(0, 11)}`])).code, 1, 'no gateway device');
  assert.equal(await save(), before, 'iptables and ip6tables unchanged');
});
