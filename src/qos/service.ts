// QoS of endpoints as the driver and the control API use it: an endpoint's own keys
// (--driver-opt, qos.set) over its network's, applied per kind of network: plain bridges get a
// meter, flows and HTB rows (ovs-qos.ts) when the port is open, before Join answers; OVN ports
// get QoS rows in their logical port's own transaction (ovn-network.ts), and here on qos.set.
import type { Db } from '../ovs/db';
import { type Registry, uniqueByPrefix } from '../driver/registry';
import { type Endpoint, EP, type NetworkRecord, endpointQos } from '../driver/model';
import { kindOf } from '../backends/backend';
import type { OvnNetworks } from '../backends/ovn/ovn-network';
import { openOfport, recordEndpointKey } from '../ovs/port';
import { InputError } from '../util/errors';
import type { Logger } from '../util/log';
import type { PortQos } from '../secgroups/ovs-flows';
import { encodeQos, isEmptyQos, mergeQos, parseQos, QOS_KEYS, qosView, type QosSpec } from './model';
import type { PlainQos } from './ovs-qos';

export interface QosServiceDeps {
  db: Db;
  registry: Registry;
  plain: PlainQos;
  ovn?: OvnNetworks;
  /** Renders a bridge's security-group flows again (they carry the meter of filtered ports). */
  resync: (bridge: string) => Promise<void>;
  log: Logger;
}

interface Applied {
  bridge: string;
  port: string;
  ofport: number;
  spec: QosSpec;
  qos: PortQos;
}

export class QosService {
  /** Plain endpoints whose QoS is in place, by endpoint id. */
  private readonly applied = new Map<string, Applied>();

  constructor(private readonly d: QosServiceDeps) {}

  /** What a filtered port's security-group entry flows must do (its meter, its DSCP). */
  portQos(endpointId: string): PortQos | undefined {
    return this.applied.get(endpointId)?.qos;
  }

  /** CreateEndpoint: the endpoint's own keys, checked together with the network's. */
  forEndpoint(net: NetworkRecord, options: Readonly<Record<string, unknown>> | null | undefined): QosSpec | undefined {
    const own = parseQos(options ?? {});
    if (isEmptyQos(own)) return undefined;
    endpointQos(net, { qos: own } as Endpoint); // refuses a burst left without a rate
    return own;
  }

  /** Plain Join: the port is open; its QoS is in place before the container runs. */
  async joined(net: NetworkRecord, ep: Endpoint): Promise<void> {
    const spec = endpointQos(net, ep);
    if (isEmptyQos(spec) && !this.applied.has(ep.id)) return;
    const ofport = openOfport(this.d.db, ep.hostIf);
    if (ofport === undefined) throw new Error(`Join: endpoint ${ep.id.slice(0, 12)}: ovs-vswitchd has not opened port ${ep.hostIf}, so its QoS cannot be applied yet; try again`);
    const qos = await this.d.plain.apply(net.options.bridge, ep.hostIf, ofport, spec);
    this.applied.set(ep.id, { bridge: net.options.bridge, port: ep.hostIf, ofport, spec, qos });
  }

  /** Plain endpoint gone (after its security-group flows stopped naming its meter). */
  async left(ep: Endpoint): Promise<void> {
    const a = this.applied.get(ep.id);
    if (!a) return;
    this.applied.delete(ep.id);
    await this.d.plain.clear(a.bridge, a.port, a.ofport);
  }

  /** qos.get: the network's keys, the endpoint's own, and what applies. */
  get(params: unknown): Record<string, unknown> {
    const { net, ep } = this.endpoint(params);
    return this.view(net, ep);
  }

  /** qos.set: changes a running endpoint's own keys (0: unlimited, over the network's limit). */
  async set(params: unknown): Promise<Record<string, unknown>> {
    const { net, ep } = this.endpoint(params);
    const { endpoint: _e, ...keys } = params as Record<string, unknown>;
    if (!Object.keys(keys).length) throw new InputError(`qos.set: no QoS key given; accepted: ${Object.values(QOS_KEYS).join(', ')}`);
    const given = parseQos(keys, true);
    return this.d.registry.locks.run(`ep:${ep.id}`, async () => {
      if (this.d.registry.endpoints.get(ep.id) !== ep) throw new InputError(`endpoint ${ep.id.slice(0, 12)} was removed meanwhile`);
      const before = ep.qos;
      const own = mergeQos(ep.qos ?? {}, given);
      ep.qos = own;
      const spec = endpointQos(net, ep);
      try {
        if (kindOf(net.options) === 'ovn') {
          if (!this.d.ovn) throw new Error('OVN is not enabled in this daemon');
          await this.d.ovn.setQos(net, ep);
        } else {
          await this.joined(net, ep);
          await this.d.resync(net.options.bridge);
          const a = this.applied.get(ep.id);
          if (a) await this.d.plain.prune(a.bridge, a.ofport, spec);
        }
        await this.record(ep, own);
      } catch (err) {
        ep.qos = before;
        throw err;
      }
      this.d.log.info({ endpoint: ep.id.slice(0, 12), qos: qosView(spec) }, 'QoS changed');
      return this.view(net, ep);
    });
  }

  /** Reconcile: meters and flows ovs-vswitchd lost (a restart) put back, before the security-group flows that use them. */
  async heal(): Promise<void> {
    const byBridge = new Map<string, [string, Applied][]>();
    for (const entry of this.applied) byBridge.set(entry[1].bridge, [...(byBridge.get(entry[1].bridge) ?? []), entry]);
    for (const [bridge, entries] of byBridge) {
      const broken = new Set(await this.d.plain.broken(bridge, entries.map(([, a]) => a)));
      for (const [id, a] of entries) {
        const ep = this.d.registry.endpoints.get(id);
        const net = ep && this.d.registry.networks.get(ep.networkId);
        if (!ep || !net || !broken.has(a.ofport)) continue;
        this.d.log.info({ endpoint: id.slice(0, 12), bridge }, 'QoS meter or flows missing: applying them again');
        await this.joined(net, ep);
      }
    }
  }

  private view(net: NetworkRecord, ep: Endpoint): Record<string, unknown> {
    return { endpoint: ep.id, network: qosView(net.options.qos ?? {}), own: qosView(ep.qos ?? {}), applied: qosView(endpointQos(net, ep)) };
  }

  private record(ep: Endpoint, own: QosSpec): Promise<void> {
    return recordEndpointKey(this.d.db, ep.hostIf, EP.qos, isEmptyQos(own) ? undefined : encodeQos(own));
  }

  private endpoint(params: unknown): { net: NetworkRecord; ep: Endpoint } {
    const v = params && typeof params === 'object' ? (params as Record<string, unknown>).endpoint : undefined;
    if (typeof v !== 'string' || v.length < 6) throw new InputError(`endpoint: ${JSON.stringify(v)} is not an endpoint id; accepted: the id or a unique prefix of at least 6 characters (endpoints.list shows them)`);
    const ep = uniqueByPrefix(this.d.registry.endpoints.values(), v);
    if (typeof ep === 'number') throw new InputError(`endpoint ${v}: ${ep ? `${ep} endpoints start with it; give more of the id` : 'no such endpoint on this host'}`);
    const net = this.d.registry.networks.get(ep.networkId);
    if (!net) throw new InputError(`endpoint ${v}: its network is gone`);
    return { net, ep };
  }
}
