// The tunnel bridge's flow table, rendered whole from state and swapped in atomically with one
// `ovs-ofctl replace-flows` (a rare operation: network create/delete, peer change).
// Each overlay network is a (local VLAN, VNI) pair: frames leaving the network bridge tagged
// with its VLAN get the VNI as tunnel key and go to every peer of its type; frames arriving
// with that key get the VLAN back. Tunnel ports use key=flow, so one port per peer serves all.
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import execa from 'execa';

export const TUN_BRIDGE = 'br-ocn-tun';
export type OverlayType = 'vxlan' | 'geneve';

export interface OverlayNet {
  vni: number;
  vlan: number;
  type: OverlayType;
  /** Patch port on the tunnel bridge leading to the network's bridge. */
  patch: string;
}

export interface TunnelPort {
  name: string;
  type: OverlayType;
  remote: string;
  /** UDP port (options:dst_port): not OVN's, so both can tunnel to the same remote. */
  dstPort: number;
}

const h8 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 8);
/** Patch pair between a network bridge and the tunnel bridge (names fit IFNAMSIZ). */
export const patchNames = (bridge: string) => ({ onBridge: `ocnp${h8(bridge)}`, onTun: `ocnq${h8(bridge)}` });
/**
 * One tunnel port per peer, type and UDP port. Another UDP port is another port name: the old
 * port is deleted and the new one added, and ovs-vswitchd checks a new port for a clash with
 * other tunnels (it does not when an existing port's options change).
 */
export const tunnelName = (type: OverlayType, remote: string, dstPort: number) => `${type === 'vxlan' ? 'ocvx' : 'ocgn'}${h8(`${remote}:${dstPort}`)}`;

export function renderFlows(nets: OverlayNet[], tunnels: TunnelPort[]): string {
  const lines = ['priority=0,actions=drop'];
  for (const n of nets) {
    const outs = tunnels.filter((t) => t.type === n.type).map((t) => `output:${t.name}`);
    if (outs.length) lines.push(`priority=100,in_port=${n.patch},dl_vlan=${n.vlan},actions=strip_vlan,set_tunnel:${n.vni},${outs.join(',')}`);
    for (const t of tunnels.filter((x) => x.type === n.type)) {
      lines.push(`priority=100,in_port=${t.name},tun_id=${n.vni},actions=mod_vlan_vid:${n.vlan},output:${n.patch}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** ovs-ofctl needs the bridge's OpenFlow socket: <OVS run dir>/<bridge>.mgmt. */
export function mgmtTarget(ovsdbRemote: string, bridge: string): string {
  const m = /^unix:(.+)$/.exec(ovsdbRemote);
  const rundir = m ? path.dirname(m[1]) : '/var/run/openvswitch';
  return `unix:${rundir}/${bridge}.mgmt`;
}

export async function replaceFlows(target: string, flows: string): Promise<void> {
  await execa('ovs-ofctl', ['-O', 'OpenFlow13', '--bundle', 'replace-flows', target, '-'], { input: flows, timeout: 10_000 });
}
