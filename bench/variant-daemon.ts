// The product daemon with bench-only changes, to measure what a design point costs or what a
// proposed fix would buy, in the same run as the product itself. Variants (comma-separated in
// OCN_BENCH_VARIANT):
//   nowait         Join does not wait for ovs-vswitchd to report the port's ofport (waitPortReady)
//   worker-delete  veth deletions run on a worker thread with its own netlink socket (the netlink
//                  addon's sendmsg is synchronous and the kernel does RTM_DELLINK inside it, ~12-26 ms)
//   trace          timers around netlink, ethtool, OVSDB and Join's wait; dumped as one JSON log
//                  line ({"msg":"bench-spans"}) on SIGUSR2
//   mem            on SIGUSR2: process.memoryUsage() and V8 heap spaces as one JSON log line
//                  ({"msg":"bench-mem"}), and a heap snapshot in $OCN_BENCH_HEAPDIR if set
// Everything else is the product's own code. Started like the daemon: node variant-daemon.js daemon ...
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { LinkManager } from '../src/netlink/links';
import { EthtoolClient } from '../src/netlink/ethtool';
import { OvsdbClient } from '../src/ovsdb/client';
import { OvsNetworkDriver } from '../src/driver/network-driver';
import { main } from '../src/cli';

type AnyFn = (...a: unknown[]) => Promise<unknown>;

function applyVariants(list: string[]): void {
  const drv = OvsNetworkDriver.prototype as unknown as Record<string, AnyFn>;
  if (list.includes('nowait')) drv.waitPortReady = async () => undefined;

  if (list.includes('worker-delete')) {
    const worker = new Worker(__filename, { env: { ...process.env, OCN_BENCH_DELETE_WORKER: '1' } });
    worker.unref();
    let seq = 0;
    const pending = new Map<number, { resolve: (v: boolean) => void; reject: (e: Error) => void }>();
    worker.on('message', (m: { id: number; ok?: boolean; err?: string }) => {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.err !== undefined) p?.reject(new Error(m.err));
      else p?.resolve(!!m.ok);
    });
    (LinkManager.prototype as unknown as Record<string, AnyFn>).deleteLink = (name: unknown) =>
      new Promise<boolean>((resolve, reject) => {
        const id = ++seq;
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, name });
      });
  }

  if (list.includes('trace')) {
    const spans = new Map<string, number[]>();
    const wrap = (proto: object, method: string, label: string) => {
      const p = proto as Record<string, AnyFn>;
      const orig = p[method];
      p[method] = async function (this: unknown, ...args: unknown[]) {
        const t0 = process.hrtime.bigint();
        try {
          return await orig.apply(this, args);
        } finally {
          if (!spans.has(label)) spans.set(label, []);
          spans.get(label)!.push(Number(process.hrtime.bigint() - t0) / 1e6);
        }
      };
    };
    wrap(LinkManager.prototype, 'createVethPair', 'netlink.createVethPair');
    wrap(LinkManager.prototype, 'getLink', 'netlink.getLink');
    wrap(LinkManager.prototype, 'deleteLink', 'netlink.deleteLink');
    wrap(EthtoolClient.prototype, 'disableTxChecksum', 'ethtool.disableTxChecksum');
    wrap(OvsdbClient.prototype, 'transact', 'ovsdb.transact');
    wrap(OvsNetworkDriver.prototype, 'waitPortReady', 'join.waitPortReady');
    wrap(OvsNetworkDriver.prototype, 'createEndpoint', 'handler.createEndpoint');
    wrap(OvsNetworkDriver.prototype, 'join', 'handler.join');
    process.on('SIGUSR2', () => {
      process.stderr.write(JSON.stringify({ msg: 'bench-spans', spans: Object.fromEntries(spans) }) + '\n');
      spans.clear();
    });
  }
}

function memVariant(): void {
  process.on('SIGUSR2', () => {
    const v8 = require('node:v8') as typeof import('node:v8');
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, Math.round(s.space_used_size / 1024)]));
    const rec: Record<string, unknown> = { msg: 'bench-mem', memoryUsage: process.memoryUsage(), heapSpacesKiB: spaces };
    if (process.env.OCN_BENCH_HEAPDIR) rec.snapshot = v8.writeHeapSnapshot(`${process.env.OCN_BENCH_HEAPDIR}/daemon-${Date.now()}.heapsnapshot`);
    process.stderr.write(JSON.stringify(rec) + '\n');
  });
}

if (!isMainThread && process.env.OCN_BENCH_DELETE_WORKER === '1') {
  // the deleter thread: one netlink socket, deletions one at a time (the kernel serialises them anyway)
  const links = new LinkManager();
  parentPort!.on('message', (m: { id: number; name: string }) => {
    links.deleteLink(m.name).then(
      (ok) => parentPort!.postMessage({ id: m.id, ok }),
      (e: Error) => parentPort!.postMessage({ id: m.id, err: e.message }),
    );
  });
} else if (require.main === module) {
  const variants = (process.env.OCN_BENCH_VARIANT ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  applyVariants(variants);
  if (variants.includes('mem')) memVariant();
  void main(process.argv.slice(2));
}
