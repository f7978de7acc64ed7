// QoS of an endpoint on a plain OVS bridge, with the mechanisms that really limit on the
// userspace (netdev) datapath, measured with iperf3 (see README "QoS"):
// - container egress: an OpenFlow meter on the frames arriving from the endpoint's port, with a
//   burst of 0.4 s of the rate by default (a policer with less starves TCP: 5000 kbit at 50 Mbit/s
//   gave 24 Mbit/s). ingress_policing_rate (tc) on a netdev port limits nothing, so it is not used;
// - container ingress: a linux-htb QoS with one Queue on the endpoint's Port (the veth's qdisc
//   shapes what OVS sends into it), with the same burst. The DPDK-only egress-policer limits
//   nothing here;
// - DSCP: set_field ip_dscp on the endpoint's IPv4/IPv6 packets.
//
// Meter and DSCP flows sit in table 0 at priority 50/51 (`in_port=P actions=meter:N,...,NORMAL`):
// above the bridge's own priority-0 NORMAL, below every entry flow of the security groups
// (100-110). When the port's network has filtered members those entry flows take the port's
// frames, and carry the same meter and DSCP themselves (SgPortMember.meter/dscp, qosEntryFlows);
// so QoS never bypasses the security-group pipeline, and NORMAL still applies the access VLAN.
//
// Meter ids: the port's OpenFlow number (unique on its bridge, 1-65279, within the datapath's
// max_meter). Each port's flows carry a cookie of their own (`ocnq` + ofport) and are replaced in
// one bundle. Deleting a meter deletes every flow using it (OpenFlow), security-group flows
// included: callers re-render those without the meter before `prune`/`clear` delete it.
import execa from 'execa';
import type { Db } from '../ovs/db';
import type { Condition, Operation, WireValue } from '../ovsdb/types';
import { eq, includes, map, namedUuid, set } from '../ovsdb/ops';
import { localOwner, OWNER, OWNER_TYPE } from '../model/owner-ids';
import { mgmtTarget } from '../overlay/flows';
import { type PortQos, qosEntryFlows } from '../secgroups/ovs-flows';
import { KeyedMutex } from '../util/keyed-mutex';
import { InputError } from '../util/errors';
import { type QosSpec, QOS_KEYS, burstKbit, effectiveQos, kbps } from './model';

/** QoS and Queue rows: the Port they were made for. */
export const QOS_PORT_KEY = 'ocn-qos-port';
const DEFAULT_OVSDB = 'unix:/var/run/openvswitch/db.sock';
const OFCTL_TIMEOUT_MS = 10_000;
/** Bundles are OpenFlow 1.4 (meters are 1.3+). */
const OF_VERSION = 'OpenFlow14';
const QOS_PRIORITY = 50;
const MAX_OFPORT = 0xfeff;

/** The meter of the port with this OpenFlow number. */
export function meterIdFor(ofport: number): number {
  if (!Number.isInteger(ofport) || ofport < 1 || ofport > MAX_OFPORT) throw new RangeError(`OpenFlow port ${ofport} is not within 1-${MAX_OFPORT}`);
  return ofport;
}

/** The upper half of every QoS flow's cookie: "ocnq". */
const QOS_COOKIE_PREFIX = '0x6f636e71';

/** The cookie of one port's QoS flows: "ocnq" and the port number. */
export function qosCookie(ofport: number): string {
  return `${QOS_COOKIE_PREFIX}${meterIdFor(ofport).toString(16).padStart(8, '0')}`;
}

/** ovs-ofctl add-meter/mod-meter text of a drop band at `rateMbit` with `burst` kbit. */
export function meterText(id: number, rateMbit: number, burst: number): string {
  return `meter=${id},kbps,burst,band=type=drop,rate=${kbps(rateMbit)},burst_size=${burst}`;
}

/** What the port's table-0 entry does first (for our flows and for the security-group flows). */
export function portQosOf(ofport: number, spec: QosSpec): PortQos {
  const e = effectiveQos(spec);
  return { ...(e.maxRate ? { meter: meterIdFor(ofport) } : {}), ...(e.dscp !== undefined ? { dscp: e.dscp } : {}) };
}

/** Our flows for one port (none without a meter or DSCP). */
export function renderPortQosFlows(ofport: number, qos: PortQos): string[] {
  if (qos.meter === undefined && qos.dscp === undefined) return [];
  const cookie = qosCookie(ofport);
  return qosEntryFlows(qos, QOS_PRIORITY, `in_port=${ofport}`, 'NORMAL', (p, m, a) => `cookie=${cookie},table=0,priority=${p},${m},actions=${a}`);
}

/** `ovs-ofctl --bundle add-flows` input: the port's old QoS flows out, these in. */
export function portFlowsBundle(ofport: number, flows: readonly string[]): string {
  return [`delete cookie=${qosCookie(ofport)}/-1`, ...flows.map((f) => `add ${f}`)].join('\n') + '\n';
}

