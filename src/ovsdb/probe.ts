// Inactivity probe for one connection, like OVS's own reconnect FSM: if the peer has been silent
// for `intervalMs`, send an echo; if it stays silent `timeoutMs` longer, declare the link dead.
// A half-open TCP connection or a hung server is otherwise only noticed at the next write.

export class InactivityProbe {
  private lastRx = Date.now();
  private echoSentAt: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly timeoutMs: number,
    private readonly sendEcho: () => void,
    private readonly onDead: () => void,
  ) {}

  /** No-op when intervalMs <= 0 (probing disabled). */
  start(): void {
    if (this.intervalMs > 0) this.schedule(this.intervalMs);
  }

  /** Call on every chunk received: any traffic proves the peer alive. */
  received(): void {
    this.lastRx = Date.now();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    // A single re-armed timer, not an interval: idle connections cost one wake-up per period.
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.echoSentAt !== undefined && this.lastRx < this.echoSentAt) {
      const waited = now - this.echoSentAt;
      if (waited >= this.timeoutMs) {
        this.stopped = true;
        this.onDead();
      } else {
        this.schedule(this.timeoutMs - waited);
      }
      return;
    }
    this.echoSentAt = undefined;
    const idle = now - this.lastRx;
    if (idle >= this.intervalMs) {
      this.echoSentAt = now;
      this.sendEcho();
      this.schedule(this.timeoutMs);
    } else {
      this.schedule(this.intervalMs - idle);
    }
  }
}
