// Security groups on a plain OVS bridge, proved with real traffic against the system OVS: a bridge
// of our own, namespaces on access ports (and one behind a trunk), flows rendered by
// ovs-flows.ts and swapped in by ovs-firewall.ts. Network 101 has filtered endpoints a and b, an
// unfiltered c, and t behind a trunk (a patch port to a second bridge, as the overlay's tunnel
// bridge is: frames tagged 101 on it); network 102 (d, e) has no filtered endpoint at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { bridgeDatapathType, ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { run, runOk, sleep, waitFor } from '../harness/exec';
import { createNetns, deleteNetns, nsExec, nsSpawn, NsProcess } from '../harness/netns';
import { BridgeSgInput, renderSgFlows, SG_COOKIE, SgPortMember, zoneFor } from '../../src/secgroups/ovs-flows';
import { SgFlowApplier } from '../../src/secgroups/ovs-firewall';
import { SecurityGroup, sgKey } from '../../src/secgroups/model';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `ocnsg${tag}`;
/** The bridge behind the trunk (patch ports PATCH <-> PATCH_PEER carry VLAN 101 tagged). */
const BR2 = `ocnsg${tag}t`;
const PATCH = `ocsg${tag}p`;
const PATCH_PEER = `ocsg${tag}q`;
let patchOfport = 0;
const MGMT = `unix:/var/run/openvswitch/${BR}.mgmt`;
const TENANT = 't1';
const applier = new SgFlowApplier();
const procs: NsProcess[] = [];
const hostEnds: string[] = [];
const namespaces: string[] = [];

interface Host {
  name: string;
  ns: string;
  ofport: number;
  mac: string;
  ip4: string;
  ip6: string;
}

const hosts: Record<string, Host> = {};
/** Groups of the filtered endpoints (keys), changed by the tests. */
const membership: Record<string, string[]> = {};

const key = (name: string) => sgKey(TENANT, name);
const EGRESS_ALL = [{ protocol: 'all' as const, remote: { cidr: '0.0.0.0/0' } }, { protocol: 'all' as const, remote: { cidr: '::/0' } }];
const groups: SecurityGroup[] = [
  {
    name: 'web', tenant: TENANT, description: 'tcp 8080 from the subnet, 9000 from clients, ping from c; may open nothing',
    ingress: [
      { protocol: 'tcp', ports: [8080, 8080], remote: { cidr: '10.213.1.0/24' } },
      { protocol: 'tcp', ports: [8080, 8080], remote: { cidr: 'fd13:1::/64' } },
      { protocol: 'tcp', ports: [9000, 9000], remote: { group: 'client' } },
      { protocol: 'icmp', remote: { cidr: '10.213.1.4/32' } },
    ],
    egress: [],
  },
  { name: 'client', tenant: TENANT, description: 'may open anything, accepts nothing', ingress: [], egress: EGRESS_ALL },
  { name: 'open-egress', tenant: TENANT, description: 'the same rules as client, but not client', ingress: [], egress: EGRESS_ALL },
];

/** Extra ingress rules of "web" for one test. */
let webExtra: SecurityGroup['ingress'] = [];

function render(): string[] {
  const member = (h: Host, groups: string[]): SgPortMember => ({ endpointId: `${h.name}`.padEnd(64, '0'), networkId: 'n101', port: `ocsg${tag}${h.name}`, mac: h.mac, ipv4: h.ip4, ipv6: h.ip6, groups, ofport: h.ofport });
  const g = new Map(groups.map((x) => [key(x.name), x.name === 'web' ? { ...x, ingress: [...x.ingress, ...webExtra] } : x]));
  const input: BridgeSgInput = {
    bridge: BR,
    networks: [
      { networkId: 'n101', vlan: 101, members: ['a', 'b', 'c'].map((n) => member(hosts[n], membership[n] ?? [])), otherPorts: [], trunkPorts: [patchOfport] },
      { networkId: 'n102', vlan: 102, members: ['d', 'e'].map((n) => member(hosts[n], [])), otherPorts: [] },
    ],
    groups: g,
    groupAddresses: (k) => {
      const ms = Object.keys(membership).filter((n) => membership[n].includes(k)).map((n) => hosts[n]);
      return { ipv4: ms.map((h) => h.ip4), ipv6: ms.map((h) => h.ip6) };
    },
  };
  return renderSgFlows(input);
}

