// NAT, forwarding and isolation for gateway=local networks: egress masquerade, forward accepts
// (dockerd sets the FORWARD policy to DROP), DNAT of published ports, and the isolation drops
// that keep networks apart at L3. The plugin's chains are rendered whole from its state and
// loaded with one iptables-restore per family, so a change costs one subprocess at network
// create or publish time, never per plain container attach.
//
// Isolation lives in the mangle table's FORWARD hook, which runs before filter's: Docker never
// touches it, so no order of dockerd's and our jumps in filter/FORWARD can let a forbidden flow
// through an ACCEPT of either side. Each network is known by its gateway port (the interface its
// traffic is routed through), not by source address, which a container can forge.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import execa from 'execa';
import type { Logger } from '../util/log';
import { GATEWAY_PORT_PREFIX, HOST_VETH_PREFIX } from '../netlink/names';

export interface NatNetwork {
  id: string;
  subnets: string[];
  /** The network's gateway port: its traffic enters and leaves the host's routing there. */
  gateway: string;
  /** Networks of one tenant route to each other; without a tenant a network talks to none. */
  tenant?: string;
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
  iso: string;
  raw: string;
}

export function chainNames(driver: string): ChainNames {
  const h = createHash('sha256').update(driver).digest('hex').slice(0, 6);
  return { post: `OCN-${h}-POST`, fwd: `OCN-${h}-FWD`, dnat: `OCN-${h}-DNAT`, iso: `OCN-${h}-ISO`, raw: `OCN-${h}-RAW` };
}

const comment = (id: string) => `-m comment --comment ocn:${id.slice(0, 12)}`;

/** What our chains of one family should hold: `-A <chain> ...` lines per table. */
export interface ChainRules {
  nat: string[];
  filter: string[];
  mangle: string[];
  raw: string[];
}

const TABLES = ['nat', 'filter', 'mangle', 'raw'] as const;
/** Every gateway port of this product, whichever daemon instance made it. */
const ANY_GATEWAY = `${GATEWAY_PORT_PREFIX}+`;
/** Replies, and flows to a published port (DNAT), cross any isolation boundary. */
const ANSWERS = '-m conntrack --ctstate RELATED,ESTABLISHED,DNAT';

/**
 * `foreignBridges`: the host's Linux bridges (Docker's bridge networks, libvirt's...). Flows from
 * our networks may reach them only as replies or through a port they publish.
 */
export function desiredRules(c: ChainNames, fam: FirewallState['v4'], foreignBridges: readonly string[] = []): ChainRules {
  const nat: string[] = [];
  const filter: string[] = [];
  // Every exception comes before every drop, whatever order networks came in: a rule appended
  // later (a new network of the tenant) must still precede the drop it makes an exception to.
  const exceptions: string[] = [];
  const drops: string[] = [];
  for (const n of fam.networks) {
    const tag = comment(n.id);
    const gw = n.gateway;
    // Routed between our networks (same tenant), a source address stays as it is.
    for (const s of n.subnets) nat.push(`-A ${c.post} -s ${s} ! -o ${ANY_GATEWAY} ${tag} -j MASQUERADE`);
    filter.push(`-A ${c.fwd} -i ${gw} ${tag} -j ACCEPT`);
    filter.push(`-A ${c.fwd} -o ${gw} -m conntrack --ctstate RELATED,ESTABLISHED ${tag} -j ACCEPT`);
    exceptions.push(`-A ${c.iso} -o ${gw} ${ANSWERS} ${tag} -j RETURN`);
    exceptions.push(`-A ${c.iso} -i ${gw} -o ${gw} ${tag} -j RETURN`);
    for (const m of fam.networks) {
      if (m !== n && n.tenant !== undefined && m.tenant === n.tenant) exceptions.push(`-A ${c.iso} -i ${m.gateway} -o ${gw} ${tag} -j RETURN`);
    }
    drops.push(`-A ${c.iso} -o ${gw} ${tag} -j DROP`);
  }
  if (fam.networks.length) {
    for (const b of foreignBridges) drops.push(`-A ${c.iso} -i ${ANY_GATEWAY} -o ${b} -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`);
  }
  const mangle = [...exceptions, ...drops];
  // The host end of a container's veth is a live kernel interface on a userspace bridge: what
  // arrives there is OVS's to switch, never the host's to route (ovs-vswitchd reads it from a
  // packet socket, which sees it before netfilter).
  const raw = [`-A ${c.raw} -i ${HOST_VETH_PREFIX}+ -j DROP`];
  for (const p of fam.ports) {
    const dst = p.hostIp ? ` -d ${p.hostIp}` : '';
    const to = p.containerIp.includes(':') ? `[${p.containerIp}]:${p.containerPort}` : `${p.containerIp}:${p.containerPort}`;
    nat.push(`-A ${c.dnat} -p ${p.proto}${dst} --dport ${p.hostPort} -j DNAT --to-destination ${to}`);
    filter.push(`-A ${c.fwd} -d ${p.containerIp} -p ${p.proto} --dport ${p.containerPort} -m conntrack --ctstate DNAT -j ACCEPT`);
  }
  return { nat: [...new Set(nat)], filter: [...new Set(filter)], mangle: [...new Set(mangle)], raw };
}

