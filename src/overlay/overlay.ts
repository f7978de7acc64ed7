// Plain OVS overlays between a handful of hosts (no OVN): a tunnel bridge with one tunnel port
// per peer and encapsulation, BFD on each, patch ports to the network bridges, and flows
// mapping each network's local VLAN to its VNI.
import { isIPv4 } from 'node:net';
import type { Operation } from '../ovsdb/types';
import { type Db, localOwner, ownedBy } from '../ovs/db';
import { KEY } from '../model/owner-ids';
import { createBridgeOps, deleteBridgeOps, findBridge } from '../ovs/bridge';
import { addPortOps, deletePortOps, findPort, interfacesOwnedBy } from '../ovs/port';
import { vsOwned } from '../ovs/tables';
import { named, map, set } from '../ovs/wire';
import type { KvStore } from '../state/kv';
import type { Logger } from '../util/log';
import { InputError } from '../util/errors';
import { PortRefusedError, waitPortsOpen } from '../ovs/port-ready';
import type { NetworkRecord } from '../driver/model';
import { OverlayNet, OverlayType, TUN_BRIDGE, TunnelPort, mgmtTarget, patchNames, renderFlows, replaceFlows, tunnelName } from './flows';

/** Encapsulation overhead on an IPv4 underlay (Geneve with OVN's option TLVs). */
export const OVERHEAD: Record<OverlayType, number> = { vxlan: 50, geneve: 58 };

export function parsePeers(text: string, what = '--peers'): string[] {
  const peers = text.split(/[\s,]+/).map((p) => p.trim()).filter(Boolean);
  for (const p of peers) if (!isIPv4(p)) throw new InputError(`${what}: "${p}" is not an IPv4 address`);
  return [...new Set(peers)];
}

/** Automatic VNI: derived from the network id, the same on every host for a swarm network. */
export function autoVni(networkId: string): number {
  return (parseInt(networkId.slice(0, 6), 16) % 16_000_000) + 4096;
}

/** UDP port of the plain overlays' tunnels, per type (--overlay-geneve-port, --overlay-vxlan-port). */
export type TunnelUdpPorts = Record<OverlayType, number>;
/** How long ovs-vswitchd may take to open the tunnel and patch ports. */
const PORTS_READY_MS = 5000;

export interface TunnelStatus {
  name: string;
  type: string;
  remote: string;
  ofport?: number;
  /** UDP port it was made with. */
  dstPort?: number;
  bfd: Record<string, string>;
}

export class OverlayManager {
  private peers: string[] = [];
  private readonly peersKey: string;

  constructor(
    private readonly db: Db,
    private readonly kv: KvStore,
    private readonly driver: string,
    private readonly ovsdbRemote: string,
    private readonly networks: () => Iterable<NetworkRecord>,
    private readonly log: Logger,
    private readonly udpPorts: TunnelUdpPorts,
  ) {
    this.peersKey = `ocn.${driver}.peers`;
  }

  load(fromConfig: string[] | undefined): void {
    const stored = this.kv.load(this.peersKey).get(this.peersKey);
    this.peers = fromConfig ?? (stored ? (JSON.parse(stored) as string[]) : []);
  }

  getPeers(): string[] {
    return [...this.peers];
  }

  async setPeers(peers: string[]): Promise<void> {
    this.peers = [...new Set(peers)];
    await this.kv.commit({ set: { [this.peersKey]: JSON.stringify(this.peers) } });
    await this.sync();
    this.log.info({ peers: this.peers }, 'peers changed');
  }

  checkVni(net: NetworkRecord): void {
    for (const n of this.networks()) {
      if (n.id !== net.id && n.overlay && n.overlay.vni === net.overlay!.vni && n.overlay.type === net.overlay!.type) {
        throw new InputError(`option vni: ${net.overlay!.vni} is already used by network ${n.id.slice(0, 12)} on this host`);
      }
    }
  }

