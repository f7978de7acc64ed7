// Port mirroring against the system OVS (netdev bridges) and real traffic: the mirror service
// (src/mirror) over an OvsdbClient and rtnetlink, as the daemon composes it, with "containers"
// in namespaces on a bridge this test makes. Each claim is checked with packets: what a mirror's
// output sees (tcpdump on it, on the collector's side of a GRE/ERSPAN tunnel, in a capture's
// pcap) and what it must not see (another endpoint's, another VLAN's traffic).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import pino from 'pino';
import { JSONRPCServer } from 'json-rpc-2.0';
import { OvsdbClient } from '../../src/ovsdb/client';
import { dbFromClient, linkOpsFrom } from '../../src/daemon';
import { VSWITCH_MONITOR } from '../../src/ovs/tables';
import { LinkManager } from '../../src/netlink/links';
import { LinkDeleter } from '../../src/netlink/delete-worker';
import { EthtoolClient } from '../../src/netlink/ethtool';
import { Registry } from '../../src/driver/registry';
import type { Endpoint, NetworkRecord } from '../../src/driver/model';
import { composeMirrors, type MirrorComponents, type MirrorInfo } from '../../src/mirror/mirrors';
import { CAPTURE_PATH } from '../../src/mirror/capture';
import { streamCapture } from '../../src/mirror/capture-cli';
import { ensureSystemOvs, OVSDB_REMOTE, vsctl, vsctlRun } from '../harness/ovs';
import { run, runOk, sleep, waitFor } from '../harness/exec';
import { createNetns, deleteNetns, nsSpawn } from '../harness/netns';
import { repoRoot } from '../harness/paths';
import { startLab } from '../lab/lab';

const tag = crypto.randomBytes(2).toString('hex');
const DRIVER = `ocn-mt-${tag}`;
const BR = `brmr${tag}`;
/** The underlay: a netdev bridge whose internal port holds the route to the collector. */
const UL = `brmu${tag}`;
const UL_NET = `10.253.${parseInt(tag.slice(0, 2), 16)}`;
const SOCK = path.join(os.tmpdir(), `ocn-mt-${tag}.sock`);
const log = pino({ level: process.env.MIRROR_TEST_LOG ?? 'silent' });

interface Box { name: string; ns: string; host: string; ip: string; vlan: number; ep: Endpoint }
const boxes: Record<string, Box> = {};
const registry = new Registry();
const clients: OvsdbClient[] = [];
let linkManager: LinkManager;
let deleter: LinkDeleter;
let ethtool: EthtoolClient;
let m: MirrorComponents;
let rpc: JSONRPCServer;
let server: http.Server;

const hexId = (): string => crypto.randomBytes(32).toString('hex');

function network(vlan: number): NetworkRecord {
  const net = { id: hexId(), options: { bridge: BR, vlan, externalIds: {}, gateway: 'none' }, datapath: 'netdev', mtu: 1500, internal: false, ipv4: [], ipv6: [], createdBridge: false, createdUplink: false } as unknown as NetworkRecord;
  registry.networks.set(net.id, net);
  return net;
}

/** A "container": a namespace whose eth0 is a veth on BR, access port of the network's VLAN. */
async function box(name: string, net: NetworkRecord, ip: string): Promise<Box> {
  const ns = await createNetns(`mr${name}${tag}`);
  const host = `mh${name}${tag}`;
  await runOk('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', `${host}c`]);
  await runOk('ip', ['link', 'set', `${host}c`, 'netns', ns]);
  await runOk('ip', ['-n', ns, 'link', 'set', `${host}c`, 'name', 'eth0']);
  await runOk('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['netns', 'exec', ns, 'ethtool', '-K', 'eth0', 'tx', 'off']);
  await runOk('ip', ['link', 'set', host, 'up']);
  await vsctl('add-port', BR, host, `tag=${net.options.vlan}`);
  const ep: Endpoint = { id: hexId(), networkId: net.id, hostIf: host, peerIf: `${host}c`, mac: '', macGenerated: false, ports: [] };
  registry.endpoints.set(ep.id, ep);
  const b = { name, ns, host, ip, vlan: net.options.vlan ?? 0, ep };
  boxes[name] = b;
  return b;
}