/** The iptables-restore input that reloads our chains whole: declared (hence flushed) and refilled. */
export function renderRules(c: ChainNames, fam: FirewallState['v4'], foreignBridges: readonly string[] = []): string {
  const r = desiredRules(c, fam, foreignBridges);
  return [
    '*nat', `:${c.post} - [0:0]`, `:${c.dnat} - [0:0]`, ...r.nat, 'COMMIT',
    '*filter', `:${c.fwd} - [0:0]`, ...r.filter, 'COMMIT',
    '*mangle', `:${c.iso} - [0:0]`, ...r.mangle, 'COMMIT',
    '*raw', `:${c.raw} - [0:0]`, ...r.raw, 'COMMIT', '',
  ].join('\n');
}

/** The host's Linux bridges, by name (sysfs: only a bridge has a `bridge` directory). */
export function linuxBridges(sysClassNet = '/sys/class/net'): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(sysClassNet);
  } catch {
    return [];
  }
  return names.filter((n) => !n.startsWith('ocn') && fs.existsSync(`${sysClassNet}/${n}/bridge`)).sort();
}

/**
 * The iptables-restore input that turns `loaded` into `wanted` rule by rule (undefined: nothing
 * to do). Without a chain declaration nothing is flushed: the kernel deletes a rule with an RCU
 * grace period (10-30 ms here), while appending one is cheap, so a network or a published port
 * costs an append instead of a reload of every rule.
 */
/** Isolation exceptions go in at the top, drops at the end: the order the whole load has. */
const isException = (table: string, rule: string) => table === 'mangle' && !rule.endsWith(' -j DROP');

