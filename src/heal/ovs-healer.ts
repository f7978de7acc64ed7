// The reconcile loop: re-applies, through each network's backend, what OVS and OVN lose: OpenFlow
// flows (the tunnel bridge's VLAN<->VNI table), the kernel side of internal ports (a
// userspace-datapath gateway port is a tap that ovs-vswitchd recreates without addresses, MTU or
// "up"), rows (a gateway port, an OVN switch binding, a logical port) and NB leftovers of
// interrupted requests. Runs after start-up, on every OVSDB or NB reconnect, when ovs-vswitchd
// shows it restarted (an internal port got a new ifindex) and on a timer. Never touches a
// container's port.
import type { OvsdbClient } from '../ovsdb/client';
import type { RowChange } from '../ovsdb/cache';
import type { Logger } from '../util/log';

export interface HealTargets {
  networkIds: () => Iterable<string>;
  /** Host-wide state of each backend (tunnel mesh and its flows, NB leftovers); idempotent. */
  healHost: () => Promise<void>;
  /** One network's state through its backend, serialised with requests on it; idempotent. */
  healNetwork: (id: string) => Promise<void>;
}

/** The timer's period: a missed signal still heals within this. */
export const HEAL_INTERVAL_MS = 5_000;

export class OvsHealer {
  private running?: Promise<void>;
  private pending = false;
  private timer?: NodeJS.Timeout;
  private readonly onChange = (c: RowChange): void => {
    if (restartSign(c)) void this.trigger('ovs-vswitchd restarted');
  };
  private readonly onReconnect = (): void => void this.trigger('a database reconnected');

  /** `others`: further databases whose reconnect calls for a pass (OVN NB). */
  constructor(private readonly client: OvsdbClient, private readonly t: HealTargets, private readonly log: Logger, private readonly others: OvsdbClient[] = []) {}

  start(intervalMs = HEAL_INTERVAL_MS): void {
    this.client.cache.on('change', this.onChange);
    for (const c of [this.client, ...this.others]) c.on('reconnected', this.onReconnect);
    this.timer = setInterval(() => void this.trigger(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.client.cache.off('change', this.onChange);
    for (const c of [this.client, ...this.others]) c.off('reconnected', this.onReconnect);
  }

  /** Coalesces: a trigger during a pass runs one more pass after it. */
  trigger(reason?: string): Promise<void> {
    if (reason) this.log.info({ reason }, 're-applying OVS state');
    if (this.running) {
      this.pending = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.pending = false;
        await this.pass();
      } while (this.pending);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    await this.t.healHost().catch((err) => this.log.warn({ err: String(err) }, 'heal: host state not re-applied'));
    for (const id of [...this.t.networkIds()]) {
      await this.t.healNetwork(id).catch((err) => this.log.warn({ network: id.slice(0, 12), err: String(err) }, 'heal: network state not re-applied'));
    }
  }
}

/** An internal port (gateway, bridge) got a new kernel device: ovs-vswitchd was restarted. */
export function restartSign(c: RowChange): boolean {
  if (c.table !== 'Interface' || !c.old || !c.new) return false;
  if (c.new.type !== 'internal') return false;
  const before = c.old.ifindex;
  const after = c.new.ifindex;
  return typeof after === 'number' && after > 0 && typeof before === 'number' && before !== after;
}