async function mirrorsDb(): Promise<ReturnType<typeof dbFromClient>> {
  const client = new OvsdbClient({ remote: OVSDB_REMOTE, database: 'Open_vSwitch', monitor: VSWITCH_MONITOR, requestTimeoutMs: 10_000 });
  clients.push(client);
  await client.connect();
  return dbFromClient(client);
}

function compose(db: ReturnType<typeof dbFromClient>): MirrorComponents {
  return composeMirrors({ name: DRIVER, db, registry, links: linkOpsFrom(linkManager, deleter, ethtool), ovsdbRemote: OVSDB_REMOTE, accessVlan: (n) => n.options.vlan, log });
}

before(async () => {
  await ensureSystemOvs();
  linkManager = new LinkManager();
  deleter = new LinkDeleter();
  ethtool = new EthtoolClient();
  await vsctl('add-br', BR, '--', 'set', 'bridge', BR, 'datapath_type=netdev');
  const n1 = network(10);
  const n2 = network(20);
  await box('a', n1, '10.97.0.1');
  await box('b', n1, '10.97.0.2');
  await box('c', n1, '10.97.0.3');
  await box('d', n2, '10.97.0.4');
  await box('e', n2, '10.97.0.5');
  // The collector: reached through an OVS bridge with an address, as netdev tunnels need.
  await vsctl('add-br', UL, '--', 'set', 'bridge', UL, 'datapath_type=netdev');
  await runOk('ip', ['addr', 'add', `${UL_NET}.1/24`, 'dev', UL]);
  await runOk('ip', ['link', 'set', UL, 'up']);
  const col = await createNetns(`mrcol${tag}`);
  await runOk('ip', ['link', 'add', `mrul${tag}`, 'type', 'veth', 'peer', 'name', `mrul${tag}c`]);
  await runOk('ip', ['link', 'set', `mrul${tag}c`, 'netns', col]);
  await runOk('ip', ['-n', col, 'link', 'set', `mrul${tag}c`, 'name', 'eth0']);
  await runOk('ip', ['-n', col, 'addr', 'add', `${UL_NET}.2/24`, 'dev', 'eth0']);
  await runOk('ip', ['-n', col, 'link', 'set', 'eth0', 'up']);
  await runOk('ip', ['link', 'set', `mrul${tag}`, 'up']);
  await vsctl('add-port', UL, `mrul${tag}`);

  m = compose(await mirrorsDb());
  rpc = new JSONRPCServer({ errorListener: () => undefined });
  m.methods(rpc);
  server = http.createServer((req, res) => {
    const route = m.routes[(req.url ?? '').split('?')[0]];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(SOCK, () => r()));
});

after(async () => {
  server?.close();
  server?.closeAllConnections();
  await m?.service.list().then((all) => Promise.all(all.map((x) => m.service.delete({ id: x.id })))).catch(() => undefined);
  for (const c of clients) c.close();
  await vsctlRun('--if-exists', 'del-br', BR);
  await vsctlRun('--if-exists', 'del-br', UL);
  for (const b of Object.values(boxes)) {
    await deleteNetns(b.ns);
    await run('ip', ['link', 'del', b.host]);
  }
  await deleteNetns(`mrcol${tag}`);
  await run('ip', ['link', 'del', `mrul${tag}`]);
  for (const l of fs.readdirSync('/sys/class/net')) if (/^m[rh]/.test(l) && l.includes(tag)) await run('ip', ['link', 'del', l]);
  fs.rmSync(SOCK, { force: true });
  linkManager?.close();
  await deleter?.close();
  ethtool?.close();
});

async function call<T>(method: string, params?: unknown): Promise<T> {
  const r = await rpc.receive({ jsonrpc: '2.0', id: 1, method, params });
  if (r?.error) throw Object.assign(new Error(r.error.message), { rpc: r.error });
  return r?.result as T;
}

async function rpcError(method: string, params: unknown): Promise<{ code: number; message: string; data?: { code: string; field?: string } }> {
  const r = await rpc.receive({ jsonrpc: '2.0', id: 1, method, params });
  assert.ok(r?.error, `${method} should fail: ${JSON.stringify(r?.result)}`);
  return r.error as { code: number; message: string; data?: { code: string; field?: string } };
}

/**
 * The tcpdump lines seen on `iface` (in `ns` if given) while `traffic` runs: tcpdump is
 * listening before it starts, and stopped half a second after it ends.
 */
async function seen(iface: string, filter: string[], traffic: () => Promise<unknown>, ns?: string): Promise<string[]> {
  const cmd = ['timeout', '30', 'tcpdump', '-n', '-l', '-i', iface, ...filter];
  const p = ns ? nsSpawn(ns, cmd[0], cmd.slice(1)) : (() => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    return { output: () => out, stop: async () => { child.kill('SIGINT'); await new Promise((r) => child.once('close', r)); } };
  })();
  await waitFor(() => p.output().includes('listening on'), { timeoutMs: 5000, what: `tcpdump listening on ${iface}` });
  await traffic();
  await sleep(500);
  await p.stop();
  return p.output().split('\n').filter((l) => /^\d\d:\d\d:\d\d/.test(l));
}