async function applyRendered(): Promise<string[]> {
  const flows = render();
  await applier.apply(BR, flows);
  return flows;
}

/** A namespace `ocnt-sg<tag><name>` whose eth0 is a veth to an access port of `bridge`. */
async function addHost(name: string, vlan: number, n: number, ofport: number, bridge = BR): Promise<Host> {
  const ns = await createNetns(`sg${tag}${name}`);
  namespaces.push(ns);
  const hostEnd = `ocsg${tag}${name}`;
  hostEnds.push(hostEnd);
  const mac = `0a:58:0a:d5:${vlan.toString(16).padStart(2, '0')}:${n.toString(16).padStart(2, '0')}`;
  const h: Host = { name, ns, ofport, mac, ip4: `10.213.${vlan - 100}.${n}`, ip6: `fd13:${vlan - 100}::${n}` };
  await run('ip', ['link', 'del', hostEnd]);
  await runOk('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  // The host end is a live kernel interface on a netdev bridge: keep the host's stack out of it.
  await runOk('sysctl', ['-qw', `net.ipv6.conf.${hostEnd}.disable_ipv6=1`]);
  await runOk('ip', ['link', 'set', hostEnd, 'arp', 'off', 'up']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'address', mac, 'up']);
  await nsExec(ns, 'ethtool', ['-K', 'eth0', 'tx', 'off']); // userspace datapath: no checksum offload
  await runOk('ip', ['-n', ns, 'addr', 'add', `${h.ip4}/24`, 'brd', '+', 'dev', 'eth0']);
  await runOk('ip', ['-n', ns, 'addr', 'add', `${h.ip6}/64`, 'dev', 'eth0', 'nodad']);
  await vsctl('add-port', bridge, hostEnd, `tag=${vlan}`, '--', 'set', 'Interface', hostEnd, `ofport_request=${ofport}`);
  h.ofport = await waitFor(async () => {
    const p = Number(await vsctl('get', 'Interface', hostEnd, 'ofport'));
    return p > 0 ? p : undefined;
  }, { timeoutMs: 10_000, what: `ofport of ${hostEnd}` });
  hosts[name] = h;
  return h;
}

const SERVER = `
const net = require('net'), dgram = require('dgram');
for (const p of process.argv.slice(1)) net.createServer((s) => s.end('hi ' + p + '\\n')).listen(Number(p), '::');
const u = dgram.createSocket({ type: 'udp4', reuseAddr: true });
u.on('message', (m) => console.log('udp ' + m.toString()));
u.bind(5000, () => console.log('ready'));
`;

/** TCP servers on `ports` (both families, answering "hi PORT") and a UDP/5000 listener that prints what it gets. */
async function serve(h: Host, ports: number[]): Promise<NsProcess> {
  const p = nsSpawn(h.ns, process.execPath, ['-e', SERVER, ...ports.map(String)]);
  procs.push(p);
  await waitFor(() => p.output().includes('ready'), { timeoutMs: 10_000, what: `servers in ${h.ns}` });
  return p;
}

const CLIENT = `
const [host, port, ms] = process.argv.slice(1);
const s = require('net').connect({ host, port: Number(port) });
s.setTimeout(Number(ms), () => { console.log('timeout'); process.exit(1); });
s.on('data', (d) => { if (String(d).startsWith('hi')) { console.log('ok'); process.exit(0); } });
s.on('error', (e) => { console.log(e.code); process.exit(1); });
`;

/** Whether a TCP connection from `from` to host:port is answered within `ms`. */
async function connects(from: Host, host: string, port: number, ms = 1200): Promise<boolean> {
  const r = await nsExec(from.ns, process.execPath, ['-e', CLIENT, host, String(port), String(ms)], { timeoutMs: ms + 5000 });
  return r.code === 0 && r.stdout.includes('ok');
}

