// What the driver knows about networks and endpoints, and how each is written to OVSDB.
import type { IPAMData } from '../protocol/network';
import type { Datapath, NetworkOptions } from './options';
import type { PublishedPort } from '../net/firewall';
import { decodeQos, effectiveQos, encodeQos, isEmptyQos, mergeQos, type QosSpec } from '../qos/model';

export interface NetworkRecord {
  id: string;
  options: NetworkOptions;
  /** Resolved at create: the bridge's datapath. */
  datapath: Datapath;
  mtu: number;
  internal: boolean;
  ipv4: IPAMData[];
  ipv6: IPAMData[];
  /** Name of the OVS internal port holding the gateway addresses (gateway=local). */
  gatewayPort?: string;
  /** The plugin created the bridge, so it may delete it with its last network. */
  createdBridge: boolean;
  createdUplink: boolean;
  /** OVN networks: the logical switch bound and this network's reference on it. */
  ovn?: { switch: string; ref: string; createdSwitch?: boolean };
  /** The VLAN in options.vlan was picked by the plugin (no -o vlan). */
  autoVlan?: boolean;
  /** Plain overlay: encapsulation, VNI and the local VLAN mapped to it. */
  overlay?: { type: 'vxlan' | 'geneve'; vni: number; vlan: number };
}

export interface Endpoint {
  id: string;
  networkId: string;
  /** Host side of the veth: the OVS port. */
  hostIf: string;
  /** Container side: handed to Docker as SrcName. */
  peerIf: string;
  mac: string;
  ipv4?: string;
  ipv6?: string;
  sandbox?: string;
  /** Whether the MAC came from the plugin (then CreateEndpoint must return it). */
  macGenerated: boolean;
  ports: PublishedPort[];
  /** Security groups (names within the network's tenant); none: unfiltered. */
  securityGroups?: string[];
  /** Its own QoS keys (`--driver-opt qos.*`, qos.set), over the network's. */
  qos?: QosSpec;
}

export const DEFAULT_MTU = 1500;

/** external_ids keys on an endpoint's Port and Interface (owner-ids.ts names every key we write). */
export { EP } from '../model/owner-ids';
import { EP } from '../model/owner-ids';

export function endpointToIds(ep: Endpoint, net: NetworkRecord): Record<string, string> {
  const ids: Record<string, string> = {
    ...net.options.externalIds,
    [EP.network]: ep.networkId,
    [EP.endpoint]: ep.id,
    [EP.mac]: ep.mac,
    [EP.peer]: ep.peerIf,
    'attached-mac': ep.mac,
  };
  if (ep.macGenerated) ids[EP.macGenerated] = 'true';
  if (ep.ipv4) ids[EP.ipv4] = ep.ipv4;
  if (ep.ipv6) ids[EP.ipv6] = ep.ipv6;
  if (ep.sandbox) ids[EP.sandbox] = ep.sandbox;
  if (net.options.tenantId) ids[EP.tenant] = net.options.tenantId;
  if (ep.ports.length) ids[EP.ports] = JSON.stringify(ep.ports);
  if (ep.securityGroups?.length) ids[EP.securityGroups] = ep.securityGroups.join(',');
  if (ep.qos && !isEmptyQos(ep.qos)) ids[EP.qos] = encodeQos(ep.qos);
  return ids;
}

export function endpointFromIds(hostIf: string, ids: Record<string, string>): Endpoint | undefined {
  const id = ids[EP.endpoint];
  const networkId = ids[EP.network];
  if (!id || !networkId) return undefined;
  let ports: PublishedPort[] = [];
  try {
    ports = ids[EP.ports] ? (JSON.parse(ids[EP.ports]) as PublishedPort[]) : [];
  } catch {
    ports = [];
  }
  return {
    id, networkId, hostIf,
    peerIf: ids[EP.peer] ?? '',
    mac: ids[EP.mac] ?? '',
    ipv4: ids[EP.ipv4] || undefined,
    ipv6: ids[EP.ipv6] || undefined,
    sandbox: ids[EP.sandbox] || undefined,
    macGenerated: ids[EP.macGenerated] === 'true',
    ports,
    securityGroups: ids[EP.securityGroups] ? ids[EP.securityGroups].split(',').filter(Boolean) : undefined,
    qos: ids[EP.qos] ? safeDecodeQos(ids[EP.qos]) : undefined,
  };
}

/**
 * An endpoint's durable record, written before its veth is made and removed with its port: a
 * crash at any point of CreateEndpoint leaves something start-up recognises as this daemon's.
 * An intent without an owned Interface row is a creation that never finished (no answer reached
 * Docker), so start-up removes what it made; dockerd re-sends the request if it still wants it.
 */
/** A record's QoS; one this daemon cannot read is taken as none (the network's applies). */
function safeDecodeQos(v: string): QosSpec | undefined {
  try {
    return decodeQos(v);
  } catch {
    return undefined;
  }
}

/** What is applied to an endpoint: its own QoS keys over its network's, zeros (unlimited) dropped. */
export function endpointQos(net: NetworkRecord, ep: Endpoint): QosSpec {
  return effectiveQos(mergeQos(net.options.qos ?? {}, ep.qos ?? {}));
}

export interface EndpointIntent {
  id: string;
  networkId: string;
  hostIf: string;
  peerIf: string;
}

export const endpointIntentPrefix = (driver: string) => `ocn.${driver}.ep.`;
