// Free IPv4 /24s for the suite's networks: none may overlap a prefix routed or assigned on the
// host (other test runs share this machine), nor one handed out earlier in this run.
import { execFileSync } from 'node:child_process';

const taken = new Set<string>();

function toInt(ip: string): number {
  return ip.split('.').reduce((a, b) => a * 256 + Number(b), 0);
}

function hostPrefixes(): [number, number][] {
  const out: [number, number][] = [];
  const text = execFileSync('ip', ['-o', '-4', 'route', 'show', 'table', 'all']).toString() + execFileSync('ip', ['-o', '-4', 'addr', 'show']).toString();
  for (const m of text.matchAll(/(\d+\.\d+\.\d+\.\d+)\/(\d+)/g)) {
    const len = Number(m[2]);
    if (len === 0) continue;
    const base = toInt(m[1]) & (len === 32 ? 0xffffffff : ~((1 << (32 - len)) - 1));
    out.push([base >>> 0, len]);
  }
  return out;
}

function overlaps(a: [number, number], b: [number, number]): boolean {
  const len = Math.min(a[1], b[1]);
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return ((a[0] & mask) >>> 0) === ((b[0] & mask) >>> 0);
}

/** n free subnets of prefix length `len` (16..24) in 10.236.0.0-10.254.255.255 (rarely used by others' tests). */
export function freeSubnets(n: number, len = 24): string[] {
  const used = hostPrefixes();
  const out: string[] = [];
  const step = 1 << (24 - len); // in units of /24
  for (let second = 236; second <= 254 && out.length < n; second++) {
    for (let third = 0; third < 256 && out.length < n; third += step) {
      const s = `10.${second}.${third}.0/${len}`;
      const p: [number, number] = [toInt(`10.${second}.${third}.0`) >>> 0, len];
      if ([...taken].some((t) => overlaps(p, [toInt(t.split('/')[0]) >>> 0, Number(t.split('/')[1])]))) continue;
      if (used.some((u) => overlaps(u, p))) continue;
      taken.add(s);
      out.push(s);
    }
  }
  if (out.length < n) throw new Error(`only ${out.length} free /24s found for the benchmark networks`);
  return out;
}

/** 10.236.3.0/24 + k -> 10.236.3.k */
export function hostIn(subnet: string, k: number): string {
  const [a, b, c] = subnet.split('.');
  return `${a}.${b}.${c}.${k}`;
}
