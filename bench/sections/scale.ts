// 3 + 5. Scale and daemon resources. One daemon gets 10, then 100, then 1,000 endpoints (veth +
// OVS port + IPAM record each, like running containers); at each level single attaches are timed
// (each followed by its detach, so the level stays exact), and the levels are measured again on
// the way down so drift does not masquerade as growth. Resources: RSS before any network, RSS at
// 1,000 endpoints, and CPU over an idle window (utime + stime from /proc/<pid>/stat), next to a bare
// `node` process started at the same time (the floor of any Node daemon) and a second, empty daemon.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from '../../test/harness/paths';
import { ensureSystemOvs } from '../../test/harness/ovs';
import { run, runOk } from '../../test/harness/exec';
import type { Ctx } from '../lib/context';
import { onCleanup } from '../lib/cleanup';
import { DAEMON_NODE_FLAGS } from '../../src/node-flags';
import { Figure, SectionResult, target } from '../lib/figures';
import { RUN_TAG, startBenchPlugin } from '../lib/plugins';
import { benchBridge } from '../lib/ovs';
import { cpuPercentOver, rssMb, systemOvsPids } from '../lib/proc';
import { freeSubnets } from '../lib/subnets';
import { round, roundSummary, runConcurrent, summarize, Summary } from '../lib/stats';
import { sleep, waitLinksGone } from '../lib/util';
import { attach, AttachedEp, BenchNet, createNetwork, deleteNetwork, detach, StepTimes } from '../lib/workload';

/**
 * A node process that idles: bare; after requiring the daemon's code (`modules`); or `stack`: the
 * chosen dependencies alone (express, pino, netlink, execa, json-rpc-2.0, ipaddr.js, zod), loaded
 * as the daemon loads them, with an express app listening on a unix socket and one full
 * collection after loading (as the daemon runs after start-up), i.e. the floor of any daemon built
 * on them.
 */
function startBareNode(kind: 'bare' | 'modules' | 'stack' = 'bare'): { pid: number; stop(): Promise<void> } {
  const daemonJs = path.join(repoRoot(), 'dist', 'src', 'daemon.js');
  const netlinkParts = path.join(repoRoot(), 'dist', 'src', 'netlink', 'package.js');
  const sock = `/tmp/ocnb-stack-${RUN_TAG}.sock`;
  const stack = [
    "const express = require('express'); require('pino')({ level: 'warn' }); require('execa'); require('zod/mini');",
    `require(${JSON.stringify(netlinkParts)}); require('json-rpc-2.0'); require('ipaddr.js'); const app = express(); app.post('/x', (q, r) => r.json({}));`,
    'setTimeout(() => gc(), 1000);',
    `try { require('fs').unlinkSync(${JSON.stringify(sock)}); } catch {} app.listen(${JSON.stringify(sock)});`,
  ].join(' ');
  const prelude = kind === 'modules' ? `require(${JSON.stringify(daemonJs)});` : kind === 'stack' ? stack : '';
  const child = spawn(process.execPath, [...DAEMON_NODE_FLAGS, ...(kind === 'stack' ? ['--expose-gc'] : []), '-e', `${prelude}setInterval(() => {}, 1 << 30)`], { stdio: 'ignore', cwd: repoRoot() });
  const exited = new Promise((r) => child.on('exit', r));
  const stop = onCleanup(`node (${kind})`, async () => {
    child.kill('SIGTERM');
    await exited;
    if (kind === 'stack') await run('rm', ['-f', sock]);
  });
  return { pid: child.pid!, stop };
}

