// The chaos scenarios' common report line: scripts/test.sh collects every "# chaos | ..." line
// into the table it prints at the end of `make test` / `make test-chaos`.

/** Whether the scenarios run in full (`make test-chaos`) or reduced to fit CI's time. */
export const CHAOS_FULL = process.env.OCN_CHAOS_FULL === '1';

/** Prints `# chaos | <scenario> | k=v, k=v` (figures: times in ms, counts). */
export function chaosReport(scenario: string, figures: Record<string, string | number | boolean>): void {
  const text = Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(', ');
  process.stderr.write(`# chaos | ${scenario} | ${text}\n`);
}
