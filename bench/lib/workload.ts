// What dockerd sends for a network and a container on it, driven straight at a plugin's socket.
// Bodies follow the recorded dockerd 20.10 calls (../shared/docker-calls).
import { PluginClient } from './client';
import { hexId } from './util';

export interface BenchNet {
  client: PluginClient;
  id: string;
  bridge: string;
  poolId: string;
  subnet: string;
  gateway?: string;
}

export interface NetSpec {
  bridge: string;
  subnet: string;
  vlan?: number;
  /** 'local': gateway port with address and NAT (docker network create's usual case); 'external': L2 only. */
  gateway: 'local' | 'external';
  /** Further -o options. */
  options?: Record<string, string>;
}

export interface AttachedEp {
  id: string;
  address: string;
  /** Host end of its veth (a warm pooled port's name is not derived from the endpoint id). */
  host: string;
}

const EP_OPTIONS = { 'com.docker.network.endpoint.exposedports': [], 'com.docker.network.portmap': [] };

/** RequestPool + gateway RequestAddress (the plugin's own IPAM), not timed. */
export async function requestPool(client: PluginClient, subnet: string, gateway: boolean): Promise<{ poolId: string; gateway?: string }> {
  const pool = await client.call<{ PoolID: string }>('IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: subnet, SubPool: '', Options: {}, V6: false });
  if (!gateway) return { poolId: pool.PoolID };
  const gw = await client.call<{ Address: string }>('IpamDriver.RequestAddress', { PoolID: pool.PoolID, Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
  return { poolId: pool.PoolID, gateway: gw.Address };
}

export function createNetworkBody(id: string, spec: NetSpec, gateway: string | undefined): Record<string, unknown> {
  const generic: Record<string, string> = { bridge: spec.bridge, gateway: spec.gateway, ...spec.options };
  if (spec.vlan) generic.vlan = String(spec.vlan);
  return {
    NetworkID: id,
    Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': generic },
    IPv4Data: [{ AddressSpace: 'ocn-local', Pool: spec.subnet, ...(gateway ? { Gateway: gateway } : {}) }],
    IPv6Data: [],
  };
}

/** Pool, gateway address and CreateNetwork (the last one is what callers time, via `timed`). */
export async function createNetwork(client: PluginClient, spec: NetSpec, timed?: (ms: number) => void): Promise<BenchNet> {
  const { poolId, gateway } = await requestPool(client, spec.subnet, spec.gateway === 'local');
  const id = hexId();
  const t0 = process.hrtime.bigint();
  await client.call('NetworkDriver.CreateNetwork', createNetworkBody(id, spec, gateway));
  timed?.(Number(process.hrtime.bigint() - t0) / 1e6);
  return { client, id, bridge: spec.bridge, poolId, subnet: spec.subnet, gateway };
}

export async function deleteNetwork(net: BenchNet, timed?: (ms: number) => void): Promise<void> {
  const t0 = process.hrtime.bigint();
  await net.client.call('NetworkDriver.DeleteNetwork', { NetworkID: net.id });
  timed?.(Number(process.hrtime.bigint() - t0) / 1e6);
  if (net.gateway) await net.client.call('IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: net.gateway.split('/')[0] });
  await net.client.call('IpamDriver.ReleasePool', { PoolID: net.poolId });
}

export interface StepTimes {
  requestAddress: number;
  createEndpoint: number;
  join: number;
}

const since = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

/** The attach path: RequestAddress + CreateEndpoint + Join; `steps` receives each call's time (ms). */
export async function attach(net: BenchNet, steps?: (s: StepTimes) => void): Promise<AttachedEp> {
  const c = net.client;
  const t0 = process.hrtime.bigint();
  const a = await c.call<{ Address: string }>('IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: null });
  const t1 = process.hrtime.bigint();
  const id = hexId();
  await c.call('NetworkDriver.CreateEndpoint', { NetworkID: net.id, EndpointID: id, Interface: { Address: a.Address, AddressIPv6: '', MacAddress: '' }, Options: EP_OPTIONS });
  const t2 = process.hrtime.bigint();
  const join = await c.call<{ InterfaceName: { SrcName: string } }>('NetworkDriver.Join', { NetworkID: net.id, EndpointID: id, SandboxKey: `/var/run/docker/netns/${id.slice(0, 12)}`, Options: EP_OPTIONS });
  steps?.({ requestAddress: Number(t1 - t0) / 1e6, createEndpoint: Number(t2 - t1) / 1e6, join: since(t2) });
  return { id, address: a.Address, host: hostVeth(join.InterfaceName.SrcName) };
}

/** The detach path: Leave + DeleteEndpoint + ReleaseAddress. */
export async function detach(net: BenchNet, ep: AttachedEp): Promise<void> {
  const c = net.client;
  await c.call('NetworkDriver.Leave', { NetworkID: net.id, EndpointID: ep.id });
  await c.call('NetworkDriver.DeleteEndpoint', { NetworkID: net.id, EndpointID: ep.id });
  await c.call('IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: ep.address.split('/')[0] });
}

/** Host end of a veth from its container end's name (both flavours: ocnc/ocnh, ocbc/ocbh). */
function hostVeth(containerEnd: string): string {
  return `${containerEnd.slice(0, 3)}h${containerEnd.slice(4)}`;
}
