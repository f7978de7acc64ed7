// Re-applies what OVS loses when ovs-vswitchd restarts while ovsdb-server keeps the database:
// OpenFlow flows (the tunnel bridge's VLAN<->VNI table) and the kernel side of internal ports
// (a userspace-datapath gateway port is a tap that ovs-vswitchd recreates without addresses,
// MTU or "up"). Runs on start, on every OVSDB reconnect, when ovs-vswitchd shows it restarted
// (an internal port got a new ifindex) and on a timer. Never touches a container's port.
import type { OvsdbClient } from '../ovsdb/client';
import type { RowChange } from '../ovsdb/cache';
import type { NetworkRecord } from '../driver/model';
import type { Logger } from '../util/log';

export interface HealTargets {
  networks: () => Iterable<NetworkRecord>;
  /** Overlay bridges, tunnels and flows in line with state (idempotent). */
  syncOverlay: () => Promise<void>;
  /** Gateway port addresses, MTU, offloads and link up (idempotent). */
  configureGateway: (net: NetworkRecord) => Promise<void>;
  /** Runs fn under the network's lock, serialised with create/delete of that network. */
  underNetworkLock: <T>(networkId: string, fn: () => Promise<T>) => Promise<T>;
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
  private readonly onReconnect = (): void => void this.trigger('OVSDB reconnected');

  constructor(private readonly client: OvsdbClient, private readonly t: HealTargets, private readonly log: Logger) {}

  start(intervalMs = HEAL_INTERVAL_MS): void {
    this.client.cache.on('change', this.onChange);
    this.client.on('reconnected', this.onReconnect);
    this.timer = setInterval(() => void this.trigger(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.client.cache.off('change', this.onChange);
    this.client.off('reconnected', this.onReconnect);
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
    await this.t.syncOverlay().catch((err) => this.log.warn({ err: String(err) }, 'heal: overlay not re-applied'));
    for (const net of [...this.t.networks()]) {
      if (!net.gatewayPort) continue;
      await this.t.underNetworkLock(net.id, async () => {
        // Deleted while we waited for the lock: nothing to heal.
        if (![...this.t.networks()].some((n) => n.id === net.id)) return;
        await this.t.configureGateway(net);
      }).catch((err) => this.log.warn({ network: net.id.slice(0, 12), err: String(err) }, 'heal: gateway not re-applied'));
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
