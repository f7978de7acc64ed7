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

/** The iptables-restore input for one family: our chains declared (hence flushed) and refilled. */
export function renderRules(c: ChainNames, fam: FirewallState['v4']): string {
  const nat = ['*nat', `:${c.post} - [0:0]`, `:${c.dnat} - [0:0]`];
  const filter = ['*filter', `:${c.fwd} - [0:0]`];
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
  return [...nat, 'COMMIT', ...filter, 'COMMIT', ''].join('\n');
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
  private jumpsChecked = { v4: false, v6: false };
  private running: Promise<void> | undefined;
  private dirty = false;

  constructor(driver: string, private readonly state: () => FirewallState, private readonly log: Logger) {
    this.chains = chainNames(driver);
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
    if (s.v6.networks.length || s.v6.ports.length || this.jumpsChecked.v6) await this.applyFamily(true, s.v6);
  }

  private async applyFamily(v6: boolean, fam: FirewallState['v4']): Promise<void> {
    const restore = v6 ? 'ip6tables-restore' : 'iptables-restore';
    await execa(restore, ['-w', '--noflush'], { input: renderRules(this.chains, fam) });
    const key = v6 ? 'v6' : 'v4';
    if (!this.jumpsChecked[key]) {
      await this.ensureJumps(v6);
      this.jumpsChecked[key] = true;
    }
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
    this.jumpsChecked = { v4: false, v6: false };
    this.log.debug('firewall chains removed');
  }
}
