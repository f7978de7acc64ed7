// 1 + 2. Plugin-side latency, driven straight at the socket (no dockerd): CreateNetwork, the attach
// path (RequestAddress + CreateEndpoint + Join) and the detach path (Leave + DeleteEndpoint +
// ReleaseAddress) at concurrency 1, 10 and 100, side by side with the exec-based reference
// (exec-plugin.ts), with the product minus Join's wait for ovs-vswitchd (variant-daemon.ts nowait),
// without its warm port pool (--pool-max 0) and with group commit (--group-commit on).
// Rounds alternate between the three daemons so that drift on a shared machine hits all alike.
import { ensureSystemOvs } from '../../test/harness/ovs';
import type { Ctx } from '../lib/context';
import { Figure, SectionResult, target } from '../lib/figures';
import { BenchPlugin, RUN_TAG, startBenchPlugin } from '../lib/plugins';
import { benchBridge } from '../lib/ovs';
import { freeSubnets } from '../lib/subnets';
import { median, nowMs, round, roundSummary, runConcurrent, summarize, Summary } from '../lib/stats';
import { run } from '../../test/harness/exec';
import { hexId, sleep, waitLinksGone } from '../lib/util';
import { AttachedEp, attach, BenchNet, createNetwork, deleteNetwork, detach, StepTimes } from '../lib/workload';

interface Level {
  c: number;
  /** attaches per round for the product, the exec reference and the no-wait build */
  n: Record<Flav, number>;
}

type Flav = 'product' | 'exec' | 'nowait' | 'nopool' | 'group';
const FLAVS: Flav[] = ['product', 'exec', 'nowait', 'nopool', 'group'];

interface RoundResult {
  attach: number[];
  detach: number[];
  steps: StepTimes[];
  /** attaches per second over the attach phase */
  rate: number;
}

/** One round: n attaches with c in flight, then their n detaches with c in flight; waits until the veths are gone. */
async function round_(net: BenchNet, exec: boolean, c: number, n: number): Promise<RoundResult> {
  const eps: AttachedEp[] = new Array(n);
  const steps: StepTimes[] = [];
  const w0 = nowMs();
  const attachT = await runConcurrent(n, c, async (i) => {
    eps[i] = await attach(net, (st) => steps.push(st));
  });
  const rate = n / ((nowMs() - w0) / 1000);
  const detachT = await runConcurrent(n, c, async (i) => {
    await detach(net, eps[i]);
  });
  if (!(await waitLinksGone(eps.map((e) => e.host), 60_000))) throw new Error('veths of detached endpoints still present after 60 s');
  await sleep(200); // let ovs-vswitchd finish removing the ports
  return { attach: attachT, detach: detachT, steps, rate };
}

/**
 * Churn: c loops, each attach then detach (like `docker run --rm` in a loop), for `seconds`; the
 * attaches overlap the previous detaches' veth deletions. Returns the attach times.
 */
async function churn(net: BenchNet, c: number, total: number): Promise<{ attach: number[]; detach: number[] }> {
  const times = { attach: [] as number[], detach: [] as number[] };
  const made: string[] = [];
  await runConcurrent(total, c, async () => {
    const t0 = nowMs();
    const ep = await attach(net);
    const t1 = nowMs();
    times.attach.push(t1 - t0);
    made.push(ep.host);
    await detach(net, ep);
    times.detach.push(nowMs() - t1);
  });
  await waitLinksGone(made, 60_000);
  await sleep(200);
  return times;
}

/**
 * Ports per second ovs-vswitchd takes when they come in one transaction: 100 veths added with one
 * `ovs-vsctl add-port ... -- add-port ...` (which waits until ovs-vswitchd applied it), median of
 * `rounds`; removed again after each round.
 */
