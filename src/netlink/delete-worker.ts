// Veth deletion on a worker thread. The netlink addon's sendmsg is synchronous and the kernel
// performs RTM_DELLINK inside it (12-26 ms for a veth: an RCU grace period), so on the main
// thread every deletion would freeze every other request. The worker has its own socket; it
// shares the process' network namespace.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { LinkManager } from './links';

type Request = { id: number; name: string } | { close: true };
interface Reply { id: number; ok?: boolean; err?: string; code?: string }

export class LinkDeleter {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve: (v: boolean) => void; reject: (e: Error) => void }>();

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(__filename);
    w.unref();
    w.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      this.pending.delete(m.id);
      if (m.err !== undefined) p?.reject(Object.assign(new Error(m.err), { code: m.code }));
      else p?.resolve(!!m.ok);
    });
    w.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
      this.worker = undefined;
    });
    this.worker = w;
    return w;
  }

  /** False if the link did not exist. */
  deleteLink(name: string): Promise<boolean> {
    const w = this.start();
    return new Promise<boolean>((resolve, reject) => {
      const id = ++this.seq;
      this.pending.set(id, { resolve, reject });
      w.postMessage({ id, name } satisfies Request);
    });
  }

  /**
   * Ends the worker if no deletion is in flight; the next deletion starts a new one (≈ 30 ms).
   * The worker is a second V8 isolate: ≈ 11 MB of RSS while it lives, for deletions that come
   * in bursts (docs/benchmarks.md, "Daemon RSS").
   */
  release(): Promise<void> {
    return this.pending.size ? Promise.resolve() : this.close();
  }

  /**
   * Asks the worker to close its socket and end. Never `terminate()` it while its socket is
   * open: a netlink poll callback firing in a thread being torn down throws from native code,
   * and that aborts the whole process (seen: 6 of 25 graceful stops ended in SIGABRT).
   */
  async close(timeoutMs = 2000): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
    w.postMessage({ close: true } satisfies Request);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), timeoutMs)));
    // A worker stuck in a kernel call is left to the process exit rather than torn down.
    await Promise.race([exited, late]);
    clearTimeout(timer);
  }
}

if (!isMainThread && parentPort) {
  const links = new LinkManager();
  const port = parentPort;
  const inFlight = new Set<Promise<void>>();
  port.on('message', (m: Request) => {
    if ('close' in m) {
      // Deletions still in flight finish first (the socket stays open until their replies).
      void Promise.allSettled(inFlight).then(() => {
        links.close();
        port.close(); // nothing left on this thread's loop: the worker ends by itself
      });
      return;
    }
    const p = links.deleteLink(m.name).then(
      (ok) => port.postMessage({ id: m.id, ok } satisfies Reply),
      (e: Error & { code?: string }) => port.postMessage({ id: m.id, err: e.message, code: e.code } satisfies Reply),
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  });
}
