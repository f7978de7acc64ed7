// Kernel-facing checks of src/netlink, started by ../integration.test.js as
// `ip netns exec <ns> node --test-reporter=tap integration-child.js`. It refuses to run
// anywhere but in the namespace named by OCN_NLTEST_NETNS (it creates and deletes links).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { disableTxChecksum, EthtoolClient, getFeatures, closeEthtool } from '../../../src/netlink/ethtool';
import { LinkInfo, LinkManager } from '../../../src/netlink/links';
import { NetlinkError } from '../../../src/netlink/request';
import { LinkDeleter } from '../../../src/netlink/delete-worker';

const NS = process.env.OCN_NLTEST_NETNS ?? '';
const PEER_NS = process.env.OCN_NLTEST_PEER_NETNS ?? '';

function inOwnNetns(): boolean {
  try {
    return NS !== '' && statSync('/proc/self/ns/net').ino === statSync(`/run/netns/${NS}`).ino;
  } catch {
    return false;
  }
}

if (!inOwnNetns()) {
  test('netlink integration checks', { skip: 'run by integration.test.js inside its own netns' }, () => {});
} else {
  defineTests();
}

const sh = (cmd: string, ...args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

interface IpLink {
  ifindex: number;
  ifname: string;
  mtu: number;
  address: string;
  flags: string[];
  link?: string;
  link_netnsid?: number;
  linkinfo?: { info_kind?: string };
}
interface IpAddr {
  addr_info: { family: string; local: string; prefixlen: number; nodad?: boolean; tentative?: boolean }[];
}

const ipLink = (name: string): IpLink => (JSON.parse(sh('ip', '-j', '-d', 'link', 'show', 'dev', name)) as IpLink[])[0];
const ipAddrs = (name: string): string[] =>
  (JSON.parse(sh('ip', '-j', 'addr', 'show', 'dev', name)) as IpAddr[])[0].addr_info.map((a) => `${a.local}/${a.prefixlen}`);

/** `ethtool -k` as name -> on, for every line (legacy group names included). */
function ethtoolK(dev: string): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const line of sh('ethtool', '-k', dev).split('\n').slice(1)) {
    const m = /^\s*([\w-]+): (on|off)/.exec(line);
    if (m) out.set(m[1], m[2] === 'on');
  }
  return out;
}

const code = (c: string) => (e: unknown): boolean => e instanceof NetlinkError && e.code === c;

