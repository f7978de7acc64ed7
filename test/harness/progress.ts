// Progress lines and timings for the long test files (e2e, packaging, swarm).

/** A note(msg) that writes a progress line on stderr (the spec reporter shows it), with seconds since this call. */
export function progressNote(tag: string): (msg: string) => void {
  const t0 = Date.now();
  return (msg) => {
    process.stderr.write(`# [${tag} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
  };
}

/** "1.25 s" */
export const seconds = (ms: number, digits = 1): string => `${(ms / 1000).toFixed(digits)} s`;

/** The value of fn and how many ms it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const v = await fn();
  return [v, Date.now() - t0];
}