  /**
   * Brings bridges, patch ports and tunnels in line with networks and peers (one transaction),
   * waits until ovs-vswitchd has opened every tunnel and patch port (failing at once, with OVS's
   * reason, on a port it refuses), then swaps in the flows.
   */
  sync(): Promise<void> {
    // Serialised, and calls made while one runs share the next run: the healing loop's timer
    // and a network create must not plan the same tunnel bridge or patch port twice.
    if (this.queued) return this.queued;
    const next = this.current.catch(() => undefined).then(() => {
      this.queued = undefined;
      return this.syncOnce();
    });
    this.queued = next;
    this.current = next;
    return next;
  }

  private current: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;

  private async syncOnce(): Promise<void> {
    const nets = [...this.networks()].filter((n) => n.overlay);
    const ops: Operation[] = [];
    let tunRef: string | ['named-uuid', string] | undefined = findBridge(this.db, TUN_BRIDGE)?._uuid;
    if (nets.length && !tunRef) {
      const datapath = nets[0].datapath;
      ops.push(...createBridgeOps(TUN_BRIDGE, datapath, this.driver, 'tunbr'));
      tunRef = named('tunbr');
    }
    // secure: while the flows are missing (ovs-vswitchd just restarted, say) the tunnel bridge
    // drops frames instead of NORMAL-switching them between patch ports and tunnels untranslated.
    const tun = findBridge(this.db, TUN_BRIDGE);
    if (nets.length && (!tun || tun.fail_mode !== 'secure')) ops.push({ op: 'update', table: 'Bridge', where: [['name', '==', TUN_BRIDGE]], row: { fail_mode: 'secure' } });
    // Per network bridge, the local VLANs of its overlay networks: all its patch pair may carry.
    const wantPatches = new Map<string, { bridge: string; vlans: Set<number> }>();
    for (const n of nets) {
      const onTun = patchNames(n.options.bridge).onTun;
      const p = wantPatches.get(onTun) ?? { bridge: n.options.bridge, vlans: new Set<number>() };
      p.vlans.add(n.overlay!.vlan);
      wantPatches.set(onTun, p);
    }
    const wantTunnels = new Map<string, TunnelPort>();
    for (const n of nets) for (const p of this.peers) {
      const type = n.overlay!.type;
      const t: TunnelPort = { name: tunnelName(type, p, this.udpPorts[type]), type, remote: p, dstPort: this.udpPorts[type] };
      wantTunnels.set(t.name, t);
    }
    const opened: string[] = [];
    if (tunRef) {
      let k = 0;
      for (const [onTun, { bridge, vlans }] of wantPatches) {
        const { onBridge } = patchNames(bridge);
        const br = findBridge(this.db, bridge);
        if (!br) continue;
        opened.push(onTun, onBridge);
        if (!findPort(this.db, onTun)) {
          const owner = localOwner(this.driver, 'uplink');
          ops.push(...addPortOps(tunRef, { name: onTun, type: '', externalIds: owner }, `pt${k}`));
          ops.push(...addPortOps(br._uuid, { name: onBridge, type: '', externalIds: owner }, `pb${k}`));
          // Interface type/options cannot go through PortSpec: patch peers are set right after.
          ops.push({ op: 'update', table: 'Interface', where: [['name', '==', onTun]], row: { type: 'patch', options: map({ peer: onBridge }) } });
          ops.push({ op: 'update', table: 'Interface', where: [['name', '==', onBridge]], row: { type: 'patch', options: map({ peer: onTun }) } });
          k++;
        }
        // Trunks of the overlays' VLANs only (an empty trunks set would mean every VLAN): frames
        // of the bridge's other networks never enter the tunnel bridge.
        const trunks = set(...[...vlans].sort((a, b) => a - b));
        for (const name of [onTun, onBridge]) ops.push({ op: 'update', table: 'Port', where: [['name', '==', name]], row: { trunks } });
      }
      let j = 0;
      for (const t of wantTunnels.values()) {
        opened.push(t.name);
        if (findPort(this.db, t.name)) continue;
        const ids = localOwner(this.driver, 'uplink', { [KEY.peerIp]: t.remote, [KEY.dstPort]: String(t.dstPort) });
        ops.push(...addPortOps(tunRef, { name: t.name, type: '', externalIds: ids }, `tn${j++}`));
        ops.push({ op: 'update', table: 'Interface', where: [['name', '==', t.name]], row: { type: t.type, options: map({ remote_ip: t.remote, key: 'flow', dst_port: String(t.dstPort) }), bfd: map({ enable: 'true' }) } });
      }
    }
    // Tunnels to peers no longer wanted, patches to bridges without overlay networks.
    for (const p of vsOwned(this.db, 'Port', this.driver, 'uplink')) {
      const name = p.name;
      if (p.external_ids[KEY.peerIp] && !wantTunnels.has(name)) ops.push(...deletePortOps(this.db, name));
      if (name.startsWith('ocnq') && !wantPatches.has(name)) ops.push(...deletePortOps(this.db, name));
      if (name.startsWith('ocnp') && ![...wantPatches.values()].some((w) => patchNames(w.bridge).onBridge === name)) ops.push(...deletePortOps(this.db, name));
    }
    if (!nets.length) {
      const tb = findBridge(this.db, TUN_BRIDGE);
      if (tb && ownedBy(tb, this.driver, 'bridge')) ops.push(...deleteBridgeOps(tb._uuid));
    }
    if (ops.length) await this.db.transact(ops);
    if (!nets.length) return;
    await this.waitOpened(opened, wantTunnels);
    const flowNets: OverlayNet[] = nets.map((n) => ({ vni: n.overlay!.vni, vlan: n.overlay!.vlan, type: n.overlay!.type, patch: patchNames(n.options.bridge).onTun }));
    await this.applyFlows(renderFlows(flowNets, [...wantTunnels.values()]));
  }

