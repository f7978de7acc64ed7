// The healing loop's pass that gives back what dockerd could not release (see Ipam.collectUnused):
// addresses and pools whose release failed while the plugin was down, and this host's shared
// reservations whose owner never got them. One pass at a time; a failed pass is retried next time.
import type { Logger } from '../util/log';
import type { AddressUsers } from './address-users';
import type { CollectReport, Ipam } from './ipam';

export interface CollectorOptions {
  /** How young an address may be and still be nobody's (dockerd's CreateEndpoint follows RequestAddress). */
  graceMs: number;
}

export class UnusedAddressCollector {
  private running?: Promise<CollectReport | undefined>;
  private lastStart = -Infinity;

  constructor(
    private readonly ipam: Ipam,
    private readonly users: () => AddressUsers,
    private readonly log: Logger,
    private readonly opts: CollectorOptions,
  ) {}

  /**
   * A pass when the last one started a grace period ago or more: an address only becomes
   * collectable once it is a grace period old, so looking more often (the healing loop runs every
   * 5 s) mostly finds nothing new and costs idle CPU.
   */
  passIfDue(now = Date.now()): Promise<CollectReport | undefined> {
    return now - this.lastStart >= this.opts.graceMs ? this.pass(now) : Promise.resolve(undefined);
  }

  /** One pass now (or the one already running). */
  pass(now = Date.now()): Promise<CollectReport | undefined> {
    if (!this.running) this.lastStart = now;
    this.running ??= this.ipam.collectUnused(this.users(), this.opts.graceMs).then(
      (report) => {
        if (report.addresses.length || report.pools.length || report.reservations.length) this.log.info({ ...report }, 'released what nobody released');
        return report;
      },
      (err) => {
        this.log.warn({ err: String(err) }, 'collecting unreleased addresses failed; retried on the next pass');
        return undefined;
      },
    ).finally(() => (this.running = undefined));
    return this.running;
  }
}
