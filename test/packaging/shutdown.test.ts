// Graceful shutdown, as systemd (`systemctl stop`) and dockerd (`docker plugin disable`) do it:
// SIGTERM. A request in flight is finished and answered, new connections are refused, the
// daemon exits 0 and removes its socket. The request is made slow by a proxy in front of the
// OVSDB socket that holds the daemon's transaction for a while.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { signal, sleep, waitDead } from '../harness/exec';
import { OVSDB_SOCK, ensureSystemOvs, vsctl } from '../harness/ovs';
import { purgeChains } from '../harness/iptables';
import { Plugin, pluginCall, startPlugin } from '../harness/plugin';
import { chainNames } from '../../src/net/firewall';
import { freeSubnets, note } from './common';

/** A unix-socket proxy to the real OVSDB that can hold what the client sends. */
class HoldingProxy {
  private readonly server: net.Server;
  private readonly conns = new Set<net.Socket>();
  private holding = false;
  private readonly queued: [net.Socket, Buffer][] = [];
  private readonly upstream = new WeakMap<net.Socket, net.Socket>();

  constructor(readonly socketPath: string, target: string) {
    this.server = net.createServer((c) => {
      const u = net.connect(target);
      this.upstream.set(c, u);
      this.conns.add(c).add(u);
      u.pipe(c);
      c.on('data', (chunk: Buffer) => (this.holding ? this.queued.push([u, chunk]) : u.write(chunk)));
      const end = () => {
        c.destroy();
        u.destroy();
        this.conns.delete(c);
        this.conns.delete(u);
      };
      c.on('close', end).on('error', end);
      u.on('close', end).on('error', end);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => this.server.once('error', reject).listen(this.socketPath, () => resolve()));
  }

  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const [u, chunk] of this.queued.splice(0)) u.write(chunk);
  }

  close(): void {
    for (const c of this.conns) c.destroy();
    this.server.close();
  }
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocn-shutdown-'));
const plugins: Plugin[] = [];
let lingerMs: number | undefined;

after(async () => {
  for (const p of plugins) {
    if (p.alive()) await p.kill9();
    const out = await vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
    const keys = (JSON.parse(out) as { data: [[string, [string, string][]]][] }).data[0][0][1].map(([k]) => k).filter((k) => k.startsWith(`ocn.${p.name}.`));
    for (const k of keys) await vsctl('remove', 'Open_vSwitch', '.', 'external_ids', JSON.stringify(k));
    await purgeChains(new RegExp(`^${chainNames(p.name).post.slice(0, 10)}-`));
  }
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function waitExit(p: Plugin, timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> {
  const t0 = Date.now();
  // stop() sends SIGTERM (again: harmless, the daemon ignores a second one) and waits
  const r = await p.stop({ timeoutMs });
  return { ...r, ms: Date.now() - t0 };
}

test('SIGTERM while idle: exit code 0 at once, socket removed', async () => {
  await ensureSystemOvs();
  const p = await startPlugin({ logLevel: 'info' });
  plugins.push(p);
  assert.equal((await p.call('IpamDriver.GetDefaultAddressSpaces')).status, 200);
  const r = await waitExit(p, 15_000);
  note(`idle SIGTERM: exit ${r.code} after ${r.ms} ms`);
  assert.equal(r.code, 0, `exit code 0 (got ${r.code}, signal ${r.signal}):\n${p.logs().slice(-2000)}`);
  assert.ok(r.ms < 3000, `exited ${r.ms} ms after SIGTERM`);
  assert.ok(!fs.existsSync(p.socket), 'socket file removed');
});

test('SIGTERM during a slow request (held OVSDB transaction, keep-alive client like dockerd): answered, new calls refused, exit 0, socket removed', async () => {
  await ensureSystemOvs();
  const proxy = new HoldingProxy(path.join(tmp, 'db.sock'), OVSDB_SOCK);
  await proxy.listen();
  try {
    const p = await startPlugin({ ovsdb: `unix:${proxy.socketPath}`, logLevel: 'info' });
    plugins.push(p);
    const [pool] = await freeSubnets(1);
    // state loaded (the first call that needs state waits for it)
    const warm = await p.call('IpamDriver.RequestPool', { AddressSpace: 'ocn-local', Pool: '', SubPool: '', Options: {}, V6: true });
    assert.equal(warm.status, 200, JSON.stringify(warm.body));

    // dockerd's client keeps its connections open between calls: so does this one
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ AddressSpace: 'ocn-local', Pool: pool, SubPool: '', Options: {}, V6: false });
    proxy.hold();
    const t0 = Date.now();
    const answer = new Promise<{ status: number; text: string; ms: number }>((resolve, reject) => {
      const req = http.request({ socketPath: p.socket, method: 'POST', path: '/IpamDriver.RequestPool', agent, headers: { 'Content-Length': String(Buffer.byteLength(body)) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, ms: Date.now() - t0 }));
      });
      req.on('error', reject);
      req.end(body);
    });
    await sleep(300);
    signal(p.pid, 'SIGTERM');
    const tTerm = Date.now();
    await sleep(200);
    // no new connections once it is shutting down
    await assert.rejects(pluginCall(p.socket, 'NetworkDriver.GetCapabilities', undefined, { timeoutMs: 2000 }), /ECONNREFUSED|ENOENT/, 'a new call after SIGTERM is refused');
    assert.ok(p.alive(), 'still running: the request is in flight');
    setTimeout(() => proxy.release(), 1200);

    const a = await answer;
    note(`in-flight RequestPool answered ${a.status} after ${a.ms} ms (OVSDB held 1.7 s)`);
    assert.equal(a.status, 200, `the in-flight request was answered: ${a.text}`);
    assert.equal((JSON.parse(a.text) as { Pool: string }).Pool, pool);
    const tAnswer = Date.now();
    assert.ok(await waitDead(p.pid, 15_000), 'the daemon exits');
    const exitAfterAnswer = Date.now() - tAnswer;
    const r = await waitExit(p, 5000);
    agent.destroy();
    note(`exit code ${r.code}: ${Date.now() - tTerm} ms after SIGTERM, ${exitAfterAnswer} ms after the last answer`);
    assert.equal(r.code, 0, `exit code 0 (got ${r.code}, signal ${r.signal})`);
    assert.ok(!fs.existsSync(p.socket), 'socket file removed');
    // the pool it answered for was committed before the daemon went away
    const out = await vsctl('--format=json', '--columns=external_ids', 'list', 'Open_vSwitch', '.');
    const keys = (JSON.parse(out) as { data: [[string, [string, string][]]][] }).data[0][0][1].map(([k]) => k);
    assert.ok(keys.some((k) => k.startsWith(`ocn.${p.name}.`) && k.includes(pool)), `the pool record for ${pool} is in OVSDB`);
    lingerMs = exitAfterAnswer;
  } finally {
    proxy.close();
  }
});

// http.Server.close() alone would wait for dockerd's idle keep-alive connections (60 s); the
// daemon closes each one as soon as its request is answered.
test('after SIGTERM the daemon exits as soon as its last in-flight answer is out', () => {
  assert.ok(lingerMs !== undefined, 'the previous test measured it');
  assert.ok(lingerMs < 2000, `exited ${lingerMs} ms after answering its last request`);
});
