// Minimal reader for the top level of Node's TAP reporter output, so that a test file
// run in a child process (inside a network namespace) can be replayed as subtests.

export interface TapResult {
  name: string;
  ok: boolean;
  skip?: string;
  /** The YAML block after a result line (error, stack, ...). */
  detail: string;
  /** `# ...` diagnostics printed after the result (t.diagnostic()). */
  diagnostics: string[];
}

const RESULT = /^(not )?ok \d+ - (.*?)(?: # (SKIP|TODO)\b ?(.*))?$/;
const SUMMARY = /^# (Subtest: |tests |suites |pass |fail |cancelled |skipped |todo |duration_ms )/;

export function parseTap(out: string): TapResult[] {
  const results: TapResult[] = [];
  let inYaml = false;
  for (const line of out.split('\n')) {
    const last = results[results.length - 1];
    if (inYaml) {
      if (line === '  ...') inYaml = false;
      else if (last) last.detail += `${line.slice(2)}\n`;
      continue;
    }
    const m = RESULT.exec(line);
    if (m) {
      results.push({
        name: m[2],
        ok: !m[1],
        skip: m[3] === 'SKIP' ? m[4] || 'skipped' : undefined,
        detail: '',
        diagnostics: [],
      });
    } else if (line === '  ---') {
      inYaml = true;
    } else if (line.startsWith('# ') && !SUMMARY.test(line) && last) {
      last.diagnostics.push(line.slice(2));
    }
  }
  return results;
}
