// A figure is one measured value, printed in the table with its comparison (measured in the same
// run), the ratio between the two, its target and PASS/MISS.
export type Unit = 'ms' | 's' | 'MB' | '%' | 'Gbit/s' | 'x' | '/s' | '' ;

export type SectionId = 'latency' | 'scale' | 'docker' | 'datapath' | 'multihost' | 'secgroups';
export const SECTIONS: SectionId[] = ['latency', 'scale', 'docker', 'datapath', 'multihost', 'secgroups'];

export interface Target {
  op: '<=' | '>=' | '<' | '==';
  limit: number;
  /** What the limit applies to when it is not the figure's value itself (e.g. the ratio). */
  on: 'value' | 'ratio';
  text: string;
  pass: boolean;
}

export interface Figure {
  id: string;
  section: SectionId;
  label: string;
  value: number;
  unit: Unit;
  /** The comparison measured side by side in the same run. */
  compare?: { label: string; value: number; unit: Unit };
  /** value relation to the comparison, e.g. { value: 24.1, label: 'exec ÷ ours' }. */
  ratio?: { value: number; label: string };
  target?: Target;
  /** Sample count and spread, for the table's detail column. */
  detail?: string;
}

export interface SectionResult {
  section: SectionId;
  figures: Figure[];
  /** Raw summaries for the JSON file. */
  data: Record<string, unknown>;
  /** Findings worth a sentence in docs/benchmarks.md (e.g. what the wait costs). */
  notes: string[];
  seconds?: number;
}

export function target(op: Target['op'], limit: number, on: Target['on'], actual: number, text: string): Target {
  const pass = op === '<=' ? actual <= limit : op === '>=' ? actual >= limit : op === '<' ? actual < limit : actual === limit;
  return { op, limit, on, text, pass: Number.isFinite(actual) && pass };
}

/** How much of its budget a figure uses: <= 1 passes (for >= targets the limit is divided by the actual). */
export function budgetUsed(f: Figure): number | undefined {
  const t = f.target;
  if (!t) return undefined;
  const actual = t.on === 'ratio' ? f.ratio?.value ?? NaN : f.value;
  if (t.op === '==') return t.pass ? 1 : 2;
  if (t.op === '>=') return actual > 0 ? t.limit / actual : Infinity;
  return t.limit > 0 ? actual / t.limit : Infinity;
}