async function batchedAddPortRate(bridge: string, rounds: number): Promise<number> {
  const rates: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const devs = Array.from({ length: 100 }, (_, i) => `ocbb${RUN_TAG.slice(0, 4)}${r}${i.toString(16).padStart(2, '0')}`);
    for (const d of devs) await run('ip', ['link', 'add', d, 'type', 'veth', 'peer', 'name', `${d}p`]);
    const add = devs.flatMap((d, i) => [...(i ? ['--'] : []), 'add-port', bridge, d, 'tag=999']);
    const t0 = nowMs();
    const res = await run('ovs-vsctl', ['--timeout=60', ...add]);
    const ms = nowMs() - t0;
    await run('ovs-vsctl', ['--timeout=60', ...devs.flatMap((d, i) => [...(i ? ['--'] : []), '--if-exists', 'del-port', bridge, d])]);
    for (const d of devs) await run('ip', ['link', 'del', d]);
    if (res.code !== 0) throw new Error(`ovs-vsctl add-port x100: ${res.stderr}`);
    rates.push(100 / (ms / 1000));
    await sleep(300);
  }
  return median(rates);
}

/** Wall time of a subprocess, p50 of n runs: the floor of one exec-based step. */
async function execFloor(cmd: string, args: string[], input: string | undefined, n: number): Promise<Summary> {
  const t: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = nowMs();
    const r = await run(cmd, args, { input });
    t.push(nowMs() - t0);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  }
  return roundSummary(summarize(t));
}

/** Handler time per method from the daemon's info-level "request" log lines. */
function handlerTimes(p: BenchPlugin, since: number): Record<string, Summary> {
  const by = new Map<string, number[]>();
  for (const r of p.plugin.logRecords().slice(since)) {
    if (r.msg !== 'request' || typeof r.method !== 'string' || typeof r.ms !== 'number') continue;
    if (!by.has(r.method)) by.set(r.method, []);
    by.get(r.method)!.push(r.ms);
  }
  return Object.fromEntries([...by].map(([m, xs]) => [m, roundSummary(summarize(xs))]));
}

