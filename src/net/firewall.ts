// NAT and forwarding for gateway=local networks: egress masquerade, forward accepts (dockerd
// sets the FORWARD policy to DROP) and DNAT of published ports. The plugin's chains are rendered
// whole from its state and loaded with one iptables-restore per family, so a change costs one
// subprocess at network create or publish time, never per plain container attach.
import { createHash } from 'node:crypto';
import execa from 'execa';
import type { Logger } from '../util/log';

export interface NatNetwork {
  id: string;
  subnets: string[];
}
export interface PublishedPort {
  proto: 'tcp' | 'udp' | 'sctp';
  hostIp?: string;
  hostPort: number;
  containerIp: string;
  containerPort: number;
}
export interface FirewallState {
  v4: { networks: NatNetwork[]; ports: PublishedPort[] };
  v6: { networks: NatNetwork[]; ports: PublishedPort[] };
}

export interface ChainNames {
  post: string;
  fwd: string;
  dnat: string;
}

export function chainNames(driver: string): ChainNames {
  const h = createHash('sha256').update(driver).digest('hex').slice(0, 6);
  return { post: `OCN-${h}-POST`, fwd: `OCN-${h}-FWD`, dnat: `OCN-${h}-DNAT` };
}

const comment = (id: string) => `-m comment --comment ocn:${id.slice(0, 12)}`;

/** What our chains of one family should hold: `-A <chain> ...` lines per table. */
export interface ChainRules {
  nat: string[];
  filter: string[];
}

export function desiredRules(c: ChainNames, fam: FirewallState['v4']): ChainRules {
  const nat: string[] = [];
  const filter: string[] = [];
  for (const n of fam.networks) {
    for (const s of n.subnets) {
      nat.push(`-A ${c.post} -s ${s} ! -d ${s} ${comment(n.id)} -j MASQUERADE`);
      filter.push(`-A ${c.fwd} -s ${s} ${comment(n.id)} -j ACCEPT`);
      filter.push(`-A ${c.fwd} -d ${s} -m conntrack --ctstate RELATED,ESTABLISHED ${comment(n.id)} -j ACCEPT`);
    }
  }
  for (const p of fam.ports) {
    const dst = p.hostIp ? ` -d ${p.hostIp}` : '';
    const to = p.containerIp.includes(':') ? `[${p.containerIp}]:${p.containerPort}` : `${p.containerIp}:${p.containerPort}`;
    nat.push(`-A ${c.dnat} -p ${p.proto}${dst} --dport ${p.hostPort} -j DNAT --to-destination ${to}`);
    filter.push(`-A ${c.fwd} -d ${p.containerIp} -p ${p.proto} --dport ${p.containerPort} -m conntrack --ctstate DNAT -j ACCEPT`);
  }
  return { nat: [...new Set(nat)], filter: [...new Set(filter)] };
}

/** The iptables-restore input that reloads our chains whole: declared (hence flushed) and refilled. */
export function renderRules(c: ChainNames, fam: FirewallState['v4']): string {
  const r = desiredRules(c, fam);
  return ['*nat', `:${c.post} - [0:0]`, `:${c.dnat} - [0:0]`, ...r.nat, 'COMMIT', '*filter', `:${c.fwd} - [0:0]`, ...r.filter, 'COMMIT', ''].join('\n');
}

/**
 * The iptables-restore input that turns `loaded` into `wanted` rule by rule (undefined: nothing
 * to do). Without a chain declaration nothing is flushed: the kernel deletes a rule with an RCU
 * grace period (10-30 ms here), while appending one is cheap, so a network or a published port
 * costs an append instead of a reload of every rule.
 */
export function renderDelta(loaded: ChainRules, wanted: ChainRules): string | undefined {
  const out: string[] = [];
  for (const table of ['nat', 'filter'] as const) {
    const have = new Set(loaded[table]);
    const want = new Set(wanted[table]);
    const lines = [
      ...[...have].filter((r) => !want.has(r)).map((r) => r.replace(/^-A /, '-D ')),
      ...[...want].filter((r) => !have.has(r)),
    ];
    if (lines.length) out.push(`*${table}`, ...lines, 'COMMIT');
  }
  return out.length ? [...out, ''].join('\n') : undefined;
}

