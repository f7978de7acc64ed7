// iptables (IPv4: filter, nat, mangle and raw tables) as iptables-save shows it, and removal of what tests left.
import { run } from './exec';

export type Table = 'filter' | 'nat' | 'mangle' | 'raw';
export const TABLES: Table[] = ['filter', 'nat', 'mangle', 'raw'];

/** Splits an iptables-save rule line into tokens (double quotes group, as iptables-save writes them). */
export function tokenize(line: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

/** The `-A CHAIN ...` lines of one table ([] if iptables-save fails). */
export async function ruleLines(table: Table): Promise<string[]> {
  const r = await run('iptables-save', ['-t', table], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l.startsWith('-A ')) : [];
}

/** The chain names (`:NAME ...` lines) of one table. */
export async function chainNames(table: Table): Promise<string[]> {
  const r = await run('iptables-save', ['-t', table], { timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.split('\n').filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]) : [];
}

/** True iff the rule matches one of these interfaces with -i or -o. */
export function mentionsIf(line: string, names: Set<string>): boolean {
  const t = tokenize(line);
  return t.some((tok, i) => names.has(tok) && (t[i - 1] === '-i' || t[i - 1] === '-o'));
}

/** Deletes every rule (filter and nat) that matches one of these interfaces with -i/-o. */
export async function deleteRulesFor(ifaces: Set<string>): Promise<void> {
  if (!ifaces.size) return;
  for (const table of TABLES) {
    for (const l of await ruleLines(table)) {
      if (mentionsIf(l, ifaces)) await run('iptables', ['-w', '-t', table, '-D', ...tokenize(l).slice(1)]);
    }
  }
}

/**
 * Removes the chains whose names match `re` (filter and nat), with every rule jumping to them:
 * for what a test's plugin instance left behind (e.g. /^OCN-<hash>-/). Returns the chains removed.
 */
export async function purgeChains(re: RegExp): Promise<string[]> {
  const removed: string[] = [];
  for (const table of TABLES) {
    const chains = (await chainNames(table)).filter((c) => re.test(c));
    if (!chains.length) continue;
    const set = new Set(chains);
    for (const l of await ruleLines(table)) {
      const t = tokenize(l);
      const j = t.findIndex((x, i) => (x === '-j' || x === '-g') && set.has(t[i + 1]));
      if (j >= 0 && !set.has(t[1])) await run('iptables', ['-w', '-t', table, '-D', ...t.slice(1)]);
    }
    for (const c of chains) await run('iptables', ['-w', '-t', table, '-F', c]);
    for (const c of chains) if ((await run('iptables', ['-w', '-t', table, '-X', c])).code === 0) removed.push(`${table}/${c}`);
  }
  return removed;
}