function defineTests(): void {
  const links = new LinkManager();

  before(async () => {
    // The netns is new; still, start from nothing of ours.
    for (const l of await links.listLinks()) if (l.name.startsWith('ocnt')) await links.deleteLink(l.name);
  });

  after(async () => {
    for (const l of await links.listLinks()) if (l.name.startsWith('ocnt')) await links.deleteLink(l.name);
    links.close();
    closeEthtool();
  });

  test('createVethPair: both ends here, MTU on both, MACs, host side up, peer down', async () => {
    await links.createVethPair({
      name: 'ocnth0',
      peerName: 'ocntc0',
      mtu: 1450,
      mac: '02:42:0a:00:00:01',
      peerMac: '02:42:0a:00:00:02',
    });
    const host = (await links.getLink('ocnth0')) as LinkInfo;
    const peer = (await links.getLink('ocntc0')) as LinkInfo;
    assert.ok(host && peer);
    assert.deepEqual(host, {
      index: host.index,
      name: 'ocnth0',
      mtu: 1450,
      mac: '02:42:0a:00:00:01',
      up: true,
      kind: 'veth',
      peerIndex: peer.index,
    });
    assert.deepEqual(peer, {
      index: peer.index,
      name: 'ocntc0',
      mtu: 1450,
      mac: '02:42:0a:00:00:02',
      up: false,
      kind: 'veth',
      peerIndex: host.index,
    });
    // Same facts as iproute2 reports them.
    for (const l of [host, peer]) {
      const ip = ipLink(l.name);
      assert.equal(ip.ifindex, l.index);
      assert.equal(ip.mtu, l.mtu);
      assert.equal(ip.address, l.mac);
      assert.equal(ip.flags.includes('UP'), l.up);
      assert.equal(ip.linkinfo?.info_kind, 'veth');
      assert.equal(ip.link, l === host ? 'ocntc0' : 'ocnth0');
    }
  });

  test('setAlias on a new veth: the host end carries it (creation ignores IFLA_IFALIAS)', async () => {
    await links.createVethPair({ name: 'ocnth7', peerName: 'ocntc7', mtu: 1500 });
    await links.setAlias('ocnth7', 'ocn:test');
    assert.equal((await links.getLink('ocnth7'))?.alias, 'ocn:test');
    assert.equal(sh('cat', '/sys/class/net/ocnth7/ifalias').trim(), 'ocn:test');
    assert.equal((await links.getLink('ocntc7'))?.alias, undefined, 'not the peer');
    await links.setAlias('ocntc7', 'ocn:other');
    assert.equal(sh('cat', '/sys/class/net/ocntc7/ifalias').trim(), 'ocn:other');
    assert.equal(await links.deleteLink('ocnth7'), true);
  });

  test('createVethPair without MACs gets random unicast ones', async () => {
    await links.createVethPair({ name: 'ocnth1', peerName: 'ocntc1', mtu: 9000 });
    const [h, c] = [await links.getLink('ocnth1'), await links.getLink('ocntc1')];
    assert.equal(h?.mtu, 9000);
    assert.equal(c?.mtu, 9000);
    assert.match(h?.mac ?? '', /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
    assert.notEqual(h?.mac, c?.mac);
  });

  test('linkNetnsId and peerIndex once the peer is in another netns', async () => {
    const sameNs = await links.getLink('ocnth1');
    assert.equal(sameNs?.linkNetnsId, undefined);
    sh('ip', 'link', 'set', 'ocntc1', 'netns', PEER_NS);
    const moved = (await links.getLink('ocnth1')) as LinkInfo;
    assert.equal(typeof moved.linkNetnsId, 'number');
    assert.equal(moved.linkNetnsId, ipLink('ocnth1').link_netnsid);
    const peerInOther = JSON.parse(sh('ip', '-n', PEER_NS, '-j', 'link', 'show', 'dev', 'ocntc1')) as IpLink[];
    assert.equal(moved.peerIndex, peerInOther[0].ifindex);
    assert.equal(await links.getLink('ocntc1'), undefined);
  });

  test('EEXIST for an existing host or peer name, and nothing half-created', async () => {
    await assert.rejects(links.createVethPair({ name: 'ocnth0', peerName: 'ocntc9', mtu: 1500 }), (e: unknown) => {
      assert.ok(code('EEXIST')(e));
      assert.match((e as Error).message, /ocnth0.*EEXIST/);
      return true;
    });
    await assert.rejects(links.createVethPair({ name: 'ocnth9', peerName: 'ocntc0', mtu: 1500 }), code('EEXIST'));
    assert.equal(await links.getLink('ocnth9'), undefined);
    assert.equal(await links.getLink('ocntc9'), undefined);
  });

  test('getLink of a missing link is undefined; listLinks matches getLink', async () => {
    assert.equal(await links.getLink('ocntnone'), undefined);
    // Concurrent calls share one socket (a dump and requests must not interleave).
    const [all, h, c] = await Promise.all([links.listLinks(), links.getLink('ocnth0'), links.getLink('ocntc0')]);
    assert.deepEqual(all.find((l) => l.name === 'ocnth0'), h);
    assert.deepEqual(all.find((l) => l.name === 'ocntc0'), c);
    const lo = all.find((l) => l.name === 'lo');
    assert.equal(lo?.index, 1);
    assert.equal(lo?.kind, undefined);
    assert.deepEqual(
      all.map((l) => l.name).sort(),
      (JSON.parse(sh('ip', '-j', 'link', 'show')) as IpLink[]).map((l) => l.ifname).sort(),
    );
  });

  test('setUp, setMtu, setMac', async () => {
    await links.setMtu('ocntc0', 1400);
    await links.setMac('ocntc0', '02:42:0a:00:00:99');
    await links.setUp('ocntc0');
    const c = await links.getLink('ocntc0');
    assert.equal(c?.mtu, 1400);
    assert.equal(c?.mac, '02:42:0a:00:00:99');
    assert.equal(c?.up, true);
    assert.equal((await links.getLink('ocnth0'))?.mtu, 1450); // the other end is untouched
    await assert.rejects(links.setUp('ocntnone'), code('ENODEV'));
  });

  test('addAddress: IPv4 and IPv6, idempotent', async () => {
    await links.addAddress('ocnth0', '198.18.7.1/24');
    await links.addAddress('ocnth0', '198.18.7.1/24'); // EEXIST is success
    await links.addAddress('ocnth0', 'fd00:7::1/64', { noDad: true });
    await links.addAddress('ocnth0', 'fd00:7::1/64', { noDad: true });
    await links.addAddress('ocnth0', 'fd00:8::1/64');
    const got = ipAddrs('ocnth0');
    for (const a of ['198.18.7.1/24', 'fd00:7::1/64', 'fd00:8::1/64']) assert.ok(got.includes(a), `${a} in ${got}`);
    assert.equal(got.filter((a) => a === '198.18.7.1/24').length, 1);
    const v6 = (JSON.parse(sh('ip', '-j', 'addr', 'show', 'dev', 'ocnth0')) as IpAddr[])[0].addr_info;
    const noDad = v6.find((a) => a.local === 'fd00:7::1');
    assert.equal(noDad?.nodad, true); // usable at once: never tentative
    assert.equal(noDad?.tentative, undefined);
    await assert.rejects(links.addAddress('ocntnone', '198.18.7.2/24'), code('ENODEV'));
  });

  test('deleteLink: true, then false; the peer goes too', async () => {
    await links.createVethPair({ name: 'ocnth2', peerName: 'ocntc2', mtu: 1500 });
    assert.equal(await links.deleteLink('ocnth2'), true);
    assert.equal(await links.deleteLink('ocnth2'), false);
    assert.equal(await links.getLink('ocntc2'), undefined);
    assert.equal(await links.deleteLink('ocntc2'), false);
  });

  test('waitForLink: immediate, on creation, timeout', async () => {
    assert.equal((await links.waitForLink('ocnth0', 100)).name, 'ocnth0');
    const t0 = performance.now();
    const waiting = links.waitForLink('ocntc3', 2000);
    setTimeout(() => void links.createVethPair({ name: 'ocnth3', peerName: 'ocntc3', mtu: 1500 }), 30);
    const got = await waiting;
    const waited = performance.now() - t0;
    assert.equal(got.name, 'ocntc3');
    assert.equal(got.kind, 'veth');
    assert.ok(waited >= 25 && waited < 1000, `waited ${waited} ms`);
    await assert.rejects(links.waitForLink('ocntnever', 50), code('ETIMEDOUT'));
  });

  test('disableTxChecksum does what `ethtool -K dev tx off` does', async (t) => {
    await links.createVethPair({ name: 'ocnth4', peerName: 'ocntc4', mtu: 1500 });
    await links.createVethPair({ name: 'ocnth5', peerName: 'ocntc5', mtu: 1500 });
    const initial = await getFeatures('ocnth4');
    assert.equal(initial['tx-checksum-ip-generic'], true); // veth default
    // getFeatures agrees with ethtool -k on every name both know, before...
    const ek = ethtoolK('ocnth4');
    let compared = 0;
    for (const [name, on] of ek) {
      if (name in initial) {
        assert.equal(initial[name], on, name);
        compared++;
      }
    }
    assert.ok(compared >= 40, `compared ${compared} features`);

    await disableTxChecksum('ocnth4');
    sh('ethtool', '-K', 'ocnth5', 'tx', 'off');

    const mine = await getFeatures('ocnth4');
    assert.equal(mine['tx-checksum-ip-generic'], false);
    assert.equal(mine['tx-checksum-sctp'], false);
    assert.equal(ethtoolK('ocnth4').get('tx-checksum-ip-generic'), false);
    // ...and the whole feature set ends up identical to ethtool's own result.
    const dropLine1 = (s: string): string => s.split('\n').slice(1).join('\n');
    assert.equal(dropLine1(sh('ethtool', '-k', 'ocnth4')), dropLine1(sh('ethtool', '-k', 'ocnth5')));
    assert.deepEqual(mine, await getFeatures('ocnth5'));
    const changed = Object.keys(mine).filter((k) => mine[k] !== initial[k]);
    t.diagnostic(`tx off changed: ${changed.join(' ')}`);
    // Idempotent, and the peer end is untouched.
    await disableTxChecksum('ocnth4');
    assert.equal((await getFeatures('ocntc4'))['tx-checksum-ip-generic'], true);
    // Errors are errno-coded.
    await assert.rejects(disableTxChecksum('ocntnone'), code('ENODEV'));
    // A second client resolves the family on its own socket.
    const other = new EthtoolClient();
    assert.equal((await other.getFeatures('ocnth4'))['tx-checksum-ip-generic'], false);
    other.close();
  });

  test('concurrent requests and dumps on one socket: creations, lists, ethtool, deletions', async (t) => {
    // A LinkManager of its own, so that the gate starts empty; names of their own, too.
    const mine = new LinkManager();
    const N = 50;
    const host = (i: number): string => `ocntgh${i}`;
    const created: string[] = [];
    const ours = (ls: LinkInfo[]): string[] => ls.map((l) => l.name).filter((n) => n.startsWith('ocntg')).sort();
    const expected = (from: number, to: number): string[] =>
      Array.from({ length: to - from }, (_, k) => [host(from + k), `ocntgc${from + k}`]).flat().sort();
    const create = async (i: number): Promise<void> => {
      await mine.createVethPair({ name: host(i), peerName: `ocntgc${i}`, mtu: 1450 });
      created.push(host(i));
    };
    t.after(async () => {
      // Only what this test created and did not delete yet.
      for (const n of created) await mine.deleteLink(n).catch(() => undefined);
      mine.close();
    });
    let t0 = performance.now();
    await Promise.all(Array.from({ length: N }, (_, i) => create(i)));
    t.diagnostic(`${N} concurrent createVethPair: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.deepEqual(ours(await mine.listLinks()), expected(0, N));

    // Dumps interleaved with more creations, lookups and ethtool calls: every dump is whole
    // (each one sees at least the first N pairs, never a link twice).
    t0 = performance.now();
    const ops: Promise<unknown>[] = [];
    const dumps: Promise<LinkInfo[]>[] = [];
    for (let i = N; i < 2 * N; i++) {
      ops.push(create(i), mine.getLink(host(i - N)), disableTxChecksum(host(i - N)));
      if (i % 10 === 0) dumps.push(mine.listLinks());
    }
    const [lists] = await Promise.all([Promise.all(dumps), Promise.all(ops)]);
    t.diagnostic(`${N} creations + ${N} getLink + ${N} ethtool + ${dumps.length} dumps: ${(performance.now() - t0).toFixed(1)} ms`);
    for (const l of lists) {
      const names = l.map((x) => x.name);
      assert.equal(new Set(names).size, names.length, 'a link listed twice');
      for (const n of expected(0, N)) assert.ok(names.includes(n), `${n} missing from a dump`);
      assert.ok(names.includes('lo'));
    }
    assert.deepEqual(ours(await mine.listLinks()), expected(0, 2 * N));
    const features = await Promise.all([host(0), host(N - 1)].map((n) => getFeatures(n)));
    for (const f of features) assert.equal(f['tx-checksum-ip-generic'], false);

    t0 = performance.now();
    const deleted = await Promise.all([...created].map((n) => mine.deleteLink(n)));
    t.diagnostic(`${created.length} concurrent deleteLink: ${(performance.now() - t0).toFixed(1)} ms`);
    assert.deepEqual(deleted, created.map(() => true));
    created.length = 0;
    assert.deepEqual(ours(await mine.listLinks()), []);
  });

  test('close() and reuse: the socket reopens lazily', async () => {
    links.close();
    assert.equal((await links.getLink('ocnth0'))?.name, 'ocnth0');
  });

  test('timing: create + delete 100 veth pairs (printed, not asserted)', async (t) => {
    const N = 100;
    const create: number[] = [];
    const del: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await links.createVethPair({ name: `ocntph${i}`, peerName: `ocntpc${i}`, mtu: 1450, peerMac: '02:42:0a:00:01:01' });
      create.push(performance.now() - t0);
    }
    const t1 = performance.now();
    await disableTxChecksum('ocntph0');
    const txOff = performance.now() - t1;
    const t2 = performance.now();
    await links.getLink('ocntph0');
    const get = performance.now() - t2;
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      assert.equal(await links.deleteLink(`ocntph${i}`), true);
      del.push(performance.now() - t0);
    }
    // The same with a subprocess, for scale.
    const ipCreate: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      sh('ip', 'link', 'add', `ocntqh${i}`, 'mtu', '1450', 'up', 'type', 'veth', 'peer', 'name', `ocntqc${i}`, 'mtu', '1450');
      ipCreate.push(performance.now() - t0);
    }
    for (let i = 0; i < 20; i++) await links.deleteLink(`ocntqh${i}`);
    const mean = (xs: number[]): string => (xs.reduce((a, b) => a + b, 0) / xs.length).toFixed(3);
    const max = (xs: number[]): string => Math.max(...xs).toFixed(3);
    const lines = [
      `createVethPair: mean ${mean(create)} ms, max ${max(create)} ms (n=${N})`,
      `deleteLink: mean ${mean(del)} ms, max ${max(del)} ms (n=${N})`,
      `ip link add (subprocess): mean ${mean(ipCreate)} ms (n=20)`,
      `disableTxChecksum: ${txOff.toFixed(3)} ms (first call on a warm socket), getLink: ${get.toFixed(3)} ms`,
    ];
    for (const l of lines) t.diagnostic(l);
  });

  test('the deletion worker closes without aborting the process, deletions in flight included', async () => {
    // terminate() on a worker with an open netlink socket aborted the process (SIGABRT) in
    // about one graceful daemon stop in four; close() lets the worker end by itself.
    for (let round = 0; round < 12; round++) {
      const deleter = new LinkDeleter();
      const names = [0, 1, 2].map((i) => `ocntw${round}x${i}`);
      for (const n of names) await links.createVethPair({ name: n, peerName: `${n}p`, mtu: 1500 });
      const first = await deleter.deleteLink(names[0]);
      assert.equal(first, true);
      const inFlight = names.slice(1).map((n) => deleter.deleteLink(n));
      const t0 = performance.now();
      await deleter.close();
      assert.ok(performance.now() - t0 < 1500, 'the worker ended by itself, not by the close timeout');
      assert.deepEqual(await Promise.all(inFlight), [true, true], 'deletions sent before close() finish');
      for (const n of names) assert.equal(await links.getLink(n), undefined, `${n} is gone`);
    }
  });

  test('the deletion worker is released when idle, kept while deletions are in flight, and started again', async () => {
    const deleter = new LinkDeleter();
    const threads = (): number => Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    const names = [0, 1, 2].map((i) => `ocntr${i}`);
    for (const n of names) await links.createVethPair({ name: n, peerName: `${n}p`, mtu: 1500 });
    const idleThreads = threads();
    assert.equal(await deleter.deleteLink(names[0]), true);
    const withWorker = threads();
    assert.ok(withWorker > idleThreads, `a worker thread runs (${idleThreads} -> ${withWorker} threads)`);
    const inFlight = deleter.deleteLink(names[1]);
    await deleter.release(); // a deletion in flight: kept
    assert.equal(await inFlight, true);
    assert.equal(threads(), withWorker, 'the worker was kept while a deletion was in flight');
    await deleter.release();
    assert.ok(threads() < withWorker, `the worker ended (${withWorker} -> ${threads()} threads)`);
    assert.equal(await deleter.deleteLink(names[2]), true, 'the next deletion starts a new worker');
    for (const n of names) assert.equal(await links.getLink(n), undefined, `${n} is gone`);
    await deleter.close();
  });
}
