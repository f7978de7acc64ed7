// Attach a "container" (a namespace the test owns) on a lab host through the plugin running in
// that host's namespace, as dockerd would: RequestAddress, CreateEndpoint, Join, then move the
// container end into the container namespace.
import * as crypto from 'node:crypto';
import assert from 'node:assert/strict';
import type { Plugin } from '../harness/plugin';
import type { Lab, LabHost } from '../lab/lab';
import { run, runOk } from '../harness/exec';

export const hexId = () => crypto.randomBytes(32).toString('hex');

export async function ok<T = Record<string, unknown>>(p: Plugin, method: string, body?: unknown): Promise<T> {
  const r = await p.call<T>(method, body, { timeoutMs: 60_000 });
  assert.equal(r.status, 200, `${method}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** A control-API call (JSON-RPC 2.0 on the plugin socket): its result. */
export async function rpc<T>(p: Plugin, method: string, params?: unknown): Promise<T> {
  return (await p.call<{ result: T }>('ocn/v1/rpc', { jsonrpc: '2.0', id: 1, method, params })).body.result;
}

/** DeleteNetwork for every network the plugin knows. */
export async function deleteAllNetworks(p: Plugin): Promise<void> {
  for (const n of await rpc<{ id: string }[]>(p, 'networks.list')) await ok(p, 'NetworkDriver.DeleteNetwork', { NetworkID: n.id });
}

export interface Ctr {
  ns: string;
  ip: string;
  endpointId: string;
  networkId: string;
  joinMs: number;
  host: LabHost;
  plugin: Plugin;
}

export interface OvnNet {
  id: string;
  poolId: string;
  gateway: string;
}

/** Own-IPAM pool + gateway + CreateNetwork on one host's plugin. */
export async function createNetwork(p: Plugin, subnet: string, opts: Record<string, string>, id = hexId(), subPool = ''): Promise<OvnNet> {
  const pool = await ok<{ PoolID: string }>(p, 'IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: subnet, SubPool: subPool, Options: null, V6: false });
  const gw = await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: subnet, Gateway: gw.Address }], IPv6Data: [],
  });
  return { id, poolId: pool.PoolID, gateway: gw.Address };
}

/** CreateNetwork as with Docker's default IPAM (no IPAM calls to the plugin). */
export async function createNetworkDefaultIpam(p: Plugin, subnet: string, gateway: string, opts: Record<string, string>, id = hexId()): Promise<OvnNet> {
  await ok(p, 'NetworkDriver.CreateNetwork', {
    NetworkID: id, Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': opts },
    IPv4Data: [{ AddressSpace: 'LocalDefault', Pool: subnet, Gateway: gateway }], IPv6Data: [],
  });
  return { id, poolId: '', gateway };
}

/** `endpointOptions`: what `docker network connect --driver-opt k=v` puts in CreateEndpoint's Options. */
export async function attach(host: LabHost, p: Plugin, net: OvnNet, nsName: string, opts: { route?: boolean; address?: string; endpointOptions?: Record<string, string> } = {}): Promise<Ctr> {
  const addr = opts.address ? { Address: opts.address } : await ok<{ Address: string }>(p, 'IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: null });
  const endpointId = hexId();
  await ok(p, 'NetworkDriver.CreateEndpoint', { NetworkID: net.id, EndpointID: endpointId, Interface: { Address: addr.Address, AddressIPv6: '', MacAddress: '' }, Options: opts.endpointOptions ?? {} });
  const t0 = Date.now();
  const join = await ok<{ InterfaceName: { SrcName: string }; Gateway?: string }>(p, 'NetworkDriver.Join', { NetworkID: net.id, EndpointID: endpointId, SandboxKey: `/var/run/docker/netns/${nsName}`, Options: {} });
  const joinMs = Date.now() - t0;
  await run('ip', ['netns', 'del', nsName]);
  await runOk('ip', ['netns', 'add', nsName]);
  const src = join.InterfaceName.SrcName;
  await runOk('ip', ['-n', host.ns, 'link', 'set', src, 'netns', nsName]);
  await runOk('ip', ['-n', nsName, 'link', 'set', 'lo', 'up']);
  await runOk('ip', ['-n', nsName, 'link', 'set', src, 'name', 'eth0']);
  await runOk('ip', ['-n', nsName, 'addr', 'add', addr.Address, 'dev', 'eth0']);
  await runOk('ip', ['-n', nsName, 'link', 'set', 'eth0', 'up']);
  if (opts.route !== false && join.Gateway) await runOk('ip', ['-n', nsName, 'route', 'add', 'default', 'via', join.Gateway]);
  return { ns: nsName, ip: addr.Address.split('/')[0], endpointId, networkId: net.id, joinMs, host, plugin: p };
}

export async function detach(c: Ctr): Promise<void> {
  await run('ip', ['netns', 'del', c.ns]);
  await ok(c.plugin, 'NetworkDriver.Leave', { NetworkID: c.networkId, EndpointID: c.endpointId });
  await ok(c.plugin, 'NetworkDriver.DeleteEndpoint', { NetworkID: c.networkId, EndpointID: c.endpointId });
}

export async function ping(ns: string, target: string, count = 2): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', String(count), '-W', '2', target], { timeoutMs: 20_000 });
  return r.code === 0;
}

/** Every lab host registered as an OVN chassis with ovn-controller running, tunnels up. */
export async function ovnChassisUp(lab: Lab): Promise<void> {
  for (const h of lab.hosts) {
    await h.chassisSetup();
    await lab.startController(h);
  }
  await lab.waitTunnels();
}

/** One TCP exchange between two containers (busybox nc): what `to` answers on `port`. */
export async function tcpHello(from: Ctr, to: Ctr, port: number, answer: string): Promise<string> {
  const srv = run('ip', ['netns', 'exec', to.ns, 'busybox', 'nc', '-l', '-p', String(port), '-e', 'echo', answer], { timeoutMs: 15_000 });
  await new Promise((r) => setTimeout(r, 300)); // the listener up
  const got = await run('ip', ['netns', 'exec', from.ns, 'busybox', 'nc', '-w', '5', to.ip, String(port)], { timeoutMs: 15_000 });
  await srv;
  return got.stdout;
}
