// 4. Through dockerd: `docker run --rm --network <ours> ocn-busybox sleep 0` against the same on a
// network of Docker's built-in bridge driver, alternated in one run; then 100 containers started
// in parallel on one network (all must succeed with distinct addresses), ours then the bridge's.
import type { Dockerd } from '../../test/harness/dockerd';
import { BUSYBOX_IMAGE } from '../../test/harness/image';
import type { Ctx } from '../lib/context';
import { dockerEnv, removeContainers } from '../lib/docker';
import { Figure, SectionResult, target } from '../lib/figures';
import { benchBridge } from '../lib/ovs';
import { RUN_TAG } from '../lib/plugins';
import { freeSubnets } from '../lib/subnets';
import { median, nowMs, round, roundSummary, summarize } from '../lib/stats';
import { sleep, waitLinksGone } from '../lib/util';
import { vsctl } from '../../test/harness/ovs';

interface Burst {
  ms: number;
  ok: number;
  failed: string[];
  distinct: number;
  ids: string[];
}

async function burst(d: Dockerd, network: string, n: number, prefix: string): Promise<Burst> {
  const t0 = nowMs();
  const rs = await Promise.all(
    Array.from({ length: n }, (_, i) => d.docker(['run', '-d', '--name', `${prefix}${i}`, '--network', network, BUSYBOX_IMAGE, 'sleep', '600'], { timeoutMs: 600_000 })),
  );
  const ms = nowMs() - t0;
  const ids = rs.filter((r) => r.code === 0).map((r) => r.stdout.trim());
  const failed = rs.filter((r) => r.code !== 0).map((r) => (r.stderr || r.stdout).trim().split('\n').pop() ?? '');
  let distinct = 0;
  if (ids.length) {
    const ins = await d.docker(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', ...ids], { timeoutMs: 120_000 });
    distinct = new Set(ins.stdout.split('\n').map((s) => s.trim()).filter(Boolean)).size;
  }
  return { ms, ok: ids.length, failed, distinct, ids };
}

export async function runDocker(ctx: Ctx): Promise<SectionResult> {
  const q = ctx.quick;
  const { d, plugin } = await dockerEnv(ctx);
  const figures: Figure[] = [];
  const data: Record<string, unknown> = {};
  const notes: string[] = [];
  const [sOurs, sBridge] = freeSubnets(2);
  const ours = `ocnb-${RUN_TAG}-ours`;
  const br = `ocnb-${RUN_TAG}-bridge`;
  const bridge = benchBridge('d');
  await d.dockerOk(['network', 'create', '-d', plugin.name, '--subnet', sOurs, '-o', `bridge=${bridge}`, ours]);
  await d.dockerOk(['network', 'create', '-d', 'bridge', '--subnet', sBridge, br]);

  // ---------------------------------------------------------------- docker run --rm, alternated
  const runs = q ? 8 : 20;
  const times: Record<string, number[]> = { ours: [], bridge: [] };
  const once = async (net: string) => {
    const t0 = nowMs();
    await d.dockerOk(['run', '--rm', '--network', net, BUSYBOX_IMAGE, 'sleep', '0'], { timeoutMs: 120_000 });
    return nowMs() - t0;
  };
  await once(ours); // warm-up: first use of the plugin, image layers in the page cache
  await once(br);
  ctx.log(`docker run --rm: ${runs} runs on each network, alternating`);
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? [br, ours] : [ours, br];
    for (const net of order) times[net === ours ? 'ours' : 'bridge'].push(await once(net));
  }
  const so = summarize(times.ours);
  const sb = summarize(times.bridge);
  const ratio = so.p50 / sb.p50;
  data.dockerRun = { ours: roundSummary(so), bridge: roundSummary(sb), perPairRatioMedian: round(median(times.ours.map((t, i) => t / times.bridge[i]))) };
  figures.push({
    id: 'docker.run.p50', section: 'docker', label: '`docker run --rm … sleep 0` p50, our network',
    value: so.p50, unit: 'ms', compare: { label: 'bridge driver', value: sb.p50, unit: 'ms' },
    ratio: { value: ratio, label: 'ours ÷ bridge' }, target: target('<=', 1.0, 'ratio', ratio, '≤ 1.0× bridge'),
    detail: `n=${so.n} each, alternated; p95 ${round(so.p95)} vs ${round(sb.p95)} ms`,
  });

  // ---------------------------------------------------------------- 100 in parallel
  const n = q ? 20 : 100;
  const results: Record<string, Burst> = {};
  for (const [key, net] of [['ours', ours], ['bridge', br]] as const) {
    ctx.log(`${n} containers in parallel on ${key === 'ours' ? 'our network' : 'the bridge network'}`);
    const b = await burst(d, net, n, `ocnb${RUN_TAG}${key[0]}`);
    results[key] = b;
    ctx.log(`  ${b.ok}/${n} started in ${(b.ms / 1000).toFixed(1)} s, ${b.distinct} distinct addresses${b.failed.length ? `; first failure: ${b.failed[0]}` : ''}`);
    const t0 = nowMs();
    // The containers' ports (not the warm pool's, which stay with the network).
    const ports = key === 'ours' ? (await vsctl('--bare', '--columns=name', 'find', 'Interface', `external_ids:ocn-owner=${plugin.name}`, 'external_ids:ocn-owner-type=endpoint')).split(/\s+/).filter(Boolean) : [];
    await removeContainers(d, b.ids);
    await d.docker(['container', 'prune', '-f']);
    await waitLinksGone(ports, 120_000); // none of our veths may linger into the bridge run
    ctx.log(`  removed in ${((nowMs() - t0) / 1000).toFixed(1)} s`);
    await sleep(2000);
  }
  const o = results.ours;
  const b = results.bridge;
  data.parallel = Object.fromEntries(Object.entries(results).map(([k, r]) => [k, { ms: round(r.ms), ok: r.ok, distinct: r.distinct, failed: r.failed.slice(0, 5) }]));
  // what the plugin warned about meanwhile (e.g. a port ovs-vswitchd never reported ready)
  data.pluginWarnings = plugin.plugin.logRecords().filter((r) => Number(r.level) >= 40).slice(0, 10);
  figures.push({
    id: 'docker.parallel.ok', section: 'docker', label: `${n} parallel \`docker run -d\` on our network: started, distinct addresses`,
    value: Math.min(o.ok, o.distinct), unit: '', compare: { label: 'bridge driver', value: Math.min(b.ok, b.distinct), unit: '' },
    target: target('==', n, 'value', Math.min(o.ok, o.distinct), `${n} of ${n}`),
    detail: `${o.ok} started, ${o.distinct} distinct addresses${o.failed.length ? `, ${o.failed.length} failed: ${o.failed[0]}` : ''}`,
  });
  figures.push({
    id: 'docker.parallel.time', section: 'docker', label: `${n} parallel \`docker run -d\`: total time, our network`,
    value: o.ms / 1000, unit: 's', compare: { label: 'bridge driver', value: b.ms / 1000, unit: 's' },
    ratio: { value: o.ms / b.ms, label: 'ours ÷ bridge' }, target: target('<=', 1.0, 'ratio', o.ms / b.ms, '≤ 1.0× bridge'),
  });
  await d.docker(['network', 'rm', ours, br]);
  notes.push(
    `docker run --rm: the bridge driver's p50 was ${round(sb.p50)} ms on this machine; our network adds ${round(so.p50 - sb.p50)} ms at the median (median of per-pair ratios ${data.dockerRun && (data.dockerRun as { perPairRatioMedian: number }).perPairRatioMedian}).`,
  );
  return { section: 'docker', figures, data, notes };
}
