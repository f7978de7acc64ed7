// Small helpers shared by the sections: ids, names, links, waiting.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';

export const hexId = (): string => crypto.randomBytes(32).toString('hex');
export const shortHex = (n: number): string => crypto.randomBytes(Math.ceil(n / 2)).toString('hex').slice(0, n);
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function linkExists(name: string): boolean {
  return fs.existsSync(`/sys/class/net/${name}`);
}

/** Polls until none of the links exists (sysfs, no subprocess); false on timeout. */
export async function waitLinksGone(names: Iterable<string>, timeoutMs: number, intervalMs = 5): Promise<boolean> {
  const left = new Set(names);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const n of [...left]) if (!linkExists(n)) left.delete(n);
    if (!left.size) return true;
    if (Date.now() > deadline) return false;
    await sleep(intervalMs);
  }
}
