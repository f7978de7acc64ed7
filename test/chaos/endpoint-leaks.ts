// Shared by the chaos scenarios about endpoints: what a Docker burst left behind that no
// container owns, duplicate addresses, and whether running containers reach their peers.
import { Env, docker, exec, kvKeys, linkExists, linkNamesOf, ovsFind } from '../e2e/helpers';

/** Veths, OVS ports and endpoint records of this plugin that no existing container owns. */
export async function endpointLeaks(env: Env): Promise<string[]> {
  const ids = (await docker(env, ['ps', '-aq', '--no-trunc'])).stdout.split(/\s+/).filter(Boolean);
  const owned = new Set<string>();
  for (const id of ids) {
    const r = await docker(env, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}', id]);
    for (const ep of r.stdout.split(/\s+/).filter(Boolean)) owned.add(ep);
  }
  const ownedLinks = new Set([...owned].flatMap((e) => [`ocnh${e.slice(0, 11)}`, `ocnc${e.slice(0, 11)}`]));
  const leaks: string[] = [];
  for (const n of linkNamesOf(env.p)) if (/^ocn[hc]/.test(n) && !ownedLinks.has(n) && linkExists(n)) leaks.push(`veth ${n}`);
  for (const r of await ovsFind('Interface', `external_ids:ocn-owner=${env.P}`, 'external_ids:ocn-owner-type=endpoint')) {
    if (!owned.has(r.ids['ocn-endpoint'])) leaks.push(`port ${r.name}`);
  }
  for (const k of await kvKeys(env.P)) {
    const m = /\.ep\.([0-9a-f]{64})$/.exec(k);
    if (m && !owned.has(m[1])) leaks.push(`record ${k}`);
  }
  return leaks;
}

/** Addresses held by more than one container. */
export function duplicates(ips: string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(ips.filter((ip) => (seen.has(ip) ? true : (seen.add(ip), false))))];
}

/** Pings `target` from `container` until one answer or the deadline; the ms it took, or undefined. */
export async function reachesWithin(env: Env, container: string, target: string, ms: number): Promise<number | undefined> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    const r = await exec(env, container, ['ping', '-c', '1', '-W', '1', target], 5_000);
    if (r.code === 0) return Date.now() - started;
  }
  return undefined;
}

/** Runs `fn` over `items`, at most `width` at a time. */
export async function inBatches<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
