// Veth deletion on a worker thread. The netlink addon's sendmsg is synchronous and the kernel
// performs RTM_DELLINK inside it (12-26 ms for a veth: an RCU grace period), so on the main
// thread every deletion would freeze every other request. The worker has its own socket; it
// shares the process' network namespace.
import { Worker, isMainThread, parentPort } from 'node:worker_threads';
import { LinkManager } from './links';

interface Request { id: number; name: string }
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

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    await w?.terminate();
  }
}

if (!isMainThread && parentPort) {
  const links = new LinkManager();
  const port = parentPort;
  port.on('message', (m: Request) => {
    links.deleteLink(m.name).then(
      (ok) => port.postMessage({ id: m.id, ok } satisfies Reply),
      (e: Error & { code?: string }) => port.postMessage({ id: m.id, err: e.message, code: e.code } satisfies Reply),
    );
  });
}
