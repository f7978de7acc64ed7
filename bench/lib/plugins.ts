// Plugin daemons under test: the product (bin/ovs-container-network), the product with Join's
// wait removed (nowait-daemon.ts) and the exec-based reference (exec-plugin.ts). Each is started
// through the test harness and registered for cleanup: stop, then remove the iptables chains the
// daemon leaves by design and its records in the Open_vSwitch row.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startPlugin, Plugin } from '../../test/harness/plugin';
import { purgeChains } from '../../test/harness/iptables';
import { run } from '../../test/harness/exec';
import { chainNames } from '../../src/net/firewall';
import { PluginClient } from './client';
import { onCleanup } from './cleanup';
import { linkExists, shortHex } from './util';

/** product: bin/ovs-container-network; exec: exec-plugin.ts; variant: variant-daemon.ts (see there). */
export type Flavour = 'product' | 'exec' | 'variant';

export interface BenchPlugin {
  flavour: Flavour;
  name: string;
  pid: number;
  client: PluginClient;
  plugin: Plugin;
  /** Stops the daemon and removes what it leaves behind (idempotent). */
  stop(): Promise<void>;
}

export const RUN_TAG = shortHex(4);
/** Daemon logs of this run, kept after it for a post-mortem. */
export const LOG_DIR = `/tmp/ocnb-logs-${RUN_TAG}`;

function binFor(f: Flavour): string | undefined {
  if (f === 'product') return undefined; // the harness default: <repo>/bin/ovs-container-network
  return path.join(__dirname, '..', f === 'exec' ? 'exec-plugin.js' : 'variant-daemon.js');
}

/** Removes external_ids keys of the Open_vSwitch row starting with `ocn.<name>.` (IPAM/network records). */
export async function removeRecords(name: string): Promise<void> {
  const r = await run('ovs-vsctl', ['--timeout=10', '--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.']);
  if (r.code !== 0) return;
  const data = JSON.parse(r.stdout) as { data: [[string, [string, string][]]][] };
  const keys = (data.data[0]?.[0]?.[1] ?? []).map(([k]) => k).filter((k) => k.startsWith(`ocn.${name}.`));
  for (let i = 0; i < keys.length; i += 200) {
    await run('ovs-vsctl', ['--timeout=30', 'remove', 'Open_vSwitch', '.', 'external_ids', ...keys.slice(i, i + 200)]);
  }
}

/** Names of the Interface rows a daemon owns (its endpoints' host veths, its gateway ports). */
async function ownedInterfaces(name: string): Promise<string[]> {
  const r = await run('ovs-vsctl', ['--timeout=10', '--format=json', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${name}`]);
  if (r.code !== 0) return [];
  return (JSON.parse(r.stdout) as { data: [string][] }).data.map(([n]) => n).filter((n) => /^oc[nb]h/.test(n));
}

export async function startBenchPlugin(role: string, flavour: Flavour = 'product', opts: { logLevel?: string; variants?: string[]; scope?: 'section' | 'run'; args?: string[] } = {}): Promise<BenchPlugin> {
  const name = `ocnb-${RUN_TAG}-${role}`;
  const env = flavour === 'variant' ? { OCN_BENCH_VARIANT: (opts.variants ?? []).join(',') } : undefined;
  const start = () => startPlugin({ name, logLevel: opts.logLevel ?? 'warn', bin: binFor(flavour), env, args: opts.args });
  let plugin: Plugin;
  try {
    plugin = await start();
  } catch (e) {
    // others rebuild dist/ in this shared tree: a daemon started mid-build may find a half-written
    // module. One retry a moment later.
    console.error(`bench: ${name} did not start (${(e as Error).message.split('\n')[0]}); retrying once`);
    await new Promise((r) => setTimeout(r, 3000));
    plugin = await start();
  }
  const client = new PluginClient(plugin.socket);
  const hash = chainNames(name).post.slice(0, 10); // OCN-<6hex>
  const stop = onCleanup(`plugin ${name}`, async () => {
    client.close();
    const leftovers = await ownedInterfaces(name);
    await plugin.stop();
    // what the daemon logged (warnings only at the default level) stays for a post-mortem
    if (plugin.logs().trim()) {
      fs.mkdirSync(LOG_DIR, { recursive: true });
      fs.writeFileSync(path.join(LOG_DIR, `${name}.log`), plugin.logs());
    }
    // normally none: sections detach what they attach; after a failure the veths go here
    for (const dev of leftovers) if (linkExists(dev)) await run('ip', ['link', 'del', dev]);
    await purgeChains(new RegExp(`^${hash}-`));
    await removeRecords(name);
  }, opts.scope);
  return { flavour, name, pid: plugin.pid, client, plugin, stop };
}
