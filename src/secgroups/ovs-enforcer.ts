// Security groups on plain OVS networks: the conntrack flows of each bridge, rendered from what
// the registry holds (networks, endpoints and their groups, group definitions) and applied
// whole, one bridge at a time. Rendered again when an endpoint joins or leaves a bridge that
// has filtered endpoints, when a group changes, and by the reconcile loop, which also puts back
// flows that ovs-vswitchd lost (a restart, a user's del-flows).
import type { Db } from '../ovs/db';
import type { Registry } from '../driver/registry';
import type { Endpoint, NetworkRecord } from '../driver/model';
import { kindOf } from '../backends/backend';
import { vlanOf } from '../backends/bridge/vlans';
import { vsByName } from '../ovs/tables';
import { openOfport } from '../ovs/port';
import type { Logger } from '../util/log';
import { type SgMember, sgKey } from './model';
import type { SgStore } from './store';
import { type BridgeSgInput, type PortQos, renderSgFlows } from './ovs-flows';
import { patchNames } from '../overlay/flows';
import type { SgFlowApplier } from './ovs-firewall';
import { tenantOf } from './service';

const plain = (n: NetworkRecord): boolean => kindOf(n.options) !== 'ovn';

export class PlainSgEnforcer {
  /** What each bridge has of ours, as last applied (flow lines). */
  private readonly applied = new Map<string, string[]>();

  /** `portQos`: a port's meter and DSCP, which its entry flows apply (QoS in place before they name it). */
  constructor(private readonly db: Db, private readonly registry: Registry, private readonly store: () => SgStore, private readonly flows: SgFlowApplier, private readonly log: Logger, private readonly portQos: (endpointId: string) => PortQos | undefined = () => undefined) {}

  /** Whether any plain endpoint on the bridge is in a group (then every change there re-renders). */
  private filtered(bridge: string): boolean {
    if (this.applied.get(bridge)?.length) return true;
    for (const ep of this.registry.endpoints.values()) {
      const net = this.registry.networks.get(ep.networkId);
      if (net && plain(net) && net.options.bridge === bridge && ep.securityGroups?.length) return true;
    }
    return false;
  }

  /** Join: the endpoint's port is open; its flows (and its peers') are in place before the container runs. */
  async joined(net: NetworkRecord, ep: Endpoint): Promise<void> {
    if (!ep.securityGroups?.length && !this.filtered(net.options.bridge)) return;
    // Fail closed: a port without an OpenFlow number gets no flows, and would run unfiltered.
    if (ep.securityGroups?.length && openOfport(this.db, ep.hostIf) === undefined) {
      throw new Error(`Join: endpoint ${ep.id.slice(0, 12)}: ovs-vswitchd has not opened port ${ep.hostIf}, so its security groups cannot be enforced yet; try again`);
    }
    await this.sync([net.options.bridge]);
  }

  /** An endpoint left (its address leaves remote groups) or a network went. */
  async left(net: NetworkRecord): Promise<void> {
    if (this.filtered(net.options.bridge)) await this.sync([net.options.bridge]);
  }

  /** Renders and applies the flows of these bridges (every bridge of ours when omitted), when they changed. */
  async sync(bridges?: string[]): Promise<void> {
    const all = new Set<string>([...this.applied.keys()]);
    for (const n of this.registry.networks.values()) if (plain(n)) all.add(n.options.bridge);
    for (const bridge of bridges ?? [...all]) {
      const t0 = performance.now();
      const lines = this.render(bridge);
      const before = this.applied.get(bridge) ?? [];
      if (lines.length === before.length && lines.every((l, i) => l === before[i])) continue;
      const t1 = performance.now();
      await this.write(bridge, lines);
      this.log.debug({ bridge, flows: lines.length, renderMs: Math.round(t1 - t0), applyMs: Math.round(performance.now() - t1) }, 'security group flows applied');
    }
  }

  /** Reconcile: rendered again (definitions in NB may have changed) and re-applied where OVS lost some. */
  async heal(): Promise<void> {
    await this.sync();
    for (const [bridge, lines] of this.applied) {
      if (!lines.length || !vsByName(this.db, 'Bridge', bridge)) continue;
      const present = await this.flows.count(bridge);
      if (present !== lines.length) {
        this.log.info({ bridge, present, expected: lines.length }, 'security group flows missing: applying them again');
        this.flows.forget(bridge);
        await this.write(bridge, lines);
      }
    }
  }

  private async write(bridge: string, lines: string[]): Promise<void> {
    if (!vsByName(this.db, 'Bridge', bridge)) {
      this.applied.delete(bridge);
      return;
    }
    if (lines.length) await this.flows.apply(bridge, lines);
    else await this.flows.remove(bridge);
    if (lines.length) this.applied.set(bridge, lines);
    else this.applied.delete(bridge);
  }

  /** The flows of one bridge from the registry and the store. */
  render(bridge: string): string[] {
    const store = this.store();
    const groups = new Map(store.list().map((g) => [sgKey(g.tenant, g.name), g]));
    const members: (SgMember & PortQos & { ofport: number })[] = [];
    const byNet = new Map<string, BridgeSgInput['networks'][number]>();
    const addresses = new Map<string, { ipv4: string[]; ipv6: string[] }>();
    for (const net of this.registry.networks.values()) {
      if (!plain(net) || net.options.bridge !== bridge) continue;
      const known = (names: (string | undefined)[]) => names.map((n) => n && openOfport(this.db, n)).filter((p): p is number => p !== undefined);
      // Trunks carry the network tagged: its uplink, and the patch port to the tunnel bridge.
      const trunkPorts = known([net.options.uplink, net.overlay ? patchNames(bridge).onBridge : undefined]);
      byNet.set(net.id, { networkId: net.id, vlan: vlanOf(net), members: [], otherPorts: known([net.gatewayPort]), trunkPorts });
    }
    for (const ep of this.registry.endpoints.values()) {
      const net = this.registry.networks.get(ep.networkId);
      if (!net || !plain(net)) continue;
      const keys = (ep.securityGroups ?? []).map((n) => sgKey(tenantOf(net), n));
      // Group addresses span every bridge of this host: a rule names members, wherever they are.
      for (const k of keys) {
        const a = addresses.get(k) ?? { ipv4: [], ipv6: [] };
        if (ep.ipv4) a.ipv4.push(ep.ipv4.split('/')[0]);
        if (ep.ipv6) a.ipv6.push(ep.ipv6.split('/')[0]);
        addresses.set(k, a);
      }
      const entry = byNet.get(net.id);
      const ofport = openOfport(this.db, ep.hostIf);
      if (!entry || ofport === undefined) continue;
      const m = { endpointId: ep.id, networkId: net.id, port: ep.hostIf, mac: ep.mac, ipv4: ep.ipv4?.split('/')[0], ipv6: ep.ipv6?.split('/')[0], groups: keys, ofport, ...this.portQos(ep.id) };
      members.push(m);
      entry.members.push(m);
    }
    if (!members.some((m) => m.groups.length)) return [];
    return renderSgFlows({
      bridge,
      networks: [...byNet.values()].filter((n) => n.members.length),
      groups,
      groupAddresses: (key) => addresses.get(key) ?? { ipv4: [], ipv6: [] },
    });
  }
}