const ping = (from: Box, to: Box, count = 3): Promise<unknown> => run('ip', ['netns', 'exec', from.ns, 'busybox', 'ping', '-c', String(count), '-i', '0.2', '-W', '2', to.ip], { timeoutMs: 15_000 });
const icmpFrom = (lines: string[], b: Box, what: 'request' | 'reply'): number => lines.filter((l) => l.includes(`IP ${b.ip} >`) && l.includes(`ICMP echo ${what}`)).length;
const linkExists = (name: string): boolean => fs.existsSync(`/sys/class/net/${name}`);
const mirrorRows = async (): Promise<string[]> => (await vsctl('--bare', '--columns=name', 'find', 'Mirror', `external_ids:ocn-owner=${DRIVER}`)).split(/\s+/).filter(Boolean);

test('an endpoint mirrored to a new local interface: its traffic both ways is seen there (tcpdump -i NAME), another endpoint\'s is not; delete removes mirror, port and veth', async () => {
  const { a, b, c } = boxes;
  const out = `mrm${tag}`;
  const info = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id.slice(0, 12), output: { type: 'interface', name: out } });
  assert.deepEqual(info.source, { endpoint: a.ep.id });
  assert.equal(info.direction, 'both');
  assert.equal(info.bridge, BR);
  assert.ok(linkExists(out), 'the interface was made (a veth pair)');
  assert.match((await runOk('ip', ['-o', 'link', 'show', out])).stdout, /state UP/, 'and is up');
  assert.match((await runOk('ip', ['-o', 'link', 'show', info.port])).stdout, /state UP/, 'its peer, the port on the bridge, is up');
  const lines = await seen(out, ['icmp'], () => Promise.all([ping(a, b), ping(c, b)]));
  console.log(`# on ${out}: ${icmpFrom(lines, a, 'request')} requests from a, ${icmpFrom(lines, b, 'reply')} replies to a or c, ${icmpFrom(lines, c, 'request')} requests from c`);
  assert.equal(icmpFrom(lines, a, 'request'), 3, 'every echo request a sent');
  assert.equal(lines.filter((l) => l.includes(`IP ${b.ip} > ${a.ip}`) && l.includes('reply')).length, 3, 'every reply a received');
  assert.equal(lines.filter((l) => l.includes(c.ip)).length, 0, 'nothing of c (not mirrored)');
  assert.ok(lines.every((l) => !/vlan/.test(l)), 'frames untagged, as the container sees them');
  const listed = await waitFor(async () => (await call<MirrorInfo[]>('mirror.list')).find((x) => x.id === info.id && x.statistics.tx_packets >= 6), { timeoutMs: 12_000, what: 'mirror statistics' });
  console.log(`# mirror.list statistics: ${JSON.stringify(listed.statistics)}`);
  assert.deepEqual(listed.output, { type: 'interface', name: out });

  assert.deepEqual(await call('mirror.delete', { id: info.id }), { deleted: info.id });
  assert.deepEqual(await mirrorRows(), [], 'the Mirror row is gone');
  assert.equal((await vsctlRun('get', 'Port', info.port, 'name')).code, 1, 'its output port is gone');
  await waitFor(() => !linkExists(out), { timeoutMs: 5000, what: `veth ${out} deleted` });
  const after = await seen(a.host, ['icmp'], () => ping(a, b, 1));
  assert.ok(after.length >= 2, 'a still talks to b');
});