export async function runScale(ctx: Ctx): Promise<SectionResult> {
  await ensureSystemOvs();
  const q = ctx.quick;
  const levels = q ? [10, 100, 300] : [10, 100, 1000];
  const samples = q ? 12 : 20;
  const idleSeconds = q ? 15 : 60;
  const figures: Figure[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];

  const bare = startBareNode();
  const modulesOnly = startBareNode('modules');
  const stack = startBareNode('stack');
  const empty = await startBenchPlugin('idle', 'product');
  const s = await startBenchPlugin('scale', 'product');
  await sleep(3000); // past start-up: state loaded, first GCs done
  const rss = { idleDaemon: rssMb(s.pid), bareNode: rssMb(bare.pid), modulesOnly: rssMb(modulesOnly.pid), emptyDaemon: rssMb(empty.pid) } as Record<string, number>;
  await modulesOnly.stop();
  ctx.log(`RSS idle: daemon ${round(rss.idleDaemon)} MB, bare node ${round(rss.bareNode)} MB`);
  // Idle for a while, before this host gets the section's 1,000 ports (every daemon's OVSDB cache
  // replicates the host's bridges and ports): V8 shrinks the young generation it grew at start-up.
  await sleep(q ? 10_000 : 20_000);
  rss.emptyDaemonSteady = rssMb(empty.pid);
  rss.stackSteady = rssMb(stack.pid);
  rss.bareNodeSteady = rssMb(bare.pid);
  await stack.stop();
  ctx.log(`RSS after idling: daemon ${round(rss.emptyDaemonSteady)} MB, chosen dependencies alone ${round(rss.stackSteady)} MB`);

  const [subnet] = freeSubnets(1, 21); // 2,046 addresses
  const net: BenchNet = await createNetwork(s.client, { bridge: benchBridge('s'), subnet, vlan: 10, gateway: 'local' });
  // The same daemon without the warm port pool, on the same bridge (another VLAN): what each
  // attach cost before the pool, measured at the same levels in the same run.
  const nopool = await startBenchPlugin('nopool', 'product', { args: ['--pool-max', '0'] });
  const [subnet2] = freeSubnets(1, 24);
  const net2: BenchNet = await createNetwork(nopool.client, { bridge: net.bridge, subnet: subnet2, vlan: 11, gateway: 'local' });
  const population: AttachedEp[] = [];
  const grow = async (to: number) => {
    const add = to - population.length;
    await runConcurrent(add, 20, async () => {
      population.push(await attach(net));
    });
  };
  const shrink = async (to: number) => {
    const gone = population.splice(to);
    await runConcurrent(gone.length, 20, async (i) => detach(net, gone[i]));
    if (!(await waitLinksGone(gone.map((e) => e.host), 120_000))) throw new Error('veths still present 120 s after detach');
    await sleep(500);
  };
  // The OVS floor at each level: the same new port added by hand on the same bridge with
  // `ovs-vsctl add-port`, which waits for ovs-vswitchd to apply it (as Join waits for the ofport).
  const handSamples = q ? 4 : 6;
  let handSeq = 0;
  const handAdd = async (): Promise<number> => {
    const dev = `ocbs${RUN_TAG}${(handSeq++).toString(16).padStart(3, '0')}`;
    await runOk('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    const undo = onCleanup(`veth ${dev}`, () => run('ip', ['link', 'del', dev]));
    await runOk('ip', ['link', 'set', dev, 'up']);
    const t0 = process.hrtime.bigint();
    await runOk('ovs-vsctl', ['--timeout=30', 'add-port', net.bridge, dev, 'tag=10']);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await runOk('ovs-vsctl', ['--timeout=30', 'del-port', net.bridge, dev]);
    await undo();
    await waitLinksGone([dev], 10_000, 2);
    return ms;
  };
  const measured: Record<number, { total: number[]; steps: StepTimes[]; hand: number[]; nopool: number[] }> = {};
  const measure = async (level: number) => {
    const m = (measured[level] ??= { total: [], steps: [], hand: [], nopool: [] });
    for (let i = 0; i < samples; i++) {
      const t0 = process.hrtime.bigint();
      const ep = await attach(net, (st) => m.steps.push(st));
      m.total.push(Number(process.hrtime.bigint() - t0) / 1e6);
      await detach(net, ep);
      await waitLinksGone([ep.host], 10_000, 2);
      await sleep(20);
      const t1 = process.hrtime.bigint();
      const ep2 = await attach(net2);
      m.nopool.push(Number(process.hrtime.bigint() - t1) / 1e6);
      await detach(net2, ep2);
      await waitLinksGone([ep2.host], 10_000, 2);
      await sleep(20);
      if (i % Math.ceil(samples / handSamples) === 0) {
        m.hand.push(await handAdd());
        await sleep(20);
      }
    }
  };
  const sys = systemOvsPids();
  await measure(levels[0]); // warm-up pass, discarded below
  measured[levels[0]] = { total: [], steps: [], hand: [], nopool: [] };
  for (const level of levels) {
    const t0 = Date.now();
    await grow(level);
    ctx.log(`scale: ${level} endpoints (grown in ${((Date.now() - t0) / 1000).toFixed(1)} s), measuring ${samples} attaches`);
    await sleep(1000);
    await measure(level);
  }
  await sleep(5000);
  rss.daemonAtTop = rssMb(s.pid);
  ctx.log(`RSS with ${population.length} endpoints: ${round(rss.daemonAtTop)} MB; idle CPU window ${idleSeconds} s`);
  const pids = [s.pid, empty.pid, bare.pid, sys.vswitchd ?? 0, sys.ovsdb ?? 0];
  const cpu = await cpuPercentOver(pids, idleSeconds * 1000);
  const idle = { daemonAtTop: cpu[0], emptyDaemon: cpu[1], bareNode: cpu[2], ovsVswitchd: cpu[3], ovsdbServer: cpu[4] };
  rss.daemonAfterIdle = rssMb(s.pid);
  for (const level of [...levels].reverse().slice(1)) {
    const t0 = Date.now();
    await shrink(level);
    ctx.log(`scale: back to ${level} endpoints (${((Date.now() - t0) / 1000).toFixed(1)} s), measuring again`);
    await sleep(1000);
    await measure(level);
  }
  await shrink(0);
  await deleteNetwork(net);
  await deleteNetwork(net2);
  await nopool.stop();
  await s.stop();
  await empty.stop();
  await bare.stop();

  const sums: Record<number, Summary> = {};
  for (const l of levels) sums[l] = summarize(measured[l].total);
  const stepSum = (l: number, k: keyof StepTimes) => roundSummary(summarize(measured[l].steps.map((x) => x[k])));
  const hand = (l: number) => roundSummary(summarize(measured[l].hand));
  data.attach = Object.fromEntries(levels.map((l) => [l, { total: roundSummary(sums[l]), withoutPool: roundSummary(summarize(measured[l].nopool)), requestAddress: stepSum(l, 'requestAddress'), createEndpoint: stepSum(l, 'createEndpoint'), join: stepSum(l, 'join'), ovsVsctlAddPort: hand(l) }]));
  data.rssMb = Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, round(v)]));
  data.idleCpuPercent = Object.fromEntries(Object.entries(idle).map(([k, v]) => [k, round(v)]));
  data.idleSeconds = idleSeconds;
  const base = sums[levels[0]];
  for (const l of levels.slice(1)) {
    const r = sums[l].p50 / base.p50;
    figures.push({
      id: `scale.${l}`, section: 'scale', label: `attach p50 with ${l.toLocaleString('en')} endpoints on the host`,
      value: sums[l].p50, unit: 'ms', compare: { label: `with ${levels[0]}`, value: base.p50, unit: 'ms' },
      ratio: { value: r, label: `÷ p50 at ${levels[0]}` },
      target: target('<=', 1.2, 'ratio', r, '≤ 1.2× p50 at 10'),
      detail: `n=${sums[l].n} (up and down); Join p50 ${stepSum(l, 'join').p50} vs ${stepSum(levels[0], 'join').p50} ms`,
    });
  }
  for (const l of levels) {
    const np = summarize(measured[l].nopool);
    figures.push({
      id: `scale.nopool.${l}`, section: 'scale', label: `attach p50 with ${l.toLocaleString('en')} endpoints, with the warm port pool`,
      value: sums[l].p50, unit: 'ms', compare: { label: 'the same daemon with --pool-max 0', value: np.p50, unit: 'ms' },
      ratio: { value: np.p50 / sums[l].p50, label: 'without ÷ with' },
      detail: `n=${np.n}; without the pool ${(np.p50 / summarize(measured[levels[0]].nopool).p50).toFixed(1)}× its p50 at ${levels[0]}`,
    });
  }
  for (const l of levels) {
    const h = hand(l);
    figures.push({
      id: `scale.ovs.${l}`, section: 'scale', label: `floor: ovs-vsctl add-port p50 with ${l.toLocaleString('en')} ports`,
      value: h.p50, unit: 'ms', compare: { label: 'our attach p50', value: sums[l].p50, unit: 'ms' },
      ratio: { value: sums[l].p50 / h.p50, label: 'ours ÷ ovs-vsctl' },
      detail: `n=${h.n}; ${(h.p50 / hand(levels[0]).p50).toFixed(1)}× its p50 at ${levels[0]}`,
    });
  }
  const top = levels[levels.length - 1];
  figures.push({
    id: 'rss.idle', section: 'scale', label: `daemon RSS, idle (no networks, ${q ? 13 : 23} s after start)`, value: rss.emptyDaemonSteady, unit: 'MB',
    compare: { label: 'the chosen dependencies alone, serving', value: rss.stackSteady, unit: 'MB' },
    ratio: { value: rss.emptyDaemonSteady / rss.stackSteady, label: 'ours ÷ dependencies alone' },
    target: target('<=', 50, 'value', rss.emptyDaemonSteady, '≤ 50 MB'),
    detail: `3 s after start ${round(rss.idleDaemon)} MB; bare node ${round(rss.bareNodeSteady)} MB`,
  });
  // Right after the 1,000 attaches V8 has not collected their garbage yet; the figure is the daemon
  // holding them after the idle window (its memory reducer runs when the daemon goes idle).
  figures.push({
    id: 'rss.top', section: 'scale', label: `daemon RSS with ${top.toLocaleString('en')} endpoints (after ${idleSeconds} s idle)`, value: rss.daemonAfterIdle, unit: 'MB',
    compare: { label: 'same daemon without endpoints', value: rss.idleDaemon, unit: 'MB' }, ratio: { value: rss.daemonAfterIdle / rss.idleDaemon, label: `÷ without` },
    target: target('<=', 70, 'value', rss.daemonAfterIdle, '≤ 70 MB'),
    detail: `${round(rss.daemonAtTop)} MB 5 s after the last attach (uncollected garbage)`,
  });
  figures.push({
    id: 'cpu.idle.top', section: 'scale', label: `daemon CPU idle over ${idleSeconds} s, ${top.toLocaleString('en')} endpoints`, value: idle.daemonAtTop, unit: '%',
    compare: { label: 'bare node', value: idle.bareNode, unit: '%' },
    target: target('<', 1, 'value', idle.daemonAtTop, '< 1 %'),
    detail: `empty daemon ${round(idle.emptyDaemon)} %, ovs-vswitchd ${round(idle.ovsVswitchd)} % in the same window`,
  });
  figures.push({
    id: 'cpu.idle.empty', section: 'scale', label: `daemon CPU idle over ${idleSeconds} s, no networks`, value: idle.emptyDaemon, unit: '%',
    compare: { label: 'bare node', value: idle.bareNode, unit: '%' },
    target: target('<', 1, 'value', idle.emptyDaemon, '< 1 %'),
  });
  notes.push(`ovs-vswitchd used ${round(idle.ovsVswitchd)} % of a core over the idle window with ${top} endpoint ports on its userspace datapath; ovsdb-server ${round(idle.ovsdbServer)} %.`);
  return { section: 'scale', figures, data, notes };
}
