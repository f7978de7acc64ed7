// Which host ports are taken already, so that a published port never silently steals one: a
// DNAT rule in PREROUTING would take the port from a host service or from another publisher
// without either of them noticing. Docker's own driver refuses such a port ("port is already
// allocated"); so do we.
import * as fs from 'node:fs';
import execa from 'execa';
import type { PublishedPort } from './firewall';

/** `proto/port` of every listening TCP socket and bound UDP socket of this network namespace. */
export function boundPorts(procNet = '/proc/net'): Set<string> {
  const out = new Set<string>();
  const read = (file: string, proto: string, state?: string) => {
    let text: string;
    try {
      text = fs.readFileSync(`${procNet}/${file}`, 'utf8');
    } catch {
      return; // no IPv6 in this kernel, or no /proc: nothing to learn from it
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || (state && f[3] !== state)) continue;
      const port = parseInt(f[1].split(':')[1] ?? '', 16);
      if (port > 0) out.add(`${proto}/${port}`);
    }
  };
  read('tcp', 'tcp', '0A'); // 0A: LISTEN
  read('tcp6', 'tcp', '0A');
  read('udp', 'udp');
  read('udp6', 'udp');
  return out;
}

/**
 * `proto/port` of the DNAT rules of others (Docker with --userland-proxy=false publishes with no
 * listening socket; another instance of this plugin): every nat rule with a --dport and a DNAT
 * target outside our own chain.
 */
export async function dnatPorts(ownChain: string, v6: boolean): Promise<Set<string>> {
  const out = new Set<string>();
  const r = await execa(v6 ? 'ip6tables-save' : 'iptables-save', ['-t', 'nat'], { reject: false, timeout: 10_000 });
  if (r.exitCode !== 0) return out;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('-A ') || line.startsWith(`-A ${ownChain} `) || !line.includes('-j DNAT')) continue;
    const proto = / -p (tcp|udp|sctp)\b/.exec(line)?.[1];
    const port = / --dport (\d+)\b/.exec(line)?.[1];
    if (proto && port) out.add(`${proto}/${port}`);
  }
  return out;
}

export const portKey = (p: Pick<PublishedPort, 'proto' | 'hostPort'>): string => `${p.proto}/${p.hostPort}`;