test('direction: "out" takes what the container sends, "in" what it receives (two mirrors of one port)', async () => {
  const { a, b } = boxes;
  const outM = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, direction: 'out', output: { type: 'interface', name: `mro${tag}` } });
  const inM = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, direction: 'in', output: { type: 'interface', name: `mri${tag}` } });
  const onIn: string[][] = [];
  const onOut = await seen(`mro${tag}`, ['icmp'], async () => onIn.push(await seen(`mri${tag}`, ['icmp'], () => ping(a, b))));
  assert.equal(icmpFrom(onOut, a, 'request'), 3, '"out": a\'s requests');
  assert.equal(icmpFrom(onOut, b, 'reply'), 0, '"out": none of the replies');
  assert.equal(icmpFrom(onIn[0], b, 'reply'), 3, '"in": the replies to a');
  assert.equal(icmpFrom(onIn[0], a, 'request'), 0, '"in": none of a\'s requests');
  await call('mirror.delete', { id: outM.id });
  await call('mirror.delete', { id: inM.id });
});

test('traffic already running is mirrored at once (the revalidators are purged after the create)', async () => {
  const { a, b } = boxes;
  const flood = run('ip', ['netns', 'exec', a.ns, 'busybox', 'ping', '-c', '40', '-i', '0.1', b.ip], { timeoutMs: 20_000 });
  await sleep(1000);
  const out = `mrr${tag}`;
  let info: MirrorInfo | undefined;
  try {
    // tcpdump needs the interface: make it first (an existing interface is used as it is).
    await runOk('ip', ['link', 'add', out, 'type', 'veth', 'peer', 'name', `${out}p`]);
    await runOk('ip', ['link', 'set', out, 'up']);
    await runOk('ip', ['link', 'set', `${out}p`, 'up']);
    const lines = await seen(`${out}p`, ['icmp'], async () => {
      info = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, output: { type: 'interface', name: out } });
      await sleep(1000);
    });
    console.log(`# a running ping, in the second after the mirror was made: ${lines.length} ICMP frames seen`);
    assert.ok(lines.length >= 10, `the running ping is mirrored within a second (${lines.length} frames)`);
  } finally {
    await flood;
    if (info) await call('mirror.delete', { id: info.id });
    assert.ok(linkExists(out), 'an interface the mirror did not make is left in place');
    await run('ip', ['link', 'del', out]);
  }
});

test('a network mirror takes every frame of the network\'s VLAN, endpoints it did not know included, and nothing of another VLAN', async () => {
  const { b, c, d, e } = boxes;
  const net = b.ep.networkId;
  const bad = await rpcError('mirror.create', { network: net, direction: 'in', output: { type: 'interface', name: `mrn${tag}` } });
  assert.deepEqual(bad.data, { code: 'INVALID_ARGUMENT', field: 'direction' });
  assert.match(bad.message, /a network source takes every frame of the network's VLAN: "both"/);
  const info = await call<MirrorInfo>('mirror.create', { network: net.slice(0, 10), output: { type: 'interface', name: `mrn${tag}` } });
  assert.deepEqual(info.source, { network: net });
  const lines = await seen(`mrn${tag}`, ['icmp'], () => Promise.all([ping(b, c), ping(d, e)]));
  assert.equal(icmpFrom(lines, b, 'request'), 3, 'b -> c requests');
  assert.equal(icmpFrom(lines, c, 'reply'), 3, 'c -> b replies');
  assert.equal(lines.filter((l) => l.includes(d.ip) || l.includes(e.ip)).length, 0, 'nothing of VLAN 20');
  assert.deepEqual(await m.forgetNetwork(d.ep.networkId), [], 'another network\'s delete leaves it');
  assert.deepEqual(await m.forgetNetwork(net), [info.id], 'its network\'s delete removes it');
  assert.deepEqual(await mirrorRows(), []);
  await waitFor(() => !linkExists(`mrn${tag}`), { timeoutMs: 5000, what: 'its veth deleted' });
});

test('remote collectors: GRE (with its key) and ERSPAN reach a collector in another namespace, routed through an OVS bridge', async () => {
  const { a, b } = boxes;
  const col = `ocnt-mrcol${tag}`;
  const gre = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, output: { type: 'gre', remote_ip: `${UL_NET}.2`, key: 77 } });
  assert.deepEqual(gre.output, { type: 'gre', remote_ip: `${UL_NET}.2`, key: 77 });
  assert.equal(await vsctl('get', 'Interface', gre.port, 'type'), 'gre');
  // The first frames wait for OVS to resolve the collector's MAC: ping a few more.
  const greLines = await seen('eth0', ['proto', 'gre'], () => ping(a, b, 5), col);
  const withKey = greLines.filter((l) => /GREv0, key=0x4d, .*ICMP echo/.test(l));
  console.log(`# GRE collector: ${greLines.length} GRE packets, ${withKey.length} with key 77`);
  assert.ok(withKey.length >= 6, `mirrored frames arrive over GRE with key 77 (${greLines.length} packets): ${greLines.slice(0, 2).join(' | ')}`);
  await call('mirror.delete', { id: gre.id });

  const erspan = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, direction: 'out', output: { type: 'erspan', remote_ip: `${UL_NET}.2`, key: 5 } });
  const erLines = await seen('eth0', ['proto', 'gre'], () => ping(a, b, 5), col);
  const typeII = erLines.filter((l) => /0x88be|ERSPAN/i.test(l));
  console.log(`# ERSPAN collector: ${erLines.length} GRE packets, ${typeII.length} ERSPAN type II`);
  assert.ok(typeII.length >= 3, `mirrored frames arrive as ERSPAN (${erLines.slice(0, 2).join(' | ')})`);
  await call('mirror.delete', { id: erspan.id });
  assert.deepEqual(await mirrorRows(), []);
});

