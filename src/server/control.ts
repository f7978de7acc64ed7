// The control API: JSON-RPC 2.0 on the plugin's own socket (POST /ocn/v1/rpc), so a managed
// plugin needs no second socket. Used by the CLI and by operators' tooling.
import { isIPv4 } from 'node:net';
import { JSONRPCErrorCode, JSONRPCErrorException, JSONRPCServer } from 'json-rpc-2.0';
import type { OvsNetworkDriver } from '../driver/network-driver';
import type { Ipam } from '../ipam/ipam';
import type { OverlayManager } from '../overlay/overlay';
import type { OvnNetworks } from '../backends/ovn/ovn-network';
import type { SecurityGroups } from '../secgroups/service';
import { SgError } from '../secgroups/model';
import type { QosService } from '../qos/service';
import { InputError } from '../util/errors';

export const CONTROL_PATH = '/ocn/v1/rpc';

export interface ControlDeps {
  driver: OvsNetworkDriver;
  ipam: Ipam;
  overlay?: OverlayManager;
  ovn?: OvnNetworks;
  securityGroups?: SecurityGroups;
  /** Further method sets (mirrors, QoS), each adding its methods to the server. */
  methods?: ((rpc: JSONRPCServer) => void)[];
}

function str(params: unknown, key: string): string {
  const v = params && typeof params === 'object' ? (params as Record<string, unknown>)[key] : undefined;
  if (typeof v !== 'string' || !v) throw new Error(`parameter "${key}" (string) is required`);
  return v;
}

const PEERS_ACCEPTED = 'accepted: a list of IPv4 addresses, ["10.0.0.2","10.0.0.3"] or {"peers": ["10.0.0.2","10.0.0.3"]}; {"peers": []} removes every peer';

/**
 * peers.set's params. Replacing the peer list removes every tunnel not in it, so anything but a
 * list of IPv4 addresses is refused, and an empty list is only taken in its explicit form.
 */
export function peersParam(params: unknown): string[] {
  const refuse = (why: string) => new JSONRPCErrorException(`peers.set: ${why}; ${PEERS_ACCEPTED}`, JSONRPCErrorCode.InvalidParams);
  let list: unknown[];
  if (Array.isArray(params)) {
    if (!params.length) throw refuse('an empty positional list is not taken as "no peers"');
    list = params;
  } else if (params && typeof params === 'object' && Object.keys(params).length === 1 && Array.isArray((params as { peers?: unknown }).peers)) {
    list = (params as { peers: unknown[] }).peers;
  } else {
    throw refuse(params === undefined ? 'no params given' : `params ${JSON.stringify(params)} are not valid`);
  }
  for (const p of list) if (typeof p !== 'string' || !isIPv4(p)) throw refuse(`${JSON.stringify(p)} is not an IPv4 address`);
  return [...new Set(list as string[])];
}

/** JSON-RPC application error: the request was valid but cannot be done (not found, in use). */
const APP_ERROR = -32000;

/** A group error as JSON-RPC error: the spec's code and the field as error data. */
function sgMethod<T>(fn: (params: unknown) => T | Promise<T>): (params: unknown) => Promise<T> {
  return async (params) => {
    try {
      return await fn(params);
    } catch (err) {
      if (!(err instanceof SgError)) throw err;
      const invalid = err.code === 'INVALID_ARGUMENT' || err.code === 'INVALID_CIDR';
      throw new JSONRPCErrorException(err.message, invalid ? JSONRPCErrorCode.InvalidParams : APP_ERROR, { code: err.code, ...(err.field ? { field: err.field } : {}) });
    }
  };
}

export function createControlServer(d: ControlDeps): JSONRPCServer {
  // Refusals go back to the caller as JSON-RPC errors; the library would also print each to stderr.
  const rpc = new JSONRPCServer({ errorListener: () => undefined });
  for (const add of d.methods ?? []) add(rpc);
  const sg = d.securityGroups;
  if (sg) {
    rpc.addMethod('sg.create', sgMethod((p) => sg.create(p)));
    rpc.addMethod('sg.update', sgMethod((p) => sg.update(p)));
    rpc.addMethod('sg.delete', sgMethod((p) => sg.delete(p)));
    rpc.addMethod('sg.get', sgMethod((p) => sg.get(p)));
    rpc.addMethod('sg.list', sgMethod((p) => sg.list(p)));
    rpc.addMethod('sg.attach', sgMethod((p) => sg.change(p, 'attach')));
    rpc.addMethod('sg.detach', sgMethod((p) => sg.change(p, 'detach')));
  }
  rpc.addMethod('networks.list', () => [...d.driver.networks.values()].map((n) => ({
    id: n.id, bridge: n.options.bridge, vlan: n.options.vlan, mtu: n.mtu, datapath: n.datapath, internal: n.internal,
    gateway: n.options.gateway, gatewayPort: n.gatewayPort, ovn: n.ovn, overlay: n.overlay,
    subnets: [...n.ipv4, ...n.ipv6].map((x) => x.Pool),
  })));
  rpc.addMethod('endpoints.list', () => [...d.driver.endpoints.values()]);
  rpc.addMethod('pools.list', () => d.ipam.snapshot());
  rpc.addMethod('peers.get', () => d.overlay?.getPeers() ?? []);
  rpc.addMethod('peers.set', async (params: unknown) => {
    if (!d.overlay) throw new Error('overlays are not enabled in this daemon');
    await d.overlay.setPeers(peersParam(params));
    return d.overlay.getPeers();
  });
  rpc.addMethod('tunnels.status', () => d.overlay?.status() ?? []);
  const needOvn = (): OvnNetworks => { if (!d.ovn) throw new Error('OVN is not enabled in this daemon (--ovn-nb)'); return d.ovn; };
  rpc.addMethod('nat.list', () => needOvn().listNat());
  rpc.addMethod('nat.add', async (p: unknown) => { await needOvn().addNat(str(p, 'router'), str(p, 'external_ip'), str(p, 'logical_ip')); return needOvn().listNat(); });
  rpc.addMethod('nat.remove', async (p: unknown) => { await needOvn().removeNat(str(p, 'router'), str(p, 'external_ip')); return needOvn().listNat(); });
  return rpc;
}

/** qos.get / qos.set on a running endpoint; bad keys or values are invalid params naming the option. */
export function registerQosMethods(rpc: JSONRPCServer, qos: QosService): void {
  const invalid = <T>(fn: (p: unknown) => T | Promise<T>) => async (p: unknown): Promise<T> => {
    try {
      return await fn(p);
    } catch (err) {
      if (err instanceof InputError) throw new JSONRPCErrorException(err.message, JSONRPCErrorCode.InvalidParams);
      throw err;
    }
  };
  rpc.addMethod('qos.get', invalid((p) => qos.get(p)));
  rpc.addMethod('qos.set', invalid((p) => qos.set(p)));
}
