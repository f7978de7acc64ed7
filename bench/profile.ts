// Profiling aid (not part of `make bench`): drives attach/detach rounds at one concurrency against
// the product daemon started under `node --cpu-prof`, and reports
//  - where the machine's CPU went meanwhile (daemon, this client, ovsdb-server, ovs-vswitchd,
//    the rest; and steal/idle from /proc/stat),
//  - the daemon's hottest packages and functions (self time) from its .cpuprofile, per thread,
//  - a flame graph (SVG) of its main thread (--svg <file>; by default next to the profile).
//
//   node dist/bench/profile.js [--c 100] [--n 200] [--rounds 2] [--gateway local|external] [--variant nowait,worker-delete,...] [--svg flame.svg]
//
// --variant runs variant-daemon.ts (see there) instead of the product.
//
// The .cpuprofile is left in /tmp/ocnb-prof-<tag>/ for Chrome DevTools or speedscope.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pluginCall } from '../test/harness/plugin';
import { repoRoot } from '../test/harness/paths';
import { flameGraphSvg } from './report/flame';
import { pidsByComm, run } from '../test/harness/exec';
import { purgeChains } from '../test/harness/iptables';
import { chainNames } from '../src/net/firewall';
import { PluginClient } from './lib/client';
import { cleanupAll, installSignalCleanup, onCleanup } from './lib/cleanup';
import { clockTicks, cpuTicks } from './lib/proc';
import { removeRecords, RUN_TAG } from './lib/plugins';
import { benchBridge } from './lib/ovs';
import { freeSubnets } from './lib/subnets';
import { round, runConcurrent, summarize } from './lib/stats';
import { linkExists, sleep, waitLinksGone } from './lib/util';
import { DAEMON_NODE_FLAGS } from '../src/node-flags';
import { attach, AttachedEp, createNetwork, deleteNetwork, detach } from './lib/workload';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** Self time per package and per function of a .cpuprofile. */
export function summarizeProfile(file: string, top = 25): string {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const perNode = new Map<number, number>();
  let total = 0;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    perNode.set(id, (perNode.get(id) ?? 0) + dt);
    total += dt;
  });
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  const root = repoRoot();
  for (const [id, us] of perNode) {
    const cf = byId.get(id)!.callFrame;
    const where = cf.url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, 'npm:').replace(`${root}/`, '');
    const key = `${cf.functionName || '(anonymous)'}  ${where}${cf.url ? `:${cf.lineNumber + 1}` : ''}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
    const m = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(cf.url);
    const p = m ? `npm:${m[1]}` : cf.url.startsWith('node:') ? 'node core' : cf.url.includes(`${root}/dist/src/`) ? 'project src/' : cf.url ? 'other js' : cf.functionName;
    pkg.set(p, (pkg.get(p) ?? 0) + us);
  }
  const list = (m: Map<string, number>, k: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, us]) => `  ${(us / 1000).toFixed(0).padStart(6)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${name}`).join('\n');
  return `daemon profile: ${(total / 1000).toFixed(0)} ms sampled\n-- self time by package\n${list(pkg, 14)}\n-- self time by function\n${list(fn, top)}`;
}

function procStat(): { busy: number; steal: number; idle: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq, steal, idle: idle + iowait, total: f.slice(0, 8).reduce((a, b) => a + b, 0) };
}

async function main(): Promise<void> {
  installSignalCleanup();
  const c = Number(arg('c', '100'));
  const n = Number(arg('n', String(Math.max(100, 2 * c))));
  const rounds = Number(arg('rounds', '2'));
  const gateway = arg('gateway', 'local') as 'local' | 'external';
  const variant = arg('variant', '');
  const bin = variant ? path.join(__dirname, 'variant-daemon.js') : path.join(repoRoot(), 'bin', 'ovs-container-network');
  const dir = `/tmp/ocnb-prof-${RUN_TAG}`;
  fs.mkdirSync(dir, { recursive: true });
  const name = `ocnb-${RUN_TAG}-prof`;
  const socket = `/run/docker/plugins/${name}.sock`;
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, '--cpu-prof', `--cpu-prof-dir=${dir}`, bin, 'daemon', '--name', name, '--log-level', 'warn'], { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, OCN_BENCH_VARIANT: variant } });
  const pid = child.pid!;
  const exited = new Promise((r) => child.on('exit', r));
  onCleanup(`profiled daemon ${name}`, async () => {
    child.kill('SIGTERM');
    await exited;
    await purgeChains(new RegExp(`^${chainNames(name).post.slice(0, 10)}-`));
    await removeRecords(name);
  });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await pluginCall(socket, 'Plugin.Activate', undefined, { timeoutMs: 1000 })).status === 200) break;
      } catch {
        /* not yet */
      }
      if (i > 500) throw new Error('daemon did not answer');
      await sleep(20);
    }
    const client = new PluginClient(socket);
    // Room for n endpoints and the gateway (a /24 holds 253).
    const [subnet] = freeSubnets(1, Math.min(24, 32 - Math.ceil(Math.log2(n + 3))));
    // Veths of endpoints still attached when a round fails: the daemon's stop does not remove them.
    const attached = new Set<string>();
    onCleanup('endpoint veths', async () => {
      for (const v of attached) if (linkExists(v)) await run('ip', ['link', 'del', v]);
    });
    const net = await createNetwork(client, { bridge: benchBridge('f'), subnet, vlan: 10, gateway });
    const others = { ovsdb: pidsByComm('ovsdb-server'), vswitchd: pidsByComm('ovs-vswitchd') };
    const ticks = () => ({
      daemon: cpuTicks(pid),
      client: Math.round(((process.cpuUsage().user + process.cpuUsage().system) / 1e6) * clockTicks()),
      ovsdb: others.ovsdb.reduce((a, p) => a + cpuTicks(p), 0),
      vswitchd: others.vswitchd.reduce((a, p) => a + cpuTicks(p), 0),
      ...procStat(),
    });
    const one = async () => {
      const eps: AttachedEp[] = [];
      const t0 = ticks();
      const w0 = Date.now();
      const at = await runConcurrent(n, c, async (i) => {
        eps[i] = await attach(net);
        attached.add(eps[i].host);
      });
      const t1 = ticks();
      const secs = (Date.now() - w0) / 1000;
      const dt = (k: keyof typeof t0) => t1[k] - t0[k];
      const pct = (k: keyof typeof t0) => `${((dt(k) / clockTicks() / secs) * 100).toFixed(0)} %`;
      const s = summarize(at);
      console.log(`attach c=${c} n=${n}: p50 ${round(s.p50)} ms p99 ${round(s.p99)} ms, ${(n / secs).toFixed(0)} attaches/s over ${secs.toFixed(1)} s`);
      console.log(`  CPU (of one core): daemon ${pct('daemon')}, this client ${pct('client')}, ovsdb-server ${pct('ovsdb')}, ovs-vswitchd ${pct('vswitchd')}; machine: busy ${((100 * dt('busy')) / dt('total')).toFixed(0)} %, steal ${((100 * dt('steal')) / dt('total')).toFixed(0)} %, idle ${((100 * dt('idle')) / dt('total')).toFixed(0)} % of ${fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)!.length} cores`);
      await runConcurrent(n, c, async (i) => {
        await detach(net, eps[i]);
      });
      await waitLinksGone(eps.map((e) => e.host), 60_000);
      for (const e of eps) attached.delete(e.host);
      await sleep(200);
    };
    for (let r = 0; r < rounds; r++) await one();
    await deleteNetwork(net);
    client.close();
  } finally {
    await cleanupAll();
  }
  // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread, the others
  // the veth-delete worker.
  const profiles = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  for (const f of profiles) {
    const main = f.split('.')[4] === '0';
    console.log(`${main ? 'main thread' : `worker thread ${f.split('.')[4]}`}:`);
    console.log(summarizeProfile(path.join(dir, f), Number(arg('top', '30'))));
    console.log(`profile: ${path.join(dir, f)}`);
    if (main) {
      const svg = arg('svg', path.join(dir, 'flame.svg'));
      const title = `ovs-container-network daemon, main thread: attach rounds at concurrency ${c} (${rounds} × ${n}), gateway=${gateway}${variant ? `, variant ${variant}` : ''}`;
      fs.writeFileSync(svg, flameGraphSvg(path.join(dir, f), title, repoRoot()));
      console.log(`flame graph: ${svg}`);
    }
  }
}

if (require.main === module) {
  main().catch(async (e) => {
    console.error(e);
    await cleanupAll();
    process.exitCode = 1;
  });
}
