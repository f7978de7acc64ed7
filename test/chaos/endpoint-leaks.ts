// Shared by the chaos scenarios about endpoints: what a Docker burst left behind that no
// container owns, duplicate addresses, and small helpers to run checks side by side.
import type { RunResult } from '../harness/exec';
import type { Plugin } from '../harness/plugin';
import { linkNamesOf } from '../e2e/helpers';

/** Where one plugin daemon and its dockerd live: the views a leak check needs. */
export interface LeakScope {
  /** The plugin (driver name, request log). */
  p: Plugin;
  docker(args: string[]): Promise<RunResult>;
  /** ovs-vsctl on the OVSDB the plugin writes; trimmed stdout. */
  vsctl(...args: string[]): Promise<string>;
  /** Names of the links in the plugin's network namespace. */
  links(): Promise<Set<string>>;
}

/** Endpoint ids of every container the dockerd knows (running or not). */
export async function ownedEndpoints(scope: LeakScope): Promise<Set<string>> {
  const ids = (await scope.docker(['ps', '-aq', '--no-trunc'])).stdout.split(/\s+/).filter(Boolean);
  const owned = new Set<string>();
  if (!ids.length) return owned;
  const r = await scope.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.EndpointID}} {{end}}', ...ids]);
  for (const ep of r.stdout.split(/\s+/).filter(Boolean)) owned.add(ep);
  return owned;
}

/** external_ids of the Open_vSwitch row: the plugin's records (`ocn.<name>.*`). */
export async function recordKeys(scope: LeakScope): Promise<string[]> {
  const j = JSON.parse(await scope.vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.')) as { data: [[string, [string, string][]]][] };
  return j.data[0][0][1].map(([k]) => k).filter((k) => k.startsWith(`ocn.${scope.p.name}.`));
}

/** Interface rows of the plugin's endpoints: name, endpoint id, ofport. */
export async function endpointInterfaces(scope: LeakScope): Promise<{ name: string; endpoint: string; ofport: number }[]> {
  const out = await scope.vsctl('--format=json', '--columns=name,external_ids,ofport', 'find', 'Interface', `external_ids:ocn-owner=${scope.p.name}`, 'external_ids:ocn-owner-type=endpoint');
  const j = JSON.parse(out) as { data: [string, [string, [string, string][]], number | [string, unknown[]]][] };
  return j.data.map(([name, ids, ofport]) => ({ name, endpoint: Object.fromEntries(ids[1])['ocn-endpoint'] ?? '', ofport: typeof ofport === 'number' ? ofport : -1 }));
}

/** Names of the plugin's free warm pooled ports. */
export async function poolInterfaces(scope: LeakScope): Promise<string[]> {
  return (await scope.vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${scope.p.name}`, 'external_ids:ocn-owner-type=pool')).split(/\s+/).filter(Boolean);
}

/** Veths, OVS ports and endpoint records of this plugin that no existing container owns. */
export async function endpointLeaks(scope: LeakScope, alsoOwned: Iterable<string> = []): Promise<string[]> {
  const owned = await ownedEndpoints(scope);
  for (const e of alsoOwned) owned.add(e);
  // An endpoint's veth is named after its id, or came from the warm pool (then its port's row
  // names it); the pool's free ports are the plugin's too. Both ends share the name's suffix.
  const ownedPorts = [...(await endpointInterfaces(scope)).filter((r) => owned.has(r.endpoint)).map((r) => r.name), ...(await poolInterfaces(scope))];
  const ownedLinks = new Set([...[...owned].map((e) => `ocnh${e.slice(0, 11)}`), ...ownedPorts].flatMap((n) => [n, `ocnc${n.slice(4)}`]));
  const present = await scope.links();
  const leaks: string[] = [];
  for (const n of linkNamesOf(scope.p)) if (/^ocn[hc]/.test(n) && !ownedLinks.has(n) && present.has(n)) leaks.push(`veth ${n}`);
  for (const r of await endpointInterfaces(scope)) if (!owned.has(r.endpoint)) leaks.push(`port ${r.name}`);
  for (const k of await recordKeys(scope)) {
    const m = /\.ep\.([0-9a-f]{64})$/.exec(k);
    if (m && !owned.has(m[1])) leaks.push(`record ${k}`);
  }
  return leaks;
}

/** Address records of the plugin's IPAM whose address is in `held` by nobody. */
export async function addressRecordLeaks(scope: LeakScope, held: Set<string>): Promise<string[]> {
  const prefix = `ocn.${scope.p.name}.addr.`;
  return (await recordKeys(scope)).filter((k) => k.startsWith(prefix)).map((k) => k.slice(k.lastIndexOf('|') + 1)).filter((ip) => !held.has(ip)).map((ip) => `address record ${ip}`);
}

/** Addresses held by more than one container. */
export function duplicates(ips: string[]): string[] {
  const seen = new Set<string>();
  return [...new Set(ips.filter((ip) => (seen.has(ip) ? true : (seen.add(ip), false))))];
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
