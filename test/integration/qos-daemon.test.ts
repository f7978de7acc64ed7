// QoS through the real daemon: a network's -o qos.max_rate limits what its containers send, an
// endpoint's --driver-opt overrides it, qos.set changes a running endpoint (rate and DSCP, seen
// on the wire), bad values are refused naming the option, and a detach leaves no meter behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import type { Plugin } from '../harness/plugin';
import { run, runOk, sleep } from '../harness/exec';
import { createNetns, deleteNetns, nsExec, nsSpawn } from '../harness/netns';
import { ok, hexId, createNetworkBody, hostPortOf, daemonForFile } from './helpers';

const tag = crypto.randomBytes(2).toString('hex');
const BR = `brq${tag}`;
const daemon = daemonForFile();
const { namespaces } = daemon;
daemon.bridges.push(BR);
let p: Plugin;
let netId = '';

async function rpc<T>(method: string, params: unknown): Promise<{ result?: T; error?: { code: number; message: string } }> {
  return (await p.call<{ result?: T; error?: { code: number; message: string } }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, params })).body;
}

/** CreateEndpoint (with driver options) + Join, the container end moved into a namespace. */
async function attach(cidr: string, name: string, options: Record<string, string> = {}): Promise<{ endpointId: string; ns: string; ip: string }> {
  const endpointId = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: netId, EndpointID: endpointId, Interface: { Address: cidr, AddressIPv6: '', MacAddress: '' }, Options: options });
  const join = await ok<{ InterfaceName: { SrcName: string } }>(p, 'NetworkDriver.Join', { NetworkID: netId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${name}`, Options: {} });
  const ns = await createNetns(`${name}${tag}`);
  namespaces.push(ns);
  const src = join.InterfaceName.SrcName;
  await runOk('ip', ['link', 'set', src, 'netns', ns]);
  await runOk('ip', ['-n', ns, 'link', 'set', src, 'name', 'eth0']);
  await runOk('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', 'eth0']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return { endpointId, ns, ip: cidr.split('/')[0] };
}

/** Mbit/s of TCP from `from` to `to` (iperf3, 3 s, first second left out); the best of `tries` below the band. */
async function mbit(from: { ns: string }, to: { ns: string; ip: string }, want: number): Promise<number> {
  let best = 0;
  for (let i = 0; i < 3; i++) {
    const r = await nsExec(from.ns, 'iperf3', ['-c', to.ip, '-t', '3', '-O', '1', '-J'], { timeoutMs: 30_000 });
    if (r.code !== 0) { await sleep(500); continue; }
    best = Math.max(best, (JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second / 1e6);
    if (best >= want * 0.85) break;
  }
  return best;
}

test('network qos.max_rate limits its containers, an endpoint option overrides it, qos.set changes a running one (rate, DSCP)', async () => {
  p = daemon.plugin();
  netId = hexId();
  await ok(p, 'NetworkDriver.CreateNetwork', createNetworkBody(netId, '10.234.0.0/24', undefined, { bridge: BR, gateway: 'external', 'qos.max_rate': '50' }));
  const a = await attach('10.234.0.2/24', 'qa');
  const b = await attach('10.234.0.3/24', 'qb', { 'qos.max_rate': '20' });
  const srvA = nsSpawn(a.ns, 'iperf3', ['-s']);
  const srvB = nsSpawn(b.ns, 'iperf3', ['-s']);
  await sleep(500);
  try {
    const ab = await mbit(a, b, 50);
    const ba = await mbit(b, a, 20);
    console.log(`# qos through the daemon: network 50 -> ${ab.toFixed(1)} Mbit/s; endpoint option 20 -> ${ba.toFixed(1)} Mbit/s`);
    assert.ok(Math.abs(ab - 50) / 50 <= 0.15, `a sends at the network's 50 Mbit/s: ${ab}`);
    assert.ok(Math.abs(ba - 20) / 20 <= 0.15, `b sends at its own 20 Mbit/s: ${ba}`);
    const set = await rpc<{ applied: Record<string, number> }>('qos.set', { endpoint: a.endpointId.slice(0, 12), 'qos.max_rate': 10, 'qos.dscp': 46 });
    assert.ok(!set.error, JSON.stringify(set.error));
    assert.deepEqual(set.result!.applied, { 'qos.max_rate': 10, 'qos.dscp': 46 });
    const ab2 = await mbit(a, b, 10);
    console.log(`# qos.set on a running endpoint: 10 -> ${ab2.toFixed(1)} Mbit/s`);
    assert.ok(Math.abs(ab2 - 10) / 10 <= 0.15, `a now sends at 10 Mbit/s: ${ab2}`);
    const bHost = await hostPortOf(p, netId, b.endpointId);
    const cap = run('timeout', ['3', 'tcpdump', '-i', bHost, '-n', '-v', '-c', '2', 'icmp', 'and', 'src', a.ip], { timeoutMs: 15_000 });
    await sleep(700);
    await nsExec(a.ns, 'busybox', ['ping', '-c', '2', '-W', '1', b.ip]);
    assert.match((await cap).stdout, /tos 0xb8/, 'DSCP 46 on the wire');
  } finally {
    await srvA.stop();
    await srvB.stop();
  }
  const bad = await rpc('qos.set', { endpoint: a.endpointId, 'qos.max_rate': 'fast' });
  assert.equal(bad.error?.code, -32602);
  assert.match(bad.error!.message, /option qos.max_rate: "fast" is not valid; accepted: 0-100000 Mbit\/s/);
  const refused = await p.call<{ Err?: string }>('NetworkDriver.CreateNetwork', createNetworkBody(hexId(), '10.235.0.0/24', undefined, { bridge: BR, 'qos.dscp': '64' }));
  assert.match(refused.body.Err ?? '', /option qos.dscp: "64" is not valid; accepted: 0-63/);
  // ovs-vswitchd loses b's meter and flows (as on a restart): the reconcile loop puts them back.
  const bPort = await hostPortOf(p, netId, b.endpointId);
  const bOfport = (await runOk('ovs-vsctl', ['get', 'Interface', bPort, 'ofport'])).stdout.trim();
  await runOk('ovs-ofctl', ['-O', 'OpenFlow13', 'del-meter', BR, `meter=${bOfport}`]);
  const t0 = Date.now();
  while (!new RegExp(`meter=${bOfport}\\b`).test((await runOk('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-meters', BR])).stdout) && Date.now() - t0 < 15_000) await sleep(250);
  console.log(`# QoS meter ovs-vswitchd lost put back by the reconcile loop after ${Date.now() - t0} ms`);
  assert.match((await runOk('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-meters', BR])).stdout, new RegExp(`meter=${bOfport}\\b`), 'meter back');
  // Detached: its meter and QoS rows go with it.
  const aHost = await hostPortOf(p, netId, a.endpointId);
  const ofport = (await runOk('ovs-vsctl', ['get', 'Interface', aHost, 'ofport'])).stdout.trim();
  await deleteNetns(a.ns);
  await ok(p, 'NetworkDriver.DeleteEndpoint', { NetworkID: netId, EndpointID: a.endpointId });
  const meters = (await runOk('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-meters', BR])).stdout;
  assert.doesNotMatch(meters, new RegExp(`meter=${ofport}\\b`), `meter ${ofport} gone: ${meters}`);
});
