// The table printed at the end of a run: one line per figure with its comparison, the ratio,
// the target and PASS/MISS.
import type { Figure, Unit } from '../lib/figures';

export function fmt(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  const n = a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : v.toFixed(3);
  if (unit === 'x') return `${n}×`;
  if (unit === '%') return `${n} %`;
  return unit ? `${n} ${unit}` : n;
}

export interface Row {
  figure: string;
  value: string;
  comparison: string;
  ratio: string;
  target: string;
  result: string;
  detail: string;
}

export function rows(figures: Figure[]): Row[] {
  return figures.map((f) => ({
    figure: f.label,
    value: fmt(f.value, f.unit),
    comparison: f.compare ? `${f.compare.label}: ${fmt(f.compare.value, f.compare.unit)}` : '',
    ratio: f.ratio ? `${fmt(f.ratio.value, '')} (${f.ratio.label})` : '',
    target: f.target?.text ?? '',
    result: f.target ? (f.target.pass ? 'PASS' : 'MISS') : '',
    detail: f.detail ?? '',
  }));
}

export function textTable(figures: Figure[]): string {
  const rs = rows(figures);
  const cols: (keyof Row)[] = ['figure', 'value', 'comparison', 'ratio', 'target', 'result', 'detail'];
  const head: Row = { figure: 'figure', value: 'value', comparison: 'measured beside it', ratio: 'ratio', target: 'target', result: 'result', detail: 'detail' };
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(head[c].length, ...rs.map((r) => r[c].length))])) as Record<keyof Row, number>;
  const line = (r: Row) => cols.map((c) => (c === 'value' ? r[c].padStart(width[c]) : r[c].padEnd(width[c]))).join('  ').trimEnd();
  const out = [line(head), cols.map((c) => '-'.repeat(width[c])).join('  ')];
  let section = '';
  for (const [i, r] of rs.entries()) {
    if (figures[i].section !== section) {
      section = figures[i].section;
      out.push(`[${section}]`);
    }
    out.push(line(r));
  }
  const withTarget = figures.filter((f) => f.target);
  const miss = withTarget.filter((f) => !f.target!.pass);
  out.push('', `${withTarget.length - miss.length}/${withTarget.length} targets met${miss.length ? `; MISS: ${miss.map((f) => f.label).join('; ')}` : ''}`);
  return out.join('\n');
}