test('mirrors are durable (a restarted daemon lists them from OVSDB); an endpoint\'s go with it; start-up removes what a crash left', async () => {
  const { a, c } = boxes;
  const info = await call<MirrorInfo>('mirror.create', { endpoint: c.ep.id, output: { type: 'interface', name: `mrd${tag}` } });
  const other = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, output: { type: 'gre', remote_ip: `${UL_NET}.2`, key: 9 } });
  const restarted = compose(await mirrorsDb());
  const listed = await restarted.service.list();
  assert.deepEqual(listed.map((x) => x.id).sort(), [info.id, other.id].sort(), 'a new daemon reads them back');
  assert.deepEqual(listed.find((x) => x.id === info.id)?.output, { type: 'interface', name: `mrd${tag}` });

  assert.deepEqual(await restarted.forgetEndpoint(c.ep.id), [info.id], 'the endpoint\'s mirror goes with it');
  await waitFor(() => !linkExists(`mrd${tag}`), { timeoutMs: 5000, what: 'its veth deleted' });
  assert.deepEqual((await m.service.list()).map((x) => x.id), [other.id], 'the other endpoint\'s stays');

  // A crash during a capture leaves its mirror and veth; a mirror's endpoint went while the daemon was down.
  const session = await m.service.openCapture(c.ep.id);
  assert.ok(linkExists(session.tap));
  registry.endpoints.delete(a.ep.id);
  // A crash between removing a mirror's row and its veth: the veth is found by its alias.
  await runOk('ip', ['link', 'add', `ocmtfeed${tag}`, 'type', 'veth', 'peer', 'name', `ocmofeed${tag}`]);
  await runOk('ip', ['link', 'set', `ocmtfeed${tag}`, 'alias', `ocn-mirror:${DRIVER}`]);
  try {
    await restarted.reconcile();
  } finally {
    registry.endpoints.set(a.ep.id, a.ep);
  }
  assert.deepEqual(await restarted.service.list(), [], 'both removed at start-up');
  await waitFor(() => !linkExists(session.tap), { timeoutMs: 5000, what: 'the capture veth deleted' });
  await waitFor(() => !linkExists(`ocmtfeed${tag}`), { timeoutMs: 5000, what: 'the stray mirror veth deleted' });
  await session.close();
});

test('refusals name the parameter and what is accepted', async () => {
  const { b } = boxes;
  const inUse = await rpcError('mirror.create', { endpoint: b.ep.id, output: { type: 'interface', name: b.host } });
  assert.deepEqual(inUse.data, { code: 'OUTPUT_IN_USE', field: 'output.name' });
  assert.match(inUse.message, new RegExp(`${b.host} is already a port of Open vSwitch`));
  const nope = await rpcError('mirror.create', { endpoint: 'ffffffffffff', output: { type: 'interface', name: 'x' } });
  assert.deepEqual(nope.data, { code: 'ENDPOINT_NOT_FOUND', field: 'endpoint' });
  assert.deepEqual(await mirrorRows(), []);
});

