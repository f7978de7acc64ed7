// docs/benchmarks.md and docs/benchmarks.svg, generated from a run's report: the machine, the
// table with ratios and PASS/MISS, the chart, details per section, and for every missed target
// its floor and the reason (report/floors.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../../test/harness/paths';
import type { Figure, SectionId } from '../lib/figures';
import type { Machine } from '../lib/machine';
import { floorsFor, PROFILING_FINDINGS } from './floors';
import { renderChart } from './svg';
import { rows } from './table';

/** The flame graph bench/profile.ts writes into docs/ (linked when present). */
const FLAME_GRAPH = 'profile-attach-c100.svg';

export interface Report {
  date: string;
  durationSeconds: number;
  mode: 'quick' | 'full';
  sections: SectionId[];
  machine: Machine;
  figures: Figure[];
  sectionsData: Partial<Record<SectionId, { seconds?: number; notes: string[]; data: Record<string, unknown> }>>;
  failures: { section: SectionId; error: string }[];
}

const TITLES: Record<SectionId, string> = {
  latency: '1–2. Plugin-side latency at the socket, against an exec-based plugin',
  scale: '3 + 5. Scale and daemon resources',
  docker: '4. Through dockerd, against the built-in bridge driver',
  datapath: '6. Data path on one host, against a hand-wired OVS port pair',
  multihost: '6. Data path across two hosts (OVN and plain overlays), against hand-wired paths',
  secgroups: '7. Security groups: attach and same-host TCP with a group of 100 rules, against no groups',
};

const cell = (s: string) => s.replace(/\|/g, '\\|');

function table(figures: Figure[]): string {
  const out = ['| figure | value | measured beside it | ratio | target | result | detail |', '|---|---:|---|---|---|---|---|'];
  for (const r of rows(figures)) {
    const res = r.result === 'PASS' ? '✅ PASS' : r.result === 'MISS' ? '❌ MISS' : '';
    out.push(`| ${cell(r.figure)} | ${cell(r.value)} | ${cell(r.comparison)} | ${cell(r.ratio)} | ${cell(r.target)} | ${res} | ${cell(r.detail)} |`);
  }
  return out.join('\n');
}

type Sum = { n: number; p50: number; p95: number; p99: number };

function latencyDetails(data: Record<string, unknown>): string {
  const a = data.attach as Record<string, Sum> | undefined;
  const d = data.detach as Record<string, Sum> | undefined;
  const tp = data.throughput as Record<string, number> | undefined;
  if (!a) return '';
  const out = ['Attach and detach, ms (client side, all three calls of each path):', '', '| daemon | concurrency | attach p50 | p95 | p99 | attaches/s | detach p50 | p95 | p99 | n |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|'];
  const names: Record<string, string> = { product: 'ours', exec: 'exec-based', nowait: "ours without Join's wait", nopool: 'ours without the warm pool', group: 'ours with group commit' };
  for (const k of Object.keys(a)) {
    const [f, c] = k.split('.c');
    const x = a[k];
    const y = d?.[k];
    out.push(`| ${names[f] ?? f} | ${c} | ${x.p50} | ${x.p95} | ${x.p99} | ${tp?.[k] ?? ''} | ${y?.p50 ?? ''} | ${y?.p95 ?? ''} | ${y?.p99 ?? ''} | ${x.n} |`);
  }
  const steps = data.stepsC1 as Record<string, Record<string, Sum>> | undefined;
  if (steps) {
    out.push('', 'Each call of the attach path at concurrency 1, p50 ms (client side):', '', '| daemon | RequestAddress | CreateEndpoint | Join |', '|---|---:|---:|---:|');
    for (const [f, s] of Object.entries(steps)) out.push(`| ${names[f] ?? f} | ${s.requestAddress?.p50} | ${s.createEndpoint?.p50} | ${s.join?.p50} |`);
  }
  const cn = data.createNetwork as Record<string, Sum> | undefined;
  const dn = data.deleteNetwork as Record<string, Sum> | undefined;
  if (cn) {
    out.push('', 'CreateNetwork / DeleteNetwork, ms:', '', '| daemon, kind | create p50 | p95 | delete p50 | p95 | n |', '|---|---:|---:|---:|---:|---:|');
    for (const k of Object.keys(cn)) {
      const [f, kind] = k.split('.');
      out.push(`| ${names[f] ?? f}, gateway=${kind} | ${cn[k].p50} | ${cn[k].p95} | ${dn?.[k]?.p50 ?? ''} | ${dn?.[k]?.p95 ?? ''} | ${cn[k].n} |`);
    }
  }
  const h = data.handlerTimes as Record<string, { handler: Record<string, Sum>; client: { attach: Sum } }> | undefined;
  if (h) {
    out.push('', "The daemon's own handler time per request (its info-level log line, field `ms`), p50 / p99 ms, from a separate info-level daemon:", '', '| concurrency | RequestAddress | CreateEndpoint | Join | Leave | DeleteEndpoint | ReleaseAddress | client attach p50 |', '|---:|---|---|---|---|---|---|---:|');
    for (const [c, v] of Object.entries(h)) {
      const m = (k: string) => (v.handler[k] ? `${v.handler[k].p50} / ${v.handler[k].p99}` : '');
      out.push(`| ${c.slice(1)} | ${m('IpamDriver.RequestAddress')} | ${m('NetworkDriver.CreateEndpoint')} | ${m('NetworkDriver.Join')} | ${m('NetworkDriver.Leave')} | ${m('NetworkDriver.DeleteEndpoint')} | ${m('IpamDriver.ReleaseAddress')} | ${v.client.attach.p50} |`);
    }
  }
  return out.join('\n');
}

