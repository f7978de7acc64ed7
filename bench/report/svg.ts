// docs/benchmarks.svg: a chart drawn from a run's report, no dependencies. Panels (each only if
// its section ran): attach latency by concurrency (ours, exec-based, ours without Join's wait);
// attach p50 and the ovs-vsctl floor by endpoints on the host; every target as the share of its
// budget used (log scale, 1 = the target).
import { budgetUsed, Figure } from '../lib/figures';

export interface ChartInput {
  figures: Figure[];
  attach?: Record<string, { p50: number; p99: number }>;
  scale?: Record<string, { total: { p50: number }; ovsVsctlAddPort: { p50: number } }>;
  title: string;
}

const W = 980;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';
const COLORS = { ours: '#2f6fb3', exec: '#c8553d', nowait: '#8fb8de', floor: '#777777', pass: '#3a9a5b', miss: '#c8553d' };

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const text = (x: number, y: number, s: string, attrs = '') =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${FONT}${attrs.includes('font-size=') ? '' : ' font-size="12"'} ${attrs}>${esc(s)}</text>`;
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));

/** Log-scale mapping of [lo, hi] (powers of ten around the data) onto [x0, x1]. */
function logScale(values: number[], x0: number, x1: number) {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...pos, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...pos, 1)));
  const f = (v: number) => x0 + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (x1 - x0);
  const ticks: number[] = [];
  for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
  return { f, ticks };
}

function panelAttach(y0: number, attach: NonNullable<ChartInput['attach']>): { svg: string; h: number } {
  const levels = [...new Set(Object.keys(attach).map((k) => k.split('.c')[1]))].map(Number).sort((a, b) => a - b);
  const series: [string, string, string][] = [['product', 'ours', COLORS.ours], ['exec', 'exec-based', COLORS.exec], ['nowait', "ours without Join's wait", COLORS.nowait]];
  const rowH = 16;
  const groupH = series.length * rowH + 14;
  const h = 40 + levels.length * groupH + 30;
  const x0 = 190;
  const x1 = W - 250; // room for the labels right of the longest whisker
  const vals = Object.values(attach).flatMap((s) => [s.p50, s.p99]);
  const { f, ticks } = logScale(vals, x0, x1);
  const out: string[] = [text(20, y0 + 18, 'Attach (RequestAddress + CreateEndpoint + Join), plugin side: bar p50, whisker p99, ms, log scale', 'font-weight="bold" font-size="14"')];
  const top = y0 + 34;
  const bottom = y0 + h - 26;
  for (const t of ticks) {
    out.push(`<line x1="${f(t)}" y1="${top}" x2="${f(t)}" y2="${bottom}" stroke="#ddd"/>`, text(f(t) - 8, bottom + 14, fmt(t), 'fill="#555"'));
  }
  levels.forEach((c, gi) => {
    const gy = top + gi * groupH;
    out.push(text(20, gy + groupH / 2, `concurrency ${c}`, 'font-weight="bold"'));
    series.forEach(([key, label, color], si) => {
      const s = attach[`${key}.c${c}`];
      if (!s) return;
      const y = gy + si * rowH + 4;
      out.push(`<rect x="${x0}" y="${y}" width="${Math.max(1, f(s.p50) - x0).toFixed(1)}" height="${rowH - 4}" fill="${color}"/>`);
      out.push(`<line x1="${f(s.p50)}" y1="${y + (rowH - 4) / 2}" x2="${f(s.p99)}" y2="${y + (rowH - 4) / 2}" stroke="#333"/>`, `<line x1="${f(s.p99)}" y1="${y}" x2="${f(s.p99)}" y2="${y + rowH - 4}" stroke="#333"/>`);
      out.push(text(f(s.p99) + 4, y + 10, `${label}: ${fmt(s.p50)} / ${fmt(s.p99)}`, 'font-size="11"'));
    });
  });
  return { svg: out.join('\n'), h };
}

function panelScale(y0: number, scale: NonNullable<ChartInput['scale']>): { svg: string; h: number } {
  const levels = Object.keys(scale).map(Number).sort((a, b) => a - b);
  const h = 250;
  const x0 = 80;
  const x1 = W - 220;
  const top = y0 + 40;
  const bottom = y0 + h - 40;
  const vals = levels.flatMap((l) => [scale[l].total.p50, scale[l].ovsVsctlAddPort.p50]);
  const { f: fy, ticks } = logScale(vals, 0, bottom - top);
  const yOf = (v: number) => bottom - fy(v);
  const { f: fx } = logScale(levels, x0, x1);
  const out: string[] = [text(20, y0 + 18, 'Scale: attach p50 with N endpoints on the host, next to ovs-vsctl add-port (the OVS floor), ms, log-log', 'font-weight="bold" font-size="14"')];
  for (const t of ticks) out.push(`<line x1="${x0}" y1="${yOf(t)}" x2="${x1}" y2="${yOf(t)}" stroke="#ddd"/>`, text(x0 - 40, yOf(t) + 4, fmt(t), 'fill="#555"'));
  for (const l of levels) out.push(text(fx(l) - 10, bottom + 16, String(l), 'fill="#555"'));
  out.push(text((x0 + x1) / 2 - 40, bottom + 32, 'endpoints on the host', 'fill="#555"'));
  const line = (key: 'total' | 'ovsVsctlAddPort', color: string, label: string, above: boolean) => {
    const pts = levels.map((l) => [fx(l), yOf(scale[l][key].p50)] as const);
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
    for (const [i, [x, y]] of pts.entries()) {
      out.push(`<circle cx="${x}" cy="${y}" r="4" fill="${color}"/>`, text(x + 6, above ? y - 8 : y + 16, fmt(scale[levels[i]][key].p50), `font-size="11" fill="${color}"`));
    }
    const [lx, ly] = pts[pts.length - 1];
    out.push(text(lx + 40, ly + (above ? -2 : 12), label, `fill="${color}" font-weight="bold"`));
  };
  const oursAbove = levels.every((l) => scale[l].total.p50 >= scale[l].ovsVsctlAddPort.p50);
  line('ovsVsctlAddPort', COLORS.floor, 'ovs-vsctl add-port', !oursAbove);
  line('total', COLORS.ours, 'our attach', oursAbove);
  return { svg: out.join('\n'), h };
}

function panelTargets(y0: number, figures: Figure[]): { svg: string; h: number } {
  const rows = figures.filter((f) => f.target).map((f) => ({ f, used: budgetUsed(f) ?? NaN }));
  const rowH = 20;
  const h = 46 + rows.length * rowH + 30;
  const x0 = 430;
  const x1 = W - 130;
  const vals = rows.map((r) => r.used).filter((v) => Number.isFinite(v) && v > 0);
  const { f, ticks } = logScale([...vals, 0.1, 2], x0, x1);
  const top = y0 + 40;
  const bottom = top + rows.length * rowH;
  const out: string[] = [text(20, y0 + 18, 'Targets: share of each budget used (log scale; left of the line = PASS)', 'font-weight="bold" font-size="14"')];
  for (const t of ticks) out.push(`<line x1="${f(t)}" y1="${top - 4}" x2="${f(t)}" y2="${bottom}" stroke="#ddd"/>`, text(f(t) - 8, bottom + 14, `${fmt(t)}×`, 'fill="#555"'));
  rows.forEach(({ f: fig, used }, i) => {
    const y = top + i * rowH;
    const label = fig.label.length > 62 ? `${fig.label.slice(0, 60)}…` : fig.label;
    out.push(text(20, y + 13, label, 'font-size="11"'));
    const w = !Number.isFinite(used) ? x1 - x0 : used > 0 ? Math.max(2, f(used) - x0) : 2;
    out.push(`<rect x="${x0}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${fig.target!.pass ? COLORS.pass : COLORS.miss}"/>`);
    out.push(text(x0 + w + 4, y + 13, `${fig.target!.pass ? 'PASS' : 'MISS'} (${fig.target!.text})`, 'font-size="11"'));
  });
  out.push(`<line x1="${f(1)}" y1="${top - 8}" x2="${f(1)}" y2="${bottom + 2}" stroke="#000" stroke-width="1.5"/>`);
  return { svg: out.join('\n'), h };
}

export function renderChart(input: ChartInput): string {
  const parts: string[] = [];
  let y = 36;
  const add = (p: { svg: string; h: number }) => {
    parts.push(p.svg);
    y += p.h + 10;
  };
  if (input.attach && Object.keys(input.attach).length) add(panelAttach(y, input.attach));
  if (input.scale && Object.keys(input.scale).length) add(panelScale(y, input.scale));
  if (input.figures.some((f) => f.target)) add(panelTargets(y, input.figures));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${y}" viewBox="0 0 ${W} ${y}">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(20, 22, input.title, 'font-size="15" font-weight="bold"'),
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