/** What the host has left of captures: mirror rows and capture veths. */
async function captureLeftovers(): Promise<string[]> {
  return [...await mirrorRows(), ...fs.readdirSync('/sys/class/net').filter((l) => /^ocm[ot]/.test(l))];
}

test('capture: the pcap of an endpoint\'s traffic for N seconds with a filter, readable by tcpdump -r; nothing left afterwards', async () => {
  const { a, b } = boxes;
  const file = path.join(os.tmpdir(), `ocn-mt-${tag}.pcap`);
  try {
    const out = fs.createWriteStream(file);
    const t0 = Date.now();
    const traffic = (async () => { await sleep(800); await ping(a, b, 5); await run('ip', ['netns', 'exec', a.ns, 'busybox', 'arping', '-c', '2', '-w', '2', '-I', 'eth0', b.ip], { timeoutMs: 10_000 }); })();
    await streamCapture({ socket: SOCK, request: { endpoint: a.ep.id.slice(0, 8), seconds: 4, filter: 'icmp' } }, out, []);
    await new Promise((r) => out.end(r));
    await traffic;
    const took = Date.now() - t0;
    const read = await runOk('tcpdump', ['-n', '-r', file], { timeoutMs: 10_000 });
    const lines = read.stdout.split('\n').filter(Boolean);
    console.log(`# capture of 4 s took ${took} ms: ${fs.statSync(file).size} bytes, ${lines.length} packets (tcpdump -r)`);
    assert.ok(took >= 4000 && took < 9000, `it lasts the seconds asked for (${took} ms)`);
    assert.equal(icmpFrom(lines, a, 'request'), 5, 'a\'s requests');
    assert.equal(icmpFrom(lines, b, 'reply'), 5, 'and the replies');
    assert.ok(lines.every((l) => / ICMP /.test(l)), 'the filter held: no ARP');
    assert.deepEqual(await captureLeftovers(), [], 'mirror and veth removed');
  } finally {
    fs.rmSync(file, { force: true });
  }
});

test('capture: the client going away (request closed, CLI process killed) ends it and removes the mirror; a bad filter is an error, not an empty pcap', async () => {
  const { a } = boxes;
  // Request closed by the client.
  const req = http.request({ socketPath: SOCK, method: 'POST', path: CAPTURE_PATH });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject); req.end(JSON.stringify({ endpoint: a.ep.id, seconds: 60 })); });
  assert.equal(res.statusCode, 200);
  assert.equal((await captureLeftovers()).length, 3, 'a mirror, its port end and the tap while it runs');
  req.destroy();
  await waitFor(async () => (await captureLeftovers()).length === 0, { timeoutMs: 5000, what: 'the capture cleaned up after the client left' });

  // The CLI, killed: its connection closes with it.
  const script = `require(${JSON.stringify(path.join(repoRoot(), 'dist/src/mirror/capture-cli.js'))}).captureMain(['capture', ${JSON.stringify(a.ep.id)}, '--seconds', '60', '--name', ${JSON.stringify(path.basename(SOCK, '.sock'))}, '--plugin-dir', ${JSON.stringify(path.dirname(SOCK))}], process.env).catch((e) => { console.error(String(e)); process.exit(1); })`;
  const cli = spawn(process.execPath, ['-e', script], { stdio: ['ignore', fs.openSync('/dev/null', 'w'), 'pipe'] });
  await waitFor(async () => (await captureLeftovers()).length === 3, { timeoutMs: 10_000, what: 'the CLI\'s capture running' });
  cli.kill('SIGKILL');
  await waitFor(async () => (await captureLeftovers()).length === 0, { timeoutMs: 5000, what: 'the capture cleaned up after the CLI was killed' });

  const bad = await streamCapture({ socket: SOCK, request: { endpoint: a.ep.id, seconds: 2, filter: 'icmp and and' } }, fs.createWriteStream('/dev/null'), []).then(() => undefined, (e: Error) => e);
  assert.ok(bad instanceof Error, 'a bad filter fails');
  assert.match(bad.message, /capture failed \(HTTP 400\): capture: tcpdump did not start \(filter "icmp and and"\):.*syntax error/s);
  const unknown = await streamCapture({ socket: SOCK, request: { endpoint: 'ffffffffff', seconds: 2 } }, fs.createWriteStream('/dev/null'), []).then(() => undefined, (e: Error) => e);
  assert.match(String(unknown), /HTTP 404.*no such endpoint on this host/);
  assert.deepEqual(await captureLeftovers(), []);
});

