// peers.set against the real daemon: a bad call (no params, a misspelt key, an empty positional
// list, a non-address) is refused over the socket and through `ctl`, and leaves peers and tunnels
// as they were; {"peers": []} is the one way to remove every peer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import { startPlugin, Plugin, pluginBinPath } from '../harness/plugin';
import { ensureSystemOvs, vsctl, vsctlRun } from '../harness/ovs';
import { run } from '../harness/exec';
import { purgeChains } from '../harness/iptables';
import { chainNames } from '../../src/net/firewall';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';
import { ok, hexId, createNetworkBody } from './helpers';
import * as path from 'node:path';

const BR = `brp${crypto.randomBytes(2).toString('hex')}`;
// Tunnel ends on loopback: the tunnels exist in OVS, their packets never leave the host.
const PEERS = ['127.0.0.2', '127.0.0.3'];
let p: Plugin;
const net = hexId();

before(async () => {
  await ensureSystemOvs();
  p = await startPlugin({ args: ['--peers', PEERS.join(',')] });
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(net, '10.216.0.0/24', '10.216.0.1/24', { bridge: BR, overlay: 'vxlan', vni: String(5000 + crypto.randomInt(100_000)) }));
});
after(async () => {
  await p?.call('NetworkDriver.DeleteNetwork', { NetworkID: net });
  await p?.stop();
  await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}`));
  await vsctlRun('--if-exists', 'del-br', BR);
  await vsctlRun('remove', 'Open_vSwitch', '.', 'external_ids', `ocn.${p.name}.peers`);
});

interface RpcAnswer { result?: unknown; error?: { code: number; message: string } }
const rpc = async (method: string, params?: unknown): Promise<RpcAnswer> =>
  (await p.call<RpcAnswer>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) })).body;

/** The remote ends of this daemon's tunnel ports in OVS. */
async function tunnelRemotes(): Promise<string[]> {
  const out = await vsctl('--format=json', '--columns=external_ids', 'find', 'Port', `external_ids:ocn-owner=${p.name}`);
  const rows = (JSON.parse(out) as { data: [[string, [string, string][]]][] }).data;
  return rows.map((r) => Object.fromEntries(r[0][1])['ocn-peer-ip']).filter((x): x is string => !!x).sort();
}

function ctl(...args: string[]) {
  return run(process.execPath, [...DAEMON_NODE_FLAGS, pluginBinPath(), 'ctl', '--name', p.name, '--plugin-dir', path.dirname(p.socket), ...args], { timeoutMs: 30_000 });
}

test('the daemon starts with its tunnels to both peers', async () => {
  assert.deepEqual((await rpc('peers.get')).result, PEERS);
  assert.deepEqual(await tunnelRemotes(), PEERS);
});

test('bad peers.set params are refused with invalid params and change neither peers nor tunnels', async () => {
  const bad: [unknown, RegExp][] = [
    [undefined, /no params given/],
    [{ peer: ['127.0.0.9'] }, /params \{"peer":\["127\.0\.0\.9"\]\} are not valid/],
    [[], /an empty positional list/],
    [['127.0.0.2', 'not-an-ip'], /"not-an-ip" is not an IPv4 address/],
    [{ peers: '127.0.0.2' }, /are not valid/],
  ];
  for (const [params, why] of bad) {
    const a = await rpc('peers.set', params);
    assert.equal(a.error?.code, -32602, `${JSON.stringify(params)}: ${JSON.stringify(a)}`);
    assert.match(a.error!.message, why);
    assert.match(a.error!.message, /accepted: a list of IPv4 addresses/);
    assert.deepEqual((await rpc('peers.get')).result, PEERS, `peers after ${JSON.stringify(params)}`);
    assert.deepEqual(await tunnelRemotes(), PEERS, `tunnels after ${JSON.stringify(params)}`);
  }
});

test('ctl peers.set without params or with a misspelt key fails and changes nothing; with a list it works', async () => {
  for (const args of [[], ['{"peer":["127.0.0.9"]}'], ['"127.0.0.9"']]) {
    const r = await ctl('peers.set', ...args);
    assert.notEqual(r.code, 0, `ctl peers.set ${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, /peers\.set: .*accepted: a list of IPv4 addresses|parameters must be a JSON array or object/);
    assert.deepEqual(await tunnelRemotes(), PEERS);
  }
  const r = await ctl('peers.set', JSON.stringify([PEERS[0]]));
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [PEERS[0]]);
  assert.deepEqual(await tunnelRemotes(), [PEERS[0]]);
});

test('{"peers": []} removes every peer and tunnel', async () => {
  assert.deepEqual((await rpc('peers.set', { peers: [] })).result, []);
  assert.deepEqual(await tunnelRemotes(), []);
});