const ownedWhere = (driver: string, port: string): Condition[] => [includes('external_ids', map({ [OWNER]: driver, [OWNER_TYPE]: 'qos', [QOS_PORT_KEY]: port }))];

/** Removes the port's QoS/Queue rows (they are root rows: they outlive the Port) and its reference to them. */
export function clearIngressOps(driver: string, port: string): Operation[] {
  return [
    { op: 'update', table: 'Port', where: [eq('name', port)], row: { qos: set() } },
    { op: 'delete', table: 'QoS', where: ownedWhere(driver, port) },
    { op: 'delete', table: 'Queue', where: ownedWhere(driver, port) },
  ];
}

/**
 * The port's ingress limit as one transaction: our old rows out, a linux-htb QoS with one Queue
 * at `maxRateIn` in (or nothing more without one). Aborts if the Port does not exist.
 */
export function ingressOps(driver: string, port: string, spec: QosSpec): Operation[] {
  const e = effectiveQos(spec);
  const ops = clearIngressOps(driver, port);
  if (!e.maxRateIn) return ops;
  const ids = map(localOwner(driver, 'qos', { [QOS_PORT_KEY]: port }));
  const exists: Operation = { op: 'wait', table: 'Port', where: [eq('name', port)], columns: ['name'], until: '==', rows: [{ name: port }], timeout: 0 };
  // The limit and its burst (bits) on the Queue's class; the QoS (root class) stays at the link's
  // speed: a root max-rate gets a burst of one MTU, which starved TCP under CPU load (200 Mbit/s:
  // 120-170 with it, 186-191 without).
  const queue: Record<string, WireValue> = { other_config: map({ 'max-rate': String(kbps(e.maxRateIn) * 1000), burst: String(burstKbit(e, e.maxRateIn) * 1000) }), external_ids: ids };
  const qos: Record<string, WireValue> = { type: 'linux-htb', queues: map(new Map([[0, namedUuid('qosq')]])), external_ids: ids };
  return [
    exists,
    ...ops.slice(1),
    { op: 'insert', table: 'Queue', 'uuid-name': 'qosq', row: queue },
    { op: 'insert', table: 'QoS', 'uuid-name': 'qos', row: qos },
    { op: 'update', table: 'Port', where: [eq('name', port)], row: { qos: namedUuid('qos') } },
  ];
}

export class QosError extends Error {
  override name = 'QosError';
}

export interface PlainQosOptions {
  /** The switch's OVSDB remote; its run directory holds the bridges' <bridge>.mgmt sockets. */
  ovsdbRemote?: string;
  /** Per ovs-ofctl call; default 10 s. */
  timeoutMs?: number;
}

/** QoS of endpoint ports on plain OVS bridges: meters and flows through ovs-ofctl, HTB through OVSDB. */
export class PlainQos {
  private readonly ovsdbRemote: string;
  private readonly timeoutMs: number;
  private readonly locks = new KeyedMutex();
  /** max_meter of each bridge, asked once. */
  private readonly maxMeter = new Map<string, number>();

  constructor(private readonly db: Db, private readonly driver: string, opts: PlainQosOptions = {}) {
    this.ovsdbRemote = opts.ovsdbRemote ?? DEFAULT_OVSDB;
    this.timeoutMs = opts.timeoutMs ?? OFCTL_TIMEOUT_MS;
  }

  /**
   * Makes the port's QoS `spec` (merged network + endpoint): the meter (added or changed), the
   * port's flows, the HTB rows. Never deletes a meter (see prune). Returns what the
   * security-group entry flows of this port must do (SgPortMember.meter/dscp). Throws InputError
   * when the bridge's datapath cannot do what the spec asks, QosError when OVS fails.
   */
  apply(bridge: string, port: string, ofport: number, spec: QosSpec): Promise<PortQos> {
    return this.locks.run(`${bridge}\n${ofport}`, async () => {
      const e = effectiveQos(spec);
      const qos = portQosOf(ofport, e);
      if (qos.meter !== undefined) {
        await this.checkMeters(bridge, qos.meter);
        await this.setMeter(bridge, meterText(qos.meter, e.maxRate!, burstKbit(e, e.maxRate!)));
      }
      await this.ofctl(bridge, ['--bundle', 'add-flows', this.target(bridge), '-'], 'add-flows', portFlowsBundle(ofport, renderPortQosFlows(ofport, qos)));
      await this.transact(port, ingressOps(this.driver, port, e));
      return qos;
    });
  }

  /** Deletes the port's meter when `spec` no longer needs one (after the security-group flows stopped using it). */
  async prune(bridge: string, ofport: number, spec: QosSpec): Promise<void> {
    if (portQosOf(ofport, spec).meter === undefined) await this.deleteMeter(bridge, meterIdFor(ofport));
  }

