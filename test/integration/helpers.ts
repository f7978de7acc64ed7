// Drives the plugin straight at its socket like dockerd would, and plays the container side
// (a namespace the test owns) where dockerd would move the veth.
import * as crypto from 'node:crypto';
import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { startPlugin, type Plugin } from '../harness/plugin';
import { ensureSystemOvs, vsctlRun } from '../harness/ovs';
import { run, runOk } from '../harness/exec';
import { createNetns, deleteNetns } from '../harness/netns';

export const hexId = () => crypto.randomBytes(32).toString('hex');

export async function ok<T = Record<string, unknown>>(p: Plugin, method: string, body?: unknown): Promise<T> {
  const r = await p.call<T>(method, body);
  assert.equal(r.status, 200, `${method}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function err(p: Plugin, method: string, body: unknown): Promise<string> {
  const r = await p.call<{ Err?: string }>(method, body);
  assert.notEqual(r.status, 200, `${method} should fail: ${JSON.stringify(r.body)}`);
  assert.ok(r.body.Err, `an Err message: ${JSON.stringify(r.body)}`);
  return r.body.Err;
}

export function createNetworkBody(id: string, pool: string, gateway: string | undefined, opts: Record<string, string> = {}, extra: Record<string, unknown> = {}) {
  return {
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts, ...extra },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: pool, ...(gateway ? { Gateway: gateway } : {}) }],
    IPv6Data: [],
  };
}

export interface Attached {
  endpointId: string;
  ns: string;
  host: string;
  /** The container end's name before it was moved (dockerd renames it back on the way out). */
  peer: string;
  mac: string;
}

/** An endpoint's OVS port (a warm pooled port's name is not derived from the endpoint id). */
export async function hostPortOf(p: Plugin, networkId: string, endpointId: string): Promise<string> {
  const info = await ok<{ Value: { 'ocn.port'?: string } }>(p, 'NetworkDriver.EndpointOperInfo', { NetworkID: networkId, EndpointID: endpointId });
  assert.ok(info.Value['ocn.port'], `endpoint ${endpointId.slice(0, 12)} has a port: ${JSON.stringify(info)}`);
  return info.Value['ocn.port'];
}

/** CreateEndpoint + Join, then move the container end into a namespace as eth0 (dockerd's part). */
export async function attach(p: Plugin, networkId: string, cidr: string, nsName: string, mac = ''): Promise<Attached> {
  const endpointId = hexId();
  const ce = await ok<{ Interface?: { MacAddress?: string } }>(p, 'NetworkDriver.CreateEndpoint', {
    NetworkID: networkId, EndpointID: endpointId, Interface: { Address: cidr, AddressIPv6: '', MacAddress: mac }, Options: {},
  });
  const join = await ok<{ InterfaceName: { SrcName: string } }>(p, 'NetworkDriver.Join', {
    NetworkID: networkId, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${nsName}`, Options: {},
  });
  const ns = await createNetns(nsName);
  const src = join.InterfaceName.SrcName;
  await runOk('ip', ['link', 'set', src, 'netns', ns]);
  await runOk('ip', ['-n', ns, 'link', 'set', src, 'name', 'eth0']);
  await runOk('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', 'eth0']);
  await runOk('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  return { endpointId, ns, host: await hostPortOf(p, networkId, endpointId), peer: src, mac: mac || ce.Interface?.MacAddress || '' };
}

export async function linkExists(name: string, ns?: string): Promise<boolean> {
  const args = ns ? ['-n', ns, 'link', 'show', name] : ['link', 'show', name];
  return (await run('ip', args)).code === 0;
}

export async function waitGone(name: string, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!(await linkExists(name))) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** `arping` from a namespace: true when the target answered. */
export async function arpReachable(ns: string, target: string): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns, 'busybox', 'arping', '-c', '2', '-w', '2', '-I', 'eth0', target], { timeoutMs: 10_000 });
  return /Received [1-9]/.test(r.stdout + r.stderr);
}

/**
 * One real daemon for a test file, started before its tests and stopped after them, with the
 * namespaces and bridges the tests list for removal.
 */
export function daemonForFile(args: string[] = ['--join-grace-ms', '0']): { plugin: () => Plugin; namespaces: string[]; bridges: string[] } {
  const state: { p?: Plugin; namespaces: string[]; bridges: string[] } = { namespaces: [], bridges: [] };
  before(async () => {
    await ensureSystemOvs();
    state.p = await startPlugin({ args });
  });
  after(async () => {
    await state.p?.stop();
    for (const ns of state.namespaces) await deleteNetns(ns);
    for (const br of state.bridges) await vsctlRun('--if-exists', 'del-br', br);
  });
  return { plugin: () => state.p!, namespaces: state.namespaces, bridges: state.bridges };
}
