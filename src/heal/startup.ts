// Start-up as a loop: the daemon answers at once and retries what failed (OVSDB restarting,
// iptables busy, ovs-ofctl not there yet) with backoff instead of staying broken until restarted.
import type { Logger } from '../util/log';

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 10_000;

export class StartupLoop {
  /** Settles once the first attempt succeeded; never rejects. */
  readonly done: Promise<void>;
  private lastError: unknown;
  private stopped = false;
  private wake?: () => void;

  constructor(private readonly attempt: () => Promise<void>, private readonly log: Logger) {
    this.done = this.run();
  }

  /** Why start-up has not finished yet (the last attempt's error), if it has failed at all. */
  get failure(): unknown {
    return this.lastError;
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async run(): Promise<void> {
    let delay = FIRST_RETRY_MS;
    for (let n = 1; !this.stopped; n++) {
      try {
        await this.attempt();
        this.lastError = undefined;
        if (n > 1) this.log.info({ attempts: n }, 'start-up completed after retries');
        return;
      } catch (err) {
        this.lastError = err;
        this.log.error({ err: String(err), attempt: n, retryMs: delay }, 'start-up failed, retrying');
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, delay);
        this.wake = () => { clearTimeout(t); r(); };
      });
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }
}

/** Waits for `ready` at most `ms`, then fails with `why()` (which names what is missing). */
export async function within(ready: Promise<void>, ms: number, why: () => string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(why())), ms);
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