export async function runLatency(ctx: Ctx): Promise<SectionResult> {
  await ensureSystemOvs();
  const q = ctx.quick;
  const plugins: Record<Flav, BenchPlugin> = {
    product: await startBenchPlugin('lat', 'product'),
    exec: await startBenchPlugin('exec', 'exec'),
    // Without the pool: what Join's wait costs is the wait for a port ovs-vswitchd adds.
    nowait: await startBenchPlugin('nowait', 'variant', { variants: ['nowait'], args: ['--pool-max', '0'] }),
    nopool: await startBenchPlugin('nopool', 'product', { args: ['--pool-max', '0'] }),
    group: await startBenchPlugin('group', 'product', { args: ['--group-commit', 'on'] }),
  };
  const bridges: Record<Flav, string> = { product: benchBridge('p'), exec: benchBridge('e'), nowait: benchBridge('w'), nopool: benchBridge('n'), group: benchBridge('g') };
  const figures: Figure[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];

  // ---------------------------------------------------------------- CreateNetwork
  // A first L2 network per daemon creates its bridge (untimed) and keeps it for the rest.
  const holders: Partial<Record<Flav, BenchNet>> = {};
  const sn = freeSubnets(3);
  for (const [i, f] of (['product', 'exec'] as Flav[]).entries()) {
    holders[f] = await createNetwork(plugins[f].client, { bridge: bridges[f], subnet: sn[i], gateway: 'external' });
  }
  const nNet = q ? 6 : 12;
  const createT: Record<string, number[]> = {};
  const deleteT: Record<string, number[]> = {};
  for (const kind of ['local', 'external'] as const) {
    const subnets = freeSubnets(2 * nNet);
    const made: { f: Flav; net: BenchNet }[] = [];
    ctx.log(`CreateNetwork gateway=${kind}: ${nNet} networks each on the product and the exec reference, alternating`);
    for (let i = 0; i < nNet; i++) {
      for (const [k, f] of (['product', 'exec'] as Flav[]).entries()) {
        const key = `${f}.${kind}`;
        const net = await createNetwork(plugins[f].client, { bridge: bridges[f], subnet: subnets[2 * i + k], vlan: 100 + i, gateway: kind }, (ms) => (createT[key] ??= []).push(ms));
        made.push({ f, net });
      }
    }
    for (const { f, net } of made) await deleteNetwork(net, (ms) => (deleteT[`${f}.${kind}`] ??= []).push(ms));
  }
  const cs = (k: string) => summarize(createT[k]);
  data.createNetwork = Object.fromEntries(Object.keys(createT).map((k) => [k, roundSummary(cs(k))]));
  data.deleteNetwork = Object.fromEntries(Object.keys(deleteT).map((k) => [k, roundSummary(summarize(deleteT[k]))]));
  for (const kind of ['local', 'external'] as const) {
    const ours = cs(`product.${kind}`);
    const ex = cs(`exec.${kind}`);
    figures.push({
      id: `createNetwork.${kind}.p50`, section: 'latency',
      label: kind === 'local' ? 'CreateNetwork p50 (gateway port + address + NAT)' : 'CreateNetwork p50 (L2 only, gateway=external)',
      value: ours.p50, unit: 'ms', compare: { label: 'exec-based', value: ex.p50, unit: 'ms' },
      ratio: { value: ex.p50 / ours.p50, label: 'exec ÷ ours' },
      target: target('<=', 10, 'value', ours.p50, '≤ 10 ms'),
      detail: `n=${ours.n}, p95 ${round(ours.p95)} ms`,
    });
  }

  // ---------------------------------------------------------------- attach / detach
  const subnets = freeSubnets(FLAVS.length);
  const nets = {} as Record<Flav, BenchNet>;
  for (const [i, f] of FLAVS.entries()) {
    nets[f] = await createNetwork(plugins[f].client, { bridge: bridges[f], subnet: subnets[i], vlan: 10, gateway: 'local' });
  }
  const levels: Level[] = q
    ? [
        { c: 1, n: { product: 20, exec: 8, nowait: 10, nopool: 10, group: 10 } },
        { c: 10, n: { product: 50, exec: 20, nowait: 30, nopool: 30, group: 30 } },
        { c: 100, n: { product: 100, exec: 100, nowait: 100, nopool: 100, group: 100 } },
      ]
    : [
        { c: 1, n: { product: 40, exec: 15, nowait: 20, nopool: 20, group: 40 } },
        { c: 10, n: { product: 100, exec: 40, nowait: 60, nopool: 60, group: 100 } },
        { c: 100, n: { product: 200, exec: 100, nowait: 150, nopool: 150, group: 200 } },
      ];
  const rounds = q ? 1 : 2;
  // the exec-based reference at concurrency 100 takes ~15 s a round: one round is enough to show it
  const roundsFor = (f: Flav, c: number) => (f === 'exec' && c === 100 ? 1 : rounds);
  // Warm-up (JIT, first genetlink family lookup, ovsdb connections): not recorded.
  for (const f of FLAVS) await round_(nets[f], f === 'exec', 5, 10);
  const samples: Record<string, RoundResult> = {};
  const rates: Record<string, number[]> = {};
  for (const L of levels) {
    for (let r = 0; r < rounds; r++) {
      for (const f of FLAVS) {
        if (r >= roundsFor(f, L.c)) continue;
        const t0 = nowMs();
        const res = await round_(nets[f], f === 'exec', L.c, L.n[f]);
        const key = `${f}.c${L.c}`;
        samples[key] ??= { attach: [], detach: [], steps: [], rate: 0 };
        samples[key].attach.push(...res.attach);
        samples[key].detach.push(...res.detach);
        samples[key].steps.push(...res.steps);
        rates[key] = [...(rates[key] ?? []), res.rate];
        ctx.log(`attach/detach c=${L.c} round ${r + 1}/${rounds} ${f}: n=${L.n[f]}, attach p50 ${round(summarize(res.attach).p50)} ms, detach p50 ${round(summarize(res.detach).p50)} ms (${((nowMs() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  }
  const sum = (k: string, which: 'attach' | 'detach') => summarize(samples[k][which]);
  data.attach = Object.fromEntries(Object.keys(samples).map((k) => [k, roundSummary(sum(k, 'attach'))]));
  data.detach = Object.fromEntries(Object.keys(samples).map((k) => [k, roundSummary(sum(k, 'detach'))]));
  data.throughput = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, round(median(v))]));
  const stepsOf = (k: string) => ({
    requestAddress: roundSummary(summarize(samples[k].steps.map((x) => x.requestAddress))),
    createEndpoint: roundSummary(summarize(samples[k].steps.map((x) => x.createEndpoint))),
    join: roundSummary(summarize(samples[k].steps.map((x) => x.join))),
  });
  data.stepsC1 = Object.fromEntries(FLAVS.map((f) => [f, stepsOf(`${f}.c1`)]));
  data.stepsC100 = Object.fromEntries(FLAVS.map((f) => [f, stepsOf(`${f}.c100`)]));

  for (const L of levels) {
    const ours = sum(`product.c${L.c}`, 'attach');
    const ex = sum(`exec.c${L.c}`, 'attach');
    for (const p of ['p50', 'p95', 'p99'] as const) {
      const f: Figure = {
        id: `attach.c${L.c}.${p}`, section: 'latency', label: `attach ${p}, concurrency ${L.c}`,
        value: ours[p], unit: 'ms', compare: { label: 'exec-based', value: ex[p], unit: 'ms' },
        ratio: { value: ex[p] / ours[p], label: 'exec ÷ ours' },
        detail: `n=${ours.n} (exec n=${ex.n})`,
      };
      if (L.c === 1 && p === 'p50') f.target = target('<=', 5, 'value', ours.p50, '≤ 5 ms');
      if (L.c === 100 && p === 'p50') f.target = target('<=', 5, 'value', ours.p50, '≤ 5 ms');
      if (L.c === 100 && p === 'p99') f.target = target('<=', 25, 'value', ours.p99, '≤ 25 ms');
      figures.push(f);
    }
  }
  for (const L of levels) {
    const ours = sum(`product.c${L.c}`, 'attach');
    const ex = sum(`exec.c${L.c}`, 'attach');
    const speedup = ex.p50 / ours.p50;
    figures.push({
      id: `speedup.c${L.c}`, section: 'latency', label: `attach speed-up over exec-based (p50), concurrency ${L.c}`,
      value: speedup, unit: 'x', compare: { label: 'exec-based p50', value: ex.p50, unit: 'ms' },
      ratio: { value: speedup, label: 'exec ÷ ours' },
      target: target('>=', 10, 'ratio', speedup, '≥ 10×'),
      detail: `ours p50 ${round(ours.p50)} ms`,
    });
  }
  for (const L of levels) {
    const ours = sum(`product.c${L.c}`, 'detach');
    const ex = sum(`exec.c${L.c}`, 'detach');
    for (const p of ['p50', 'p99'] as const) {
      figures.push({
        id: `detach.c${L.c}.${p}`, section: 'latency', label: `detach ${p}, concurrency ${L.c}`,
        value: ours[p], unit: 'ms', compare: { label: 'exec-based', value: ex[p], unit: 'ms' },
        ratio: { value: ex[p] / ours[p], label: 'exec ÷ ours' }, detail: `n=${ours.n}`,
      });
    }
  }
  // Throughput at 100 in flight against what ovs-vswitchd can do: 100 port adds in ONE ovs-vsctl
  // transaction, waiting until applied, on the product's bridge (measured in this run).
  const batched = await batchedAddPortRate(bridges.product, q ? 2 : 3);
  data.batchedAddPortPerSec = round(batched);
  const rate100 = median(rates['product.c100']);
  figures.push({
    id: 'throughput.c100', section: 'latency', label: 'attach throughput, concurrency 100 (attaches/s)',
    value: rate100, unit: '/s', compare: { label: 'ovs-vsctl: 100 add-ports in one transaction', value: batched, unit: '/s' },
    ratio: { value: rate100 / batched, label: 'ours ÷ batched ovs-vsctl' },
    target: target('>=', 0.5, 'ratio', rate100 / batched, '≥ 0.5× batched ovs-vsctl'),
    detail: `exec-based ${round(median(rates['exec.c100']))}/s`,
  });

  // What Join's wait for ovs-vswitchd costs: the same daemon code without it, same run.
  for (const L of levels) {
    const ours = sum(`product.c${L.c}`, 'attach');
    const nw = sum(`nowait.c${L.c}`, 'attach');
    figures.push({
      id: `wait.c${L.c}`, section: 'latency', label: `attach p50 without Join's ofport wait, concurrency ${L.c}`,
      value: nw.p50, unit: 'ms', compare: { label: 'product (with wait)', value: ours.p50, unit: 'ms' },
      ratio: { value: ours.p50 / nw.p50, label: 'with ÷ without' },
      detail: `wait ≈ ${Math.max(0, Math.round((1 - nw.p50 / ours.p50) * 100))} % of p50; p99 ${round(nw.p99)} vs ${round(ours.p99)} ms`,
    });
  }

  // The warm port pool and group commit, each against the product as it runs by default.
  for (const L of levels) {
    const ours = sum(`product.c${L.c}`, 'attach');
    const np = sum(`nopool.c${L.c}`, 'attach');
    const gc = sum(`group.c${L.c}`, 'attach');
    const rate = (f: Flav) => round(median(rates[`${f}.c${L.c}`]));
    figures.push({
      id: `pool.c${L.c}`, section: 'latency', label: `attach p50 with the warm port pool, concurrency ${L.c}`,
      value: ours.p50, unit: 'ms', compare: { label: 'without (--pool-max 0)', value: np.p50, unit: 'ms' },
      ratio: { value: np.p50 / ours.p50, label: 'without ÷ with' },
      detail: `p99 ${round(ours.p99)} vs ${round(np.p99)} ms; ${rate('product')} vs ${rate('nopool')} attaches/s`,
    });
    figures.push({
      id: `group.c${L.c}`, section: 'latency', label: `attach p50 with --group-commit on, concurrency ${L.c}`,
      value: gc.p50, unit: 'ms', compare: { label: 'product (off)', value: ours.p50, unit: 'ms' },
      ratio: { value: ours.p50 / gc.p50, label: 'off ÷ on' },
      detail: `p99 ${round(gc.p99)} vs ${round(ours.p99)} ms; ${rate('group')} vs ${rate('product')} attaches/s`,
    });
  }

  // ---------------------------------------------------------------- floors and handler times
  // A call that does nothing (Leave) measures the HTTP + validation floor of one request.
  const noop = (n: number, c: number) => runConcurrent(n, c, async () => {
    await plugins.product.client.call('NetworkDriver.Leave', { NetworkID: nets.product.id, EndpointID: hexId() });
  });
  await noop(50, 1);
  data.noopCall = { c1: roundSummary(summarize(await noop(q ? 100 : 300, 1))), c100: roundSummary(summarize(await noop(q ? 300 : 1000, 100))) };

  // Churn: attaches overlapping detaches, the product against the same code with veth deletions
  // on a worker thread (variant-daemon.ts worker-delete: the fix proposed in docs/benchmarks.md).
  ctx.log('churn: attach+detach loops, product vs worker-thread deletions');
  const wd = await startBenchPlugin('wdel', 'variant', { variants: ['worker-delete'] });
  const [wsn] = freeSubnets(1);
  const wnet = await createNetwork(wd.client, { bridge: benchBridge('k'), subnet: wsn, vlan: 10, gateway: 'local' });
  await churn(wnet, 5, 10);
  const churnT = { product: { attach: [] as number[], detach: [] as number[] }, worker: { attach: [] as number[], detach: [] as number[] } };
  const churnN = q ? 60 : 100;
  for (let r = 0; r < (q ? 1 : 2); r++) {
    for (const [k, n] of [['product', nets.product], ['worker', wnet]] as const) {
      const t = await churn(n, 10, churnN);
      churnT[k].attach.push(...t.attach);
      churnT[k].detach.push(...t.detach);
    }
  }
  data.churn = {
    concurrency: 10,
    product: { attach: roundSummary(summarize(churnT.product.attach)), detach: roundSummary(summarize(churnT.product.detach)) },
    workerDelete: { attach: roundSummary(summarize(churnT.worker.attach)), detach: roundSummary(summarize(churnT.worker.detach)) },
  };
  for (const which of ['attach', 'detach'] as const) {
    const cp = summarize(churnT.product[which]);
    const cw = summarize(churnT.worker[which]);
    for (const p of ['p50', 'p99'] as const) {
      figures.push({
        id: `churn.${which}.${p}`, section: 'latency', label: `${which} ${p} under churn (10 attach→detach loops)`,
        value: cp[p], unit: 'ms', compare: { label: 'veth deletion on a worker thread', value: cw[p], unit: 'ms' },
        ratio: { value: cp[p] / cw[p], label: 'ours ÷ worker variant' }, detail: `n=${cp.n}`,
      });
    }
  }
  await deleteNetwork(wnet);
  await wd.stop();

  // Floors of the exec-based steps on this machine.
  data.execFloors = {
    ipLinkShow: await execFloor('ip', ['link', 'show', 'lo'], undefined, 20),
    ethtoolShow: await execFloor('ethtool', ['-k', 'lo'], undefined, 20),
    ovsVsctlShow: await execFloor('ovs-vsctl', ['--timeout=10', 'br-exists', bridges.product], undefined, 20),
    iptablesRestoreNoop: await execFloor('iptables-restore', ['-w', '--noflush'], '*filter\nCOMMIT\n', 20),
  };

  for (const f of FLAVS) await deleteNetwork(nets[f]);
  for (const f of ['product', 'exec'] as Flav[]) await deleteNetwork(holders[f]!);
  for (const f of FLAVS) await plugins[f].stop();

  // The product again at info level: its own per-request handler time (log field "ms").
  ctx.log('handler times from an info-level daemon (c=1 and c=100)');
  const info = await startBenchPlugin('info', 'product', { logLevel: 'info' });
  const ib = benchBridge('i');
  const [isn] = freeSubnets(1);
  const inet = await createNetwork(info.client, { bridge: ib, subnet: isn, vlan: 10, gateway: 'local' });
  await round_(inet, false, 5, 10);
  const handler: Record<string, unknown> = {};
  for (const [c, n] of [[1, q ? 20 : 30], [100, 100]]) {
    const mark = info.plugin.logRecords().length;
    const res = await round_(inet, false, c, n);
    handler[`c${c}`] = { client: { attach: roundSummary(summarize(res.attach)), detach: roundSummary(summarize(res.detach)) }, handler: handlerTimes(info, mark) };
  }
  data.handlerTimes = handler;
  await deleteNetwork(inet);
  await info.stop();

  const h100 = (handler.c100 as { handler: Record<string, Summary>; client: { attach: Summary } });
  const join100 = h100.handler['NetworkDriver.Join'];
  const ce100 = h100.handler['NetworkDriver.CreateEndpoint'];
  const ra100 = h100.handler['IpamDriver.RequestAddress'];
  if (join100 && ce100 && ra100) {
    notes.push(
      `Handler time inside the daemon at concurrency 100 (info-level run, p50): RequestAddress ${ra100.p50} ms, CreateEndpoint ${ce100.p50} ms, ` +
        `Join ${join100.p50} ms (Join is almost all the wait for ovs-vswitchd's ofport); client-side attach p50 in that run ${h100.client.attach.p50} ms.`,
    );
  }
  const np = data.noopCall as { c1: Summary; c100: Summary };
  notes.push(`Floor of one request (a no-op Leave over a kept-alive connection): p50 ${np.c1.p50} ms alone, ${np.c100.p50} ms with 100 in flight; an attach is three requests.`);
  return { section: 'latency', figures, data, notes };
}
