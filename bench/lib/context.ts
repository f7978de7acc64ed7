// What every section gets: the mode, a progress logger and shared, lazily started resources.
export interface Ctx {
  quick: boolean;
  /** Progress line on stderr (the table goes to stdout). */
  log(msg: string): void;
}

export function makeCtx(quick: boolean): Ctx {
  const t0 = Date.now();
  return {
    quick,
    log: (msg) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`),
  };
}
