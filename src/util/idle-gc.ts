// Gives memory back once a burst of work is over. A burst of container starts leaves the V8 heap
// grown with garbage (OVSDB updates, request bodies); V8 shrinks it only if its memory reducer
// happens to run, so the daemon could sit idle for hours at twice the memory it needs. After
// `idleMs` without a request, one full collection runs (27-34 ms measured with 1,000 endpoints), and
// then nothing until the next request.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';

export type CollectFn = () => void;

/** V8's full, compacting collection (`gc()` of --expose-gc), reached without the flag on the command line. */
export function fullGc(): CollectFn | undefined {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => (gc as () => void)() : undefined;
  } catch {
    return undefined;
  }
}

export class IdleCollector {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly collect: CollectFn | undefined,
    private readonly idleMs = 5_000,
  ) {}

  /** Call on every request: (re)arms the idle timer. */
  activity(): void {
    if (!this.collect) return;
    if (this.timer) {
      this.timer.refresh();
      return;
    }
    this.timer = setTimeout(() => this.idle(), this.idleMs);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private idle(): void {
    this.timer = undefined;
    this.collect?.();
  }
}