async function pings(from: Host, target: string, tries = 3): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await nsExec(from.ns, 'busybox', ['ping', '-c', '1', '-W', '1', target], { timeoutMs: 5000 })).code === 0) return true;
  }
  return false;
}

async function arpAnswers(from: Host, target: string): Promise<boolean> {
  const r = await nsExec(from.ns, 'busybox', ['arping', '-c', '2', '-w', '2', '-I', 'eth0', target], { timeoutMs: 10_000 });
  return /Received [1-9]/.test(r.stdout + r.stderr);
}

async function sendUdpBroadcast(from: Host, to: string, marker: string): Promise<void> {
  const js = `const s = require('dgram').createSocket('udp4'); s.bind(() => { s.setBroadcast(true); s.send(process.argv[1], 5000, process.argv[2], () => s.close()); });`;
  await runOk('ip', ['netns', 'exec', from.ns, process.execPath, '-e', js, marker, to]);
}

let serverB: NsProcess;
let serverT: NsProcess;

before(async () => {
  await ensureSystemOvs();
  for (const br of [BR, BR2]) await vsctl('add-br', br, '--', 'set', 'Bridge', br, `datapath_type=${bridgeDatapathType()}`);
  await vsctl(
    'add-port', BR, PATCH, 'trunks=101', '--', 'set', 'Interface', PATCH, 'type=patch', `options:peer=${PATCH_PEER}`, 'ofport_request=30',
    '--', 'add-port', BR2, PATCH_PEER, 'trunks=101', '--', 'set', 'Interface', PATCH_PEER, 'type=patch', `options:peer=${PATCH}`,
  );
  patchOfport = await waitFor(async () => {
    const p = Number(await vsctl('get', 'Interface', PATCH, 'ofport'));
    return p > 0 ? p : undefined;
  }, { timeoutMs: 10_000, what: `ofport of ${PATCH}` });
  await addHost('a', 101, 2, 11);
  await addHost('b', 101, 3, 12);
  await addHost('c', 101, 4, 13);
  await addHost('t', 101, 5, 14, BR2);
  await addHost('d', 102, 2, 21);
  await addHost('e', 102, 3, 22);
  serverB = await serve(hosts.b, [8080, 8081, 9000]);
  serverT = await serve(hosts.t, [8080]);
  await serve(hosts.a, [7000]);
  await serve(hosts.c, [7000]);
  await serve(hosts.e, [7000]);
});

after(async () => {
  for (const p of procs) await p.stop();
  await applier.remove(BR).catch(() => undefined);
  // Conntrack entries of our zones go with the test (while the datapath still exists).
  for (const vlan of [101, 102]) await run('ovs-appctl', ['dpctl/flush-conntrack', `zone=${zoneFor(BR, vlan)}`], { timeoutMs: 10_000 });
  for (const br of [BR, BR2]) await vsctlRun('--if-exists', 'del-br', br);
  for (const ns of namespaces) await deleteNetns(ns);
  for (const l of hostEnds) await run('ip', ['link', 'del', l]);
});

test('baseline: without groups there are no flows of ours and everything connects', async () => {
  assert.deepEqual(render(), []);
  assert.ok(await connects(hosts.c, hosts.b.ip4, 8081), 'c -> b:8081');
  assert.ok(await connects(hosts.a, hosts.b.ip4, 9000), 'a -> b:9000');
  assert.ok(await connects(hosts.t, hosts.b.ip4, 8081), 'trunk t -> b:8081');
  assert.ok(await pings(hosts.c, hosts.a.ip4), 'c pings a');
});