test('a reboot takes the output veth: start-up makes it again and mirroring resumes; the daemon\'s stop ends running captures', async () => {
  const { a, b } = boxes;
  const out = `mrv${tag}`;
  const info = await call<MirrorInfo>('mirror.create', { endpoint: a.ep.id, output: { type: 'interface', name: out } });
  await runOk('ip', ['link', 'del', out]);
  await m.reconcile();
  assert.match((await runOk('ip', ['-o', 'link', 'show', out])).stdout, /state UP/, 'made again, up');
  await waitFor(async () => Number(await vsctl('get', 'Interface', info.port, 'ofport')) > 0, { timeoutMs: 10_000, what: 'OVS reopens the port' });
  const lines = await seen(out, ['icmp'], () => ping(a, b));
  assert.equal(lines.length, 6, `mirroring resumed (${lines.length} frames)`);
  await call('mirror.delete', { id: info.id });

  const req = http.request({ socketPath: SOCK, method: 'POST', path: CAPTURE_PATH });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => { req.on('response', resolve); req.on('error', reject); req.end(JSON.stringify({ endpoint: a.ep.id, seconds: 60 })); });
  const ended = new Promise<void>((resolve) => { res.on('end', resolve); res.resume(); });
  const t0 = Date.now();
  await m.stopCaptures();
  await ended;
  assert.ok(Date.now() - t0 < 5000, 'the capture ended at once');
  assert.deepEqual(await captureLeftovers(), [], 'and left nothing');
});

// ---------------------------------------------------------------- OVN (a lab host's br-int)

/**
 * rtnetlink in the test's namespace cannot reach a lab host's: the same link operations through
 * `ip -n`, for a service whose ovs-vswitchd runs in that namespace.
 */
function linksIn(ns: string): Parameters<typeof composeMirrors>[0]['links'] {
  const ip = (...args: string[]) => run('ip', ['-n', ns, ...args], { timeoutMs: 10_000 });
  const list = async () => (JSON.parse((await ip('-j', 'link', 'show')).stdout || '[]') as { ifname: string; ifindex: number; mtu: number; ifalias?: string; flags: string[] }[])
    .map((l) => ({ index: l.ifindex, name: l.ifname, mtu: l.mtu, up: l.flags.includes('UP'), alias: l.ifalias }));
  return {
    createVethPair: async (o) => { await ip('link', 'add', o.name, 'mtu', String(o.mtu), 'type', 'veth', 'peer', 'name', o.peerName, 'mtu', String(o.mtu)); await ip('link', 'set', o.name, 'up'); },
    deleteLink: async (n) => (await ip('link', 'del', n)).code === 0,
    getLink: async (n) => (await list()).find((l) => l.name === n),
    listLinks: list,
    setUp: async (n) => { await ip('link', 'set', n, 'up'); },
    setAlias: async (n, a) => { await ip('link', 'set', n, 'alias', a); },
  };
}

const haveOvn = fs.existsSync('/usr/bin/ovn-northd') && fs.existsSync('/usr/bin/ovn-controller');