export function renderDelta(loaded: ChainRules, wanted: ChainRules): string | undefined {
  const out: string[] = [];
  for (const table of TABLES) {
    const have = new Set(loaded[table]);
    const want = new Set(wanted[table]);
    const lines = [
      ...[...have].filter((r) => !want.has(r)).map((r) => r.replace(/^-A /, '-D ')),
      ...[...want].filter((r) => !have.has(r)).map((r) => (isException(table, r) ? r.replace(/^-A (\S+) /, '-I $1 1 ') : r)),
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
    ['-t', 'mangle', 'FORWARD', '-j', c.iso],
    ['-t', 'raw', 'PREROUTING', '-j', c.raw],
  ];
}

/**
 * What iptables-save shows of our chains and jumps against what we last loaded, or undefined when
 * they are as loaded. Counts, not text: iptables-save renders a rule its own way. A flush, a
 * deleted rule or a removed jump (a firewall manager reloading) shows; a rule edited in place
 * waits for the whole reload.
 */
export function driftIn(save: string, c: ChainNames, loaded: ChainRules, v6: boolean): string | undefined {
  const lines = new Map<string, string[]>();
  let table = '';
  for (const l of save.split('\n')) {
    if (l.startsWith('*')) lines.set((table = l.slice(1)), []);
    else if (l.startsWith('-A ')) lines.get(table)?.push(l);
  }
  const count = (t: string, pred: (l: string) => boolean) => (lines.get(t) ?? []).filter(pred).length;
  for (const t of TABLES) {
    const chains = new Set(loaded[t].map((r) => r.split(' ')[1]));
    for (const chain of chains) {
      const want = loaded[t].filter((r) => r.startsWith(`-A ${chain} `)).length;
      const have = count(t, (l) => l.startsWith(`-A ${chain} `));
      if (have !== want) return `${t} ${chain}: ${have} rules, ${want} loaded`;
    }
  }
  for (const [, t, chain, ...rule] of jumps(c, v6)) {
    const target = rule[rule.length - 1];
    if (!count(t, (l) => l.startsWith(`-A ${chain} `) && l.endsWith(` -j ${target}`))) return `${t} ${chain}: no jump to ${target}`;
  }
  return undefined;
}

/** iptables tools get this long: a hung one (a lock held elsewhere) fails the request, naming it. */
const IPTABLES_TIMEOUT_MS = 10_000;

function iptables(bin: string, args: string[], input?: string, reject = true) {
  return execa(bin, args, { input, reject, timeout: IPTABLES_TIMEOUT_MS }).catch((err: { timedOut?: boolean }) => {
    if (err.timedOut) throw new Error(`${bin} did not answer within ${IPTABLES_TIMEOUT_MS / 1000} s (is another program holding the xtables lock?)`);
    throw err;
  });
}

export interface FirewallOptions {
  /** How often the chains are reloaded whole (0: never). */
  resyncMs?: number;
  /** How often iptables-save is compared with what was loaded (0: never). */
  checkMs?: number;
  /** How often the host's Linux bridges are looked at (0: only when rules are applied). */
  bridgeWatchMs?: number;
  /** The host's Linux bridges (tests substitute their own list). */
  bridges?: () => string[];
}

export class Firewall {
  private readonly chains: ChainNames;
  private v6Used = false;
  /** What our chains hold since our last successful load (undefined: unknown, reload whole). */
  private loaded: { v4?: ChainRules; v6?: ChainRules } = {};
  private running: Promise<void> | undefined;
  private dirty = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly bridges: () => string[];
  /** The Linux bridges the loaded rules isolate our networks from. */
  private bridgesLoaded = '';

  /**
   * Changes only append or delete rules, so a flush behind our back (a firewall manager
   * reloading) would last until a delete fails or the daemon restarts without the periodic
   * whole reload. A Docker network created after our last load is a new Linux bridge: the watch
   * adds its drop within `bridgeWatchMs`.
   */
  constructor(driver: string, private readonly state: () => FirewallState, private readonly log: Logger, opts: FirewallOptions = {}) {
    this.chains = chainNames(driver);
    this.bridges = opts.bridges ?? (() => linuxBridges());
    const every = (ms: number, what: string, fn: () => Promise<void>) => {
      if (ms <= 0) return;
      const t = setInterval(() => fn().catch((err) => this.log.warn({ err: String(err) }, `${what} failed`)), ms);
      t.unref();
      this.timers.push(t);
    };
    every(opts.resyncMs ?? 300_000, 'firewall resync', () => this.resync());
    every(opts.checkMs ?? 30_000, 'firewall check', async () => void (await this.check()));
    every(opts.bridgeWatchMs ?? 2_000, 'firewall bridge watch', async () => {
      if ((this.loaded.v4 || this.loaded.v6) && this.bridges().join(' ') !== this.bridgesLoaded) await this.apply();
    });
  }

  /** Reloads our chains whole and re-checks the jumps into them. */
  async resync(): Promise<void> {
    if (!this.loaded.v4 && !this.loaded.v6) return; // nothing loaded yet: the first apply is whole anyway
    this.loaded = {};
    await this.apply();
  }

  /**
   * Reloads whole when our chains or jumps are not as we loaded them (someone flushed or edited
   * them); returns what differed. Skipped while a load runs: its result is what counts.
   */
  async check(): Promise<string | undefined> {
    for (const v6 of [false, true]) {
      const loaded = this.loaded[v6 ? 'v6' : 'v4'];
      if (!loaded || this.running) continue;
      const save = await iptables(v6 ? 'ip6tables-save' : 'iptables-save', []);
      const drift = this.loaded[v6 ? 'v6' : 'v4'] === loaded && !this.running ? driftIn(save.stdout, this.chains, loaded, v6) : undefined;
      if (!drift) continue;
      this.log.warn({ drift, family: v6 ? 'IPv6' : 'IPv4' }, 'our iptables rules were changed behind our back: reloading them');
      await this.resync();
      return drift;
    }
    return undefined;
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
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
    const bridges = this.bridges();
    await this.applyFamily(false, s.v4, bridges);
    // Once IPv6 rules were loaded, an empty IPv6 state must still be loaded (to remove them).
    if (s.v6.networks.length || s.v6.ports.length || this.v6Used) await this.applyFamily(true, s.v6, bridges);
    this.bridgesLoaded = bridges.join(' ');
  }

  private async applyFamily(v6: boolean, fam: FirewallState['v4'], bridges: string[]): Promise<void> {
    const restore = (input: string) => iptables(v6 ? 'ip6tables-restore' : 'iptables-restore', ['-w', '--noflush'], input);
    const key = v6 ? 'v6' : 'v4';
    if (v6) this.v6Used = true;
    const wanted = desiredRules(this.chains, fam, bridges);
    const loaded = this.loaded[key];
    const delta = loaded && renderDelta(loaded, wanted);
    if (loaded && !delta) return;
    this.loaded[key] = undefined; // unknown until this load has succeeded
    // The first load, a resync, or one whose delta failed because our chains were changed behind
    // our back (a rule to delete is missing, a chain is gone) reloads them whole, and checks the
    // jumps into them, which the same hand may have removed.
    const applied = delta !== undefined && (await restore(delta).then(() => true, () => false));
    if (!applied) {
      await restore(renderRules(this.chains, fam, bridges));
      await this.ensureJumps(v6);
    }
    this.loaded[key] = wanted;
  }

  private async ensureJumps(v6: boolean): Promise<void> {
    const bin = v6 ? 'ip6tables' : 'iptables';
    for (const [flagT, table, chain, ...rule] of jumps(this.chains, v6)) {
      const check = await iptables(bin, ['-w', flagT, table, '-C', chain, ...rule], undefined, false);
      if (check.exitCode !== 0) await iptables(bin, ['-w', flagT, table, '-I', chain, '1', ...rule]);
    }
  }

  /** Removes our chains and jumps (daemon uninstall / tests). */
  async remove(): Promise<void> {
    for (const v6 of [false, true]) {
      const bin = v6 ? 'ip6tables' : 'iptables';
      for (const [flagT, table, chain, ...rule] of jumps(this.chains, v6)) {
        await iptables(bin, ['-w', flagT, table, '-D', chain, ...rule], undefined, false);
      }
      for (const [table, chain] of [['nat', this.chains.post], ['nat', this.chains.dnat], ['filter', this.chains.fwd], ['mangle', this.chains.iso], ['raw', this.chains.raw]]) {
        await iptables(bin, ['-w', '-t', table, '-F', chain], undefined, false);
        await iptables(bin, ['-w', '-t', table, '-X', chain], undefined, false);
      }
    }
    this.v6Used = false;
    this.loaded = {};
    this.log.debug('firewall chains removed');
  }
}