test('(a) an allowed TCP port connects, another does not; over IPv4, IPv6 and from a trunk', async () => {
  membership.a = [key('open-egress')];
  membership.b = [key('web')];
  const flows = await applyRendered();
  assert.equal(await applier.count(BR), flows.length, 'every rendered flow is in place');
  console.log(`# ${flows.length} flows of ours on ${BR}`);
  assert.ok(await connects(hosts.c, hosts.b.ip4, 8080), 'c -> b:8080 (rule: 10.213.1.0/24)');
  assert.ok(!(await connects(hosts.c, hosts.b.ip4, 8081)), 'c -> b:8081 has no rule');
  assert.ok(await connects(hosts.c, `${hosts.b.ip6}`, 8080), 'c -> b:8080 over IPv6 (ND works through the tables)');
  assert.ok(!(await connects(hosts.c, hosts.b.ip6, 8081)), 'c -> b:8081 over IPv6');
  assert.ok(await connects(hosts.t, hosts.b.ip4, 8080), 'trunk t -> b:8080 (tag stripped, filtered, delivered)');
  assert.ok(!(await connects(hosts.t, hosts.b.ip4, 8081)), 'trunk t -> b:8081');
  assert.ok(await connects(hosts.a, hosts.b.ip4, 8080), 'a (filtered) -> b: a\'s egress and b\'s ingress both allow');
  assert.ok(!(await connects(hosts.a, hosts.b.ip4, 8081)), 'a -> b:8081: a\'s egress allows, b\'s ingress does not');
  assert.ok(!(await connects(hosts.b, hosts.c.ip4, 7000)), 'b has no egress rule: it opens nothing');
});

test('(b) ICMP passes only where a rule allows it', async () => {
  assert.ok(await pings(hosts.c, hosts.b.ip4), 'c -> b: icmp from 10.213.1.4/32');
  assert.ok(!(await pings(hosts.t, hosts.b.ip4, 1)), 't -> b: no icmp rule for it');
  assert.ok(!(await pings(hosts.c, hosts.b.ip6, 1)), 'c -> b over IPv6: the rule is ICMPv4 only');
  assert.ok(await pings(hosts.c, hosts.t.ip4), 'unfiltered c <-> trunk t');
});

test('(c) replies pass: an endpoint with no ingress rule opens connections and gets the answers', async () => {
  assert.ok(await connects(hosts.a, hosts.c.ip4, 7000), 'a -> c:7000 and the reply');
  assert.ok(await connects(hosts.a, hosts.c.ip6, 7000), 'a -> c:7000 over IPv6');
  assert.ok(await pings(hosts.a, hosts.c.ip4), 'a pings c (echo reply comes back)');
  assert.ok(!(await connects(hosts.c, hosts.a.ip4, 7000)), 'c -> a:7000: nothing may reach a');
  assert.ok(!(await pings(hosts.c, hosts.a.ip4, 1)), 'c cannot ping a');
});

test('(d) a remote-group rule follows membership; (f) a change takes effect within 1 s', async () => {
  assert.ok(!(await connects(hosts.a, hosts.b.ip4, 9000)), 'a is not in client yet');
  membership.a = [key('client')];
  const t0 = performance.now();
  await applyRendered();
  const applied = performance.now() - t0;
  assert.ok(await connects(hosts.a, hosts.b.ip4, 9000, 900), 'a, now in client, connects to b:9000');
  const effective = performance.now() - t0;
  console.log(`# apply took ${applied.toFixed(0)} ms; a's first connection through the new rule completed ${effective.toFixed(0)} ms after the apply began`);
  assert.ok(effective < 1000, `took ${effective.toFixed(0)} ms`);
  assert.ok(await connects(hosts.a, hosts.b.ip6, 9000), 'its IPv6 address is in the group too');
  membership.a = [key('open-egress')];
  await applyRendered();
  assert.ok(!(await connects(hosts.a, hosts.b.ip4, 9000)), 'a left client: a new connection is refused');
});