test('OVN network (a lab chassis, netdev): a direct OVS mirror of the endpoint\'s port on br-int to GRE and to a local interface; ovn-controller leaves it alone; a network source is refused', { skip: !haveOvn && 'OVN is not installed' }, async () => {
  const lab = await startLab({ hosts: 2, ovn: true });
  const client = new OvsdbClient({ remote: lab.hosts[0].ovsdbRemote, database: 'Open_vSwitch', monitor: VSWITCH_MONITOR, requestTimeoutMs: 10_000 });
  try {
    const [h1, h2] = lab.hosts;
    await lab.nbctl('ls-add', 'mirror-sw');
    for (const n of ['a', 'b']) {
      await lab.nbctl('lsp-add', 'mirror-sw', `lsp-${n}`);
      await lab.nbctl('lsp-set-addresses', `lsp-${n}`, 'unknown');
    }
    const a = await lab.addNs('a', h1, { cidr: '10.96.0.1/24', ifaceId: 'lsp-a' });
    const b = await lab.addNs('b', h1, { cidr: '10.96.0.2/24', ifaceId: 'lsp-b' });
    await lab.nbctl('--wait=hv', 'sync');
    assert.ok(await a.ping('10.96.0.2', 2), 'a reaches b over OVN');

    const reg = new Registry();
    const net = { id: hexId(), options: { bridge: 'br-int', externalIds: {}, gateway: 'none', ovn: { switch: 'mirror-sw' } }, datapath: 'netdev', mtu: 1500, internal: false, ipv4: [], ipv6: [], createdBridge: false, createdUplink: false, ovn: { switch: 'mirror-sw', ref: 'x' } } as unknown as NetworkRecord;
    reg.networks.set(net.id, net);
    const ep: Endpoint = { id: hexId(), networkId: net.id, hostIf: a.hostIf!, peerIf: 'eth0', mac: '', macGenerated: false, ports: [] };
    reg.endpoints.set(ep.id, ep);
    await client.connect();
    const ovn = composeMirrors({ name: DRIVER, db: dbFromClient(client), registry: reg, links: linksIn(h1.ns), ovsdbRemote: h1.ovsdbRemote, accessVlan: () => undefined, log });

    await assert.rejects(ovn.service.create({ network: net.id, output: { type: 'interface', name: 'mon0' } }), (e: Error & { code?: string }) => e.code === 'UNSUPPORTED' && /is an OVN network.*mirror its endpoints instead/.test(e.message));

    const gre = await ovn.service.create({ endpoint: ep.id, output: { type: 'gre', remote_ip: h2.ip, key: 42 } });
    const local = await ovn.service.create({ endpoint: ep.id, direction: 'in', output: { type: 'interface', name: 'mon0' } });
    // ovn-controller recomputes everything: a Mirror and ports it does not own stay.
    await h1.ctlAppctl('recompute');
    await lab.nbctl('--wait=hv', 'sync');
    assert.deepEqual((await ovn.service.list()).map((x) => x.id).sort(), [gre.id, local.id].sort());

    const localSeen = run('ip', ['netns', 'exec', h1.ns, 'timeout', '6', 'tcpdump', '-n', '-l', '-i', 'mon0', 'icmp'], { timeoutMs: 15_000 });
    const greSeen = run('ip', ['netns', 'exec', h2.ns, 'timeout', '6', 'tcpdump', '-n', '-l', '-i', 'eth0', 'proto', 'gre'], { timeoutMs: 15_000 });
    await sleep(1500);
    await a.execOk('busybox', ['ping', '-c', '4', '-i', '0.2', '-W', '2', '10.96.0.2']);
    const onGre = (await greSeen).stdout.split('\n').filter((l) => /GREv0, key=0x2a, .*ICMP echo/.test(l));
    const onLocal = (await localSeen).stdout.split('\n').filter((l) => l.includes('ICMP echo'));
    console.log(`# OVN br-int: GRE collector ${onGre.length} ICMP frames with key 42; local mon0 ("in") ${onLocal.length} ICMP frames`);
    assert.equal(onGre.filter((l) => l.includes('request')).length, 4, 'GRE: a\'s requests');
    assert.equal(onGre.filter((l) => l.includes('reply')).length, 4, 'GRE: the replies (both directions, one key)');
    assert.ok(onLocal.length === 4 && onLocal.every((l) => l.includes('10.96.0.2 > 10.96.0.1: ICMP echo reply')), `local "in": the 4 replies only (${onLocal.join(' | ')})`);

    assert.deepEqual(await ovn.forgetEndpoint(ep.id), [gre.id, local.id].sort());
    assert.equal(await h1.vsctl('--bare', '--columns=name', 'list', 'Mirror'), '', 'no Mirror left on br-int');
    assert.equal((await h1.exec('ip', ['link', 'show', 'mon0'])).code, 1, 'the veth made for it is gone');
  } finally {
    client.close();
    await lab.destroy();
  }
});
