// The product daemon with timers around what an attach spends its time on: netlink link calls,
// ethtool, OVSDB transactions and Join's wait for ovs-vswitchd. Bench use only (profiling): the
// totals are written as one JSON line on stderr when the daemon gets SIGUSR2.
// Started like the daemon: node traced-daemon.js daemon --name N ...
import { LinkManager } from '../src/netlink/links';
import { EthtoolClient } from '../src/netlink/ethtool';
import { OvsdbClient } from '../src/ovsdb/client';
import { OvsNetworkDriver } from '../src/driver/network-driver';
import { main } from '../src/cli';

const spans = new Map<string, number[]>();
function wrap(proto: object, method: string, label: string): void {
  const p = proto as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const orig = p[method];
  p[method] = async function (this: unknown, ...args: unknown[]) {
    const t0 = process.hrtime.bigint();
    try {
      return await orig.apply(this, args);
    } finally {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (!spans.has(label)) spans.set(label, []);
      spans.get(label)!.push(ms);
    }
  };
}

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

if (require.main === module) void main(process.argv.slice(2));
