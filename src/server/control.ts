// The control API: JSON-RPC 2.0 on the plugin's own socket (POST /ocn/v1/rpc), so a managed
// plugin needs no second socket. Used by the CLI and by operators' tooling.
import { JSONRPCServer } from 'json-rpc-2.0';
import type { OvsNetworkDriver } from '../driver/network-driver';
import type { Ipam } from '../ipam/ipam';
import type { OverlayManager } from '../overlay/overlay';
import { parsePeers } from '../overlay/overlay';
import type { OvnNetworks } from '../driver/ovn-network';

export const CONTROL_PATH = '/ocn/v1/rpc';

export interface ControlDeps {
  driver: OvsNetworkDriver;
  ipam: Ipam;
  overlay?: OverlayManager;
  ovn?: OvnNetworks;
}

function str(params: unknown, key: string): string {
  const v = params && typeof params === 'object' ? (params as Record<string, unknown>)[key] : undefined;
  if (typeof v !== 'string' || !v) throw new Error(`parameter "${key}" (string) is required`);
  return v;
}

export function createControlServer(d: ControlDeps): JSONRPCServer {
  const rpc = new JSONRPCServer();
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
    const list = Array.isArray(params) ? params.join(',') : typeof params === 'object' && params && 'peers' in params ? String((params as { peers: unknown }).peers) : '';
    await d.overlay.setPeers(parsePeers(list, 'peers.set'));
    return d.overlay.getPeers();
  });
  rpc.addMethod('tunnels.status', () => d.overlay?.status() ?? []);
  const needOvn = (): OvnNetworks => { if (!d.ovn) throw new Error('OVN is not enabled in this daemon (--ovn-nb)'); return d.ovn; };
  rpc.addMethod('nat.list', () => needOvn().listNat());
  rpc.addMethod('nat.add', async (p: unknown) => { await needOvn().addNat(str(p, 'router'), str(p, 'external_ip'), str(p, 'logical_ip')); return needOvn().listNat(); });
  rpc.addMethod('nat.remove', async (p: unknown) => { await needOvn().removeNat(str(p, 'router'), str(p, 'external_ip')); return needOvn().listNat(); });
  return rpc;
}