  /** Flows may only name ports ovs-vswitchd has: a refused one is reported with its reason. */
  private async waitOpened(names: string[], tunnels: Map<string, TunnelPort>): Promise<void> {
    try {
      await waitPortsOpen(this.db, names, PORTS_READY_MS);
    } catch (err) {
      const t = err instanceof PortRefusedError ? tunnels.get(err.port) : undefined;
      if (!t || !/File exists/.test(err instanceof Error ? err.message : '')) throw err;
      throw new Error(`${err instanceof Error ? err.message : ''}. Tunnel ${t.name} (${t.type} to ${t.remote}, UDP ${t.dstPort}) clashes with another ${t.type} tunnel to the same host and UDP port (OVN's own, on an OVN chassis): give the plain overlays another port with --overlay-${t.type}-port, the same on every host`);
    }
  }

  /** The OpenFlow socket appears once ovs-vswitchd has created the bridge: retry briefly. */
  private async applyFlows(flows: string): Promise<void> {
    const target = mgmtTarget(this.ovsdbRemote, TUN_BRIDGE);
    let last: unknown;
    for (let i = 0; i < 50; i++) {
      try {
        await replaceFlows(target, flows);
        return;
      } catch (err) {
        last = err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`could not program ${TUN_BRIDGE}: ${String(last)}`);
  }

  status(): TunnelStatus[] {
    const out: TunnelStatus[] = [];
    for (const i of interfacesOwnedBy(this.db, this.driver, 'uplink')) {
      const ids = i.external_ids;
      const remote = ids[KEY.peerIp];
      if (!remote) continue;
      out.push({
        name: i.name, type: i.type, remote,
        ofport: i.ofport,
        dstPort: ids[KEY.dstPort] ? Number(ids[KEY.dstPort]) : undefined,
        bfd: i.bfd_status,
      });
    }
    return out;
  }
}