  /** Removes all QoS of the port: flows, meter, HTB rows (the Port may be gone already). */
  clear(bridge: string, port: string, ofport: number | undefined): Promise<void> {
    return this.locks.run(`${bridge}\n${ofport}`, async () => {
      if (ofport !== undefined) {
        await this.ofctl(bridge, ['--bundle', 'add-flows', this.target(bridge), '-'], 'add-flows', portFlowsBundle(ofport, []));
        await this.deleteMeter(bridge, meterIdFor(ofport));
      }
      await this.transact(port, clearIngressOps(this.driver, port));
    });
  }

  /** Whether the port's flows and meter are all there (ovs-vswitchd keeps neither across a restart). */
  async intact(bridge: string, ofport: number, spec: QosSpec): Promise<boolean> {
    return (await this.broken(bridge, [{ ofport, spec }])).length === 0;
  }

  /**
   * The ports of `ports` on the bridge whose flows or meter are not all there: one dump of the
   * bridge's QoS flows and one of its meters for all of them (the reconcile loop asks every pass).
   */
  async broken(bridge: string, ports: readonly { ofport: number; spec: QosSpec }[]): Promise<number[]> {
    if (!ports.length) return [];
    const dump = await this.ofctl(bridge, ['--no-stats', 'dump-flows', this.target(bridge), `cookie=${QOS_COOKIE_PREFIX}00000000/0xffffffff00000000`], 'dump-flows');
    const flowsOf = new Map<string, number>();
    for (const m of dump.matchAll(/^\s*cookie=(0x[0-9a-f]+)/gm)) flowsOf.set(m[1], (flowsOf.get(m[1]) ?? 0) + 1);
    const needMeters = ports.some((p) => portQosOf(p.ofport, p.spec).meter !== undefined);
    const meters = needMeters ? await this.ofctl(bridge, ['dump-meters', this.target(bridge)], 'dump-meters') : '';
    return ports.filter(({ ofport, spec }) => {
      const qos = portQosOf(ofport, spec);
      // dump-flows prints cookies without leading zeros.
      const cookie = `0x${BigInt(qosCookie(ofport)).toString(16)}`;
      if ((flowsOf.get(cookie) ?? 0) !== renderPortQosFlows(ofport, qos).length) return true;
      return qos.meter !== undefined && !new RegExp(`meter=${qos.meter}\\b`).test(meters);
    }).map((p) => p.ofport);
  }

  private async checkMeters(bridge: string, id: number): Promise<void> {
    let max = this.maxMeter.get(bridge);
    if (max === undefined) {
      const out = await this.ofctl(bridge, ['meter-features', this.target(bridge)], 'meter-features');
      max = Number(/max_meter:(\d+)/.exec(out)?.[1] ?? 0);
      this.maxMeter.set(bridge, max);
    }
    if (id > max) throw new InputError(`option ${QOS_KEYS.maxRate}: bridge ${bridge}'s datapath ${max ? `has OpenFlow meters 1-${max} only, not ${id}` : 'has no OpenFlow meters'}, which limit what a container sends; use a kernel with meter support (4.15+) or the netdev datapath`);
  }

  private async setMeter(bridge: string, text: string): Promise<void> {
    const r = await this.ofctlRaw(['add-meter', this.target(bridge), text]);
    if (r.ok) return;
    if (!/METER_EXISTS|exists/i.test(r.why)) throw new QosError(`QoS on bridge ${bridge}: ovs-ofctl add-meter failed: ${r.why}`);
    await this.ofctl(bridge, ['mod-meter', this.target(bridge), text], 'mod-meter');
  }

  private async deleteMeter(bridge: string, id: number): Promise<void> {
    await this.ofctl(bridge, ['del-meter', this.target(bridge), `meter=${id}`], 'del-meter');
  }

  private async transact(port: string, ops: Operation[]): Promise<void> {
    try {
      await this.db.transact(ops);
    } catch (e) {
      throw new QosError(`QoS of port ${port}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private target(bridge: string): string {
    return mgmtTarget(this.ovsdbRemote, bridge);
  }

  private async ofctlRaw(args: string[], input?: string): Promise<{ ok: boolean; out: string; why: string }> {
    const r = await execa('ovs-ofctl', ['-O', OF_VERSION, ...args], { input, timeout: this.timeoutMs, reject: false });
    if (r.timedOut) return { ok: false, out: '', why: `timed out after ${this.timeoutMs / 1000} s` };
    const why = (r.stderr || r.stdout || (r as { shortMessage?: string }).shortMessage || `exit ${r.exitCode}`).trim();
    return { ok: r.exitCode === 0, out: r.stdout, why };
  }

  private async ofctl(bridge: string, args: string[], what: string, input?: string): Promise<string> {
    const r = await this.ofctlRaw(args, input);
    if (!r.ok) throw new QosError(`QoS on bridge ${bridge}: ovs-ofctl ${what} failed: ${r.why}`);
    return r.out;
  }
}
