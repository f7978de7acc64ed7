// `make bench`: the benchmark suite. Prints a table, writes bench/results/<date>.json and (after a
// full run) docs/benchmarks.md with docs/benchmarks.svg.
//
//   node dist/bench/run.js [--only latency,scale,docker,datapath,multihost,secgroups] [--quick] [--docs] [--no-docs]
//
// --only   run some sections (aliases: attach = latency, resources = scale, dockerd = docker,
//          iperf = datapath)
// --quick  fewer samples, shorter windows, 300 instead of 1,000 endpoints and 20 instead of 100
//          parallel containers, for development (about 4 minutes)
// --docs   also rewrite docs/ after a partial or quick run (default: only after a full run)
// --render FILE   rewrite docs/ from a results JSON without measuring anything
// A full run writes bench/results/<date>.json; partial or quick runs write <date>.partial.tmp
// (git-ignored), so the committed result is always a complete one.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeCtx } from './lib/context';
import { cleanupAll, installSignalCleanup } from './lib/cleanup';
import { SectionId, SectionResult, SECTIONS } from './lib/figures';
import { describeMachine } from './lib/machine';
import { textTable } from './report/table';
import { Report, writeDocs } from './report/markdown';
import { runLatency } from './sections/latency';
import { runScale } from './sections/scale';
import { runDocker } from './sections/docker';
import { runDatapath } from './sections/datapath';
import { runMultihost } from './sections/multihost';
import { runSecgroups } from './sections/secgroups';
import { repoRoot } from '../test/harness/paths';

const ALIASES: Record<string, SectionId> = {
  latency: 'latency', attach: 'latency', plugin: 'latency',
  scale: 'scale', resources: 'scale', rss: 'scale', cpu: 'scale',
  docker: 'docker', dockerd: 'docker',
  datapath: 'datapath', iperf: 'datapath', throughput: 'datapath',
  multihost: 'multihost', crosshost: 'multihost', overlay: 'multihost',
  secgroups: 'secgroups', sg: 'secgroups', 'security-groups': 'secgroups',
};

interface Args {
  only: SectionId[];
  quick: boolean;
  docs: boolean | undefined;
  render?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: [...SECTIONS], quick: false, docs: undefined };
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--quick') a.quick = true;
    else if (x === '--docs') a.docs = true;
    else if (x === '--no-docs') a.docs = false;
    else if (x === '--render') a.render = argv[++i];
    else if (x === '--only' || x.startsWith('--only=')) {
      const v = x.includes('=') ? x.slice(x.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error('--only needs a list, e.g. --only latency,scale');
      const want = new Set<SectionId>();
      for (const s of v.split(',').map((t) => t.trim()).filter(Boolean)) {
        const id = ALIASES[s];
        if (!id) throw new Error(`--only: unknown section "${s}"; known: ${Object.keys(ALIASES).join(', ')}`);
        want.add(id);
      }
      a.only = SECTIONS.filter((s) => want.has(s));
    } else if (x === '--help' || x === '-h') {
      console.log('usage: node dist/bench/run.js [--only latency,scale,docker,datapath,multihost,secgroups] [--quick] [--docs|--no-docs]');
      process.exit(0);
    } else throw new Error(`unknown argument ${x} (see --help)`);
  }
  return a;
}

const RUNNERS: Record<SectionId, typeof runLatency> = { latency: runLatency, scale: runScale, docker: runDocker, datapath: runDatapath, multihost: runMultihost, secgroups: runSecgroups };

function stamp(d: Date): string {
  // ISO 8601 basic time, safe in file names: 2025-11-22T235901Z
  return d.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.render) {
    const file = path.resolve(args.render);
    const report = JSON.parse(fs.readFileSync(file, 'utf8')) as Report;
    console.log(textTable(report.figures));
    const written = writeDocs(report, path.relative(path.join(repoRoot(), 'docs'), file));
    console.log(`docs: ${written.map((w) => path.relative(process.cwd(), w)).join(', ')}`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('the benchmark suite must run as root (OVS, netlink, iptables, dockerd)');
  installSignalCleanup();
  const ctx = makeCtx(args.quick);
  const full = !args.quick && args.only.length === SECTIONS.length;
  const started = new Date();
  ctx.log(`sections: ${args.only.join(', ')}${args.quick ? ' (quick)' : ''}`);
  const machine = await describeMachine();
  const results: SectionResult[] = [];
  const failures: { section: SectionId; error: string }[] = [];
  for (const s of args.only) {
    const t0 = Date.now();
    ctx.log(`== ${s}`);
    try {
      const r = await RUNNERS[s](ctx);
      r.seconds = Math.round((Date.now() - t0) / 100) / 10;
      results.push(r);
    } catch (e) {
      const msg = (e as Error).stack ?? String(e);
      ctx.log(`section ${s} failed: ${msg}`);
      failures.push({ section: s, error: (e as Error).message });
    } finally {
      await cleanupAll('section');
    }
    ctx.log(`== ${s} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  await cleanupAll('run');
  const figures = results.flatMap((r) => r.figures);
  const report: Report = {
    date: started.toISOString(),
    durationSeconds: Math.round((Date.now() - started.getTime()) / 1000),
    mode: args.quick ? 'quick' : 'full',
    sections: args.only,
    machine,
    figures,
    sectionsData: Object.fromEntries(results.map((r) => [r.section, { seconds: r.seconds, notes: r.notes, data: r.data }])),
    failures,
  };
  const dir = path.join(repoRoot(), 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${stamp(started)}${full ? '.json' : '.partial.tmp'}`);
  fs.writeFileSync(file, JSON.stringify(report, null, 1) + '\n');

  console.log('');
  console.log(textTable(figures));
  for (const r of results) for (const n of r.notes) console.log(`note [${r.section}]: ${n}`);
  for (const f of failures) console.log(`FAILED section ${f.section}: ${f.error}`);
  console.log(`\nresults: ${path.relative(process.cwd(), file)} (${report.durationSeconds} s)`);
  if (args.docs ?? full) {
    const written = writeDocs(report, path.relative(path.join(repoRoot(), 'docs'), file));
    console.log(`docs: ${written.map((w) => path.relative(process.cwd(), w)).join(', ')}`);
  }
  if (failures.length) process.exitCode = 1;
}

main().catch(async (e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  await cleanupAll();
  process.exitCode = 1;
});