function scaleDetails(data: Record<string, unknown>): string {
  const a = data.attach as Record<string, Record<string, Sum>> | undefined;
  if (!a) return '';
  const out = ['Attach at concurrency 1 with N endpoints on the host, p50 ms per call, and the same port added by hand:', '', '| endpoints | attach | RequestAddress | CreateEndpoint | Join | ovs-vsctl add-port | n |', '|---:|---:|---:|---:|---:|---:|---:|'];
  for (const [l, s] of Object.entries(a)) out.push(`| ${l} | ${s.total.p50} | ${s.requestAddress.p50} | ${s.createEndpoint.p50} | ${s.join.p50} | ${s.ovsVsctlAddPort?.p50 ?? ''} | ${s.total.n} |`);
  const rss = data.rssMb as Record<string, number> | undefined;
  const cpu = data.idleCpuPercent as Record<string, number> | undefined;
  if (rss) out.push('', `RSS (MB): ${Object.entries(rss).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  if (cpu) out.push('', `CPU over the ${data.idleSeconds} s idle window (% of one core): ${Object.entries(cpu).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  const opt = data.rssWithSmallYoungGen as Record<string, number> | undefined;
  if (opt) out.push('', `The empty daemon again with \`NODE_OPTIONS=--max-semi-space-size=1\`: ${Object.entries(opt).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  return out.join('\n');
}

export function renderMarkdown(report: Report, jsonRel: string, svgName: string): string {
  const m = report.machine;
  const withTarget = report.figures.filter((f) => f.target);
  const missed = withTarget.filter((f) => !f.target!.pass);
  const out: string[] = [];
  out.push(
    '# Benchmarks',
    '',
    '<!-- Generated by `make bench` (bench/run.ts, bench/report/markdown.ts). Do not edit by hand: change the generator. -->',
    '',
    '`make bench` runs the suite (not part of `make test`; about 8 minutes as root on a machine with Open vSwitch and',
    'Docker installed). It prints a table, writes `bench/results/<date>.json` and regenerates this page and its chart.',
    '`node dist/bench/run.js --only latency,scale --quick` runs some sections with fewer samples (development; such runs',
    'write `bench/results/<date>.partial.tmp` and leave this page alone unless `--docs` is given).',
    '',
    'Absolute times on a shared machine drift, so every figure is measured in one run **side by side with its comparison**',
    'and reported with the ratio between the two; comparisons alternate with the figure (round by round, run by run) so',
    'that drift hits both alike. Latencies are client-side wall times over kept-alive connections, like dockerd\'s;',
    'percentiles are nearest-rank.',
    '',
    `## Latest results: ${report.date.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${report.mode} run, ${Math.round(report.durationSeconds / 6) / 10} min)`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB; ${m.os}, kernel \`${m.kernel}\`; Node ${m.node}; Open vSwitch ${m.ovs},`,
    `datapath ${m.ovsDatapath}; dockerd ${m.dockerd}; ${m.iperf3}. Load average at the start: ${m.loadAvg.join(', ')}`,
    '(other test runs share this machine).',
    '',
    `Raw data: [${path.basename(jsonRel)}](${jsonRel}). **${withTarget.length - missed.length} of ${withTarget.length} targets met.**`,
    '',
    `![benchmark chart](${svgName})`,
    '',
  );
  for (const s of report.sections) {
    const figs = report.figures.filter((f) => f.section === s);
    const sd = report.sectionsData[s];
    out.push(`### ${TITLES[s]}`, '');
    const fail = report.failures.find((f) => f.section === s);
    if (fail) out.push(`**This section failed in this run:** ${fail.error}`, '');
    if (figs.length) out.push(table(figs), '');
    if (sd) {
      const det = s === 'latency' ? latencyDetails(sd.data) : s === 'scale' ? scaleDetails(sd.data) : '';
      if (det) out.push(det, '');
      for (const n of sd.notes) out.push(`- ${n}`);
      if (sd.notes.length) out.push('');
    }
  }
  out.push('## Floors and reasons', '');
  if (!missed.length) out.push('Every target was met in this run.', '');
  const floors = floorsFor(report);
  for (const f of floors) out.push(`### ${f.title}`, '', f.text, '');
  out.push('## Profiling findings', '', PROFILING_FINDINGS, '');
  if (fs.existsSync(path.join(repoRoot(), 'docs', FLAME_GRAPH))) {
    out.push(
      `Flame graph of the daemon's main thread during attach rounds at concurrency 100, with the fixes above:`,
      `[${FLAME_GRAPH}](${FLAME_GRAPH}) (made by \`node dist/bench/profile.js --c 100 --svg docs/${FLAME_GRAPH}\`; open it in a browser`,
      'for the tooltips).',
      '',
    );
  }
  out.push(
    '## How the figures are made',
    '',
    '- **Plugin side** (bench/sections/latency.ts): the product daemon, the exec-based reference (bench/exec-plugin.ts: the',
    "  product's own HTTP handler, schemas and IPAM, but `ip link`, `ethtool -K … tx off` and `ovs-vsctl add-port`",
    '  subprocesses for the OVS and link work) and the product without Join\'s wait for the ofport',
    '  (bench/variant-daemon.ts `nowait`) each get a network on a bridge of their own; rounds of N attaches with C in',
    '  flight, then their N detaches, alternate between the three. Veths of a round are gone before the next round.',
    '  "Churn" runs 10 loops of attach then detach (containers coming and going) against the product and against the',
    '  product with veth deletions on a worker thread (variant-daemon.ts `worker-delete`; the product does the same since the fix).',
    '- **Scale** (bench/sections/scale.ts): one daemon, endpoints added in steps (10, 100, 1,000); at each step single',
    '  attaches are timed, each followed by its detach, with `ovs-vsctl add-port` of a hand-made veth on the same bridge',
    '  in between (what ovs-vswitchd alone needs to apply a port); the steps are measured again on the way down.',
    '- **Resources**: VmRSS from /proc/<pid>/status; CPU from utime + stime in /proc/<pid>/stat over the idle window, for',
    '  the loaded daemon, an empty one and a bare `node` process over the same seconds. The idle RSS figure is the empty',
    '  daemon read after 20 s of idling (3 s after start in the detail column), next to a process that only loads the',
    '  chosen dependencies and serves an express app on a unix socket, started with it.',
    '- **dockerd** (bench/sections/docker.ts): a private dockerd from test/harness (own data root, socket and containerd),',
    '  the `ocn-busybox` image, a network of ours and a built-in bridge network; `docker run --rm` alternates between',
    '  them; then 100 `docker run -d` at once on each.',
    '- **Data path** (bench/sections/datapath.ts): iperf3 run from the host inside each container\'s network namespace',
    '  (`nsenter -n`), against two `ip netns` namespaces wired by hand onto a bridge of the same datapath type.',
    '- **Across hosts** (bench/sections/multihost.ts): the lab of test/lab/ (two hosts in network namespaces, each with',
    '  its own ovs-vswitchd; OVN central for the OVN rows), the plugin on each host, iperf3 between its containers and',
    '  between namespaces wired by hand on the same fabric (`ovn-nbctl` logical ports on br-int; an `ovs-vsctl` tunnel port).',
    '- Profiling aid: `node dist/bench/profile.js --c 100 --n 200 [--variant …]` runs attach rounds against a daemon under',
    '  `node --cpu-prof`, prints where the machine\'s CPU went and the daemon\'s hottest functions.',
    '',
  );
  return out.join('\n');
}

/** Writes docs/benchmarks.md and docs/benchmarks.svg; returns their paths. */
export function writeDocs(report: Report, jsonRelFromDocs: string): string[] {
  const dir = path.join(repoRoot(), 'docs');
  fs.mkdirSync(dir, { recursive: true });
  const lat = report.sectionsData.latency?.data.attach as Record<string, { p50: number; p99: number }> | undefined;
  const sc = report.sectionsData.scale?.data.attach as Record<string, { total: { p50: number }; ovsVsctlAddPort: { p50: number } }> | undefined;
  const svg = renderChart({ figures: report.figures, attach: lat, scale: sc, title: `ovs-container-network benchmarks, ${report.date.slice(0, 10)} (${report.machine.cores} cores, OVS ${report.machine.ovs}, ${report.machine.ovsDatapath.split(' ')[0]} datapath)` });
  const svgPath = path.join(dir, 'benchmarks.svg');
  fs.writeFileSync(svgPath, svg);
  const mdPath = path.join(dir, 'benchmarks.md');
  fs.writeFileSync(mdPath, renderMarkdown(report, jsonRelFromDocs, 'benchmarks.svg'));
  return [mdPath, svgPath];
}