test('(e) the unfiltered network on the same bridge is untouched; ARP works everywhere', async () => {
  const zone102 = zoneFor(BR, 102);
  assert.ok(!render().some((f) => f.includes(`reg6=${zone102}`) || f.includes('dl_vlan=102') || /in_port=2[12],/.test(f)), 'no flow names network 102 or its ports');
  assert.ok(await connects(hosts.d, hosts.e.ip4, 7000), 'd -> e:7000');
  assert.ok(await pings(hosts.d, hosts.e.ip4), 'd pings e');
  assert.ok(await arpAnswers(hosts.d, hosts.e.ip4), 'd arps e');
  assert.ok(await arpAnswers(hosts.c, hosts.b.ip4), 'c arps the filtered b');
  assert.ok(await arpAnswers(hosts.b, hosts.a.ip4), 'filtered b arps filtered a');
  assert.ok(await arpAnswers(hosts.t, hosts.b.ip4), 'the host behind the trunk arps b');
  assert.ok(!(await connects(hosts.d, hosts.b.ip4, 8080)), 'VLANs stay apart');
});

test('IP broadcast is flooded through the ingress rules of filtered members, and reaches the trunk', async () => {
  await sendUdpBroadcast(hosts.c, '10.213.1.255', 'BCAST1');
  await waitFor(() => serverT.output().includes('udp BCAST1'), { timeoutMs: 3000, what: 'the broadcast at t (trunk)' });
  await sleep(300);
  assert.ok(!serverB.output().includes('BCAST1'), 'b has no udp rule: the broadcast is not delivered');
  webExtra = [{ protocol: 'udp', ports: [5000, 5000], remote: { cidr: `${hosts.c.ip4}/32` } }];
  await applyRendered();
  await sendUdpBroadcast(hosts.c, '10.213.1.255', 'BCAST2');
  await waitFor(() => serverB.output().includes('udp BCAST2'), { timeoutMs: 3000, what: 'the allowed broadcast at b' });
  webExtra = [];
  await applyRendered();
});

test('(g) our flows deleted behind our back count 0 and filter nothing; applying the whole set again (forget) restores them; others\' flows are untouched', async () => {
  await runOk('ovs-ofctl', ['add-flow', BR, 'cookie=0x1234,table=0,priority=1,dl_type=0x88b5,actions=drop']);
  const flows = await applyRendered();
  await runOk('ovs-ofctl', ['del-flows', BR, `cookie=${SG_COOKIE}/-1`]);
  assert.equal(await applier.count(BR), 0);
  assert.ok(await connects(hosts.c, hosts.b.ip4, 8081), 'without our flows b is unfiltered again (NORMAL)');
  // Applies send only what changed since the last one; after a loss (seen by count) the whole set goes again.
  await applier.apply(BR, flows);
  assert.equal(await applier.count(BR), 0, 'an unchanged set is not sent again');
  applier.forget(BR);
  await applier.apply(BR, flows);
  assert.equal(await applier.count(BR), flows.length);
  assert.ok(!(await connects(hosts.c, hosts.b.ip4, 8081)), 'filtered again');
  await applier.remove(BR);
  assert.equal(await applier.count(BR), 0);
  const left = (await runOk('ovs-ofctl', ['dump-flows', BR])).stdout;
  assert.match(left, /cookie=0x1234,.*priority=1,dl_type=0x88b5 actions=drop/, 'a user flow survives');
  assert.match(left, /priority=0 actions=NORMAL/, 'the bridge\'s NORMAL flow survives');
});

test('applies to one bridge are serialised and the latest wins; a failure names the bridge and ovs-ofctl\'s complaint', async () => {
  membership.b = [key('web')];
  const first = applier.apply(BR, render());
  membership.b = [];
  membership.a = [];
  const second = applier.apply(BR, render()); // nothing filtered: the empty set
  membership.b = [key('web')];
  const latest = render();
  const third = applier.apply(BR, latest);
  await Promise.all([first, second, third]);
  assert.equal(await applier.count(BR), latest.length, 'the last request is what the bridge has');
  await assert.rejects(applier.apply(BR, [`cookie=${SG_COOKIE},table=60,priority=1,nonsense_field=1,actions=drop`]), (e: Error) => e.message.includes(`bridge ${BR}`) && /ovs-ofctl add-flows failed: .*nonsense_field/.test(e.message));
  assert.equal(await applier.count(BR), latest.length, 'a failed bundle changes nothing');
  await assert.rejects(applier.apply('ocnsg-nonexistent', latest), /bridge ocnsg-nonexistent: ovs-ofctl add-flows failed/);
});