/** Jumps from the built-in chains into ours: checked with -C, inserted once. */
function jumps(c: ChainNames, v6: boolean): string[][] {
  const local = v6 ? '::1' : '127.0.0.0/8';
  return [
    ['-t', 'nat', 'POSTROUTING', '-j', c.post],
    ['-t', 'nat', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat],
    ['-t', 'nat', 'OUTPUT', '!', '-d', local, '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', c.dnat],
    ['-t', 'filter', 'FORWARD', '-j', c.fwd],
  ];
}

export class Firewall {
  private readonly chains: ChainNames;
  private v6Used = false;
  /** What our chains hold since our last successful load (undefined: unknown, reload whole). */
  private loaded: { v4?: ChainRules; v6?: ChainRules } = {};
  private running: Promise<void> | undefined;
  private dirty = false;

  private resyncTimer: NodeJS.Timeout | undefined;

  /**
   * `resyncMs`: how often the chains are reloaded whole. Changes only append or delete rules, so
   * a flush behind our back (a firewall manager reloading) would otherwise last until a delete
   * fails or the daemon restarts.
   */
  constructor(driver: string, private readonly state: () => FirewallState, private readonly log: Logger, resyncMs = 300_000) {
    this.chains = chainNames(driver);
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.resync().catch((err) => this.log.warn({ err: String(err) }, 'firewall resync failed')), resyncMs);
      this.resyncTimer.unref();
    }
  }

  /** Reloads our chains whole and re-checks the jumps into them. */
  async resync(): Promise<void> {
    if (!this.loaded.v4 && !this.loaded.v6) return; // nothing loaded yet: the first apply is whole anyway
    this.loaded = {};
    await this.apply();
  }

  close(): void {
    clearInterval(this.resyncTimer);
  }

  /** Applies the current state; concurrent callers coalesce into at most one more run. */
  async apply(): Promise<void> {
    this.dirty = true;
    while (this.running) await this.running;
    if (!this.dirty) return;
    this.dirty = false;
    this.running = this.applyNow().finally(() => (this.running = undefined));
    return this.running;
  }

  private async applyNow(): Promise<void> {
    const s = this.state();
    await this.applyFamily(false, s.v4);
    // Once IPv6 rules were loaded, an empty IPv6 state must still be loaded (to remove them).
    if (s.v6.networks.length || s.v6.ports.length || this.v6Used) await this.applyFamily(true, s.v6);
  }

  private async applyFamily(v6: boolean, fam: FirewallState['v4']): Promise<void> {
    const restore = (input: string) => execa(v6 ? 'ip6tables-restore' : 'iptables-restore', ['-w', '--noflush'], { input });
    const key = v6 ? 'v6' : 'v4';
    if (v6) this.v6Used = true;
    const wanted = desiredRules(this.chains, fam);
    const loaded = this.loaded[key];
    const delta = loaded && renderDelta(loaded, wanted);
    if (loaded && !delta) return;
    this.loaded[key] = undefined; // unknown until this load has succeeded
    // The first load, a resync, or one whose delta failed because our chains were changed behind
    // our back (a rule to delete is missing, a chain is gone) reloads them whole, and checks the
    // jumps into them, which the same hand may have removed.
    const applied = delta !== undefined && (await restore(delta).then(() => true, () => false));
    if (!applied) {
      await restore(renderRules(this.chains, fam));
      await this.ensureJumps(v6);
    }
    this.loaded[key] = wanted;
  }

  private async ensureJumps(v6: boolean): Promise<void> {
    const bin = v6 ? 'ip6tables' : 'iptables';
    for (const [flagT, table, chain, ...rule] of jumps(this.chains, v6)) {
      const check = await execa(bin, ['-w', flagT, table, '-C', chain, ...rule], { reject: false });
      if (check.exitCode !== 0) await execa(bin, ['-w', flagT, table, '-I', chain, '1', ...rule]);
    }
  }

  /** Removes our chains and jumps (daemon uninstall / tests). */
  async remove(): Promise<void> {
    for (const v6 of [false, true]) {
      const bin = v6 ? 'ip6tables' : 'iptables';
      for (const [flagT, table, chain, ...rule] of jumps(this.chains, v6)) {
        await execa(bin, ['-w', flagT, table, '-D', chain, ...rule], { reject: false });
      }
      for (const [table, chain] of [['nat', this.chains.post], ['nat', this.chains.dnat], ['filter', this.chains.fwd]]) {
        await execa(bin, ['-w', '-t', table, '-F', chain], { reject: false });
        await execa(bin, ['-w', '-t', table, '-X', chain], { reject: false });
      }
    }
    this.v6Used = false;
    this.loaded = {};
    this.log.debug('firewall chains removed');
  }
}
