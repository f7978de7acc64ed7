// Plain overlays: a bridge network whose local VLAN is mapped to a VNI on the host's tunnel mesh
// (src/overlay: one tunnel bridge, a tunnel per peer, shared by every overlay network).
import type { NetworkOptions } from '../../driver/options';
import type { Endpoint, NetworkRecord } from '../../driver/model';
import { OVERHEAD, OverlayManager, autoVni } from '../../overlay/overlay';
import type { PlanContext } from '../backend';
import { BridgeBackend, type BridgeDeps } from '../bridge/backend';
import { vlanOf } from '../bridge/vlans';

export interface OverlayDeps extends BridgeDeps {
  overlay: OverlayManager;
  /** MTU of the underlay, for automatic overlay MTUs. */
  underlayMtu?: number;
}

export class OverlayBackend extends BridgeBackend {
  override readonly kind = 'overlay';

  constructor(private readonly o: OverlayDeps) {
    super(o);
  }

  /** The MTU that fits an overlay's frames into the underlay (OVS userspace never fragments them). */
  private mtuFor(type: keyof typeof OVERHEAD): number {
    return (this.o.underlayMtu ?? 1500) - OVERHEAD[type];
  }

  override plan(rec: NetworkRecord, ctx: PlanContext): void {
    const type = rec.options.overlay!;
    rec.overlay = { type, vni: rec.options.vni ?? autoVni(rec.id), vlan: 0 };
    this.o.overlay.checkVni(rec);
    if (rec.options.mtu === undefined) rec.mtu = this.mtuFor(type);
    super.plan(rec, ctx);
    rec.overlay.vlan = vlanOf(rec);
  }

  /** Chosen here, once, so every node uses the same MTU and `docker network inspect` shows it. */
  allocate(opts: NetworkOptions): Record<string, string> {
    return opts.mtu === undefined && opts.overlay ? { mtu: String(this.mtuFor(opts.overlay)) } : {};
  }

  override async finish(rec: NetworkRecord): Promise<void> {
    await super.finish(rec);
    await this.o.overlay.sync();
  }

  /** The network is gone either way: a tunnel OVS refuses (reported to the next create) must not fail the delete. */
  override async afterTeardown(rec: NetworkRecord): Promise<void> {
    await super.afterTeardown(rec);
    await this.o.overlay.sync().catch((err) => this.o.log.warn({ network: rec.id.slice(0, 12), err: String(err) }, 'overlay not brought in line after the delete'));
  }

  /** Tunnels, patch ports and the VLAN<->VNI flows, which an ovs-vswitchd restart loses. */
  async healHost(): Promise<void> {
    await this.o.overlay.sync();
  }
}
